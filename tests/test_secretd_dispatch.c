/*
 * Delivery, manager side (secretd/dispatch.h, secretd/authorizer.h, the worker
 * ops of node_ops.c) on a real LMDB store: assignment sets hold exactly a
 * node's tasks and grants and never a value; pins resolve to the pin, the rest
 * to the latest; the change tracker names the right nodes for each kind of
 * write (revocations first); generations survive a reopen; the authorizer
 * refuses another node, an old version, a revoked grant, a task not running
 * and an unknown task, audits each refusal and each delivery, never the value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <lmdb.h>
#include <string.h>

#include "base/limits.h"
#include "secretd/admin.h"
#include "secretd/authorizer.h"
#include "secretd/dispatch.h"
#include "secretd/dispatch_hook.h"
#include "secretd/serve.h"
#include "store/internal.h"
#include "test_store_util.h"
#include "wire/msg.h"

/* Markers: a value found anywhere but in a delivery is a leak. */
#define V1 "MARKER-db-v1-7f3a9c"
#define V2 "MARKER-db-v2-1b8e44"
#define API1 "MARKER-api-v1-55aa01"
#define API2 "MARKER-api-v2-0c0c0c"

/* {"v":1,"rootfs":"/r","argv":["/a"],"restart":"always"} */
static void spec_bytes(msgpack_sbuffer *sb, const char *restart) {
  msgpack_packer pk;
  msgpack_sbuffer_init(sb);
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, restart ? 4 : 3);
  wire_pack_kv_uint(&pk, "v", 1);
  wire_pack_kv_str(&pk, "rootfs", "/r");
  wire_pack_str(&pk, "argv");
  msgpack_pack_array(&pk, 1);
  wire_pack_str(&pk, "/a");
  if (restart)
    wire_pack_kv_str(&pk, "restart", restart);
}

static int svc(struct sfx *f, const char *name, const char *node) {
  struct store_batch *b;
  msgpack_sbuffer sb;
  spec_bytes(&sb, strcmp(name, "web") == 0 ? "always" : NULL);
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  int r = store_service_create(b, &f->actor, name, node, sb.data, sb.size);
  assert_int_equal(store_batch_commit(b), 0);
  msgpack_sbuffer_destroy(&sb);
  return r;
}

static int svc_rm(struct sfx *f, const char *name) {
  struct store_batch *b;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  int r = store_service_remove(b, &f->actor, name);
  assert_int_equal(store_batch_commit(b), 0);
  return r;
}

static int grant(struct sfx *f, const char *secret, const char *service, uint32_t pin) {
  struct store_batch *b;
  struct store_grant g;
  store_grant_defaults(&g);
  g.service = service;
  g.uid_unset = g.gid_unset = true;
  g.version = pin;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  int r = store_grant_add(b, &f->actor, secret, &g);
  assert_int_equal(store_batch_commit(b), 0);
  return r;
}

static int grant_rm(struct sfx *f, const char *secret, const char *service) {
  struct store_batch *b;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  int r = store_grant_remove(b, &f->actor, secret, service);
  assert_int_equal(store_batch_commit(b), 0);
  return r;
}

static int rm_force(struct sfx *f, const char *secret) {
  struct store_batch *b;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  int r = store_secret_remove(b, &f->actor, secret, true);
  assert_int_equal(store_batch_commit(b), 0);
  return r;
}

static void task_id_of(struct sfx *f, const char *service, char out[33]) {
  struct store_service_info *i;
  assert_int_equal(store_service_inspect(f->s, service, &i), 0);
  assert_int_equal(i->n_tasks, 1);
  strcpy(out, i->tasks[0].id);
  store_service_info_free(i, 1);
}

/* A world: db (2 versions after setup) granted to web on n1 (follows latest),
 * api granted to web pinned at 1 and to worker on n2; cron on n1 with no grants. */
struct world {
  struct sfx *f;
  char db[33], api[33];
  char web_task[33], worker_task[33], cron_task[33];
};

static int world_setup(void **state) {
  struct world *w = calloc(1, sizeof(*w));
  w->f = sfx_new(NULL);
  assert_int_equal(put1(w->f, "db", V1, w->db), 0);
  assert_int_equal(put1(w->f, "api", API1, w->api), 0);
  assert_int_equal(rot1(w->f, "db", V2, NULL), 0);
  assert_int_equal(rot1(w->f, "api", API2, NULL), 0);
  assert_int_equal(svc(w->f, "web", "n1"), 0);
  assert_int_equal(svc(w->f, "cron", "n1"), 0);
  assert_int_equal(svc(w->f, "worker", "n2"), 0);
  assert_int_equal(grant(w->f, "db", "web", 0), 0);
  assert_int_equal(grant(w->f, "api", "web", 1), 0);
  assert_int_equal(grant(w->f, "api", "worker", 0), 0);
  task_id_of(w->f, "web", w->web_task);
  task_id_of(w->f, "worker", w->worker_task);
  task_id_of(w->f, "cron", w->cron_task);
  *state = w;
  return 0;
}

static int world_teardown(void **state) {
  struct world *w = *state;
  sfx_free(w->f);
  free(w);
  return 0;
}

static const struct wire_assign_grant *find_grant(const struct wire_assign_task *t,
                                                  const char *secret) {
  for (size_t i = 0; i < t->n_grants; i++)
    if (strcmp(t->grants[i].secret, secret) == 0)
      return &t->grants[i];
  return NULL;
}

static void pack_set(const struct wire_assignments *a, msgpack_sbuffer *sb) {
  msgpack_packer pk;
  msgpack_sbuffer_init(sb);
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  assert_int_equal(wire_assignments_pack(&pk, a), 0);
}

/* Every audit record's fields, searched for s. */
static bool audit_has(struct sfx *f, const char *s) {
  struct store_audit_rec *recs;
  size_t n;
  bool found = false;
  assert_int_equal(store_audit_list(f->s, 0, 0, 0, &recs, &n), 0);
  for (size_t i = 0; i < n && !found; i++)
    found = strstr(recs[i].actor, s) || strstr(recs[i].action, s) || strstr(recs[i].object, s) ||
            strstr(recs[i].outcome, s);
  free(recs);
  return found;
}

/* The last audit record whose object contains s (copied to *ret); false if none. */
static bool audit_last(struct sfx *f, const char *action, const char *s,
                       struct store_audit_rec *ret) {
  struct store_audit_rec *recs;
  size_t n;
  bool found = false;
  assert_int_equal(store_audit_list(f->s, 0, 0, 0, &recs, &n), 0);
  for (size_t i = n; i-- > 0 && !found;)
    if (strcmp(recs[i].action, action) == 0 && strstr(recs[i].object, s)) {
      *ret = recs[i];
      found = true;
    }
  free(recs);
  return found;
}

