/* Assignment sets, generations and change tracking. See secretd/dispatch.h. */
#include "secretd/dispatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/error.h"
#include "crypto/secbuf.h"
#include "wire/msg.h"

/* ---- building a node's set ---- */

/* The restart policy from a stored launch spec (a map; absent key = "no"). The
 * spec was validated before it was stored; anything odd reads as "no". */
static void spec_restart(const uint8_t *spec, size_t len, char out[WIRE_ASSIGN_STATE_MAX + 1]) {
  struct wire_value *v;
  snprintf(out, WIRE_ASSIGN_STATE_MAX + 1, "no");
  if (wire_value_decode(spec, len, &v) < 0)
    return;
  const msgpack_object *o = wire_map_get(wire_value_root(v), "restart");
  if (o && o->type == MSGPACK_OBJECT_STR && o->via.str.size &&
      o->via.str.size <= WIRE_ASSIGN_STATE_MAX) {
    memcpy(out, o->via.str.ptr, o->via.str.size);
    out[o->via.str.size] = 0;
  }
  wire_value_free(v);
}

/* A node's set from its part of a store snapshot; takes the specs. With
 * ret_stale NULL and no_digest, the digest is left zero (a set only measured). */
static int set_from_store_d(const char *node, struct store_node_set *ns,
                            struct wire_assignments *ret, bool *ret_stale, bool no_digest);

static int set_from_store(const char *node, struct store_node_set *ns,
                          struct wire_assignments *ret, bool *ret_stale) {
  return set_from_store_d(node, ns, ret, ret_stale, false);
}

static int set_from_store_d(const char *node, struct store_node_set *ns,
                            struct wire_assignments *ret, bool *ret_stale, bool no_digest) {
  struct store_node_assignment *na = ns->tasks;
  size_t n = ns->n_tasks;
  struct wire_assignments a = {0};
  int r = 0;
  snprintf(a.node, sizeof(a.node), "%s", node);
  if (n && !(a.tasks = calloc(n, sizeof(*a.tasks))))
    return -ENOMEM;
  for (size_t i = 0; i < n; i++, a.n_tasks++) {
    struct wire_assign_task *t = &a.tasks[i];
    snprintf(t->id, sizeof(t->id), "%s", na[i].task.id);
    snprintf(t->service, sizeof(t->service), "%s", na[i].service);
    t->slot = na[i].task.slot;
    snprintf(t->desired, sizeof(t->desired), "%s", na[i].task.desired);
    snprintf(t->state, sizeof(t->state), "%s", na[i].task.state);
    spec_restart(na[i].spec, na[i].spec_len, t->restart);
    t->spec = na[i].spec; /* taken */
    t->spec_len = na[i].spec_len;
    na[i].spec = NULL;
    if (na[i].n_grants && !(t->grants = calloc(na[i].n_grants, sizeof(*t->grants)))) {
      r = -ENOMEM;
      a.n_tasks++;
      goto out;
    }
    for (size_t j = 0; j < na[i].n_grants; j++) { /* sorted by secret id already */
      const struct store_service_grant *g = &na[i].grants[j];
      struct wire_assign_grant *w = &t->grants[j];
      snprintf(w->secret_id, sizeof(w->secret_id), "%s", g->secret_id);
      snprintf(w->secret, sizeof(w->secret), "%s", g->secret_name);
      snprintf(w->target, sizeof(w->target), "%s", g->target);
      w->uid_unset = g->uid_unset;
      w->gid_unset = g->gid_unset;
      w->uid = g->uid;
      w->gid = g->gid;
      w->mode = g->mode;
      w->version = g->version;
      w->pinned = g->pinned;
    }
    t->n_grants = na[i].n_grants;
  }
  if (!no_digest && (r = wire_assign_digest(&a, a.digest)) < 0)
    goto out;
  a.generation = ns->gen.generation;
  if (ret_stale)
    *ret_stale =
        ns->gen.generation == 0 || memcmp(ns->gen.digest, a.digest, STORE_DIGEST_LEN) != 0;
  *ret = a;
  memset(&a, 0, sizeof(a));
out:
  wire_assignments_clear(&a);
  return r;
}

