/* The node authorizer's read and the per-node generations. See store/dispatch.h. */
#include "store/dispatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "crypto/envelope.h"
#include "store/internal.h"
#include "store/validate.h"

#define TASK_SLOT 0u /* one task per service today (store/services.h) */

static bool obj_str_is(const msgpack_object *o, const char *s) {
  size_t n = strlen(s);
  return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
         (!n || memcmp(o->via.str.ptr, s, n) == 0);
}

/* The task record of service (slot 0): its id, node and desired state checked
 * against the caller. 0, SD_E_DENIED (*why), -EBADMSG, -errno. */
static int check_task(struct store *s, MDB_txn *txn, const char *node, const char *service,
                      const uint8_t task_id[16], const char **why) {
  size_t n = strlen(service);
  uint8_t kb[SD_NAME_MAX + 5];
  memcpy(kb, service, n);
  kb[n] = 0;
  store_be32_put(kb + n + 1, TASK_SLOT);
  MDB_val k = {n + 5, kb}, p;
  msgpack_unpacked u;
  msgpack_object *it;
  int r = store_rec_get(s, txn, DBI_TASKS, &k, &p);
  if (r == -ENOENT) {
    *why = "unknown task";
    return SD_E_DENIED;
  }
  if (r < 0)
    return r;
  msgpack_unpacked_init(&u);
  if ((r = store_rec_unpack(&p, &u, &it, 7)) < 0 || it[0].type != MSGPACK_OBJECT_BIN ||
      it[0].via.bin.size != 16 || it[1].type != MSGPACK_OBJECT_STR ||
      it[2].type != MSGPACK_OBJECT_STR) {
    store_tamper_report(s, DBI_TASKS, &k, "authenticated but malformed");
    r = -EBADMSG;
  } else if (memcmp(it[0].via.bin.ptr, task_id, 16) != 0) {
    *why = "unknown task"; /* the service's task is another one (replaced or never this) */
    r = SD_E_DENIED;
  } else if (!obj_str_is(&it[1], node)) {
    *why = "task of another node";
    r = SD_E_DENIED;
  } else if (!obj_str_is(&it[2], "running")) {
    *why = "task not desired running";
    r = SD_E_DENIED;
  }
  msgpack_unpacked_destroy(&u);
  return r;
}

/* One item: grant, secret, version, decrypt. 0 with it->value, SD_E_DENIED
 * with it->why, or a hard error. */
static int deliver_one(struct store *s, MDB_txn *txn, const char *service, const struct sd_key *master,
                       struct store_delivery *it) {
  uint8_t id[16], kb[16 + SD_NAME_MAX];
  size_t sl = strlen(service);
  struct grant_rec gr;
  struct secret_rec sr;
  struct version_rec vr;
  msgpack_unpacked ug, us, uv;
  MDB_val p;
  int r;
  if (store_id_from_hex(it->secret_id, id) < 0 || it->version == 0)
    return -EINVAL;
  msgpack_unpacked_init(&ug);
  msgpack_unpacked_init(&us);
  msgpack_unpacked_init(&uv);
  MDB_val sk = {16, id};
  if ((r = store_rec_get(s, txn, DBI_SECRETS, &sk, &p)) == -ENOENT) {
    it->why = "unknown secret";
    r = SD_E_DENIED;
    goto out;
  }
  if (r < 0)
    goto out;
  if (store_rec_secret_decode(&p, &us, &sr) < 0 || sr.name_len > SD_NAME_MAX) {
    store_tamper_report(s, DBI_SECRETS, &sk, "authenticated but undecodable");
    r = -EBADMSG;
    goto out;
  }
  memcpy(it->secret_name, sr.name, sr.name_len);
  it->secret_name[sr.name_len] = 0;
  memcpy(kb, id, 16);
  memcpy(kb + 16, service, sl);
  MDB_val gk = {16 + sl, kb};
  if ((r = store_rec_get(s, txn, DBI_GRANTS, &gk, &p)) == -ENOENT) {
    it->why = "no grant to the service (never granted or revoked)";
    r = SD_E_DENIED;
    goto out;
  }
  if (r < 0)
    goto out;
  if (store_rec_grant_decode(&p, &ug, &gr) < 0) {
    store_tamper_report(s, DBI_GRANTS, &gk, "authenticated but malformed");
    r = -EBADMSG;
    goto out;
  }
  uint32_t granted = gr.version ? gr.version : sr.latest;
  if (it->version != granted) {
    it->why = it->version < granted ? "not the granted version (older)"
                                    : "not the granted version (newer or pinned)";
    r = SD_E_DENIED;
    goto out;
  }
  uint8_t vk[20];
  memcpy(vk, id, 16);
  store_be32_put(vk + 16, it->version);
  MDB_val vkey = {20, vk};
  if ((r = store_rec_get(s, txn, DBI_VERSIONS, &vkey, &p)) == -ENOENT) {
    /* a grant resolves to it, so it must exist: a broken reference */
    store_tamper_report(s, DBI_GRANTS, &gk, "resolves to a missing version");
    r = -EBADMSG;
  }
  if (r < 0)
    goto out;
  if ((r = store_rec_version_decode(&p, &uv, &vr)) < 0)
    goto out;
  r = sd_envelope_open(master, id, it->version, vr.wrapped_dk, vr.nonce, vr.ct, vr.ct_len,
                       &it->value);
out:
  msgpack_unpacked_destroy(&ug);
  msgpack_unpacked_destroy(&us);
  msgpack_unpacked_destroy(&uv);
  return r;
}

