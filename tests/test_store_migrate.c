/*
 * Schema 2 -> 3 (store/env.c): schema 3 tags a version record over its AEAD
 * tag instead of its whole ciphertext. A schema 2 store (made here by writing
 * every version record back with its schema 2 tag, the whole-payload tag of
 * store_rec_seal) is upgraded by store_open: every record whose schema 2 tag
 * holds gets its schema 3 tag, one that fails is left as it was and
 * reported, and the upgrade is audited. Other schemas stay refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <lmdb.h>

#include <sodium.h>

#include "base/secbuf.h"
#include "store/internal.h"
#include "test_store_util.h"

static int setup(void **state) {
  *state = sfx_new(NULL);
  return 0;
}

static int teardown(void **state) {
  sfx_free(*state);
  return 0;
}

static void put_schema(MDB_txn *txn, MDB_dbi meta, uint8_t version) {
  MDB_val k = {6, "schema"}, v = {1, &version}; /* msgpack positive fixint */
  assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
}

static unsigned get_schema(struct sfx *f) {
  MDB_txn *txn;
  MDB_val k = {6, "schema"}, v;
  assert_int_equal(mdb_txn_begin(f->s->env, NULL, MDB_RDONLY, &txn), 0);
  assert_int_equal(mdb_get(txn, f->s->dbi[DBI_META], &k, &v), 0);
  assert_int_equal(v.mv_size, 1);
  unsigned s = *(const uint8_t *)v.mv_data;
  mdb_txn_abort(txn);
  return s;
}

/* The schema 2 tag of a version record, written out here from the format
 * (store/recmac.c): BLAKE2b-256 keyed with the record key, over "sdrec1" ||
 * table || len(key) || key || the whole payload. */
static void schema_2_tag(const struct store *s, const MDB_val *k, const uint8_t *p, size_t n,
                         uint8_t tag[STORE_TAG_LEN]) {
  crypto_generichash_blake2b_state st;
  uint8_t hdr[5] = {DBI_VERSIONS};
  store_be32_put(hdr + 1, (uint32_t)k->mv_size);
  memcpy(&st, secbuf_cdata(s->rec_state), sizeof(st)); /* keyed, "sdrec1" absorbed */
  crypto_generichash_blake2b_update(&st, hdr, sizeof(hdr));
  crypto_generichash_blake2b_update(&st, k->mv_data, k->mv_size);
  crypto_generichash_blake2b_update(&st, p, n);
  crypto_generichash_blake2b_final(&st, tag, STORE_TAG_LEN);
}

/* Rewrite every version record in the schema 2 form; flip a byte of the
 * ciphertext body of the record named by bad_key (NULL: none) after its
 * schema 2 tag was computed. Returns the number of records. */
static size_t downgrade_to_schema_2(struct sfx *f, const uint8_t bad_key[20]) {
  struct store *s = f->s;
  MDB_txn *txn;
  MDB_cursor *c;
  MDB_val k, v;
  size_t n = 0;
  assert_int_equal(mdb_txn_begin(s->env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_cursor_open(txn, s->dbi[DBI_VERSIONS], &c), 0);
  for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), n++) {
    struct version_rec vr;
    uint8_t *sealed;
    size_t len;
    assert_int_equal(store_rec_version_open(s, &k, &v, &vr), 0);
    size_t plen = v.mv_size - STORE_TAG_LEN;
    len = v.mv_size;
    sealed = malloc(len);
    memcpy(sealed, v.mv_data, plen);
    schema_2_tag(s, &k, sealed, plen, sealed + plen);
    if (bad_key && k.mv_size == 20 && memcmp(k.mv_data, bad_key, 20) == 0)
      sealed[plen - SD_TAG_LEN - 1] ^= 0x01; /* last body byte */
    MDB_val nv = {len, sealed};
    assert_int_equal(mdb_cursor_put(c, &k, &nv, MDB_CURRENT), 0);
    free(sealed);
  }
  mdb_cursor_close(c);
  put_schema(txn, s->dbi[DBI_META], 2);
  assert_int_equal(mdb_txn_commit(txn), 0);
  return n;
}

/* The error of a read that must fail (a value read is a failure). */
static int read_err(struct sfx *f, const char *ref) {
  struct secbuf *out = NULL;
  int r = store_secret_read(f->s, ref, 0, &out);
  if (r == 0) {
    secbuf_free(out);
    return 0;
  }
  return r;
}

static bool audit_has(struct sfx *f, const char *action, const char *needle) {
  struct store_batch *b;
  struct store_audit_rec *recs;
  size_t n;
  bool hit = false;
  assert_int_equal(store_batch_begin(f->s, &b), 0); /* writes queued tamper events */
  assert_int_equal(store_batch_commit(b), 0);
  assert_int_equal(store_audit_list(f->s, 0, 0, 0, &recs, &n), 0);
  for (size_t i = 0; i < n; i++)
    if (!strcmp(recs[i].action, action) && strstr(recs[i].object, needle))
      hit = true;
  free(recs);
  return hit;
}