int dispatch_build_many(struct store *s, const char *const *nodes, size_t n,
                        struct wire_assignments *ret, bool *ret_stale) {
  struct store_node_set *sets = NULL;
  if (!s || (n && (!nodes || !ret)))
    return -EINVAL;
  /* one read snapshot: each set is one the store really held */
  int r = store_nodes_assignments(s, nodes, n, WIRE_ASSIGN_TASKS_MAX, WIRE_ASSIGN_GRANTS_MAX,
                                  &sets);
  if (r < 0)
    return r;
  size_t i;
  for (i = 0; i < n; i++)
    if ((r = set_from_store(nodes[i], &sets[i], &ret[i], ret_stale ? &ret_stale[i] : NULL)) < 0)
      break;
  if (r < 0)
    while (i-- > 0)
      wire_assignments_clear(&ret[i]);
  store_node_sets_free(sets, n);
  return r;
}

int dispatch_build(struct store *s, const char *node, struct wire_assignments *ret,
                   bool *ret_stale) {
  if (!s || !ret)
    return -EINVAL;
  return dispatch_build_many(s, &node, 1, ret, ret_stale);
}

/* ---- the bound on a node's set ---- */

static int count_bytes(void *data, const char *buf, size_t len) {
  (void)buf;
  *(size_t *)data += len;
  return 0;
}

int dispatch_set_bound(struct wire_assignments *a, size_t *ret) {
  msgpack_packer pk;
  size_t n = 0;
  if (!a || !ret)
    return -EINVAL;
  a->generation = UINT64_MAX;
  for (size_t i = 0; i < a->n_tasks; i++) {
    struct wire_assign_task *t = &a->tasks[i];
    memset(t->state, 'x', WIRE_ASSIGN_STATE_MAX); /* the longest a report can make it */
    t->state[WIRE_ASSIGN_STATE_MAX] = 0;
    for (size_t j = 0; j < t->n_grants; j++) {
      t->grants[j].version = UINT32_MAX; /* any rotation */
      if (t->grants[j].pinned)
        t->grants[j].pinned = UINT32_MAX;
    }
  }
  msgpack_packer_init(&pk, &n, count_bytes);
  int r = wire_assignments_pack(&pk, a);
  if (r == 0)
    *ret = n;
  return r;
}

int dispatch_write_bounded(struct store_batch *b, const char *node, const char *service,
                           dispatch_write_fn write, void *ud, struct dispatch_fit *ret) {
  struct store_savepoint *sp = NULL;
  struct store_node_set *sets = NULL;
  struct wire_assignments a = {0};
  char where[STORE_NODE_MAX + 1] = "";
  size_t bytes = 0;
  int rs;
  if (!b || !write || !ret || (!node && !service))
    return -EINVAL;
  memset(ret, 0, sizeof(*ret));
  int r = store_savepoint_begin(b, &sp);
  if (r < 0)
    return r;
  if ((r = write(b, ud)) < 0)
    goto keep; /* failed: nothing to measure, its failure record stays */
  if (node) {
    snprintf(where, sizeof(where), "%s", node);
  } else if ((r = store_batch_service_node(b, service, where)) == -ENOENT) {
    r = 0; /* a grant to a service not created yet: no node to measure */
    goto keep;
  } else if (r < 0) {
    goto drop;
  }
  const char *nodes[1] = {where};
  r = store_batch_nodes_assignments(b, nodes, 1, WIRE_ASSIGN_TASKS_MAX, WIRE_ASSIGN_GRANTS_MAX,
                                    &sets);
  if (r == -E2BIG) { /* a count bound */
    ret->counts = true;
  } else if (r == 0 && (r = set_from_store_d(where, &sets[0], &a, NULL, true)) == 0 &&
             (r = dispatch_set_bound(&a, &bytes)) == 0 && bytes > DISPATCH_SET_MAX) {
    ret->bytes = bytes;
    ret->tasks = a.n_tasks;
    r = -E2BIG;
  }
  if (r == 0)
    goto keep;
drop: /* over the bound, or not measured: the write goes, with its record */
  snprintf(ret->node, sizeof(ret->node), "%s", where);
  store_savepoint_rollback(sp);
  ret->rolled_back = true;
  goto out;
keep:
  if ((rs = store_savepoint_release(sp)) < 0) { /* its work and record are gone */
    ret->rolled_back = true;
    if (r == 0)
      r = rs;
  }
out:
  wire_assignments_clear(&a);
  store_node_sets_free(sets, 1);
  return r;
}

