/* The audit chain verifies, and detects edited, deleted, reordered and
 * truncated records (tampered directly in the LMDB file). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <lmdb.h>

#include "test_store_util.h"

static int setup(void **state) {
  struct sfx *f = sfx_new(NULL);
  char name[8];
  for (int i = 0; i < 5; i++) { /* records 2..6 after store.init (1) */
    snprintf(name, sizeof(name), "s%d", i);
    assert_int_equal(put1(f, name, "v", NULL), 0);
  }
  *state = f;
  return 0;
}
static int teardown(void **state) {
  sfx_free(*state);
  return 0;
}

struct raw {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi audit;
};

static void raw_begin(struct sfx *f, struct raw *r) {
  store_close(f->s);
  f->s = NULL;
  assert_int_equal(mdb_env_create(&r->env), 0);
  mdb_env_set_maxdbs(r->env, 16);
  assert_int_equal(mdb_env_open(r->env, f->dir, 0, 0600), 0);
  assert_int_equal(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
  assert_int_equal(mdb_dbi_open(r->txn, "audit", 0, &r->audit), 0);
}

static void raw_end(struct sfx *f, struct raw *r) {
  assert_int_equal(mdb_txn_commit(r->txn), 0);
  mdb_env_close(r->env);
  sfx_reopen(f);
}

static MDB_val key_of(uint8_t kb[8], uint64_t seq) {
  for (int i = 7; i >= 0; i--, seq >>= 8)
    kb[i] = (uint8_t)seq;
  return (MDB_val){8, kb};
}

static void verify(struct sfx *f, struct store_audit_verdict *vd) {
  assert_int_equal(store_audit_verify(f->s, NULL, NULL, vd), 0);
}

static void test_intact_chain_verifies(void **state) {
  struct sfx *f = *state;
  struct store_audit_verdict vd;
  verify(f, &vd);
  assert_true(vd.ok);
  assert_int_equal(vd.head_seq, 6);
  assert_int_equal(vd.first_bad_seq, 0);
  /* the chain links: each prev is the previous hash */
  struct store_audit_rec *recs;
  size_t n;
  assert_int_equal(store_audit_list(f->s, 0, 0, 0, &recs, &n), 0);
  assert_int_equal(n, 6);
  uint8_t zero[32] = {0};
  assert_memory_equal(recs[0].prev, zero, 32);
  assert_string_equal(recs[0].action, "store.init");
  for (size_t i = 1; i < n; i++)
    assert_memory_equal(recs[i].prev, recs[i - 1].hash, 32);
  assert_memory_equal(vd.head_hash, recs[5].hash, 32);
  /* with the expected head */
  uint64_t seq = 6;
  assert_int_equal(store_audit_verify(f->s, &seq, recs[5].hash, &vd), 0);
  assert_true(vd.ok);
  seq = 4; /* an older head saved earlier is still part of the chain */
  assert_int_equal(store_audit_verify(f->s, &seq, recs[3].hash, &vd), 0);
  assert_true(vd.ok);
  assert_int_equal(store_audit_verify(f->s, &seq, recs[2].hash, &vd), 0);
  assert_false(vd.ok);
  assert_int_equal(vd.first_bad_seq, 4);
  free(recs);
}

static void test_edited_record_is_named(void **state) {
  struct sfx *f = *state;
  struct raw r;
  uint8_t kb[8], buf[1024];
  raw_begin(f, &r);
  MDB_val k = key_of(kb, 3), v;
  assert_int_equal(mdb_get(r.txn, r.audit, &k, &v), 0);
  assert_true(v.mv_size < sizeof(buf));
  memcpy(buf, v.mv_data, v.mv_size);
  uint8_t *ok = memmem(buf, v.mv_size, "\xa2ok", 3);
  assert_non_null(ok);
  ok[1] = 'O'; /* still valid msgpack: outcome "Ok" */
  v.mv_data = buf;
  assert_int_equal(mdb_put(r.txn, r.audit, &k, &v, 0), 0);
  raw_end(f, &r);
  struct store_audit_verdict vd;
  verify(f, &vd);
  assert_false(vd.ok);
  assert_int_equal(vd.first_bad_seq, 3);
  assert_int_equal(vd.head_seq, 2);
  assert_non_null(strstr(vd.reason, "changed"));
}

static void test_garbled_record_is_named(void **state) {
  struct sfx *f = *state;
  struct raw r;
  uint8_t kb[8];
  raw_begin(f, &r);
  MDB_val k = key_of(kb, 5), v = {3, "xyz"};
  assert_int_equal(mdb_put(r.txn, r.audit, &k, &v, 0), 0);
  raw_end(f, &r);
  struct store_audit_verdict vd;
  verify(f, &vd);
  assert_false(vd.ok);
  assert_int_equal(vd.first_bad_seq, 5);
}

static void test_deleted_record_is_named(void **state) {
  struct sfx *f = *state;
  struct raw r;
  uint8_t kb[8];
  raw_begin(f, &r);
  MDB_val k = key_of(kb, 4);
  assert_int_equal(mdb_del(r.txn, r.audit, &k, NULL), 0);
  raw_end(f, &r);
  struct store_audit_verdict vd;
  verify(f, &vd);
  assert_false(vd.ok);
  assert_int_equal(vd.first_bad_seq, 4);
  assert_non_null(strstr(vd.reason, "missing"));
}

static void test_deleted_and_renumbered_record_is_named(void **state) {
  /* delete record 4 and move 5 and 6 down: keys stay dense, seqs do not */
  struct sfx *f = *state;
  struct raw r;
  uint8_t kb[8], kb2[8], buf[2][1024];
  raw_begin(f, &r);
  MDB_val v5, v6, k;
  k = key_of(kb, 5);
  assert_int_equal(mdb_get(r.txn, r.audit, &k, &v5), 0);
  memcpy(buf[0], v5.mv_data, v5.mv_size);
  k = key_of(kb, 6);
  assert_int_equal(mdb_get(r.txn, r.audit, &k, &v6), 0);
  memcpy(buf[1], v6.mv_data, v6.mv_size);
  assert_int_equal(mdb_del(r.txn, r.audit, &k, NULL), 0);
  v5.mv_data = buf[0];
  v6.mv_data = buf[1];
  k = key_of(kb, 4);
  assert_int_equal(mdb_put(r.txn, r.audit, &k, &v5, 0), 0);
  MDB_val k5 = key_of(kb2, 5);
  assert_int_equal(mdb_put(r.txn, r.audit, &k5, &v6, 0), 0);
  raw_end(f, &r);
  struct store_audit_verdict vd;
  verify(f, &vd);
  assert_false(vd.ok);
  assert_int_equal(vd.first_bad_seq, 4);
}

static void test_reordered_records_are_named(void **state) {
  struct sfx *f = *state;
  struct raw r;
  uint8_t ka[8], kb[8], ba[1024], bb[1024];
  raw_begin(f, &r);
  MDB_val k3 = key_of(ka, 3), k4 = key_of(kb, 4), v3, v4;
  assert_int_equal(mdb_get(r.txn, r.audit, &k3, &v3), 0);
  assert_int_equal(mdb_get(r.txn, r.audit, &k4, &v4), 0);
  memcpy(ba, v3.mv_data, v3.mv_size);
  memcpy(bb, v4.mv_data, v4.mv_size);
  v3.mv_data = ba;
  v4.mv_data = bb;
  assert_int_equal(mdb_put(r.txn, r.audit, &k3, &v4, 0), 0);
  assert_int_equal(mdb_put(r.txn, r.audit, &k4, &v3, 0), 0);
  raw_end(f, &r);
  struct store_audit_verdict vd;
  verify(f, &vd);
  assert_false(vd.ok);
  assert_int_equal(vd.first_bad_seq, 3);
  assert_non_null(strstr(vd.reason, "reordered"));
}

static void test_truncation_needs_the_expected_head(void **state) {
  struct sfx *f = *state;
  struct store_audit_verdict vd;
  verify(f, &vd);
  uint64_t head_seq = vd.head_seq;
  uint8_t head_hash[32];
  memcpy(head_hash, vd.head_hash, 32);
  struct raw r;
  uint8_t kb[8];
  raw_begin(f, &r);
  for (uint64_t s = 5; s <= 6; s++) {
    MDB_val k = key_of(kb, s);
    assert_int_equal(mdb_del(r.txn, r.audit, &k, NULL), 0);
  }
  raw_end(f, &r);
  verify(f, &vd); /* cut records cannot be seen without a saved head */
  assert_true(vd.ok);
  assert_int_equal(vd.head_seq, 4);
  assert_int_equal(store_audit_verify(f->s, &head_seq, head_hash, &vd), 0);
  assert_false(vd.ok);
  assert_int_equal(vd.first_bad_seq, 5);
  assert_non_null(strstr(vd.reason, "cut off"));
  /* appending new records after a truncation does not hide it */
  assert_int_equal(put1(f, "late1", "v", NULL), 0);
  assert_int_equal(put1(f, "late2", "v", NULL), 0);
  assert_int_equal(store_audit_verify(f->s, &head_seq, head_hash, &vd), 0);
  assert_false(vd.ok);
  assert_int_equal(vd.first_bad_seq, 6);
}

static void test_verify_with_other_audit_key_fails(void **state) {
  /* A second store's records grafted in: a forger without the key fails. */
  struct sfx *f = *state, *g = sfx_new(NULL);
  assert_int_equal(put1(g, "x", "v", NULL), 0);
  store_close(g->s);
  g->s = NULL;
  MDB_env *genv;
  MDB_txn *gtxn;
  MDB_dbi gaudit;
  uint8_t kb[8], buf[1024];
  assert_int_equal(mdb_env_create(&genv), 0);
  mdb_env_set_maxdbs(genv, 16);
  assert_int_equal(mdb_env_open(genv, g->dir, MDB_RDONLY, 0600), 0);
  assert_int_equal(mdb_txn_begin(genv, NULL, MDB_RDONLY, &gtxn), 0);
  assert_int_equal(mdb_dbi_open(gtxn, "audit", 0, &gaudit), 0);
  MDB_val k = key_of(kb, 1), v;
  assert_int_equal(mdb_get(gtxn, gaudit, &k, &v), 0);
  memcpy(buf, v.mv_data, v.mv_size);
  v.mv_data = buf;
  mdb_txn_abort(gtxn);
  mdb_env_close(genv);
  struct raw r;
  raw_begin(f, &r);
  assert_int_equal(mdb_put(r.txn, r.audit, &k, &v, 0), 0); /* replace record 1 */
  raw_end(f, &r);
  struct store_audit_verdict vd;
  verify(f, &vd);
  assert_false(vd.ok);
  assert_int_equal(vd.first_bad_seq, 1);
  sfx_free(g);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_intact_chain_verifies),
      T(test_edited_record_is_named),
      T(test_garbled_record_is_named),
      T(test_deleted_record_is_named),
      T(test_deleted_and_renumbered_record_is_named),
      T(test_reordered_records_are_named),
      T(test_truncation_needs_the_expected_head),
      T(test_verify_with_other_audit_key_fails),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