/* ---- assignments ---- */

static void test_assignments_hold_exactly_the_nodes_tasks_and_grants_never_values(void **state) {
  struct world *w = *state;
  struct wire_assignments a = {0}, d = {0};
  msgpack_sbuffer sb;
  const char *why = NULL;
  bool stale = false;
  assert_int_equal(dispatch_build(w->f->s, "n1", &a, &stale), 0);
  assert_true(stale); /* never given: generation 0 */
  assert_string_equal(a.node, "n1");
  assert_int_equal(a.n_tasks, 2);
  assert_string_equal(a.tasks[0].service, "cron"); /* sorted by service */
  assert_string_equal(a.tasks[0].id, w->cron_task);
  assert_int_equal(a.tasks[0].n_grants, 0);
  assert_string_equal(a.tasks[0].restart, "no");
  assert_string_equal(a.tasks[1].service, "web");
  assert_string_equal(a.tasks[1].restart, "always");
  assert_string_equal(a.tasks[1].desired, "running");
  assert_string_equal(a.tasks[1].state, "pending");
  assert_int_equal(a.tasks[1].n_grants, 2);
  const struct wire_assign_grant *g = find_grant(&a.tasks[1], "db");
  assert_non_null(g);
  assert_string_equal(g->secret_id, w->db);
  assert_string_equal(g->target, "db");
  assert_true(g->uid_unset && g->gid_unset);
  assert_int_equal(g->mode, 0400);
  /* never a value, in the encoded message either */
  pack_set(&a, &sb);
  assert_null(memmem(sb.data, sb.size, "MARKER", 6));
  /* the agent's decoder reads back what was sent */
  assert_int_equal(wire_assignments_decode_bytes((const uint8_t *)sb.data, sb.size, &d, &why), 0);
  assert_int_equal(d.n_tasks, 2);
  assert_memory_equal(d.digest, a.digest, 32);
  assert_string_equal(d.tasks[1].grants[0].secret_id, a.tasks[1].grants[0].secret_id);
  assert_int_equal(d.tasks[1].spec_len, a.tasks[1].spec_len);
  msgpack_sbuffer_destroy(&sb);
  wire_assignments_clear(&d);
  wire_assignments_clear(&a);

  assert_int_equal(dispatch_build(w->f->s, "n2", &a, NULL), 0);
  assert_int_equal(a.n_tasks, 1);
  assert_string_equal(a.tasks[0].service, "worker");
  assert_int_equal(a.tasks[0].n_grants, 1);
  assert_string_equal(a.tasks[0].grants[0].secret, "api");
  wire_assignments_clear(&a);

  assert_int_equal(dispatch_build(w->f->s, "n3", &a, &stale), 0);
  assert_int_equal(a.n_tasks, 0);
  wire_assignments_clear(&a);
}

static void test_many_nodes_from_one_snapshot_equal_each_alone(void **state) {
  struct world *w = *state;
  const char *nodes[] = {"n2", "n3", "n1"};
  struct wire_assignments many[3], one = {0};
  memset(many, 0, sizeof(many));
  bool stale[3];
  assert_int_equal(dispatch_build_many(w->f->s, nodes, 3, many, stale), 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(dispatch_build(w->f->s, nodes[i], &one, NULL), 0);
    assert_string_equal(many[i].node, nodes[i]);
    assert_int_equal(many[i].n_tasks, one.n_tasks);
    assert_memory_equal(many[i].digest, one.digest, 32);
    wire_assignments_clear(&one);
    wire_assignments_clear(&many[i]);
  }
  assert_true(stale[0] && stale[2]);
  assert_int_equal(many[1].n_tasks, 0);
  const char *twice[] = {"n1", "n1"};
  assert_int_equal(dispatch_build_many(w->f->s, twice, 2, many, NULL), -EINVAL);
  const char *bad[] = {"n1", "-x"};
  assert_int_equal(dispatch_build_many(w->f->s, bad, 2, many, NULL), -EINVAL);
}

static void test_pinned_grant_resolves_to_its_pin_unpinned_to_latest(void **state) {
  struct world *w = *state;
  struct wire_assignments a = {0};
  assert_int_equal(dispatch_build(w->f->s, "n1", &a, NULL), 0);
  const struct wire_assign_grant *db = find_grant(&a.tasks[1], "db");
  const struct wire_assign_grant *api = find_grant(&a.tasks[1], "api");
  assert_int_equal(db->version, 2);
  assert_int_equal(db->pinned, 0);
  assert_int_equal(api->version, 1);
  assert_int_equal(api->pinned, 1);
  wire_assignments_clear(&a);
  /* a rotation moves the follower, not the pin */
  assert_int_equal(rot1(w->f, "api", "MARKER-api-v3", NULL), 0);
  assert_int_equal(dispatch_build(w->f->s, "n1", &a, NULL), 0);
  assert_int_equal(find_grant(&a.tasks[1], "api")->version, 1);
  wire_assignments_clear(&a);
  assert_int_equal(dispatch_build(w->f->s, "n2", &a, NULL), 0);
  assert_int_equal(a.tasks[0].grants[0].version, 3);
  wire_assignments_clear(&a);
}

/* ---- change tracking ---- */

/* Run one change through the commit path: candidates before and after the
 * write, then the diff. Returns the changed nodes as "n1,n2" ("+" marks a revoke). */
struct track {
  struct dispatch_tracker *t;
  struct dispatch_nodeset set;
};

static void track_pre(struct world *w, struct track *tr, const struct dispatch_change *c) {
  assert_int_equal(dispatch_candidates(w->f->s, c, &tr->set), 0);
}

static void track_post(struct world *w, struct track *tr, const struct dispatch_change *c,
                       char *out, size_t cap) {
  struct dispatch_node_change *ch = NULL;
  size_t n = 0;
  struct store_batch *b;
  assert_int_equal(dispatch_candidates(w->f->s, c, &tr->set), 0);
  assert_int_equal(dispatch_tracker_diff(tr->t, w->f->s, &tr->set, &ch, &n), 0);
  out[0] = 0;
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(out);
    snprintf(out + l, cap - l, "%s%s%s", i ? "," : "", ch[i].revokes ? "+" : "", ch[i].node);
  }
  assert_int_equal(store_batch_begin(w->f->s, &b), 0);
  assert_int_equal(dispatch_gen_commit(b, ch, n), 0);
  assert_int_equal(store_batch_commit(b), 0);
  for (size_t i = 0; i < n; i++)
    assert_true(ch[i].set.generation >= 1);
  dispatch_changes_free(ch, n);
  dispatch_nodeset_clear(&tr->set);
}