void store_delivery_release(struct store_delivery *items, size_t n) {
  if (!items)
    return;
  for (size_t i = 0; i < n; i++) {
    secbuf_free(items[i].value);
    items[i].value = NULL;
  }
}

int store_deliver_read(struct store *s, const char *node, const char *service,
                       const char *task_id, struct store_delivery *items, size_t n,
                       const char **ret_why) {
  uint8_t tid[16];
  struct sd_key *tmp = NULL;
  const struct sd_key *master = NULL;
  MDB_txn *txn;
  const char *why = NULL;
  if (!s || !ret_why || (n && !items) || n > STORE_DELIVER_MAX)
    return -EINVAL;
  if (store_validate_node(node) < 0 || store_validate_name(service) < 0 || !task_id ||
      strlen(task_id) != 32 || store_id_from_hex(task_id, tid) < 0)
    return -EINVAL;
  for (size_t i = 0; i < n; i++) {
    items[i].result = 0;
    items[i].why = NULL;
    items[i].secret_name[0] = 0;
    items[i].value = NULL;
  }
  pthread_rwlock_rdlock(&s->key_lock);
  int r = store_mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
  if (r < 0)
    goto unlock;
  if ((r = check_task(s, txn, node, service, tid, &why)) < 0)
    goto out;
  if (n && (r = store_master_for_txn(s, txn, &tmp, &master)) < 0)
    goto out;
  for (size_t i = 0; i < n; i++) {
    int ri = deliver_one(s, txn, service, master, &items[i]);
    if (ri == SD_E_DENIED)
      items[i].result = ri;
    else if (ri < 0) {
      r = ri;
      break;
    }
  }
out:
  mdb_txn_abort(txn);
  sd_key_free(tmp);
unlock:
  pthread_rwlock_unlock(&s->key_lock);
  if (r < 0)
    store_delivery_release(items, n);
  if (r == SD_E_DENIED)
    *ret_why = why;
  return r;
}

/* ---- a node's assignments ---- */

void store_node_assignments_free(struct store_node_assignment *a, size_t n) {
  if (!a)
    return;
  for (size_t i = 0; i < n; i++) {
    free(a[i].spec);
    free(a[i].grants);
  }
  free(a);
}

static int na_cmp(const void *x, const void *y) {
  return strcmp(((const struct store_node_assignment *)x)->service,
                ((const struct store_node_assignment *)y)->service);
}

static int gen_read(struct store *s, MDB_txn *txn, const char *node, struct store_node_gen *g);

/* The nodes asked for, sorted for lookup; idx: position in the caller's array. */
struct node_ref {
  const char *id;
  size_t idx;
};

static int node_ref_cmp(const void *a, const void *b) {
  return strcmp(((const struct node_ref *)a)->id, ((const struct node_ref *)b)->id);
}

/* The tasks of the nodes in refs (sorted), from one cursor pass over the tasks
 * table; each task's node is its index in the caller's array. */
