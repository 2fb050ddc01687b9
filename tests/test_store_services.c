/*
 * Services and tasks in the store (store/services.h): create, list with a cursor,
 * inspect, task updates, remove, the rules, the audit records, and tamper detection
 * on real LMDB files changed with the raw LMDB API while the store is closed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <lmdb.h>

#include "store/dispatch.h"
#include "store/internal.h"
#include "store/services.h"
#include "test_store_util.h"

static const char SPEC[] = "\x83\xa1v\x01\xa6rootfs\xa2/r\xa4" "argv\x91\xa2/a";
#define SPEC_LEN (sizeof(SPEC) - 1)

static int svc_create(struct sfx *f, const char *name, const char *node) {
  struct store_batch *b;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  int r = store_service_create(b, &f->actor, name, node, SPEC, SPEC_LEN);
  assert_int_equal(store_batch_commit(b), 0);
  return r;
}

static int svc_rm(struct sfx *f, const char *name) {
  struct store_batch *b;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  int r = store_service_remove(b, &f->actor, name);
  assert_int_equal(store_batch_commit(b), 0);
  return r;
}

/* The last audit record's action and outcome. */
static void last_audit(struct sfx *f, const char *action, const char *outcome_prefix) {
  struct store_audit_rec *recs = NULL;
  size_t n = 0;
  assert_int_equal(store_audit_list(f->s, 0, 0, 0, &recs, &n), 0);
  assert_true(n > 0);
  assert_string_equal(recs[n - 1].action, action);
  assert_true(strncmp(recs[n - 1].outcome, outcome_prefix, strlen(outcome_prefix)) == 0);
  free(recs);
}

static void test_create_inspect_remove_with_audit(void **state) {
  struct sfx *f = sfx_new(NULL);
  struct store_service_info *i = NULL;
  assert_int_equal(svc_create(f, "web", "node-1.example"), 0);
  last_audit(f, "service.create", "ok");
  assert_int_equal(store_service_inspect(f->s, "web", &i), 0);
  assert_string_equal(i->name, "web");
  assert_string_equal(i->node, "node-1.example");
  assert_int_equal(i->spec_len, SPEC_LEN);
  assert_memory_equal(i->spec, SPEC, SPEC_LEN);
  assert_true(i->created_ns > 0 && i->created_ns == i->updated_ns);
  assert_int_equal(i->n_tasks, 1);
  assert_int_equal(i->tasks[0].slot, 0);
  assert_string_equal(i->tasks[0].node, "node-1.example");
  assert_string_equal(i->tasks[0].desired, "running");
  assert_string_equal(i->tasks[0].state, "pending");
  assert_false(i->tasks[0].has_exit_code);
  assert_int_equal(i->tasks[0].restarts, 0);
  assert_int_equal(strlen(i->tasks[0].id), 32);
  store_service_info_free(i, 1);
  assert_int_equal(svc_create(f, "web", "n2"), -EEXIST);
  last_audit(f, "service.create", "error:exists");
  assert_int_equal(svc_rm(f, "web"), 0);
  last_audit(f, "service.rm", "ok");
  assert_int_equal(store_service_inspect(f->s, "web", &i), -ENOENT);
  assert_int_equal(svc_rm(f, "web"), -ENOENT);
  /* its task went with it: a new service of that name starts afresh */
  assert_int_equal(svc_create(f, "web", "n2"), 0);
  assert_int_equal(store_service_inspect(f->s, "web", &i), 0);
  assert_int_equal(i->n_tasks, 1);
  assert_string_equal(i->tasks[0].node, "n2");
  store_service_info_free(i, 1);
  sfx_free(f);
}

static void test_rules_refuse_bad_names_nodes_and_specs(void **state) {
  struct sfx *f = sfx_new(NULL);
  struct store_batch *b;
  assert_int_equal(svc_create(f, "-bad", "n1"), SD_E_NAME);
  assert_int_equal(svc_create(f, "", "n1"), SD_E_NAME);
  assert_int_equal(svc_create(f, "ok", ""), -EINVAL);
  assert_int_equal(svc_create(f, "ok", "-n"), -EINVAL);
  assert_int_equal(svc_create(f, "ok", "a/b"), -EINVAL);
  assert_int_equal(svc_create(f, "ok", "a b"), -EINVAL);
  char longnode[300];
  memset(longnode, 'n', sizeof longnode);
  longnode[254] = 0;
  assert_int_equal(svc_create(f, "ok", longnode), -EINVAL);
  longnode[253] = 0;
  assert_int_equal(svc_create(f, "ok", longnode), 0);
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  assert_int_equal(store_service_create(b, &f->actor, "ok2", "n1", SPEC, 0), -EINVAL);
  assert_int_equal(store_service_create(b, &f->actor, "ok2", "n1", NULL, 5), -EINVAL);
  assert_int_equal(store_batch_commit(b), 0);
  assert_int_equal(store_validate_node("3f2a9c01d4e5b6a7c8d9e0f1a2b3c4d5"), 0);
  assert_int_equal(store_validate_node(NULL), -EINVAL);
  sfx_free(f);
}

