/* Store operations on real LMDB files: accepted and refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <sys/wait.h>
#include <sys/stat.h>

#include "store/validate.h"
#include "test_store_util.h"

static int setup(void **state) {
  *state = sfx_new(NULL);
  return 0;
}
static int teardown(void **state) {
  sfx_free(*state);
  return 0;
}

static void audit_last(struct sfx *f, struct store_audit_rec *out) {
  struct store_audit_rec *recs;
  size_t n;
  assert_int_equal(store_audit_list(f->s, 0, 0, 0, &recs, &n), 0);
  assert_true(n > 0);
  *out = recs[n - 1];
  free(recs);
}

static void test_init_files_and_refusals(void **state) {
  struct sfx *f = *state;
  struct stat st;
  char p[128];
  assert_int_equal(stat(f->dir, &st), 0);
  snprintf(p, sizeof(p), "%s/data.mdb", f->dir);
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  snprintf(p, sizeof(p), "%s/lock.mdb", f->dir);
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_int_equal(store_init(f->dir, f->unlock, NULL), SD_E_EXISTS);
  /* a new dir is created 0700 */
  snprintf(p, sizeof(p), "%s/sub", f->dir);
  assert_int_equal(store_init(p, f->unlock, NULL), 0);
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0700);
  /* an empty dir holds no store */
  struct store *s = NULL;
  snprintf(p, sizeof(p), "%s/empty", f->dir);
  mkdir(p, 0700);
  assert_int_equal(store_open(p, f->unlock, NULL, &s), SD_E_NOSTORE);
  assert_int_equal(store_open("/nonexistent/x", f->unlock, NULL, &s), SD_E_NOSTORE);
  assert_null(s);
  store_close(NULL);
}

static void test_open_with_wrong_unlock_key_fails(void **state) {
  struct sfx *f = *state;
  struct sd_key *wrong;
  struct store *s = NULL;
  assert_int_equal(sd_key_generate(&wrong), 0);
  store_close(f->s);
  f->s = NULL;
  assert_int_equal(store_open(f->dir, wrong, NULL, &s), SD_E_BADKEY);
  assert_null(s);
  sd_key_free(wrong);
  sfx_reopen(f);
}

static void test_schema_mismatch_is_refused(void **state) {
  struct sfx *f = *state;
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi meta;
  store_close(f->s);
  f->s = NULL;
  assert_int_equal(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 16);
  assert_int_equal(mdb_env_open(env, f->dir, 0, 0600), 0);
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
  /* schema 1: a store of the version before record authentication */
  uint8_t v1[] = {0x01}; /* msgpack positive fixint 1 */
  MDB_val k = {6, "schema"}, v = {1, v1};
  assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
  struct store *s = NULL;
  assert_int_equal(store_open(f->dir, f->unlock, NULL, &s), SD_E_SCHEMA);
  assert_null(s);
  /* put it back so teardown's reopen path is not needed */
}