static void test_tracker_names_the_nodes_each_write_changed(void **state) {
  struct world *w = *state;
  struct track tr = {0};
  char got[200];
  struct dispatch_change c;
  assert_int_equal(dispatch_tracker_new(&tr.t), 0);
  /* first sight of every node: all of them, as nothing was given yet */
  c = (struct dispatch_change){.kind = DISPATCH_NODE, .node = "n1"};
  track_pre(w, &tr, &c);
  c.node = "n2";
  track_post(w, &tr, &c, got, sizeof(got));
  assert_string_equal(got, "n1,n2");

  /* rotate db: only web's node; the pinned api of web is untouched */
  c = (struct dispatch_change){.kind = DISPATCH_SECRET_ROTATE, .secret = "db"};
  track_pre(w, &tr, &c);
  assert_int_equal(rot1(w->f, "db", "MARKER-db-v3", NULL), 0);
  track_post(w, &tr, &c, got, sizeof(got));
  assert_string_equal(got, "+n1"); /* version 2 is no longer delivered: a revoke */

  /* rotate api: worker follows (n2); web is pinned, so n1 does not change */
  c = (struct dispatch_change){.kind = DISPATCH_SECRET_ROTATE, .secret = "api"};
  track_pre(w, &tr, &c);
  assert_int_equal(rot1(w->f, "api", "MARKER-api-v3", NULL), 0);
  track_post(w, &tr, &c, got, sizeof(got));
  assert_string_equal(got, "+n2");

  /* grant add to cron (n1): an addition, no revoke */
  c = (struct dispatch_change){.kind = DISPATCH_GRANT, .secret = "db", .service = "cron"};
  track_pre(w, &tr, &c);
  assert_int_equal(grant(w->f, "db", "cron", 0), 0);
  track_post(w, &tr, &c, got, sizeof(got));
  assert_string_equal(got, "n1");

  /* a pin change of web's api grant: n1 only */
  c = (struct dispatch_change){.kind = DISPATCH_GRANT, .secret = "api", .service = "web"};
  track_pre(w, &tr, &c);
  assert_int_equal(grant(w->f, "api", "web", 2), 0);
  track_post(w, &tr, &c, got, sizeof(got));
  assert_string_equal(got, "+n1");

  /* the same grant again: nothing changed, no node */
  track_pre(w, &tr, &c);
  assert_int_equal(grant(w->f, "api", "web", 2), 0);
  track_post(w, &tr, &c, got, sizeof(got));
  assert_string_equal(got, "");

  /* revoke db from cron */
  c = (struct dispatch_change){.kind = DISPATCH_GRANT, .secret = "db", .service = "cron"};
  track_pre(w, &tr, &c);
  assert_int_equal(grant_rm(w->f, "db", "cron"), 0);
  track_post(w, &tr, &c, got, sizeof(got));
  assert_string_equal(got, "+n1");

  /* service create on a new node, then rm */
  c = (struct dispatch_change){.kind = DISPATCH_SERVICE, .service = "batch", .node = "n3"};
  track_pre(w, &tr, &c);
  assert_int_equal(svc(w->f, "batch", "n3"), 0);
  track_post(w, &tr, &c, got, sizeof(got));
  assert_string_equal(got, "n3");
  c = (struct dispatch_change){.kind = DISPATCH_SERVICE, .service = "batch"};
  track_pre(w, &tr, &c);
  assert_int_equal(svc_rm(w->f, "batch"), 0);
  track_post(w, &tr, &c, got, sizeof(got));
  assert_string_equal(got, "+n3");

  /* rm --force of api (granted to web on n1 and worker on n2): the grants are
   * gone after the write, the candidates taken before it still name both */
  c = (struct dispatch_change){.kind = DISPATCH_SECRET_REMOVE, .secret = "api"};
  track_pre(w, &tr, &c);
  assert_int_equal(rm_force(w->f, "api"), 0);
  track_post(w, &tr, &c, got, sizeof(got));
  assert_string_equal(got, "+n1,+n2");

  /* revocations first: in one batch worker loses db... no: web (n1) loses db and
   * a service on "a0" (sorting before n1) gains it */
  assert_int_equal(svc(w->f, "early", "a0"), 0);
  c = (struct dispatch_change){.kind = DISPATCH_NODE, .node = "a0"};
  track_pre(w, &tr, &c);
  track_post(w, &tr, &c, got, sizeof(got));
  assert_string_equal(got, "a0");
  struct dispatch_change c1 = {.kind = DISPATCH_GRANT, .secret = "db", .service = "web"};
  struct dispatch_change c2 = {.kind = DISPATCH_GRANT, .secret = "db", .service = "early"};
  track_pre(w, &tr, &c1);
  track_pre(w, &tr, &c2);
  assert_int_equal(grant_rm(w->f, "db", "web"), 0);
  assert_int_equal(grant(w->f, "db", "early", 0), 0);
  assert_int_equal(dispatch_candidates(w->f->s, &c1, &tr.set), 0);
  track_post(w, &tr, &c2, got, sizeof(got));
  assert_string_equal(got, "+n1,a0");

  /* node removal: its tasks show node_removed; the node is named */
  struct store_batch *b;
  size_t marked = 0;
  assert_int_equal(store_batch_begin(w->f->s, &b), 0);
  assert_int_equal(dispatch_mark_node(b, w->f->s, &w->f->actor, "n2",
                                      DISPATCH_STATE_NODE_REMOVED, &marked), 0);
  assert_int_equal(store_batch_commit(b), 0);
  assert_int_equal(marked, 1);
  struct wire_assignments a = {0};
  assert_int_equal(dispatch_build(w->f->s, "n2", &a, NULL), 0);
  assert_string_equal(a.tasks[0].state, "node_removed");
  wire_assignments_clear(&a);
  c = (struct dispatch_change){.kind = DISPATCH_NODE, .node = "n2"};
  assert_int_equal(dispatch_candidates(w->f->s, &c, &tr.set), 0);
  assert_int_equal(tr.set.n, 1);
  assert_string_equal(tr.set.ids[0], "n2");
  dispatch_nodeset_clear(&tr.set);
  dispatch_tracker_free(tr.t);
}