static void test_schema_2_store_is_upgraded_at_open(void **state) {
  struct sfx *f = *state;
  char ida[33], idb[33];
  uint32_t ver;
  assert_int_equal(put1(f, "sA", "value-of-A", ida), 0);
  assert_int_equal(put1(f, "sB", "value-of-B", idb), 0);
  assert_int_equal(rot1(f, "sA", "A-two", &ver), 0);
  assert_int_equal(downgrade_to_schema_2(f, NULL), 3);
  /* the schema 3 reader refuses the schema 2 form of the records */
  assert_int_equal(read_err(f, "sA"), -EBADMSG);
  sfx_reopen(f);
  assert_int_equal(get_schema(f), 3);
  assert_int_equal(read_eq(f, "sA", 0, "A-two"), 0);
  assert_int_equal(read_eq(f, "sA", 1, "value-of-A"), 0);
  assert_int_equal(read_eq(f, "sB", 0, "value-of-B"), 0);
  assert_true(audit_has(f, "store.migrate", "schema:2->3 versions:3 refused:0"));
  /* the upgrade found nothing to report (the refused read above queued its
   * event in the handle that sfx_reopen closed) */
  assert_false(audit_has(f, "store.tamper", "table:versions"));
  /* a second open has nothing to upgrade */
  sfx_reopen(f);
  assert_int_equal(get_schema(f), 3);
  assert_int_equal(read_eq(f, "sA", 0, "A-two"), 0);
}

/* A record changed while the store was at schema 2 is not given a schema 3
 * tag: it stays refused, and the upgrade reports it. */
static void test_tampered_schema_2_record_is_not_upgraded(void **state) {
  struct sfx *f = *state;
  char ida[33], idb[33];
  uint8_t kb[20];
  assert_int_equal(put1(f, "sA", "value-of-A", ida), 0);
  assert_int_equal(put1(f, "sB", "value-of-B", idb), 0);
  for (int i = 0; i < 16; i++)
    sscanf(idb + 2 * i, "%2hhx", &kb[i]);
  store_be32_put(kb + 16, 1);
  assert_int_equal(downgrade_to_schema_2(f, kb), 2);
  sfx_reopen(f);
  assert_int_equal(store_tamper_count(f->s), 1);
  assert_int_equal(read_err(f, "sB"), -EBADMSG);
  assert_int_equal(read_eq(f, "sA", 0, "value-of-A"), 0);
  assert_true(audit_has(f, "store.migrate", "versions:1 refused:1"));
  assert_true(audit_has(f, "store.tamper", "table:versions"));
}

/* Schemas other than 2 and 3 (1: before record authentication; a later one)
 * are still refused, and nothing is written. */
static void test_other_schemas_are_refused(void **state) {
  struct sfx *f = *state;
  static const uint8_t refused[] = {1, 4};
  for (size_t i = 0; i < sizeof(refused); i++) {
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
    put_schema(txn, meta, refused[i]);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    struct store *s = NULL;
    assert_int_equal(store_open(f->dir, f->unlock, NULL, &s), SD_E_SCHEMA);
    assert_null(s);
    /* back to 3 for the next round and teardown */
    assert_int_equal(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 16);
    assert_int_equal(mdb_env_open(env, f->dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    MDB_val k = {6, "schema"}, v;
    assert_int_equal(mdb_get(txn, meta, &k, &v), 0);
    assert_int_equal(*(const uint8_t *)v.mv_data, refused[i]); /* not rewritten */
    put_schema(txn, meta, STORE_SCHEMA_VERSION);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    sfx_reopen(f);
  }
}

/* Code that reads or writes version records through the generic accessors
 * (store_rec_get/open/put/seal, as grants.c checks a pinned version) gets
 * the schema 3 form: the table decides. */
static void test_generic_accessors_use_the_version_form(void **state) {
  struct sfx *f = *state;
  char id[33];
  uint8_t kv[20];
  MDB_txn *txn;
  MDB_val p;
  struct version_rec vr;
  assert_int_equal(put1(f, "sA", "value-of-A", id), 0);
  for (int i = 0; i < 16; i++)
    sscanf(id + 2 * i, "%2hhx", &kv[i]);
  store_be32_put(kv + 16, 1);
  MDB_val k = {20, kv}, raw;
  assert_int_equal(mdb_txn_begin(f->s->env, NULL, 0, &txn), 0);
  assert_int_equal(store_rec_get(f->s, txn, DBI_VERSIONS, &k, &p), 0);
  assert_int_equal(store_rec_version_parse(p.mv_data, p.mv_size, &vr), 0);
  assert_int_equal(vr.ct_len, 10 + SD_TAG_LEN);
  /* written back through the generic put: still opens in both ways */
  uint8_t *copy = malloc(p.mv_size);
  memcpy(copy, p.mv_data, p.mv_size);
  assert_int_equal(store_rec_put(f->s, txn, DBI_VERSIONS, &k, copy, p.mv_size, 0), 0);
  assert_int_equal(mdb_get(txn, f->s->dbi[DBI_VERSIONS], &k, &raw), 0);
  assert_int_equal(store_rec_version_open(f->s, &k, &raw, &vr), 0);
  assert_int_equal(store_rec_open(f->s, DBI_VERSIONS, &k, &raw, &p), 0);
  /* a payload that is not a version record is not sealed as one */
  copy[0] = 0x93;
  assert_int_equal(store_rec_put(f->s, txn, DBI_VERSIONS, &k, copy, p.mv_size, 0), -EINVAL);
  free(copy);
  assert_int_equal(mdb_txn_commit(txn), 0);
  assert_int_equal(read_eq(f, "sA", 0, "value-of-A"), 0);
  assert_int_equal(store_tamper_count(f->s), 0);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_schema_2_store_is_upgraded_at_open),
      T(test_tampered_schema_2_record_is_not_upgraded),
      T(test_other_schemas_are_refused),
      T(test_generic_accessors_use_the_version_form),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