static int read_node_tasks(struct store *s, MDB_txn *txn, const struct node_ref *refs,
                           size_t n_refs, size_t *per_node, size_t max_tasks,
                           struct store_node_assignment **arr, size_t *n) {
  MDB_cursor *c;
  MDB_val k, v;
  size_t cap = 0;
  int r = store_mdb_err(mdb_cursor_open(txn, s->dbi[DBI_TASKS], &c)), rc;
  if (r < 0)
    return r;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    const uint8_t *kb = k.mv_data;
    const uint8_t *nul = k.mv_size > 5 ? memchr(kb, 0, k.mv_size) : NULL;
    size_t name_len = nul ? (size_t)(nul - kb) : 0;
    struct store_task_info t;
    uint8_t id[16];
    if (!nul || name_len == 0 || name_len > SD_NAME_MAX || k.mv_size != name_len + 5) {
      store_tamper_report(s, DBI_TASKS, &k, "key of no task");
      r = -EBADMSG;
      break;
    }
    memset(&t, 0, sizeof(t));
    if ((r = store_task_read(s, txn, &k, &v, &t, id)) < 0)
      break;
    struct node_ref key = {t.node, 0};
    const struct node_ref *nr = bsearch(&key, refs, n_refs, sizeof(*refs), node_ref_cmp);
    if (!nr)
      continue;
    if (per_node[nr->idx] == max_tasks) {
      r = -E2BIG;
      break;
    }
    if (*n == cap) {
      size_t nc = cap ? cap * 2 : 8;
      void *p = realloc(*arr, nc * sizeof(**arr));
      if (!p) {
        r = -ENOMEM;
        break;
      }
      *arr = p;
      cap = nc;
    }
    per_node[nr->idx]++;
    struct store_node_assignment *a = &(*arr)[(*n)++];
    memset(a, 0, sizeof(*a));
    memcpy(a->service, kb, name_len);
    a->task = t;
    a->task.slot = store_be32_get(kb + name_len + 1);
    a->node = nr->idx;
  }
  mdb_cursor_close(c);
  if (r == 0 && rc != MDB_NOTFOUND)
    r = store_mdb_err(rc);
  return r;
}

/* Each task's grants, from one cursor pass over the grants table. */
static int read_node_grants(struct store *s, MDB_txn *txn, struct store_node_assignment *arr,
                            size_t n, size_t max_grants) {
  MDB_cursor *c;
  MDB_val k, v;
  int r = store_mdb_err(mdb_cursor_open(txn, s->dbi[DBI_GRANTS], &c)), rc;
  if (r < 0)
    return r;
  size_t *cap = calloc(n ? n : 1, sizeof(*cap));
  if (!cap) {
    mdb_cursor_close(c);
    return -ENOMEM;
  }
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    if (k.mv_size <= 16 || k.mv_size > 16 + SD_NAME_MAX)
      continue; /* the grants module reports malformed keys */
    char svc[SD_NAME_MAX + 1];
    memcpy(svc, (const uint8_t *)k.mv_data + 16, k.mv_size - 16);
    svc[k.mv_size - 16] = 0;
    struct store_node_assignment key = {0}, *a;
    memcpy(key.service, svc, k.mv_size - 16 + 1);
    if (!(a = bsearch(&key, arr, n, sizeof(*arr), na_cmp)))
      continue;
    /* a service has one task today; with replicas each task of it gets the grants */
    for (; a > arr && strcmp(a[-1].service, svc) == 0; a--)
      ;
    for (; a < arr + n && strcmp(a->service, svc) == 0; a++) {
      size_t i = (size_t)(a - arr);
      if (a->n_grants == max_grants) {
        r = -E2BIG;
        goto out;
      }
      if (a->n_grants == cap[i]) {
        size_t nc = cap[i] ? cap[i] * 2 : 4;
        void *p = realloc(a->grants, nc * sizeof(*a->grants));
        if (!p) {
          r = -ENOMEM;
          goto out;
        }
        a->grants = p;
        cap[i] = nc;
      }
      if ((r = store_grant_resolve(s, txn, &k, &v, &a->grants[a->n_grants])) < 0)
        goto out;
      a->n_grants++; /* in key order: by secret id */
    }
  }
  if (rc != MDB_NOTFOUND)
    r = store_mdb_err(rc);
out:
  free(cap);
  mdb_cursor_close(c);
  return r;
}

void store_node_sets_free(struct store_node_set *v, size_t n) {
  if (!v)
    return;
  for (size_t i = 0; i < n; i++)
    store_node_assignments_free(v[i].tasks, v[i].n_tasks);
  free(v);
}

