/*
 * The cache of unwrapped data keys (store/dkcache.c): a second read of a
 * version hits it and returns the same value; master-key rotation, idle
 * sealing and close empty it; and a cached key never lets through what the
 * unwrap would refuse: a changed ciphertext fails its AEAD and is reported,
 * and a wrap from before a rotation (record tag intact: the record key
 * outlives the master key) misses the cache and is refused. The records are
 * changed through the open store's own environment so the cache stays
 * filled, as an attacker writing the files of a running daemon would.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <lmdb.h>

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

static void version_key(const char hex[33], uint32_t version, uint8_t kv[20]) {
  for (int i = 0; i < 16; i++)
    sscanf(hex + 2 * i, "%2hhx", &kv[i]);
  store_be32_put(kv + 16, version);
}

/* The raw version record (payload || record tag), copied out. */
static MDB_val raw_get(struct sfx *f, const uint8_t kv[20]) {
  MDB_txn *txn;
  MDB_val k = {20, (void *)kv}, v, copy;
  assert_int_equal(mdb_txn_begin(f->s->env, NULL, MDB_RDONLY, &txn), 0);
  assert_int_equal(mdb_get(txn, f->s->dbi[DBI_VERSIONS], &k, &v), 0);
  copy = (MDB_val){v.mv_size, malloc(v.mv_size)};
  memcpy(copy.mv_data, v.mv_data, v.mv_size);
  mdb_txn_abort(txn);
  return copy;
}