static void test_generation_survives_a_restart_and_only_moves_on_change(void **state) {
  struct world *w = *state;
  struct wire_assignments a = {0};
  struct store_batch *b;
  struct store_node_gen g;
  bool stale;
  assert_int_equal(dispatch_build(w->f->s, "n1", &a, &stale), 0);
  assert_true(stale);
  assert_int_equal(store_batch_begin(w->f->s, &b), 0);
  assert_int_equal(dispatch_gen_advance(b, &a), 0);
  assert_int_equal(dispatch_gen_advance(b, &a), 0); /* same digest: same generation */
  assert_int_equal(store_batch_commit(b), 0);
  assert_int_equal(a.generation, 1);
  uint8_t digest[32];
  memcpy(digest, a.digest, 32);
  wire_assignments_clear(&a);
  sfx_reopen(w->f); /* secretd restarts */
  assert_int_equal(store_node_gen_get(w->f->s, "n1", &g), 0);
  assert_int_equal(g.generation, 1);
  assert_memory_equal(g.digest, digest, 32);
  assert_int_equal(dispatch_build(w->f->s, "n1", &a, &stale), 0);
  assert_false(stale); /* an agent reporting (1, digest) is current */
  wire_assignments_clear(&a);
  /* a write committed but not yet pushed before a crash: stale after restart */
  assert_int_equal(rot1(w->f, "db", "MARKER-db-v9", NULL), 0);
  sfx_reopen(w->f);
  assert_int_equal(dispatch_build(w->f->s, "n1", &a, &stale), 0);
  assert_true(stale);
  assert_int_equal(store_batch_begin(w->f->s, &b), 0);
  assert_int_equal(dispatch_gen_advance(b, &a), 0);
  assert_int_equal(store_batch_commit(b), 0);
  assert_int_equal(a.generation, 2);
  wire_assignments_clear(&a);
}

/* ---- the authorizer ---- */

static int deliver(struct world *w, const char *node, const char *service, const char *task,
                   const char *secret_id, uint32_t version, const char *want_value,
                   const char **why) {
  struct authz_request r = {0};
  struct store_batch *b;
  snprintf(r.node, sizeof(r.node), "%s", node);
  snprintf(r.service, sizeof(r.service), "%s", service);
  snprintf(r.task, sizeof(r.task), "%s", task);
  r.items = calloc(1, sizeof(*r.items));
  r.n = 1;
  strcpy(r.items[0].secret_id, secret_id);
  r.items[0].version = version;
  int hard = authz_check(w->f->s, &r);
  assert_int_equal(store_batch_begin(w->f->s, &b), 0);
  assert_int_equal(authz_audit(b, &r, hard), 0);
  assert_int_equal(store_batch_commit(b), 0);
  int out = hard ? hard : r.code ? r.code : r.items[0].result;
  *why = r.code ? r.why : r.items[0].why;
  if (out == 0) {
    assert_non_null(r.items[0].value);
    assert_int_equal(secbuf_len(r.items[0].value), strlen(want_value));
    assert_memory_equal(secbuf_cdata(r.items[0].value), want_value, strlen(want_value));
  } else {
    assert_null(r.items[0].value);
  }
  authz_release(&r);
  return out;
}

static void set_desired(struct sfx *f, const char *service, const char *task_hex,
                        const char *node, const char *desired) {
  struct store_batch *b;
  uint8_t id[16], kb[80];
  size_t n = strlen(service);
  msgpack_sbuffer sb;
  msgpack_packer pk;
  assert_int_equal(store_id_from_hex(task_hex, id), 0);
  memcpy(kb, service, n);
  kb[n] = 0;
  store_be32_put(kb + n + 1, 0);
  MDB_val k = {n + 5, kb};
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 7);
  msgpack_pack_bin_with_body(&pk, id, 16);
  wire_pack_str(&pk, node);
  wire_pack_str(&pk, desired);
  wire_pack_str(&pk, "running");
  msgpack_pack_uint64(&pk, 1);
  msgpack_pack_nil(&pk);
  msgpack_pack_uint32(&pk, 0);
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  assert_int_equal(store_rec_put(f->s, b->txn, DBI_TASKS, &k, sb.data, sb.size, 0), 0);
  assert_int_equal(store_batch_commit(b), 0);
  msgpack_sbuffer_destroy(&sb);
}

static void test_authorizer_delivers_the_granted_version_and_audits_it_without_value(void **state) {
  struct world *w = *state;
  const char *why;
  struct store_audit_rec rec;
  assert_int_equal(deliver(w, "n1", "web", w->web_task, w->db, 2, V2, &why), 0);
  assert_int_equal(deliver(w, "n1", "web", w->web_task, w->api, 1, API1, &why), 0); /* pin */
  assert_int_equal(deliver(w, "n2", "worker", w->worker_task, w->api, 2, API2, &why), 0);
  assert_true(audit_last(w->f, AUTHZ_ACTION, "service:worker", &rec));
  assert_string_equal(rec.actor, "node:n2");
  assert_string_equal(rec.outcome, "ok");
  assert_non_null(strstr(rec.object, "secret:api"));
  assert_non_null(strstr(rec.object, "version:2"));
  assert_non_null(strstr(rec.object, w->worker_task));
  assert_false(audit_has(w->f, "MARKER"));
}

static void expect_refused(struct world *w, const char *node, const char *service,
                           const char *task, const char *secret_id, uint32_t version,
                           const char *reason) {
  const char *why = NULL;
  struct store_audit_rec rec;
  char obj[80];
  assert_int_equal(deliver(w, node, service, task, secret_id, version, NULL, &why), SD_E_DENIED);
  assert_non_null(why);
  assert_non_null(strstr(why, reason));
  snprintf(obj, sizeof(obj), "refused:%s", why);
  assert_true(audit_last(w->f, AUTHZ_ACTION, obj, &rec));
  assert_string_equal(rec.outcome, "denied");
  char actor[300];
  snprintf(actor, sizeof(actor), "node:%s", node);
  assert_string_equal(rec.actor, actor);
}

static void test_authorizer_refuses_and_audits_every_other_request(void **state) {
  struct world *w = *state;
  char unknown[33];
  /* the other node asking for web's task (its own certificate, someone else's task) */
  expect_refused(w, "n2", "web", w->web_task, w->db, 2, "another node");
  /* an old version, and one newer than the pin */
  expect_refused(w, "n1", "web", w->web_task, w->db, 1, "older");
  expect_refused(w, "n1", "web", w->web_task, w->api, 2, "newer or pinned");
  /* a secret the service has no grant of */
  expect_refused(w, "n1", "cron", w->cron_task, w->db, 2, "no grant");
  /* revoked */
  assert_int_equal(grant_rm(w->f, "db", "web"), 0);
  expect_refused(w, "n1", "web", w->web_task, w->db, 2, "no grant");
  /* an unknown task id, a task id under another service, an unknown service */
  strcpy(unknown, "0123456789abcdef0123456789abcdef");
  expect_refused(w, "n1", "web", unknown, w->api, 1, "unknown task");
  expect_refused(w, "n1", "web", w->cron_task, w->api, 1, "unknown task");
  expect_refused(w, "n1", "nosuch", w->web_task, w->api, 1, "unknown task");
  /* an unknown secret */
  expect_refused(w, "n1", "web", w->web_task, unknown, 1, "unknown secret");
  /* a task not desired running */
  set_desired(w->f, "web", w->web_task, "n1", "shutdown");
  expect_refused(w, "n1", "web", w->web_task, w->api, 1, "not desired running");
  /* rm --force: the grant goes with the secret */
  set_desired(w->f, "web", w->web_task, "n1", "running");
  const char *why;
  assert_int_equal(deliver(w, "n1", "web", w->web_task, w->api, 1, API1, &why), 0);
  assert_int_equal(rm_force(w->f, "api"), 0);
  expect_refused(w, "n1", "web", w->web_task, w->api, 1, "unknown secret");
  assert_false(audit_has(w->f, "MARKER"));
}