/* Hand each task of arr (sorted by service) to its node's set, keeping the order. */
static int split_by_node(struct store_node_assignment *arr, size_t n, const size_t *per_node,
                         struct store_node_set *sets, size_t n_nodes) {
  for (size_t i = 0; i < n_nodes; i++)
    if (per_node[i] && !(sets[i].tasks = calloc(per_node[i], sizeof(*sets[i].tasks))))
      return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    struct store_node_set *ns = &sets[arr[i].node];
    ns->tasks[ns->n_tasks++] = arr[i]; /* moves spec and grants */
    memset(&arr[i], 0, sizeof(arr[i]));
  }
  return 0;
}

/* store_nodes_assignments() in txn (a read snapshot, or a batch's write txn);
 * txn NULL: a read snapshot of its own. */
static int nodes_assignments_txn(struct store *s, MDB_txn *own, const char *const *nodes,
                                 size_t n_nodes, size_t max_tasks, size_t max_grants,
                                 struct store_node_set **ret) {
  struct store_node_assignment *arr = NULL;
  struct store_node_set *sets = NULL;
  struct node_ref *refs = NULL;
  size_t *per_node = NULL, n = 0;
  MDB_txn *txn = NULL;
  int r = 0;
  if (!s || !ret || (n_nodes && !nodes))
    return -EINVAL;
  for (size_t i = 0; i < n_nodes; i++)
    if (store_validate_node(nodes[i]) < 0)
      return -EINVAL;
  if (!(refs = calloc(n_nodes ? n_nodes : 1, sizeof(*refs))) ||
      !(per_node = calloc(n_nodes ? n_nodes : 1, sizeof(*per_node))) ||
      !(sets = calloc(n_nodes ? n_nodes : 1, sizeof(*sets)))) {
    r = -ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < n_nodes; i++)
    refs[i] = (struct node_ref){nodes[i], i};
  if (n_nodes > 1)
    qsort(refs, n_nodes, sizeof(*refs), node_ref_cmp);
  for (size_t i = 1; i < n_nodes; i++)
    if (strcmp(refs[i - 1].id, refs[i].id) == 0) {
      r = -EINVAL; /* a node twice */
      goto out;
    }
  if (own)
    txn = own;
  else if ((r = store_mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))) < 0)
    goto out;
  if ((r = read_node_tasks(s, txn, refs, n_nodes, per_node, max_tasks, &arr, &n)) < 0)
    goto out;
  if (n > 1)
    qsort(arr, n, sizeof(*arr), na_cmp);
  for (size_t i = 0; i < n; i++) {
    struct store_service_info si;
    memset(&si, 0, sizeof(si));
    if ((r = store_service_read(s, txn, arr[i].service, &si)) == -ENOENT) {
      /* a task without its service: a broken reference */
      MDB_val k = {strlen(arr[i].service), arr[i].service};
      store_tamper_report(s, DBI_SERVICES, &k, "a task's service is missing");
      r = -EBADMSG;
    }
    if (r < 0)
      goto out;
    arr[i].spec = si.spec;
    arr[i].spec_len = si.spec_len;
  }
  if (n && (r = read_node_grants(s, txn, arr, n, max_grants)) < 0)
    goto out;
  for (size_t i = 0; i < n_nodes; i++)
    if ((r = gen_read(s, txn, nodes[i], &sets[i].gen)) < 0)
      goto out;
  if ((r = split_by_node(arr, n, per_node, sets, n_nodes)) < 0)
    goto out;
  *ret = sets;
  sets = NULL;
out:
  if (txn && txn != own)
    mdb_txn_abort(txn);
  store_node_assignments_free(arr, n);
  store_node_sets_free(sets, n_nodes);
  free(refs);
  free(per_node);
  return r;
}

int store_nodes_assignments(struct store *s, const char *const *nodes, size_t n_nodes,
                            size_t max_tasks, size_t max_grants, struct store_node_set **ret) {
  return nodes_assignments_txn(s, NULL, nodes, n_nodes, max_tasks, max_grants, ret);
}

int store_batch_nodes_assignments(struct store_batch *b, const char *const *nodes,
                                  size_t n_nodes, size_t max_tasks, size_t max_grants,
                                  struct store_node_set **ret) {
  if (!b || !b->txn)
    return -EINVAL;
  return nodes_assignments_txn(b->s, b->txn, nodes, n_nodes, max_tasks, max_grants, ret);
}