int dispatch_gen_advance(struct store_batch *b, struct wire_assignments *a) {
  struct store_node_gen g;
  if (!a)
    return -EINVAL;
  int r = store_node_gen_advance(b, a->node, a->digest, &g);
  if (r == 0)
    a->generation = g.generation;
  return r;
}

int dispatch_mark_node(struct store_batch *b, struct store *s, const struct store_actor *a,
                       const char *node, const char *state, size_t *ret_n) {
  struct store_node_task *nt = NULL;
  size_t n = 0, done = 0;
  int r = store_node_tasks(s, node, &nt, &n);
  for (size_t i = 0; r == 0 && i < n; i++) {
    if (strcmp(nt[i].task.state, state) == 0)
      continue;
    r = store_task_update(b, a, nt[i].service, nt[i].task.slot, state,
                          nt[i].task.has_exit_code ? &nt[i].task.exit_code : NULL,
                          nt[i].task.restarts);
    if (r == 0)
      done++;
  }
  free(nt);
  if (ret_n)
    *ret_n = done;
  return r;
}

/* ---- node sets ---- */

void dispatch_nodeset_clear(struct dispatch_nodeset *ns) {
  if (!ns)
    return;
  free(ns->ids);
  memset(ns, 0, sizeof(*ns));
}

int dispatch_nodeset_add(struct dispatch_nodeset *ns, const char *node) {
  if (!ns || store_validate_node(node) < 0)
    return -EINVAL;
  for (size_t i = 0; i < ns->n; i++)
    if (strcmp(ns->ids[i], node) == 0)
      return 0;
  if (ns->n == ns->cap) {
    size_t nc = ns->cap ? ns->cap * 2 : 8;
    void *p = realloc(ns->ids, nc * sizeof(*ns->ids));
    if (!p)
      return -ENOMEM;
    ns->ids = p;
    ns->cap = nc;
  }
  snprintf(ns->ids[ns->n++], sizeof(ns->ids[0]), "%s", node);
  return 0;
}

static int add_service_node(struct store *s, const char *service, struct dispatch_nodeset *set) {
  struct store_service_info *svc = NULL;
  int r = store_service_inspect(s, service, &svc);
  if (r == -ENOENT || r == SD_E_NAME)
    return 0;
  if (r < 0)
    return r;
  for (size_t i = 0; r == 0 && i < svc->n_tasks; i++)
    r = dispatch_nodeset_add(set, svc->tasks[i].node);
  if (r == 0)
    r = dispatch_nodeset_add(set, svc->node);
  store_service_info_free(svc, 1);
  return r;
}

/* The nodes of every service granted secret ref. */
static int add_secret_nodes(struct store *s, const char *ref, struct dispatch_nodeset *set) {
  struct store_secret_info *info = NULL;
  int r = store_grant_list_after(s, ref, NULL, 0, 0, &info);
  if (r == -ENOENT || r == SD_E_NAME)
    return 0;
  if (r < 0)
    return r;
  for (size_t i = 0; r == 0 && i < info->n_grants; i++)
    r = add_service_node(s, info->grants[i].service, set);
  store_secret_info_free(info, 1);
  return r;
}

int dispatch_candidates(struct store *s, const struct dispatch_change *c,
                        struct dispatch_nodeset *set) {
  if (!s || !c || !set)
    return -EINVAL;
  switch (c->kind) {
  case DISPATCH_SECRET_ROTATE:
  case DISPATCH_SECRET_REMOVE:
    return c->secret ? add_secret_nodes(s, c->secret, set) : -EINVAL;
  case DISPATCH_GRANT:
    /* the secret's other services are untouched: only this service's node(s) */
    return c->service ? add_service_node(s, c->service, set) : -EINVAL;
  case DISPATCH_SERVICE: {
    int r = c->service ? add_service_node(s, c->service, set) : -EINVAL;
    if (r == 0 && c->node)
      r = dispatch_nodeset_add(set, c->node);
    return r;
  }
  case DISPATCH_NODE:
    return c->node ? dispatch_nodeset_add(set, c->node) : -EINVAL;
  }
  return -EINVAL;
}