/* ---- the worker ops, called as the session layer will ---- */

struct opctx {
  struct server srv;
  struct admin_req rq;
  struct wire_buf frame;
  struct wire_value *val;
  struct wire_request req;
};

/* The worker ops' table entries as admin_ops.c has them (that file belongs to the
 * daemon binary). */
static const struct admin_op worker_ops[] = {
    {node_prep_assignments, node_run_assignments, node_pack_assignments, ADMIN_WRITE, "node:", NULL},
    {node_prep_deliver, node_run_deliver, node_pack_deliver, ADMIN_WRITE, "node:", NULL},
    {node_prep_task_report, node_run_task_report, node_pack_task_report, ADMIN_WRITE, "node:", NULL},
};

static const struct admin_op *worker_op(enum wire_op op) {
  switch (op) {
  case WIRE_OP_NODE_ASSIGNMENTS: return &worker_ops[0];
  case WIRE_OP_NODE_DELIVER: return &worker_ops[1];
  case WIRE_OP_TASK_REPORT: return &worker_ops[2];
  default: fail_msg("not a worker op"); return NULL;
  }
}

static void pack_ud_args(msgpack_packer *pk, void *ud) {
  void (*fn)(msgpack_packer *) = (void (*)(msgpack_packer *))ud;
  fn(pk);
}

/* Encode a request with args packed by fn, decode it through the schema, set up rq. */
static int op_begin(struct opctx *c, struct world *w, enum wire_op op, const char *node,
                    void (*fn)(msgpack_packer *)) {
  struct wire_error err;
  memset(c, 0, sizeof(*c));
  c->srv.store = w->f->s;
  int n = wire_request_encode(&c->frame, 7, op, pack_ud_args, (void *)fn);
  assert_true(n > 4);
  int r = wire_request_decode(c->frame.data + 4, (size_t)n - 4, &c->val, &c->req, &err);
  if (r < 0)
    return r;
  c->rq.server = &c->srv;
  c->rq.op = worker_op(op);
  c->rq.action = wire_op_name(op);
  snprintf(c->rq.node_id, sizeof(c->rq.node_id), "%s", node);
  return c->rq.op->prepare(&c->rq, c->req.args);
}

static int op_run(struct opctx *c, struct world *w) {
  struct store_batch *b;
  assert_int_equal(store_batch_begin(w->f->s, &b), 0);
  int r = c->rq.op->run(b, &c->rq);
  assert_int_equal(store_batch_commit(b), 0);
  return r;
}

/* Pack the reply's result and decode it into *ret (caller frees with wire_value_free). */
static const msgpack_object *op_result(struct opctx *c, struct wire_buf *out,
                                       struct wire_value **ret) {
  msgpack_packer pk;
  *out = (struct wire_buf){0};
  wire_buf_init(out, &pk);
  c->rq.op->pack(&pk, &c->rq);
  assert_false(out->failed);
  assert_int_equal(wire_value_decode(out->data + WIRE_HEADER_BYTES, out->len - WIRE_HEADER_BYTES,
                                     ret), 0);
  return wire_value_root(*ret);
}

static void op_end(struct opctx *c) {
  node_req_clear(&c->rq);
  wire_value_free(c->val);
  wire_buf_release(&c->frame);
}

static struct world *g_w;

static void args_deliver_web(msgpack_packer *pk) {
  msgpack_pack_map(pk, 3);
  wire_pack_kv_str(pk, "service", "web");
  wire_pack_kv_str(pk, "task", g_w->web_task);
  wire_pack_str(pk, "secrets");
  msgpack_pack_map(pk, 2);
  wire_pack_str(pk, g_w->db);
  msgpack_pack_uint32(pk, 2);
  wire_pack_str(pk, g_w->api);
  msgpack_pack_uint32(pk, 2); /* web is pinned at 1: refused */
}

static void test_deliver_op_packs_values_from_secret_memory_and_refuses_without_a_node(void **state) {
  struct world *w = *state;
  struct opctx c;
  struct wire_buf out;
  struct wire_value *v;
  g_w = w;
  /* the admin socket (no node id) is refused */
  assert_int_equal(op_begin(&c, w, WIRE_OP_NODE_DELIVER, "", args_deliver_web), SD_E_DENIED);
  op_end(&c);
  assert_int_equal(op_begin(&c, w, WIRE_OP_NODE_DELIVER, "n1", args_deliver_web), 0);
  assert_int_equal(op_run(&c, w), 0);
  const msgpack_object *res = op_result(&c, &out, &v);
  const msgpack_object *arr = wire_map_get(res, "secrets");
  assert_non_null(arr);
  assert_int_equal(arr->via.array.size, 2);
  int got_value = 0, got_refused = 0;
  for (uint32_t i = 0; i < 2; i++) {
    const uint8_t *p;
    size_t n;
    char why[100];
    if (wire_get_bin(&arr->via.array.ptr[i], "value", &p, &n) == 0) {
      assert_int_equal(n, strlen(V2));
      assert_memory_equal(p, V2, n);
      got_value++;
    } else {
      assert_int_equal(wire_get_str(&arr->via.array.ptr[i], "refused", why, sizeof(why)), 0);
      got_refused++;
    }
  }
  assert_int_equal(got_value, 1);
  assert_int_equal(got_refused, 1);
  wire_value_free(v);
  wire_buf_release(&out);
  op_end(&c);
  /* the other node is refused as a whole */
  assert_int_equal(op_begin(&c, w, WIRE_OP_NODE_DELIVER, "n2", args_deliver_web), 0);
  assert_int_equal(op_run(&c, w), SD_E_DENIED);
  assert_non_null(strstr(c.rq.errmsg, "another node"));
  op_end(&c);
  assert_false(audit_has(w->f, "MARKER"));
}