static void test_create_read_inspect_list(void **state) {
  struct sfx *f = *state;
  struct store_batch *b;
  struct secbuf *v;
  char id[33];
  struct store_label labels[] = {{"env", "prod"}, {"team", "db"}};
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  assert_int_equal(secbuf_from("hunter2", 7, &v), 0);
  assert_int_equal(store_secret_create(b, &f->actor, "zeta", v, labels, 2, id), 0);
  assert_int_equal(store_secret_create(b, &f->actor, "alpha", v, NULL, 0, NULL), 0);
  secbuf_free(v);
  assert_int_equal(store_batch_commit(b), 0);
  assert_int_equal(strlen(id), 32);
  assert_int_equal(read_eq(f, "zeta", 0, "hunter2"), 0);
  assert_int_equal(read_eq(f, "zeta", 1, "hunter2"), 0);
  assert_int_equal(read_eq(f, "zeta", 2, "hunter2"), -ENOENT);
  assert_int_equal(read_eq(f, "nope", 0, "x"), -ENOENT);

  struct store_secret_info *info;
  assert_int_equal(store_secret_inspect(f->s, "zeta", &info), 0);
  assert_string_equal(info->id, id);
  assert_string_equal(info->name, "zeta");
  assert_int_equal(info->latest, 1);
  assert_int_equal(info->n_versions, 1);
  assert_int_equal(info->versions[0].version, 1);
  assert_true(info->created_ns > 0 && info->created_ns == info->updated_ns);
  assert_int_equal(info->n_labels, 2);
  assert_string_equal(info->labels[0].key, "env");
  assert_string_equal(info->labels[0].value, "prod");
  assert_int_equal(info->n_grants, 0);
  store_secret_info_free(info, 1);
  assert_int_equal(store_secret_inspect(f->s, "nope", &info), -ENOENT);

  size_t n;
  assert_int_equal(store_secret_list(f->s, &info, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(info[0].name, "alpha");
  assert_string_equal(info[1].name, "zeta");
  store_secret_info_free(info, n);

  struct store_audit_rec last;
  audit_last(f, &last);
  assert_string_equal(last.action, "secret.create");
  assert_string_equal(last.outcome, "ok");
  assert_string_equal(last.actor, "uid:0");
  assert_non_null(strstr(last.object, "secret:alpha"));
}

static void test_create_refusals_are_audited(void **state) {
  struct sfx *f = *state;
  char n65[66];
  memset(n65, 'a', 65);
  n65[65] = 0;
  const char *bad[] = {"", n65, ".hidden", "a/b", "/abs", "caf\xc3\xa9"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
    assert_int_equal(put1(f, bad[i], "v", NULL), SD_E_NAME);
  struct store_audit_rec last;
  audit_last(f, &last);
  assert_string_equal(last.action, "secret.create");
  assert_string_equal(last.outcome, "error:bad_name invalid name");

  struct store_batch *b;
  struct secbuf *v;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  assert_int_equal(secbuf_new(0, &v), 0);
  assert_int_equal(store_secret_create(b, &f->actor, "empty", v, NULL, 0, NULL), SD_E_VALUE);
  secbuf_free(v);
  assert_int_equal(secbuf_new(512001, &v), 0);
  assert_int_equal(store_secret_create(b, &f->actor, "big", v, NULL, 0, NULL), SD_E_VALUE);
  secbuf_free(v);
  assert_int_equal(secbuf_new(512000, &v), 0);
  memset(secbuf_data(v), 'q', 512000);
  assert_int_equal(store_secret_create(b, &f->actor, "max", v, NULL, 0, NULL), 0);
  assert_int_equal(store_secret_create(b, &f->actor, "max", v, NULL, 0, NULL), -EEXIST);
  struct store_label dup[] = {{"k", "1"}, {"k", "2"}}, badl[] = {{".k", "1"}};
  assert_int_equal(store_secret_create(b, &f->actor, "l1", v, dup, 2, NULL), -EINVAL);
  assert_int_equal(store_secret_create(b, &f->actor, "l2", v, badl, 1, NULL), -EINVAL);
  assert_int_equal(store_secret_create(b, &f->actor, "nullv", NULL, NULL, 0, NULL), SD_E_VALUE);
  assert_int_equal(store_batch_commit(b), 0);
  struct secbuf *out;
  assert_int_equal(store_secret_read(f->s, "max", 0, &out), 0);
  assert_true(secbuf_equal(out, v));
  secbuf_free(out);
  secbuf_free(v);
  audit_last(f, &last);
  assert_string_equal(last.outcome, "error:bad_value invalid value size");
  size_t n;
  struct store_secret_info *info;
  assert_int_equal(store_secret_list(f->s, &info, &n), 0);
  assert_int_equal(n, 1);
  store_secret_info_free(info, n);
}

static void test_ref_by_full_id_never_prefix_and_name_wins(void **state) {
  struct sfx *f = *state;
  char id1[33], id2[33], pre[32];
  assert_int_equal(put1(f, "first", "one", id1), 0);
  assert_int_equal(read_eq(f, id1, 0, "one"), 0);
  memcpy(pre, id1, 31);
  pre[31] = 0;
  assert_int_equal(read_eq(f, pre, 0, "one"), -ENOENT);
  /* upper-case hex is the same id */
  char up[33];
  for (int i = 0; i < 33; i++)
    up[i] = (char)(id1[i] >= 'a' && id1[i] <= 'f' ? id1[i] - 32 : id1[i]);
  assert_int_equal(read_eq(f, up, 0, "one"), 0);
  /* a secret whose name is the other's id: the name wins */
  assert_int_equal(put1(f, id1, "two", id2), 0);
  assert_int_equal(read_eq(f, id1, 0, "two"), 0);
  assert_int_equal(read_eq(f, id2, 0, "two"), 0);
  assert_int_equal(read_eq(f, "first", 0, "one"), 0);
}

static void test_rotate_keeps_last_n_versions(void **state) {
  struct sfx *f = *state;
  struct store_opts o = {.keep_versions = 3};
  f->opts = o;
  sfx_reopen(f);
  uint32_t ver = 0;
  char val[16];
  assert_int_equal(put1(f, "r", "v1", NULL), 0);
  for (int i = 2; i <= 6; i++) {
    snprintf(val, sizeof(val), "v%d", i);
    assert_int_equal(rot1(f, "r", val, &ver), 0);
    assert_int_equal(ver, (uint32_t)i);
  }
  struct store_secret_info *info;
  assert_int_equal(store_secret_inspect(f->s, "r", &info), 0);
  assert_int_equal(info->latest, 6);
  assert_int_equal(info->n_versions, 3);
  assert_int_equal(info->versions[0].version, 4);
  assert_int_equal(info->versions[2].version, 6);
  assert_true(info->updated_ns > info->created_ns);
  store_secret_info_free(info, 1);
  assert_int_equal(read_eq(f, "r", 0, "v6"), 0);
  assert_int_equal(read_eq(f, "r", 4, "v4"), 0);
  assert_int_equal(read_eq(f, "r", 3, "v3"), -ENOENT);
  assert_int_equal(rot1(f, "missing", "x", NULL), -ENOENT);
  assert_int_equal(rot1(f, "r", "", NULL), SD_E_VALUE);
  struct store_audit_rec last;
  audit_last(f, &last);
  assert_string_equal(last.action, "secret.rotate");
  assert_int_equal(strncmp(last.outcome, "error:", 6), 0);
}

static int grant(struct sfx *f, const char *ref, const char *svc, const char *target, uint32_t mode,
                 uint32_t uid) {
  struct store_batch *b;
  struct store_grant g;
  store_grant_defaults(&g);
  g.service = svc;
  g.target = target;
  g.mode = mode;
  g.uid = uid;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  int r = store_grant_add(b, &f->actor, ref, &g);
  assert_int_equal(store_batch_commit(b), 0);
  return r;
}

static int revoke_grant(struct sfx *f, const char *ref, const char *svc) {
  struct store_batch *b;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  int r = store_grant_remove(b, &f->actor, ref, svc);
  assert_int_equal(store_batch_commit(b), 0);
  return r;
}

static int rm(struct sfx *f, const char *ref, bool force) {
  struct store_batch *b;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  int r = store_secret_remove(b, &f->actor, ref, force);
  assert_int_equal(store_batch_commit(b), 0);
  return r;
}

static void test_grant_rules_and_revoke(void **state) {
  struct sfx *f = *state;
  char t256[257];
  memset(t256, 't', 256);
  t256[256] = 0;
  assert_int_equal(put1(f, "pw", "v", NULL), 0);
  assert_int_equal(grant(f, "pw", "web", NULL, 0400, 0), 0); /* service need not exist */
  assert_int_equal(grant(f, "pw", "api", "conf/db.pw", 0440, 1000), 0);
  assert_int_equal(grant(f, "pw", "web", "other", 0600, 33), 0); /* update */
  assert_int_equal(grant(f, "missing", "web", NULL, 0400, 0), -ENOENT);
  assert_int_equal(grant(f, "pw", "bad/svc", NULL, 0400, 0), SD_E_NAME);
  assert_int_equal(grant(f, "pw", "", NULL, 0400, 0), SD_E_NAME);
  assert_int_equal(grant(f, "pw", "x", "../x", 0400, 0), SD_E_TARGET);
  assert_int_equal(grant(f, "pw", "x", "a/../b", 0400, 0), SD_E_TARGET);
  assert_int_equal(grant(f, "pw", "x", "/abs", 0400, 0), SD_E_TARGET);
  assert_int_equal(grant(f, "pw", "x", t256, 0400, 0), SD_E_TARGET);
  assert_int_equal(grant(f, "pw", "x", NULL, 04000, 0), SD_E_MODE);
  assert_int_equal(grant(f, "pw", "x", NULL, 01000, 0), SD_E_MODE);
  assert_int_equal(grant(f, "pw", "x", NULL, 01777, 0), SD_E_MODE);
  assert_int_equal(grant(f, "pw", "x", NULL, 0400, UINT32_MAX), -EINVAL);
  struct store_secret_info *info;
  assert_int_equal(store_secret_inspect(f->s, "pw", &info), 0);
  assert_int_equal(info->n_grants, 2);
  assert_string_equal(info->grants[0].service, "api");
  assert_string_equal(info->grants[0].target, "conf/db.pw");
  assert_int_equal(info->grants[0].mode, 0440);
  assert_int_equal(info->grants[0].uid, 1000);
  assert_string_equal(info->grants[1].service, "web");
  assert_string_equal(info->grants[1].target, "other");
  assert_int_equal(info->grants[1].mode, 0600);
  assert_int_equal(info->grants[1].uid, 33);
  store_secret_info_free(info, 1);
  /* defaults: target = name, mode 0400, uid/gid 0 */
  assert_int_equal(put1(f, "d", "v", NULL), 0);
  struct store_batch *b;
  struct store_grant g;
  store_grant_defaults(&g);
  g.service = "svc";
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  assert_int_equal(store_grant_add(b, &f->actor, "d", &g), 0);
  assert_int_equal(store_batch_commit(b), 0);
  assert_int_equal(store_secret_inspect(f->s, "d", &info), 0);
  assert_string_equal(info->grants[0].target, "d");
  assert_int_equal(info->grants[0].mode, 0400);
  assert_int_equal(info->grants[0].uid, 0);
  assert_int_equal(info->grants[0].gid, 0);
  store_secret_info_free(info, 1);

  assert_int_equal(revoke_grant(f, "pw", "web"), 0);
  assert_int_equal(revoke_grant(f, "pw", "web"), -ENOENT);
  assert_int_equal(revoke_grant(f, "nope", "web"), -ENOENT);
  struct store_audit_rec last;
  audit_last(f, &last);
  assert_string_equal(last.action, "grant.rm");
  assert_string_equal(last.outcome, "error:not_found no such secret or grant");
}

static void test_remove_refused_while_granted_unless_forced(void **state) {
  struct sfx *f = *state;
  assert_int_equal(put1(f, "g", "v", NULL), 0);
  assert_int_equal(grant(f, "g", "web", NULL, 0400, 0), 0);
  assert_int_equal(rm(f, "g", false), SD_E_GRANTED);
  assert_int_equal(read_eq(f, "g", 0, "v"), 0);
  assert_int_equal(rm(f, "g", true), 0);
  assert_int_equal(read_eq(f, "g", 0, "v"), -ENOENT);
  assert_int_equal(rm(f, "g", true), -ENOENT);
  /* the name is free again, and no grant survived */
  assert_int_equal(put1(f, "g", "w", NULL), 0);
  struct store_secret_info *info;
  assert_int_equal(store_secret_inspect(f->s, "g", &info), 0);
  assert_int_equal(info->n_grants, 0);
  assert_int_equal(info->n_versions, 1);
  store_secret_info_free(info, 1);
  assert_int_equal(rm(f, "g", false), 0);
}

static void test_group_commit_one_failing_op_spares_the_others(void **state) {
  struct sfx *f = *state;
  struct store_batch *b;
  struct secbuf *v;
  char name[16];
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  assert_int_equal(secbuf_from("val", 3, &v), 0);
  for (int i = 0; i < 10; i++) {
    snprintf(name, sizeof(name), i == 5 ? "s%d" : "s%d", i == 5 ? 4 : i); /* 5th dup of s4 */
    int r = store_secret_create(b, &f->actor, name, v, NULL, 0, NULL);
    assert_int_equal(r, i == 5 ? -EEXIST : 0);
  }
  assert_int_equal(store_audit_note(b, &f->actor, "peer.denied", "uid:1000", SD_E_DENIED), 0);
  assert_int_equal(store_batch_size(b), 11);
  secbuf_free(v);
  assert_int_equal(store_batch_commit(b), 0);
  size_t n;
  struct store_secret_info *info;
  assert_int_equal(store_secret_list(f->s, &info, &n), 0);
  assert_int_equal(n, 9);
  store_secret_info_free(info, n);
  struct store_audit_rec *recs;
  assert_int_equal(store_audit_list(f->s, 1, 0, 0, &recs, &n), 0);
  assert_int_equal(n, 11);
  assert_string_equal(recs[5].outcome, "error:exists a secret with that name exists");
  assert_string_equal(recs[10].outcome, "denied");
  assert_string_equal(recs[10].action, "peer.denied");
  /* limit and since filters */
  free(recs);
  assert_int_equal(store_audit_list(f->s, 3, 0, 2, &recs, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(recs[0].seq, 4);
  free(recs);
  assert_int_equal(store_audit_list(f->s, 0, UINT64_MAX, 0, &recs, &n), 0);
  assert_int_equal(n, 0);
  struct store_audit_verdict vd;
  assert_int_equal(store_audit_verify(f->s, NULL, NULL, &vd), 0);
  assert_true(vd.ok);
  assert_int_equal(vd.head_seq, 12);
}

static void test_batch_abort_loses_everything(void **state) {
  struct sfx *f = *state;
  struct store_batch *b;
  struct secbuf *v;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  assert_int_equal(secbuf_from("val", 3, &v), 0);
  assert_int_equal(store_secret_create(b, &f->actor, "gone", v, NULL, 0, NULL), 0);
  secbuf_free(v);
  store_batch_abort(b);
  store_batch_abort(NULL);
  assert_int_equal(read_eq(f, "gone", 0, "val"), -ENOENT);
  struct store_audit_verdict vd;
  assert_int_equal(store_audit_verify(f->s, NULL, NULL, &vd), 0);
  assert_int_equal(vd.head_seq, 1);
}

static bool file_contains(const char *path, const char *needle) {
  FILE *fp = fopen(path, "r");
  if (!fp)
    return false;
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof(buf), fp);
  fclose(fp);
  return memmem(buf, n, needle, strlen(needle)) != NULL;
}

static void test_audit_file_gets_json_lines_never_values(void **state) {
  struct sfx *f = *state;
  char af[128], data[128];
  snprintf(af, sizeof(af), "%s/audit.jsonl", f->dir);
  snprintf(data, sizeof(data), "%s/data.mdb", f->dir);
  f->opts.audit_file = af;
  sfx_reopen(f);
  const char *marker = "MARKER-7f3a9c1e55d04b2e";
  assert_int_equal(put1(f, "m", marker, NULL), 0);
  assert_int_equal(rot1(f, "m", marker, NULL), 0);
  assert_int_equal(put1(f, "m", marker, NULL), -EEXIST);
  assert_int_equal(store_audit_file_error(f->s), 0);
  FILE *fp = fopen(af, "r");
  assert_non_null(fp);
  char line[4096];
  int lines = 0;
  while (fgets(line, sizeof(line), fp)) {
    lines++;
    assert_int_equal(line[0], '{');
    assert_non_null(strstr(line, "\"hash\":\""));
    /* the file mirrors the chain from its first record, store.init */
    if (lines == 1)
      assert_non_null(strstr(line, "{\"seq\":1,"));
    if (lines == 1)
      assert_non_null(strstr(line, "\"action\":\"store.init\""));
  }
  fclose(fp);
  assert_int_equal(lines, 4);
  assert_true(file_contains(af, "\"action\":\"secret.rotate\""));
  /* outcomes are stable codes, not errno text */
  assert_true(file_contains(af, "\"outcome\":\"error:exists "));
  assert_false(file_contains(af, "File exists"));
  struct stat st;
  assert_int_equal(stat(af, &st), 0);
  assert_int_equal(st.st_mode & 0077, 0);
  store_close(f->s);
  f->s = NULL;
  assert_false(file_contains(af, marker));
  assert_false(file_contains(data, marker));
  assert_false(file_contains(data, "MARKER"));
  f->opts.audit_file = NULL;
  sfx_reopen(f);
}

static void test_backup_is_consistent_0600_and_opens(void **state) {
  struct sfx *f = *state;
  char dest[128], rdir[128], rdata[160];
  assert_int_equal(put1(f, "b", "backed-up", NULL), 0);
  snprintf(dest, sizeof(dest), "%s/backup.mdb", f->dir);
  /* from another process while this one has the store open (secretd serves) */
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    _exit(store_backup(f->dir, dest) == 0 ? 0 : 1);
  int wst;
  assert_int_equal(waitpid(pid, &wst, 0), pid);
  assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
  struct stat st;
  assert_int_equal(stat(dest, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_int_equal(store_backup_to(f->s, dest), -EEXIST);
  assert_int_equal(access(dest, F_OK), 0); /* an existing file is never clobbered */
  snprintf(rdir, sizeof(rdir), "%s/restore", f->dir);
  assert_int_equal(mkdir(rdir, 0700), 0);
  snprintf(rdata, sizeof(rdata), "%s/data.mdb", rdir);
  assert_int_equal(rename(dest, rdata), 0);
  struct store *r = NULL;
  struct secbuf *out;
  assert_int_equal(store_open(rdir, f->unlock, NULL, &r), 0);
  assert_int_equal(store_secret_read(r, "b", 0, &out), 0);
  assert_int_equal(secbuf_len(out), 9);
  secbuf_free(out);
  store_close(r);
  /* in-process backup from the open handle */
  assert_int_equal(store_backup_to(f->s, dest), 0);
  assert_int_equal(stat(dest, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  snprintf(rdir, sizeof(rdir), "%s/none", f->dir);
  assert_int_equal(store_backup(rdir, dest), SD_E_NOSTORE);
}

static void test_rotate_master_key_rewraps_everything(void **state) {
  struct sfx *f = *state;
  assert_int_equal(put1(f, "a", "va", NULL), 0);
  assert_int_equal(put1(f, "b", "vb", NULL), 0);
  assert_int_equal(rot1(f, "b", "vb2", NULL), 0);
  assert_int_equal(store_rotate_master_key(f->s, &f->actor), 0);
  assert_int_equal(read_eq(f, "a", 0, "va"), 0);
  assert_int_equal(read_eq(f, "b", 1, "vb"), 0);
  assert_int_equal(put1(f, "c", "vc", NULL), 0);
  sfx_reopen(f);
  assert_int_equal(read_eq(f, "a", 0, "va"), 0);
  assert_int_equal(read_eq(f, "b", 0, "vb2"), 0);
  assert_int_equal(read_eq(f, "c", 0, "vc"), 0);
  struct store_audit_verdict vd;
  assert_int_equal(store_audit_verify(f->s, NULL, NULL, &vd), 0);
  assert_true(vd.ok);
  struct store_audit_rec *recs;
  size_t n;
  assert_int_equal(store_audit_list(f->s, 0, 0, 0, &recs, &n), 0);
  assert_string_equal(recs[4].action, "key.rotate_master");
  free(recs);
}

static void test_rotate_unlock_key_two_phases(void **state) {
  struct sfx *f = *state;
  struct sd_key *nk, *wrong;
  struct store *s = NULL;
  assert_int_equal(put1(f, "a", "va", NULL), 0);
  assert_int_equal(sd_key_generate(&nk), 0);
  assert_int_equal(sd_key_generate(&wrong), 0);
  store_close(f->s);
  f->s = NULL;
  assert_int_equal(store_rotate_unlock_key(f->dir, wrong, nk), SD_E_BADKEY);
  assert_int_equal(store_rotate_unlock_key(f->dir, f->unlock, nk), 0);
  /* crash here: both keys open the store */
  assert_int_equal(store_open(f->dir, f->unlock, NULL, &s), 0);
  assert_true(store_unlock_rotation_pending(s));
  assert_int_equal(store_rotate_master_key(s, &f->actor), -EBUSY);
  store_close(s);
  assert_int_equal(store_open(f->dir, nk, NULL, &s), 0);
  store_close(s);
  /* rerunning phase 1 is harmless */
  assert_int_equal(store_rotate_unlock_key(f->dir, f->unlock, nk), 0);
  assert_int_equal(store_forget_old_unlock_key(f->dir, f->unlock), SD_E_BADKEY);
  assert_int_equal(store_forget_old_unlock_key(f->dir, nk), 0);
  assert_int_equal(store_forget_old_unlock_key(f->dir, nk), 0);
  assert_int_equal(store_open(f->dir, f->unlock, NULL, &s), SD_E_BADKEY);
  assert_int_equal(store_open(f->dir, nk, NULL, &s), 0);
  assert_false(store_unlock_rotation_pending(s));
  struct secbuf *out;
  assert_int_equal(store_secret_read(s, "a", 0, &out), 0);
  secbuf_free(out);
  struct store_audit_verdict vd;
  assert_int_equal(store_audit_verify(s, NULL, NULL, &vd), 0);
  assert_true(vd.ok);
  store_close(s);
  sd_key_free(f->unlock);
  f->unlock = nk;
  sd_key_free(wrong);
  sfx_reopen(f);
}

static void test_init_after_crashed_init_and_empty_env(void **state) {
  struct sfx *f = *state;
  char p[128];
  MDB_env *env;
  snprintf(p, sizeof(p), "%s/half", f->dir);
  assert_int_equal(mkdir(p, 0700), 0);
  assert_int_equal(mdb_env_create(&env), 0);
  assert_int_equal(mdb_env_open(env, p, 0, 0600), 0); /* data.mdb, nothing committed */
  mdb_env_close(env);
  struct store *s = NULL;
  assert_int_equal(store_open(p, f->unlock, NULL, &s), SD_E_NOSTORE);
  assert_int_equal(store_init(p, f->unlock, NULL), 0);
  assert_int_equal(store_open(p, f->unlock, NULL, &s), 0);
  store_close(s);
  assert_int_equal(store_init(p, f->unlock, NULL), SD_E_EXISTS);
}

struct reader_arg {
  struct store *s;
  int reads, errors;
};

static void *reader(void *p) {
  struct reader_arg *a = p;
  for (int i = 0; i < 300; i++) {
    struct secbuf *out = NULL;
    int r = store_secret_read(a->s, "shared", 0, &out);
    if (r == 0 && secbuf_len(out) == 6)
      a->reads++;
    else
      a->errors++;
    secbuf_free(out);
  }
  return NULL;
}

static void test_reads_from_many_threads_during_writes(void **state) {
  struct sfx *f = *state;
  pthread_t th[4];
  struct reader_arg args[4];
  assert_int_equal(put1(f, "shared", "value0", NULL), 0);
  for (int i = 0; i < 4; i++) {
    args[i] = (struct reader_arg){f->s, 0, 0};
    assert_int_equal(pthread_create(&th[i], NULL, reader, &args[i]), 0);
  }
  for (int i = 1; i < 30; i++) { /* writes (and a master rotation) meanwhile */
    char v[8];
    snprintf(v, sizeof(v), "value%d", i % 10);
    assert_int_equal(rot1(f, "shared", v, NULL), 0);
    if (i == 15)
      assert_int_equal(store_rotate_master_key(f->s, &f->actor), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(args[i].errors, 0);
    assert_int_equal(args[i].reads, 300);
  }
}

static void test_master_rotated_by_another_process(void **state) {
  struct sfx *f = *state;
  assert_int_equal(put1(f, "x", "before", NULL), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct store *s = NULL;
    int r = store_open(f->dir, f->unlock, NULL, &s);
    if (r == 0)
      r = store_rotate_master_key(s, &f->actor);
    store_close(s);
    _exit(r == 0 ? 0 : 1);
  }
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  /* this handle still caches the old master key: reads and writes follow */
  assert_int_equal(read_eq(f, "x", 0, "before"), 0);
  assert_int_equal(put1(f, "y", "after", NULL), 0);
  assert_int_equal(store_rotate_master_key(f->s, &f->actor), -ESTALE);
  sfx_reopen(f);
  assert_int_equal(read_eq(f, "y", 0, "after"), 0);
  assert_int_equal(read_eq(f, "x", 0, "before"), 0);
}

static void test_null_arguments_are_refused(void **state) {
  struct sfx *f = *state;
  struct store_batch *b;
  struct secbuf *v;
  assert_int_equal(secbuf_from("v", 1, &v), 0);
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  assert_int_equal(store_secret_create(b, &f->actor, NULL, v, NULL, 0, NULL), SD_E_NAME);
  assert_int_equal(store_secret_create(b, NULL, "noactor", v, NULL, 0, NULL), 0);
  assert_int_equal(store_secret_rotate(b, &f->actor, NULL, v, NULL), -EINVAL);
  assert_int_equal(store_secret_remove(b, &f->actor, NULL, false), -EINVAL);
  assert_int_equal(store_grant_add(b, &f->actor, "noactor", NULL), -EINVAL);
  assert_int_equal(store_grant_remove(b, &f->actor, "noactor", NULL), SD_E_NAME);
  assert_int_equal(store_audit_note(b, &f->actor, NULL, NULL, 0), -EINVAL);
  assert_int_equal(store_audit_note(b, &f->actor, "ping", NULL, 0), 0);
  assert_int_equal(store_batch_commit(b), 0);
  assert_int_equal(store_secret_create(NULL, &f->actor, "x", v, NULL, 0, NULL), -EINVAL);
  assert_int_equal(store_batch_commit(NULL), -EINVAL);
  secbuf_free(v);
  struct secbuf *out = NULL;
  assert_int_equal(store_secret_read(f->s, NULL, 0, &out), -EINVAL);
  struct store_secret_info *info = NULL;
  assert_int_equal(store_secret_inspect(f->s, NULL, &info), -EINVAL);
  store_secret_info_free(NULL, 0);
  struct store_audit_rec last;
  audit_last(f, &last);
  assert_string_equal(last.action, "ping");
  assert_string_equal(last.object, "");
  assert_int_equal(read_eq(f, "noactor", 0, "v"), 0);
}

/* Count the lines of path and check that line i carries "seq":i. */
static int audit_file_lines_in_order(const char *path) {
  FILE *fp = fopen(path, "r");
  assert_non_null(fp);
  char line[4096], want[32];
  int n = 0;
  while (fgets(line, sizeof(line), fp)) {
    n++;
    snprintf(want, sizeof(want), "{\"seq\":%d,", n);
    assert_int_equal(strncmp(line, want, strlen(want)), 0);
    assert_int_equal(line[strlen(line) - 1], '\n');
  }
  fclose(fp);
  return n;
}

/* A crash between the commit and the append to the audit file (here: lines
 * cut off the file, the last one half) loses nothing: the next open appends
 * what the chain has and the file lacks, in order, without duplicates. */
static void test_audit_file_catches_up_after_a_crash(void **state) {
  struct sfx *f = *state;
  char af[128];
  uint64_t n = 0;
  snprintf(af, sizeof(af), "%s/audit.jsonl", f->dir);
  f->opts.audit_file = af;
  sfx_reopen(f); /* a new file: the whole chain so far (store.init) */
  assert_int_equal(store_audit_file_recovered(f->s), 1);
  assert_int_equal(put1(f, "a", "1", NULL), 0);
  assert_int_equal(put1(f, "b", "2", NULL), 0);
  assert_int_equal(put1(f, "c", "3", NULL), 0);
  assert_int_equal(audit_file_lines_in_order(af), 4);
  /* cut records 3 and 4 and leave half of record 3 behind */
  FILE *fp = fopen(af, "r");
  char line[4096];
  long keep = 0, half = 0;
  for (int i = 0; i < 3 && fgets(line, sizeof(line), fp); i++) {
    if (i < 2)
      keep = ftell(fp);
    else
      half = keep + (long)strlen(line) / 2;
  }
  fclose(fp);
  assert_int_equal(truncate(af, half), 0);
  sfx_reopen(f);
  assert_int_equal(store_audit_file_error(f->s), 0);
  assert_int_equal(store_audit_file_recovered(f->s), 2);
  assert_int_equal(audit_file_lines_in_order(af), 4);
  /* complete already: nothing appended, and later commits follow on */
  assert_int_equal(store_audit_file_sync(f->s, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(put1(f, "d", "4", NULL), 0);
  assert_int_equal(audit_file_lines_in_order(af), 5);
  /* a file ahead of the chain (another store's) is reported, not extended */
  store_close(f->s);
  f->s = NULL;
  fp = fopen(af, "a");
  fputs("{\"seq\":99,\"time\":\"x\"}\n", fp);
  fclose(fp);
  assert_int_equal(store_open(f->dir, f->unlock, &f->opts, &f->s), 0);
  assert_int_equal(store_audit_file_error(f->s), -ESTALE);
  f->opts.audit_file = NULL;
  sfx_reopen(f);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_init_files_and_refusals),
      T(test_open_with_wrong_unlock_key_fails),
      T(test_create_read_inspect_list),
      T(test_create_refusals_are_audited),
      T(test_ref_by_full_id_never_prefix_and_name_wins),
      T(test_rotate_keeps_last_n_versions),
      T(test_grant_rules_and_revoke),
      T(test_remove_refused_while_granted_unless_forced),
      T(test_group_commit_one_failing_op_spares_the_others),
      T(test_batch_abort_loses_everything),
      T(test_audit_file_gets_json_lines_never_values),
      T(test_audit_file_catches_up_after_a_crash),
      T(test_backup_is_consistent_0600_and_opens),
      T(test_rotate_master_key_rewraps_everything),
      T(test_rotate_unlock_key_two_phases),
      T(test_init_after_crashed_init_and_empty_env),
      T(test_reads_from_many_threads_during_writes),
      T(test_master_rotated_by_another_process),
      T(test_null_arguments_are_refused),
      T(test_schema_mismatch_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