/* ---- the tracker ----
 * Per node: the digest last seen and one 16-byte fingerprint per task and per
 * (task, secret, version) of that set, sorted, so that a loss (revoke, version
 * change, task gone) is found by lookup. */

#define FP_LEN 16
struct fp {
  uint8_t b[FP_LEN];
};

struct tracked_node {
  char node[STORE_NODE_MAX + 1];
  uint8_t digest[STORE_DIGEST_LEN];
  uint64_t gen_given; /* the generation of the last change handed out for it */
  struct fp *fps;
  size_t n_fps;
};

struct dispatch_tracker {
  struct tracked_node *nodes;
  size_t n, cap;
};

size_t dispatch_tracker_node_bytes(size_t n_tasks, size_t n_grants) {
  return sizeof(struct tracked_node) + (n_tasks + n_grants) * sizeof(struct fp);
}

int dispatch_tracker_new(struct dispatch_tracker **ret) {
  if (!ret)
    return -EINVAL;
  return (*ret = calloc(1, sizeof(**ret))) ? 0 : -ENOMEM;
}

void dispatch_tracker_free(struct dispatch_tracker *t) {
  if (!t)
    return;
  for (size_t i = 0; i < t->n; i++)
    free(t->nodes[i].fps);
  free(t->nodes);
  free(t);
}

static int fp_cmp(const void *a, const void *b) { return memcmp(a, b, FP_LEN); }

static void fp_of(const char *task, const char *secret, uint32_t version, struct fp *out) {
  crypto_generichash_state st;
  uint8_t v[4] = {(uint8_t)(version >> 24), (uint8_t)(version >> 16), (uint8_t)(version >> 8),
                  (uint8_t)version};
  crypto_generichash_init(&st, NULL, 0, FP_LEN);
  crypto_generichash_update(&st, (const uint8_t *)task, strlen(task) + 1);
  crypto_generichash_update(&st, (const uint8_t *)secret, strlen(secret) + 1);
  crypto_generichash_update(&st, v, sizeof(v));
  crypto_generichash_final(&st, out->b, FP_LEN);
}

static int fingerprints(const struct wire_assignments *a, struct fp **ret, size_t *ret_n) {
  size_t n = a->n_tasks, k = 0;
  for (size_t i = 0; i < a->n_tasks; i++)
    n += a->tasks[i].n_grants;
  struct fp *f = n ? calloc(n, sizeof(*f)) : NULL;
  if (n && !f)
    return -ENOMEM;
  for (size_t i = 0; i < a->n_tasks; i++) {
    const struct wire_assign_task *t = &a->tasks[i];
    fp_of(t->id, "", 0, &f[k++]);
    for (size_t j = 0; j < t->n_grants; j++)
      fp_of(t->id, t->grants[j].secret_id, t->grants[j].version, &f[k++]);
  }
  if (n)
    qsort(f, n, sizeof(*f), fp_cmp);
  *ret = f;
  *ret_n = n;
  return 0;
}

static struct tracked_node *tracked(struct dispatch_tracker *t, const char *node) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->nodes[i].node, node) == 0)
      return &t->nodes[i];
  return NULL;
}

static int change_cmp(const void *a, const void *b) {
  const struct dispatch_node_change *x = a, *y = b;
  if (x->revokes != y->revokes)
    return x->revokes ? -1 : 1;
  return strcmp(x->node, y->node);
}

void dispatch_changes_free(struct dispatch_node_change *c, size_t n) {
  if (!c)
    return;
  for (size_t i = 0; i < n; i++)
    wire_assignments_clear(&c[i].set);
  free(c);
}