static void test_list_pages_strictly_after_the_cursor(void **state) {
  struct sfx *f = sfx_new(NULL);
  const char *names[] = {"d", "a", "c", "e", "b"};
  for (size_t i = 0; i < 5; i++)
    assert_int_equal(svc_create(f, names[i], "n1"), 0);
  struct store_service_info *v = NULL;
  size_t n = 0;
  bool more = true;
  assert_int_equal(store_service_list(f->s, NULL, 0, &v, &n, &more), 0);
  assert_int_equal(n, 5);
  assert_false(more);
  assert_string_equal(v[0].name, "a");
  assert_string_equal(v[4].name, "e");
  assert_int_equal(v[2].n_tasks, 1);
  store_service_info_free(v, n);
  assert_int_equal(store_service_list(f->s, NULL, 2, &v, &n, &more), 0);
  assert_int_equal(n, 2);
  assert_true(more);
  assert_string_equal(v[1].name, "b");
  store_service_info_free(v, n);
  assert_int_equal(store_service_list(f->s, "b", 2, &v, &n, &more), 0);
  assert_int_equal(n, 2);
  assert_true(more);
  assert_string_equal(v[0].name, "c");
  store_service_info_free(v, n);
  assert_int_equal(store_service_list(f->s, "bb", 0, &v, &n, &more), 0); /* not a name */
  assert_int_equal(n, 3);
  assert_string_equal(v[0].name, "c");
  store_service_info_free(v, n);
  assert_int_equal(store_service_list(f->s, "e", 2, &v, &n, &more), 0);
  assert_int_equal(n, 0);
  assert_false(more);
  store_service_info_free(v, n);
  sfx_free(f);
}

static void test_task_update_records_state_exit_and_restarts(void **state) {
  struct sfx *f = sfx_new(NULL);
  struct store_batch *b;
  struct store_service_info *i = NULL;
  int32_t code = 3;
  assert_int_equal(svc_create(f, "web", "n1"), 0);
  assert_int_equal(store_service_inspect(f->s, "web", &i), 0);
  uint64_t since = i->tasks[0].since_ns;
  char id[33];
  strcpy(id, i->tasks[0].id);
  store_service_info_free(i, 1);
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  assert_int_equal(store_task_update(b, &f->actor, "web", 0, "exited", &code, 2), 0);
  assert_int_equal(store_task_update(b, &f->actor, "web", 1, "running", NULL, 0), -ENOENT);
  assert_int_equal(store_task_update(b, &f->actor, "nope", 0, "running", NULL, 0), -ENOENT);
  assert_int_equal(store_task_update(b, &f->actor, "web", 0, "Running!", NULL, 0), -EINVAL);
  assert_int_equal(store_batch_commit(b), 0);
  assert_int_equal(store_service_inspect(f->s, "web", &i), 0);
  assert_string_equal(i->tasks[0].state, "exited");
  assert_true(i->tasks[0].has_exit_code);
  assert_int_equal(i->tasks[0].exit_code, 3);
  assert_int_equal(i->tasks[0].restarts, 2);
  assert_true(i->tasks[0].since_ns > since);
  assert_string_equal(i->tasks[0].id, id);
  store_service_info_free(i, 1);
  sfx_free(f);
}

static int grant1(struct sfx *f, const char *ref, const char *svc, uint32_t version, bool unset) {
  struct store_batch *b;
  struct store_grant g;
  store_grant_defaults(&g);
  g.service = svc;
  g.version = version;
  g.uid_unset = g.gid_unset = unset;
  if (!unset)
    g.uid = g.gid = 7;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  int r = store_grant_add(b, &f->actor, ref, &g);
  assert_int_equal(store_batch_commit(b), 0);
  return r;
}

