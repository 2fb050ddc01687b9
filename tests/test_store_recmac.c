/*
 * Record tags (store/recmac.c) computed from the precomputed state, whose
 * key block is compressed once at open, equal BLAKE2b-256 keyed afresh with
 * the record key over the format's bytes, for payloads around every block
 * boundary; and on this platform's libsodium the precompressed state is the
 * one in use (else the saving silently went away).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <lmdb.h>
#include <sodium.h>
#include <string.h>

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

/* The format, written out independently: keyed with the record key. */
static void fresh_tag(const struct store *s, enum store_dbi t, const MDB_val *k, const uint8_t *p,
                      size_t n, uint8_t tag[STORE_TAG_LEN]) {
  crypto_generichash_blake2b_state st;
  uint8_t hdr[5] = {(uint8_t)t};
  store_be32_put(hdr + 1, (uint32_t)k->mv_size);
  const uint8_t *kb = sd_key_acquire(s->rec_key);
  crypto_generichash_blake2b_init(&st, kb, SD_KEY_LEN, STORE_TAG_LEN);
  sd_key_release(s->rec_key);
  crypto_generichash_blake2b_update(&st, (const uint8_t *)"sdrec1", 6);
  crypto_generichash_blake2b_update(&st, hdr, sizeof(hdr));
  crypto_generichash_blake2b_update(&st, k->mv_data, k->mv_size);
  crypto_generichash_blake2b_update(&st, p, n);
  crypto_generichash_blake2b_final(&st, tag, STORE_TAG_LEN);
}

static void test_tags_equal_a_freshly_keyed_blake2b(void **state) {
  struct sfx *f = *state;
  uint8_t p[600], key[40], want[STORE_TAG_LEN];
  assert_true(f->s->rec_state_precompressed);
  for (size_t i = 0; i < sizeof(p); i++)
    p[i] = (uint8_t)(i * 13 + 5);
  for (size_t i = 0; i < sizeof(key); i++)
    key[i] = (uint8_t)(i + 'a');
  for (size_t klen = 1; klen <= sizeof(key); klen += 13) {
    for (size_t n = 0; n <= sizeof(p); n++) {
      MDB_val k = {klen, key};
      uint8_t *sealed;
      size_t len;
      assert_int_equal(store_rec_seal(f->s, DBI_NAMES, &k, p, n, &sealed, &len), 0);
      assert_int_equal(len, n + STORE_TAG_LEN);
      fresh_tag(f->s, DBI_NAMES, &k, p, n, want);
      assert_memory_equal(sealed + n, want, STORE_TAG_LEN);
      free(sealed);
    }
  }
}

/* A state copied from the precompressed one and one keyed afresh agree with
 * libsodium's one-shot keyed hash too (what the store's tags are checked
 * against in every other test). */
static void test_state_matches_one_shot_hash(void **state) {
  struct sfx *f = *state;
  uint8_t m[300], a[STORE_TAG_LEN], b[STORE_TAG_LEN];
  for (size_t i = 0; i < sizeof(m); i++)
    m[i] = (uint8_t)i;
  memcpy(m, "sdrec1", 6);
  for (size_t n = 6; n <= sizeof(m); n += 17) {
    crypto_generichash_blake2b_state st;
    memcpy(&st, secbuf_cdata(f->s->rec_state), sizeof(st));
    crypto_generichash_blake2b_update(&st, m + 6, n - 6);
    crypto_generichash_blake2b_final(&st, a, sizeof(a));
    const uint8_t *kb = sd_key_acquire(f->s->rec_key);
    crypto_generichash(b, sizeof(b), m, n, kb, SD_KEY_LEN);
    sd_key_release(f->s->rec_key);
    assert_memory_equal(a, b, sizeof(a));
  }
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_tags_equal_a_freshly_keyed_blake2b),
      T(test_state_matches_one_shot_hash),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