static void test_authorizer_never_packs_more_than_one_frame(void **state) {
  struct world *w = *state;
  struct authz_request r = {0};
  char ids[3][33];
  char *big = malloc(SD_VALUE_MAX);
  assert_non_null(big);
  for (int i = 0; i < 3; i++) {
    char name[16];
    snprintf(name, sizeof(name), "big%d", i);
    memset(big, 'a' + i, SD_VALUE_MAX - 1);
    big[SD_VALUE_MAX - 1] = 0;
    assert_int_equal(put1(w->f, name, big, ids[i]), 0);
    assert_int_equal(grant(w->f, name, "web", 0), 0);
  }
  free(big);
  snprintf(r.node, sizeof(r.node), "n1");
  snprintf(r.service, sizeof(r.service), "web");
  snprintf(r.task, sizeof(r.task), "%s", w->web_task);
  r.items = calloc(3, sizeof(*r.items));
  r.n = 3;
  for (int i = 0; i < 3; i++) {
    strcpy(r.items[i].secret_id, ids[i]);
    r.items[i].version = 1;
  }
  assert_int_equal(authz_check(w->f->s, &r), 0);
  assert_int_equal(r.code, 0);
  assert_int_equal(r.delivered, 2);
  int deferred = 0;
  for (int i = 0; i < 3; i++)
    if (r.items[i].result == -EMSGSIZE) {
      assert_null(r.items[i].value);
      deferred++;
    }
  assert_int_equal(deferred, 1);
  struct wire_buf out = {0};
  msgpack_packer pk;
  wire_buf_init(&out, &pk);
  msgpack_pack_map(&pk, 1); /* as a reply's envelope would hold it */
  wire_pack_str(&pk, "result");
  authz_pack(&pk, &r);
  assert_true(wire_buf_finish(&out) > 0); /* fits one frame */
  wire_buf_release(&out);
  authz_release(&r);
}

/* A grant record changed outside secretd (raw LMDB, no valid tag): nothing is
 * delivered, the failure is audited, and the store reports the tamper. */