static void test_service_grants_resolve_pins_and_latest(void **state) {
  struct sfx *f = sfx_new(NULL);
  struct store_service_grant *g = NULL;
  size_t n = 0;
  assert_int_equal(put1(f, "a", "a1", NULL), 0);
  assert_int_equal(put1(f, "b", "b1", NULL), 0);
  assert_int_equal(rot1(f, "b", "b2", NULL), 0);
  assert_int_equal(rot1(f, "b", "b3", NULL), 0);
  assert_int_equal(grant1(f, "a", "web", 0, true), 0);
  assert_int_equal(grant1(f, "b", "web", 2, false), 0);
  assert_int_equal(grant1(f, "b", "web2", 0, true), 0); /* a service whose name extends web's */
  assert_int_equal(grant1(f, "a", "we", 0, true), 0);
  assert_int_equal(store_service_grants(f->s, "web", &g, &n), 0);
  assert_int_equal(n, 2);
  for (size_t i = 0; i < n; i++) {
    if (strcmp(g[i].secret_name, "a") == 0) {
      assert_true(g[i].uid_unset && g[i].gid_unset);
      assert_int_equal(g[i].pinned, 0);
      assert_int_equal(g[i].version, 1);
      assert_string_equal(g[i].target, "a");
      assert_int_equal(g[i].mode, 0400);
    } else {
      assert_string_equal(g[i].secret_name, "b");
      assert_false(g[i].uid_unset);
      assert_int_equal(g[i].uid, 7);
      assert_int_equal(g[i].pinned, 2);
      assert_int_equal(g[i].version, 2);
    }
    assert_int_equal(strlen(g[i].secret_id), 32);
  }
  free(g);
  assert_int_equal(store_service_grants(f->s, "web2", &g, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(g[0].version, 3); /* follows the latest */
  free(g);
  assert_int_equal(store_service_grants(f->s, "nobody", &g, &n), 0);
  assert_int_equal(n, 0);
  free(g);
  assert_int_equal(store_service_grants(f->s, "bad/name", &g, &n), SD_E_NAME);
  sfx_free(f);
}

static void test_node_tasks_lists_what_a_node_runs(void **state) {
  struct sfx *f = sfx_new(NULL);
  struct store_node_task *t = NULL;
  size_t n = 0;
  assert_int_equal(svc_create(f, "b", "n1"), 0);
  assert_int_equal(svc_create(f, "a", "n1"), 0);
  assert_int_equal(svc_create(f, "c", "n2"), 0);
  assert_int_equal(store_node_tasks(f->s, "n1", &t, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(t[0].service, "a");
  assert_string_equal(t[1].service, "b");
  assert_string_equal(t[0].task.state, "pending");
  assert_string_equal(t[0].task.node, "n1");
  free(t);
  assert_int_equal(store_node_tasks(f->s, "n3", &t, &n), 0);
  assert_int_equal(n, 0);
  free(t);
  assert_int_equal(store_node_tasks(f->s, "-x", &t, &n), -EINVAL);
  sfx_free(f);
}

/* ---- tampering with the raw LMDB API while the store is closed ---- */

struct raw {
  MDB_env *env;
  MDB_txn *txn;
};

static void raw_begin(struct sfx *f, struct raw *w) {
  store_close(f->s);
  f->s = NULL;
  assert_int_equal(mdb_env_create(&w->env), 0);
  mdb_env_set_maxdbs(w->env, 16);
  assert_int_equal(mdb_env_open(w->env, f->dir, 0, 0600), 0);
  assert_int_equal(mdb_txn_begin(w->env, NULL, 0, &w->txn), 0);
}

static void raw_end(struct sfx *f, struct raw *w) {
  assert_int_equal(mdb_txn_commit(w->txn), 0);
  mdb_env_close(w->env);
  sfx_reopen(f);
}

static MDB_dbi raw_dbi(struct raw *w, const char *table) {
  MDB_dbi d;
  assert_int_equal(mdb_dbi_open(w->txn, table, 0, &d), 0);
  return d;
}

static void raw_flip(struct raw *w, const char *table, const void *key, size_t klen, size_t off) {
  MDB_dbi d = raw_dbi(w, table);
  MDB_val k = {klen, (void *)key}, v;
  assert_int_equal(mdb_get(w->txn, d, &k, &v), 0);
  assert_true(off < v.mv_size);
  uint8_t *copy = malloc(v.mv_size);
  memcpy(copy, v.mv_data, v.mv_size);
  copy[off] ^= 0x01;
  MDB_val nv = {v.mv_size, copy};
  assert_int_equal(mdb_put(w->txn, d, &k, &nv, 0), 0);
  free(copy);
}

static void raw_copy(struct raw *w, const char *table, const void *from, size_t flen,
                     const void *to, size_t tlen) {
  MDB_dbi d = raw_dbi(w, table);
  MDB_val kf = {flen, (void *)from}, kt = {tlen, (void *)to}, v;
  assert_int_equal(mdb_get(w->txn, d, &kf, &v), 0);
  void *copy = malloc(v.mv_size);
  memcpy(copy, v.mv_data, v.mv_size);
  MDB_val nv = {v.mv_size, copy};
  assert_int_equal(mdb_put(w->txn, d, &kt, &nv, 0), 0);
  free(copy);
}

static void test_changed_service_record_is_refused_and_audited(void **state) {
  struct sfx *f = sfx_new(NULL);
  struct raw w;
  struct store_service_info *i = NULL, *v = NULL;
  size_t n;
  assert_int_equal(svc_create(f, "web", "n1"), 0);
  raw_begin(f, &w);
  raw_flip(&w, "services", "web", 3, 20); /* a byte of the node or spec */
  raw_end(f, &w);
  assert_int_equal(store_service_inspect(f->s, "web", &i), -EBADMSG);
  assert_int_equal(store_service_list(f->s, NULL, 0, &v, &n, NULL), -EBADMSG);
  assert_true(store_tamper_count(f->s) >= 1);
  /* the next batch writes the tamper record */
  assert_int_equal(svc_create(f, "other", "n1"), 0);
  struct store_audit_rec *recs = NULL;
  size_t nr = 0;
  bool seen = false;
  assert_int_equal(store_audit_list(f->s, 0, 0, 0, &recs, &nr), 0);
  for (size_t k = 0; k < nr; k++)
    seen |= strcmp(recs[k].action, "store.tamper") == 0 && strstr(recs[k].object, "services");
  free(recs);
  assert_true(seen);
  /* removing it is refused too: a tampered record is not silently dropped */
  assert_int_equal(svc_rm(f, "web"), -EBADMSG);
  sfx_free(f);
}

static void test_task_record_moved_to_another_service_is_refused(void **state) {
  struct sfx *f = sfx_new(NULL);
  struct raw w;
  struct store_service_info *i = NULL;
  assert_int_equal(svc_create(f, "a", "n1"), 0);
  assert_int_equal(svc_create(f, "b", "n2"), 0);
  raw_begin(f, &w);
  /* b's task replaced by a's (valid tag, but for another key) */
  raw_copy(&w, "tasks", "a\0\0\0\0\0", 6, "b\0\0\0\0\0", 6);
  raw_end(f, &w);
  assert_int_equal(store_service_inspect(f->s, "a", &i), 0);
  store_service_info_free(i, 1);
  assert_int_equal(store_service_inspect(f->s, "b", &i), -EBADMSG);
  sfx_free(f);
}

static void test_service_record_copied_under_another_name_is_refused(void **state) {
  struct sfx *f = sfx_new(NULL);
  struct raw w;
  struct store_service_info *i = NULL;
  assert_int_equal(svc_create(f, "a", "n1"), 0);
  raw_begin(f, &w);
  raw_copy(&w, "services", "a", 1, "evil", 4);
  raw_end(f, &w);
  assert_int_equal(store_service_inspect(f->s, "evil", &i), -EBADMSG);
  sfx_free(f);
}

/* A task record that does not authenticate, read after others were listed: the
 * listings fail with -EBADMSG, leave *ret untouched and free what they had read
 * (ASan's leak check in the sanitizer build). */
static void test_node_tasks_with_a_moved_task_record_fails_and_frees_its_list(void **state) {
  struct sfx *f = sfx_new(NULL);
  struct raw w;
  struct store_node_task *t = (struct store_node_task *)&w; /* untouched on failure */
  struct store_node_assignment *a = (struct store_node_assignment *)&w;
  size_t n = 7;
  assert_int_equal(svc_create(f, "a", "n1"), 0);
  assert_int_equal(svc_create(f, "b", "n1"), 0);
  assert_int_equal(svc_create(f, "c", "n1"), 0);
  raw_begin(f, &w);
  raw_copy(&w, "tasks", "a\0\0\0\0\0", 6, "c\0\0\0\0\0", 6); /* read last, after a and b */
  raw_end(f, &w);
  assert_int_equal(store_node_tasks(f->s, "n1", &t, &n), -EBADMSG);
  assert_ptr_equal(t, (struct store_node_task *)&w);
  assert_int_equal(n, 7);
  assert_int_equal(store_node_assignments(f->s, "n1", 16, 16, &a, &n, NULL), -EBADMSG);
  assert_ptr_equal(a, (struct store_node_assignment *)&w);
  assert_int_equal(n, 7);
  sfx_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create_inspect_remove_with_audit),
      cmocka_unit_test(test_rules_refuse_bad_names_nodes_and_specs),
      cmocka_unit_test(test_list_pages_strictly_after_the_cursor),
      cmocka_unit_test(test_task_update_records_state_exit_and_restarts),
      cmocka_unit_test(test_service_grants_resolve_pins_and_latest),
      cmocka_unit_test(test_node_tasks_lists_what_a_node_runs),
      cmocka_unit_test(test_changed_service_record_is_refused_and_audited),
      cmocka_unit_test(test_task_record_moved_to_another_service_is_refused),
      cmocka_unit_test(test_service_record_copied_under_another_name_is_refused),
      cmocka_unit_test(test_node_tasks_with_a_moved_task_record_fails_and_frees_its_list),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