int store_batch_service_node(struct store_batch *b, const char *service,
                             char ret_node[STORE_NODE_MAX + 1]) {
  if (!b || !b->txn || !ret_node || store_validate_name(service) < 0)
    return -EINVAL;
  size_t n = strlen(service);
  uint8_t kb[SD_NAME_MAX + 5], id[16];
  memcpy(kb, service, n);
  kb[n] = 0;
  store_be32_put(kb + n + 1, TASK_SLOT);
  MDB_val k = {n + 5, kb};
  struct store_task_info t;
  memset(&t, 0, sizeof(t));
  int r = store_task_read(b->s, b->txn, &k, NULL, &t, id); /* -ENOENT: no such service */
  if (r < 0)
    return r;
  snprintf(ret_node, STORE_NODE_MAX + 1, "%s", t.node);
  return 0;
}

int store_node_assignments(struct store *s, const char *node, size_t max_tasks,
                           size_t max_grants, struct store_node_assignment **ret, size_t *ret_n,
                           struct store_node_gen *ret_gen) {
  struct store_node_set *set;
  if (!ret || !ret_n)
    return -EINVAL;
  int r = store_nodes_assignments(s, &node, 1, max_tasks, max_grants, &set);
  if (r < 0)
    return r;
  *ret = set->tasks;
  *ret_n = set->n_tasks;
  if (ret_gen)
    *ret_gen = set->gen;
  free(set);
  return 0;
}

/* ---- generations ---- */

static int gen_decode(struct store *s, const MDB_val *k, const MDB_val *p, struct store_node_gen *g) {
  msgpack_unpacked u;
  msgpack_object *it;
  msgpack_unpacked_init(&u);
  int r = store_rec_unpack(p, &u, &it, 2);
  if (r < 0 || it[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || it[1].type != MSGPACK_OBJECT_BIN ||
      it[1].via.bin.size != STORE_DIGEST_LEN) {
    store_tamper_report(s, DBI_GENERATIONS, k, "authenticated but malformed");
    r = -EBADMSG;
  } else {
    g->generation = it[0].via.u64;
    memcpy(g->digest, it[1].via.bin.ptr, STORE_DIGEST_LEN);
  }
  msgpack_unpacked_destroy(&u);
  return r;
}

static int gen_read(struct store *s, MDB_txn *txn, const char *node, struct store_node_gen *g) {
  MDB_val k = {strlen(node), (void *)node}, p;
  memset(g, 0, sizeof(*g));
  int r = store_rec_get(s, txn, DBI_GENERATIONS, &k, &p);
  if (r == -ENOENT)
    return 0;
  return r < 0 ? r : gen_decode(s, &k, &p, g);
}

int store_node_gen_get(struct store *s, const char *node, struct store_node_gen *ret) {
  MDB_txn *txn;
  if (!s || !ret || store_validate_node(node) < 0)
    return -EINVAL;
  int r = store_mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
  if (r < 0)
    return r;
  struct store_node_gen g;
  if ((r = gen_read(s, txn, node, &g)) == 0)
    *ret = g;
  mdb_txn_abort(txn);
  return r;
}

int store_node_gen_advance(struct store_batch *b, const char *node,
                           const uint8_t digest[STORE_DIGEST_LEN], struct store_node_gen *ret) {
  struct store_node_gen g;
  if (!b || !digest || store_validate_node(node) < 0)
    return -EINVAL;
  int r = gen_read(b->s, b->txn, node, &g);
  if (r < 0)
    return r;
  if (g.generation == 0 || memcmp(g.digest, digest, STORE_DIGEST_LEN) != 0) {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    MDB_val k = {strlen(node), (void *)node};
    g.generation++;
    memcpy(g.digest, digest, STORE_DIGEST_LEN);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    r = msgpack_pack_array(&pk, 2);
    r |= msgpack_pack_uint64(&pk, g.generation);
    r |= msgpack_pack_bin_with_body(&pk, g.digest, STORE_DIGEST_LEN);
    r = r == 0 ? store_rec_put(b->s, b->txn, DBI_GENERATIONS, &k, sb.data, sb.size, 0) : -ENOMEM;
    msgpack_sbuffer_destroy(&sb);
    if (r < 0)
      return r;
  }
  if (ret)
    *ret = g;
  return 0;
}

int store_node_gen_forget(struct store_batch *b, const char *node) {
  if (!b || store_validate_node(node) < 0)
    return -EINVAL;
  MDB_val k = {strlen(node), (void *)node};
  int r = store_mdb_err(mdb_del(b->txn, b->s->dbi[DBI_GENERATIONS], &k, NULL));
  return r == -ENOENT ? 0 : r;
}