static void test_authorizer_refuses_a_tampered_grant(void **state) {
  struct world *w = *state;
  uint8_t kb[16 + 3];
  MDB_txn *txn;
  assert_int_equal(store_id_from_hex(w->db, kb), 0);
  memcpy(kb + 16, "web", 3);
  MDB_val k = {sizeof(kb), kb}, v = {40, "this is no grant record, and no tag....."};
  assert_int_equal(mdb_txn_begin(w->f->s->env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_put(txn, w->f->s->dbi[DBI_GRANTS], &k, &v, 0), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  const char *why;
  uint64_t before = store_tamper_count(w->f->s);
  assert_int_equal(deliver(w, "n1", "web", w->web_task, w->db, 2, NULL, &why), -EBADMSG);
  assert_true(store_tamper_count(w->f->s) > before);
  struct store_audit_rec rec;
  assert_true(audit_last(w->f, AUTHZ_ACTION, "service:web", &rec));
  assert_non_null(strstr(rec.outcome, "tampered"));
  /* the set cannot be built from it either */
  struct wire_assignments a = {0};
  assert_int_equal(dispatch_build(w->f->s, "n1", &a, NULL), -EBADMSG);
}

static uint64_t g_gen;
static char g_digest[65];

static void args_assign(msgpack_packer *pk) {
  if (!g_digest[0]) {
    msgpack_pack_map(pk, 0);
    return;
  }
  msgpack_pack_map(pk, 2);
  wire_pack_kv_uint(pk, "generation", g_gen);
  wire_pack_kv_str(pk, "digest", g_digest);
}

static void test_assignments_op_advances_the_generation_and_answers_current(void **state) {
  struct world *w = *state;
  struct opctx c;
  struct wire_buf out;
  struct wire_value *v;
  bool cur;
  uint64_t gen;
  g_digest[0] = 0;
  assert_int_equal(op_begin(&c, w, WIRE_OP_NODE_ASSIGNMENTS, "n1", args_assign), 0);
  assert_int_equal(op_run(&c, w), 0);
  const msgpack_object *res = op_result(&c, &out, &v);
  assert_int_equal(wire_get_bool(res, "current", &cur), 0);
  assert_false(cur);
  assert_int_equal(wire_get_uint(res, "generation", &gen), 0);
  assert_int_equal(gen, 1);
  assert_int_equal(wire_get_str(res, "digest", g_digest, sizeof(g_digest)), 0);
  struct wire_assignments a = {0};
  const char *why;
  assert_int_equal(wire_assignments_decode(wire_map_get(res, "assignments"), &a, &why), 0);
  assert_int_equal(a.n_tasks, 2);
  assert_int_equal(a.generation, 1);
  wire_assignments_clear(&a);
  wire_value_free(v);
  wire_buf_release(&out);
  op_end(&c);
  /* the agent reports what it holds: current, a short answer */
  g_gen = gen;
  assert_int_equal(op_begin(&c, w, WIRE_OP_NODE_ASSIGNMENTS, "n1", args_assign), 0);
  assert_int_equal(op_run(&c, w), 0);
  res = op_result(&c, &out, &v);
  assert_int_equal(wire_get_bool(res, "current", &cur), 0);
  assert_true(cur);
  assert_null(wire_map_get(res, "assignments"));
  wire_value_free(v);
  wire_buf_release(&out);
  op_end(&c);
  /* after a rotation the same report is behind: resent with generation 2 */
  assert_int_equal(rot1(w->f, "db", "MARKER-db-v7", NULL), 0);
  assert_int_equal(op_begin(&c, w, WIRE_OP_NODE_ASSIGNMENTS, "n1", args_assign), 0);
  assert_int_equal(op_run(&c, w), 0);
  res = op_result(&c, &out, &v);
  assert_int_equal(wire_get_bool(res, "current", &cur), 0);
  assert_false(cur);
  assert_int_equal(wire_get_uint(res, "generation", &gen), 0);
  assert_int_equal(gen, 2);
  wire_value_free(v);
  wire_buf_release(&out);
  op_end(&c);
}

static const char *g_report_task, *g_report_service, *g_report_state;

static void args_report(msgpack_packer *pk) {
  msgpack_pack_map(pk, 5);
  wire_pack_kv_str(pk, "service", g_report_service);
  wire_pack_kv_str(pk, "task", g_report_task);
  wire_pack_kv_str(pk, "state", g_report_state);
  wire_pack_kv_uint(pk, "exit_code", 3);
  wire_pack_kv_uint(pk, "restarts", 2);
}

static void test_task_report_updates_only_the_nodes_own_tasks(void **state) {
  struct world *w = *state;
  struct opctx c;
  struct store_service_info *i;
  struct store_audit_rec rec;
  g_report_service = "web";
  g_report_task = w->web_task;
  g_report_state = "exited";
  assert_int_equal(op_begin(&c, w, WIRE_OP_TASK_REPORT, "n1", args_report), 0);
  assert_int_equal(op_run(&c, w), 0);
  op_end(&c);
  assert_int_equal(store_service_inspect(w->f->s, "web", &i), 0);
  assert_string_equal(i->tasks[0].state, "exited");
  assert_true(i->tasks[0].has_exit_code);
  assert_int_equal(i->tasks[0].exit_code, 3);
  assert_int_equal(i->tasks[0].restarts, 2);
  store_service_info_free(i, 1);
  assert_true(audit_last(w->f, "task.update", w->web_task, &rec));
  assert_string_equal(rec.actor, "node:n1");
  /* n2 reporting web's task: refused, audited, nothing changed */
  g_report_state = "running";
  assert_int_equal(op_begin(&c, w, WIRE_OP_TASK_REPORT, "n2", args_report), 0);
  assert_int_equal(op_run(&c, w), SD_E_DENIED);
  op_end(&c);
  assert_true(audit_last(w->f, "task.report", "refused:task of another node", &rec));
  assert_string_equal(rec.actor, "node:n2");
  assert_string_equal(rec.outcome, "denied");
  assert_int_equal(store_service_inspect(w->f->s, "web", &i), 0);
  assert_string_equal(i->tasks[0].state, "exited");
  store_service_info_free(i, 1);
  /* a task id that is not the service's */
  g_report_task = w->cron_task;
  assert_int_equal(op_begin(&c, w, WIRE_OP_TASK_REPORT, "n1", args_report), 0);
  assert_int_equal(op_run(&c, w), SD_E_DENIED);
  op_end(&c);
  /* a malformed state word */
  g_report_task = w->web_task;
  g_report_state = "Running!";
  assert_int_equal(op_begin(&c, w, WIRE_OP_TASK_REPORT, "n1", args_report), 0);
  assert_int_equal(op_run(&c, w), -EINVAL);
  op_end(&c);
  /* no node: refused before anything */
  g_report_state = "running";
  assert_int_equal(op_begin(&c, w, WIRE_OP_TASK_REPORT, "", args_report), SD_E_DENIED);
  op_end(&c);
}

static void test_assignment_decoder_refuses_what_breaks_a_bound(void **state) {
  (void)state;
  struct wire_assignments a = {0};
  const char *why = NULL;
  msgpack_sbuffer sb;
  msgpack_packer pk;
  /* a grant whose pin differs from its version */
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  struct wire_assign_grant g = {.secret_id = "00112233445566778899aabbccddeeff", .secret = "s",
                                .target = "s", .mode = 0400, .version = 3, .pinned = 2};
  uint8_t spec[] = {0x80};
  struct wire_assign_task t = {.id = "ffeeddccbbaa99887766554433221100", .service = "web",
                               .spec = spec, .spec_len = 1, .restart = "no",
                               .desired = "running", .state = "pending", .grants = &g,
                               .n_grants = 1};
  struct wire_assignments in = {.node = "n1", .generation = 1, .tasks = &t, .n_tasks = 1};
  assert_int_equal(wire_assignments_pack(&pk, &in), 0);
  assert_int_equal(wire_assignments_decode_bytes((const uint8_t *)sb.data, sb.size, &a, &why),
                   SD_E_PROTO);
  assert_non_null(strstr(why, "pin"));
  msgpack_sbuffer_destroy(&sb);
  /* the same with a consistent pin decodes */
  g.pinned = 3;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  assert_int_equal(wire_assignments_pack(&pk, &in), 0);
  assert_int_equal(wire_assignments_decode_bytes((const uint8_t *)sb.data, sb.size, &a, &why), 0);
  assert_int_equal(a.tasks[0].grants[0].pinned, 3);
  wire_assignments_clear(&a);
  msgpack_sbuffer_destroy(&sb);
  /* an upper-case secret id */
  strcpy(g.secret_id, "00112233445566778899AABBCCDDEEFF");
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  assert_int_equal(wire_assignments_pack(&pk, &in), 0);
  assert_int_equal(wire_assignments_decode_bytes((const uint8_t *)sb.data, sb.size, &a, &why),
                   SD_E_PROTO);
  msgpack_sbuffer_destroy(&sb);
  /* truncated bytes */
  assert_int_equal(wire_assignments_decode_bytes((const uint8_t *)"\x84\xa4node", 6, &a, &why),
                   SD_E_PROTO);
}

/* ---- the hook in the commit path, with the real group-commit queue ---- */

struct seen {
  char nodes[200];
  int calls;
  uint64_t gen, stored; /* pushed generation, and the one stored when it was pushed */
};

static void on_changed(struct server *s, const struct dispatch_node_change *c, size_t n, void *ud) {
  struct seen *seen = ud;
  struct store_node_gen g = {0};
  seen->calls++;
  if (n)
    assert_int_equal(store_node_gen_get(s->store, c[n - 1].node, &g), 0);
  seen->stored = g.generation;
  seen->nodes[0] = 0;
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(seen->nodes);
    snprintf(seen->nodes + l, sizeof(seen->nodes) - l, "%s%s%s", i ? "," : "",
             c[i].revokes ? "+" : "", c[i].node);
    seen->gen = c[i].set.generation;
  }
}

struct write_item {
  struct cq_item item;
  struct admin_req *rq;
  int (*op)(struct store_batch *b, struct admin_req *rq);
  bool done;
};

static int write_run(struct store_batch *b, struct cq_item *it) {
  struct write_item *w = (struct write_item *)it;
  return w->op(b, w->rq);
}

/* As secretd wires it (dispatch_hook_before sets it on the request's own item). */
static void write_after_commit(struct cq_item *it) {
  dispatch_hook_after_commit(((struct write_item *)it)->rq);
}

static void write_done(struct cq_item *it, int r) {
  struct write_item *w = (struct write_item *)it;
  dispatch_hook_after(w->rq, r); /* as admin.c's req_done does */
  w->done = true;
}

static int op_rotate(struct store_batch *b, struct admin_req *rq) {
  struct secbuf *v;
  assert_int_equal(secbuf_from("MARKER-hook", 11, &v), 0);
  int r = store_secret_rotate(b, &rq->actor, rq->ref, v, NULL);
  secbuf_free(v);
  return r;
}

static int op_rm_force(struct store_batch *b, struct admin_req *rq) {
  return store_secret_remove(b, &rq->actor, rq->ref, true);
}

/* One admin write through the queue with the hook around it; returns the
 * nodes the callback got. */
static bool g_after_commit; /* the diff right after the commit (secretd's path) */

static void hooked_write(struct server *srv, struct seen *seen, const char *action,
                         const char *ref, bool force,
                         int (*op)(struct store_batch *, struct admin_req *)) {
  struct admin_req rq = {0};
  struct write_item w = {.rq = &rq, .op = op};
  rq.server = srv;
  rq.action = action;
  rq.force = force;
  snprintf(rq.ref, sizeof(rq.ref), "%s", ref);
  dispatch_hook_before(&rq);
  w.item.run = write_run;
  w.item.done = write_done;
  if (g_after_commit)
    w.item.after_commit = write_after_commit;
  int calls = seen->calls;
  cq_submit(srv->cq, &w.item);
  for (int i = 0; i < 1000 && (!w.done || (seen->calls == calls && srv->cq)); i++)
    uv_run(srv->loop, UV_RUN_ONCE);
  assert_true(w.done);
  if (g_after_commit) /* pushed in the write's done: nothing committed after it yet */
    assert_int_equal(seen->calls, calls + 1);
  uv_run(srv->loop, UV_RUN_DEFAULT); /* and the generations' advance (a batch of its own) */
  dispatch_hook_release(&rq);
}

static void on_idle(void *ud) { *(bool *)ud = true; }

static void commit_path_hook(void **state) {
  struct world *w = *state;
  struct server srv = {0};
  uv_loop_t loop;
  struct seen seen = {0};
  assert_int_equal(uv_loop_init(&loop), 0);
  srv.loop = &loop;
  srv.store = w->f->s;
  assert_int_equal(cq_new(&loop, srv.store, 64, &srv.cq), 0);
  assert_int_equal(dispatch_tracker_new(&srv.tracker), 0);
  srv.on_nodes_changed = on_changed;
  srv.on_nodes_changed_ud = &seen;
  /* both agents fetched their sets (generation 1 each), as node.assignments does */
  for (int i = 0; i < 2; i++) {
    struct wire_assignments a = {0};
    struct store_batch *b;
    assert_int_equal(dispatch_build(srv.store, i ? "n2" : "n1", &a, NULL), 0);
    assert_int_equal(store_batch_begin(srv.store, &b), 0);
    assert_int_equal(dispatch_gen_advance(b, &a), 0);
    assert_int_equal(store_batch_commit(b), 0);
    wire_assignments_clear(&a);
  }
  /* rotate api: web pins it (n1 unchanged), worker (n2) follows */
  hooked_write(&srv, &seen, "secret.rotate", "api", false, op_rotate);
  assert_int_equal(seen.calls, 1);
  assert_string_equal(seen.nodes, "+n2");
  assert_int_equal(seen.gen, 2);
  /* secretd's path pushes before the advance commits; the follow-up after it */
  assert_int_equal(seen.stored, g_after_commit ? 1 : 2);
  struct store_node_gen g2; /* the generation pushed is the one stored */
  assert_int_equal(store_node_gen_get(srv.store, "n2", &g2), 0);
  assert_int_equal(g2.generation, 2);
  /* again: the push names the next generation, as the store then holds */
  hooked_write(&srv, &seen, "secret.rotate", "api", false, op_rotate);
  assert_int_equal(seen.calls, 2);
  assert_string_equal(seen.nodes, "+n2");
  assert_int_equal(seen.gen, 3);
  assert_int_equal(seen.stored, g_after_commit ? 2 : 3);
  assert_int_equal(store_node_gen_get(srv.store, "n2", &g2), 0);
  assert_int_equal(g2.generation, 3);
  /* rm --force of db: web on n1 had it; the grants are gone after the write */
  hooked_write(&srv, &seen, "secret.rm", "db", true, op_rm_force);
  assert_int_equal(seen.calls, 3);
  assert_string_equal(seen.nodes, "+n1");
  struct store_node_gen g;
  assert_int_equal(seen.gen, 2);
  assert_int_equal(store_node_gen_get(srv.store, "n1", &g), 0);
  assert_int_equal(g.generation, 2);
  bool idle = false;
  cq_shutdown(srv.cq, on_idle, &idle);
  for (int i = 0; i < 100 && !idle; i++)
    uv_run(&loop, UV_RUN_ONCE);
  assert_true(idle);
  cq_free(srv.cq);
  dispatch_tracker_free(srv.tracker);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_commit_path_hook_names_the_changed_nodes_after_each_write(void **state) {
  g_after_commit = false; /* the follow-up item's batch */
  commit_path_hook(state);
}

static void test_commit_path_hook_pushes_right_after_the_commit_with_the_next_generation(
    void **state) {
  g_after_commit = true;
  commit_path_hook(state);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_assignments_hold_exactly_the_nodes_tasks_and_grants_never_values, world_setup,
          world_teardown),
      cmocka_unit_test_setup_teardown(test_many_nodes_from_one_snapshot_equal_each_alone,
                                      world_setup, world_teardown),
      cmocka_unit_test_setup_teardown(test_pinned_grant_resolves_to_its_pin_unpinned_to_latest,
                                      world_setup, world_teardown),
      cmocka_unit_test_setup_teardown(test_tracker_names_the_nodes_each_write_changed,
                                      world_setup, world_teardown),
      cmocka_unit_test_setup_teardown(
          test_generation_survives_a_restart_and_only_moves_on_change, world_setup,
          world_teardown),
      cmocka_unit_test_setup_teardown(
          test_authorizer_delivers_the_granted_version_and_audits_it_without_value, world_setup,
          world_teardown),
      cmocka_unit_test_setup_teardown(test_authorizer_refuses_and_audits_every_other_request,
                                      world_setup, world_teardown),
      cmocka_unit_test_setup_teardown(
          test_deliver_op_packs_values_from_secret_memory_and_refuses_without_a_node,
          world_setup, world_teardown),
      cmocka_unit_test_setup_teardown(
          test_assignments_op_advances_the_generation_and_answers_current, world_setup,
          world_teardown),
      cmocka_unit_test_setup_teardown(test_task_report_updates_only_the_nodes_own_tasks,
                                      world_setup, world_teardown),
      cmocka_unit_test(test_assignment_decoder_refuses_what_breaks_a_bound),
      cmocka_unit_test_setup_teardown(test_authorizer_refuses_a_tampered_grant, world_setup,
                                      world_teardown),
      cmocka_unit_test_setup_teardown(test_authorizer_never_packs_more_than_one_frame,
                                      world_setup, world_teardown),
      cmocka_unit_test_setup_teardown(
          test_commit_path_hook_names_the_changed_nodes_after_each_write, world_setup,
          world_teardown),
      cmocka_unit_test_setup_teardown(
          test_commit_path_hook_pushes_right_after_the_commit_with_the_next_generation,
          world_setup, world_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