/* Compare node's new set with what t last saw; update t. *changed, *revokes. */
static int diff_one(struct dispatch_tracker *t, struct wire_assignments *a, bool stale,
                    bool *changed, bool *revokes) {
  struct fp *fps = NULL;
  size_t n_fps = 0;
  int r = fingerprints(a, &fps, &n_fps);
  if (r < 0)
    return r;
  struct tracked_node *tn = tracked(t, a->node);
  if (!tn) {
    /* not seen since start: compare with the digest kept with the generation
     * (stale: it differs, or there is none); what the node held is unknown, so
     * a change counts as a possible revoke. Never given and empty: no change. */
    *changed = stale && (a->generation != 0 || a->n_tasks > 0);
    *revokes = *changed && a->generation != 0;
    if (t->n == t->cap) {
      size_t nc = t->cap ? t->cap * 2 : 16;
      void *p = realloc(t->nodes, nc * sizeof(*t->nodes));
      if (!p) {
        free(fps);
        return -ENOMEM;
      }
      t->nodes = p;
      t->cap = nc;
    }
    tn = &t->nodes[t->n++];
    memset(tn, 0, sizeof(*tn));
    snprintf(tn->node, sizeof(tn->node), "%s", a->node);
  } else {
    *changed = memcmp(tn->digest, a->digest, STORE_DIGEST_LEN) != 0;
    *revokes = false;
    for (size_t i = 0; *changed && i < tn->n_fps && !*revokes; i++)
      *revokes = !n_fps || !bsearch(&tn->fps[i], fps, n_fps, sizeof(*fps), fp_cmp);
  }
  /* The generation dispatch_gen_commit() will store: + 1 when the stored digest
   * differs, counted past the changes handed out whose advance may not have
   * committed yet (they commit in order, each + 1). */
  if (*changed && stale) {
    a->generation = (a->generation > tn->gen_given ? a->generation : tn->gen_given) + 1;
    tn->gen_given = a->generation;
  }
  memcpy(tn->digest, a->digest, STORE_DIGEST_LEN);
  free(tn->fps);
  tn->fps = fps;
  tn->n_fps = n_fps;
  return 0;
}

int dispatch_tracker_diff(struct dispatch_tracker *t, struct store *s,
                          const struct dispatch_nodeset *set, struct dispatch_node_change **ret,
                          size_t *ret_n) {
  struct dispatch_node_change *out = NULL;
  size_t n = 0;
  int r = 0;
  if (!t || !s || !set || !ret || !ret_n)
    return -EINVAL;
  if (!set->n) {
    *ret = NULL;
    *ret_n = 0;
    return 0;
  }
  const char **ids = calloc(set->n, sizeof(*ids));
  struct wire_assignments *sets = calloc(set->n, sizeof(*sets));
  bool *stale = calloc(set->n, sizeof(*stale));
  if (!ids || !sets || !stale || !(out = calloc(set->n, sizeof(*out)))) {
    free(ids);
    free(sets);
    free(stale);
    return -ENOMEM;
  }
  for (size_t i = 0; i < set->n; i++)
    ids[i] = set->ids[i];
  /* every candidate from one snapshot: one pass over the tasks and grants */
  if ((r = dispatch_build_many(s, ids, set->n, sets, stale)) < 0) {
    free(ids);
    free(sets);
    free(stale);
    free(out);
    return r;
  }
  for (size_t i = 0; i < set->n; i++) {
    struct dispatch_node_change *c = &out[n];
    bool changed = false, revokes = false;
    if (r == 0)
      r = diff_one(t, &sets[i], stale[i], &changed, &revokes);
    if (r < 0 || !changed) {
      wire_assignments_clear(&sets[i]);
      continue;
    }
    c->set = sets[i];
    snprintf(c->node, sizeof(c->node), "%s", set->ids[i]);
    c->revokes = revokes;
    n++;
  }
  free(ids);
  free(sets);
  free(stale);
  if (r < 0)
    goto fail;
  if (n)
    qsort(out, n, sizeof(*out), change_cmp); /* revocations first */
  *ret = out;
  *ret_n = n;
  if (!n) {
    free(out);
    *ret = NULL;
  }
  return 0;
fail:
  dispatch_changes_free(out, n);
  return r;
}

int dispatch_gen_commit(struct store_batch *b, struct dispatch_node_change *c, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int r = dispatch_gen_advance(b, &c[i].set);
    if (r < 0)
      return r;
  }
  return 0;
}