static void raw_put(struct sfx *f, const uint8_t kv[20], MDB_val v) {
  MDB_txn *txn;
  MDB_val k = {20, (void *)kv};
  assert_int_equal(mdb_txn_begin(f->s->env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_put(txn, f->s->dbi[DBI_VERSIONS], &k, &v, 0), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
}

static void test_second_read_hits_and_agrees(void **state) {
  struct sfx *f = *state;
  struct store_dkcache *c = &f->s->dkcache;
  assert_int_equal(put1(f, "a", "value-a", NULL), 0);
  assert_int_equal(put1(f, "b", "value-b", NULL), 0);
  assert_int_equal(store_dkcache_count(c), 0); /* writes fill nothing */
  assert_int_equal(read_eq(f, "a", 0, "value-a"), 0);
  assert_int_equal(store_dkcache_count(c), 1);
  uint64_t hits = c->hits;
  assert_int_equal(read_eq(f, "a", 0, "value-a"), 0);
  assert_int_equal(read_eq(f, "a", 1, "value-a"), 0);
  assert_int_equal(c->hits, hits + 2);
  assert_int_equal(read_eq(f, "b", 0, "value-b"), 0);
  assert_int_equal(rot1(f, "a", "value-a2", NULL), 0); /* a new version, a new key */
  assert_int_equal(read_eq(f, "a", 0, "value-a2"), 0);
  assert_int_equal(read_eq(f, "a", 1, "value-a"), 0);
  assert_int_equal(store_dkcache_count(c), 3);
}

static void test_rotation_sealing_and_close_empty_it(void **state) {
  struct sfx *f = *state;
  struct store_dkcache *c = &f->s->dkcache;
  assert_int_equal(put1(f, "a", "value-a", NULL), 0);
  assert_int_equal(read_eq(f, "a", 0, "value-a"), 0);
  assert_int_equal(store_dkcache_count(c), 1);
  assert_int_equal(store_rotate_master_key(f->s, &f->actor), 0);
  assert_int_equal(store_dkcache_count(c), 0);
  /* every slot byte is zero again, not only the count */
  const uint8_t *p = secbuf_cdata(c->slots);
  for (size_t i = 0; i < secbuf_len(c->slots); i++)
    assert_int_equal(p[i], 0);
  assert_int_equal(read_eq(f, "a", 0, "value-a"), 0); /* rewrapped: unwraps afresh */
  assert_int_equal(store_dkcache_count(c), 1);
  store_seal_idle_keys(f->s);
  assert_int_equal(store_dkcache_count(c), 0);
  assert_int_equal(read_eq(f, "a", 0, "value-a"), 0);
  sfx_reopen(f); /* close frees (and wipes) it; a reopened store starts empty */
  assert_int_equal(store_dkcache_count(&f->s->dkcache), 0);
  assert_int_equal(read_eq(f, "a", 0, "value-a"), 0);
}

static void test_cached_key_does_not_pass_a_changed_ciphertext(void **state) {
  struct sfx *f = *state;
  char id[33];
  uint8_t kv[20];
  assert_int_equal(put1(f, "a", "value-of-A", id), 0);
  version_key(id, 1, kv);
  assert_int_equal(read_eq(f, "a", 0, "value-of-A"), 0); /* its key is cached */
  MDB_val v = raw_get(f, kv);
  /* payload ends with 10 ciphertext body bytes, the AEAD tag, the record tag */
  ((uint8_t *)v.mv_data)[v.mv_size - 32 - 16 - 10 + 3] ^= 1;
  raw_put(f, kv, v);
  free(v.mv_data);
  uint64_t before = store_tamper_count(f->s), hits = f->s->dkcache.hits;
  struct secbuf *out = NULL;
  assert_int_equal(store_secret_read(f->s, "a", 0, &out), -EBADMSG);
  assert_null(out);
  assert_int_equal(f->s->dkcache.hits, hits + 1); /* the cache answered; the AEAD refused */
  assert_int_equal(store_tamper_count(f->s), before + 1);
}

static void test_wrap_from_before_a_rotation_is_refused(void **state) {
  struct sfx *f = *state;
  char id[33];
  uint8_t kv[20];
  assert_int_equal(put1(f, "a", "value-a", id), 0);
  version_key(id, 1, kv);
  MDB_val old = raw_get(f, kv); /* wrapped by the first master key, validly tagged */
  assert_int_equal(store_rotate_master_key(f->s, &f->actor), 0);
  assert_int_equal(read_eq(f, "a", 0, "value-a"), 0); /* the new wrap's key is cached */
  assert_int_equal(store_dkcache_count(&f->s->dkcache), 1);
  raw_put(f, kv, old);
  free(old.mv_data);
  uint64_t before = store_tamper_count(f->s), hits = f->s->dkcache.hits;
  struct secbuf *out = NULL;
  assert_int_equal(store_secret_read(f->s, "a", 0, &out), -EBADMSG);
  assert_null(out);
  assert_int_equal(f->s->dkcache.hits, hits); /* another wrap: a miss, then the unwrap fails */
  assert_int_equal(store_tamper_count(f->s), before + 1);
}

/* Two keys share a set: both stay; a third replaces the least recently used. */
static void test_a_set_keeps_its_two_most_recent(void **state) {
  struct sfx *f = *state;
  struct store_dkcache *c = &f->s->dkcache;
  uint8_t id[16] = {1}, w[3][SD_WRAPPED_KEY_LEN], dk[3][SD_KEY_LEN], got[SD_KEY_LEN];
  for (int i = 0; i < 3; i++) { /* same nonce start: same set */
    memset(w[i], 0x40 + i, sizeof(w[i]));
    memset(w[i], 0x07, 4);
    memset(dk[i], 0x10 + i, sizeof(dk[i]));
    store_dkcache_put(c, id, 1, w[i], dk[i]);
    if (i == 1) { /* use the first: the second is now the least recent */
      assert_true(store_dkcache_get(c, id, 1, w[0], got));
      assert_memory_equal(got, dk[0], SD_KEY_LEN);
    }
  }
  assert_int_equal(store_dkcache_count(c), 2);
  assert_true(store_dkcache_get(c, id, 1, w[0], got));
  assert_memory_equal(got, dk[0], SD_KEY_LEN);
  assert_true(store_dkcache_get(c, id, 1, w[2], got));
  assert_memory_equal(got, dk[2], SD_KEY_LEN);
  assert_false(store_dkcache_get(c, id, 1, w[1], got));
  assert_false(store_dkcache_get(c, id, 2, w[0], got)); /* another version */
  id[15] = 9;
  assert_false(store_dkcache_get(c, id, 1, w[0], got)); /* another secret */
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_second_read_hits_and_agrees),
      T(test_rotation_sealing_and_close_empty_it),
      T(test_cached_key_does_not_pass_a_changed_ciphertext),
      T(test_wrap_from_before_a_rotation_is_refused),
      T(test_a_set_keeps_its_two_most_recent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
