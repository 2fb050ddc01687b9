/* Envelope encryption: round trip, wrong keys, tampering, moved ciphertexts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "base/error.h"
#include "crypto/audit_mac.h"
#include "crypto/envelope.h"

static const uint8_t ID_A[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t ID_B[16] = {16, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 1};

struct fx {
  struct sd_key *master;
  struct secbuf *pt;
  struct sd_envelope env;
};

static int setup(void **state) {
  struct fx *f = calloc(1, sizeof(*f));
  assert_int_equal(sd_key_generate(&f->master), 0);
  assert_int_equal(secbuf_from("correct horse battery staple", 28, &f->pt), 0);
  assert_int_equal(sd_envelope_seal(f->master, ID_A, 3, f->pt, &f->env), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fx *f = *state;
  sd_envelope_clear(&f->env);
  secbuf_free(f->pt);
  sd_key_free(f->master);
  free(f);
  return 0;
}

static int open_env(struct fx *f, const struct sd_key *k, const uint8_t *id, uint32_t ver,
                    struct secbuf **out) {
  return sd_envelope_open(k, id, ver, f->env.wrapped_dk, f->env.nonce, f->env.ct, f->env.ct_len,
                          out);
}

static void test_seal_open_round_trip(void **state) {
  struct fx *f = *state;
  struct secbuf *out = NULL;
  assert_int_equal(f->env.ct_len, 28 + SD_TAG_LEN);
  assert_null(memmem(f->env.ct, f->env.ct_len, "horse", 5));
  assert_int_equal(open_env(f, f->master, ID_A, 3, &out), 0);
  assert_true(secbuf_equal(out, f->pt));
  secbuf_free(out);
}

static void test_open_with_other_master_fails(void **state) {
  struct fx *f = *state;
  struct sd_key *other;
  struct secbuf *out = NULL;
  assert_int_equal(sd_key_generate(&other), 0);
  assert_int_equal(open_env(f, other, ID_A, 3, &out), SD_E_DECRYPT);
  assert_null(out);
  sd_key_free(other);
}

static void test_flipped_bits_fail(void **state) {
  struct fx *f = *state;
  struct secbuf *out = NULL;
  uint8_t *regions[] = {f->env.nonce, f->env.ct, f->env.ct + f->env.ct_len - SD_TAG_LEN,
                        f->env.wrapped_dk, f->env.wrapped_dk + SD_WRAPPED_KEY_LEN - 1};
  for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]); i++) {
    regions[i][0] ^= 0x01;
    assert_int_equal(open_env(f, f->master, ID_A, 3, &out), SD_E_DECRYPT);
    assert_null(out);
    regions[i][0] ^= 0x01;
  }
  assert_int_equal(open_env(f, f->master, ID_A, 3, &out), 0);
  secbuf_free(out);
}

static void test_moved_to_other_secret_or_version_fails(void **state) {
  struct fx *f = *state;
  struct secbuf *out = NULL;
  assert_int_equal(open_env(f, f->master, ID_B, 3, &out), SD_E_DECRYPT);
  assert_int_equal(open_env(f, f->master, ID_A, 4, &out), SD_E_DECRYPT);
  assert_int_equal(open_env(f, f->master, ID_A, 2, &out), SD_E_DECRYPT);
  /* only the value moved: wrapped key of another record */
  struct sd_envelope e2;
  assert_int_equal(sd_envelope_seal(f->master, ID_B, 3, f->pt, &e2), 0);
  assert_int_equal(sd_envelope_open(f->master, ID_B, 3, e2.wrapped_dk, f->env.nonce, f->env.ct,
                                    f->env.ct_len, &out),
                   SD_E_DECRYPT);
  sd_envelope_clear(&e2);
  assert_null(out);
}

static void test_truncated_ciphertext_refused(void **state) {
  struct fx *f = *state;
  struct secbuf *out = NULL;
  assert_int_equal(sd_envelope_open(f->master, ID_A, 3, f->env.wrapped_dk, f->env.nonce, f->env.ct,
                                    SD_TAG_LEN - 1, &out),
                   -EINVAL);
  assert_int_equal(sd_envelope_open(f->master, ID_A, 3, f->env.wrapped_dk, f->env.nonce, f->env.ct,
                                    f->env.ct_len - 1, &out),
                   SD_E_DECRYPT);
}

static void test_rewrap_changes_only_the_data_key_wrap(void **state) {
  struct fx *f = *state;
  struct sd_key *m2;
  struct secbuf *out = NULL;
  uint8_t before[SD_WRAPPED_KEY_LEN];
  assert_int_equal(sd_key_generate(&m2), 0);
  memcpy(before, f->env.wrapped_dk, sizeof(before));
  /* wrong old master: refused, untouched */
  assert_int_equal(sd_envelope_rewrap(m2, f->master, ID_A, 3, f->env.wrapped_dk), SD_E_DECRYPT);
  assert_memory_equal(before, f->env.wrapped_dk, sizeof(before));
  assert_int_equal(sd_envelope_rewrap(f->master, m2, ID_A, 3, f->env.wrapped_dk), 0);
  assert_int_equal(open_env(f, f->master, ID_A, 3, &out), SD_E_DECRYPT);
  assert_int_equal(open_env(f, m2, ID_A, 3, &out), 0);
  assert_true(secbuf_equal(out, f->pt));
  secbuf_free(out);
  sd_key_free(m2);
}

static void test_key_wrap_binds_purpose_and_context(void **state) {
  struct sd_key *kek, *k, *got = NULL, *other;
  uint8_t w[SD_WRAPPED_KEY_LEN], ctx[16] = {7};
  assert_int_equal(sd_key_generate(&kek), 0);
  assert_int_equal(sd_key_generate(&k), 0);
  assert_int_equal(sd_key_generate(&other), 0);
  assert_int_equal(sd_key_wrap(kek, SD_WRAP_MASTER, ctx, 16, k, w), 0);
  assert_int_equal(sd_key_unwrap(kek, SD_WRAP_MASTER, ctx, 16, w, &got), 0);
  assert_true(sd_key_equal(got, k));
  sd_key_free(got);
  got = NULL;
  assert_int_equal(sd_key_unwrap(other, SD_WRAP_MASTER, ctx, 16, w, &got), SD_E_DECRYPT);
  assert_int_equal(sd_key_unwrap(kek, SD_WRAP_AUDIT, ctx, 16, w, &got), SD_E_DECRYPT);
  ctx[0] = 8;
  assert_int_equal(sd_key_unwrap(kek, SD_WRAP_MASTER, ctx, 16, w, &got), SD_E_DECRYPT);
  assert_null(got);
  sd_key_free(kek);
  sd_key_free(k);
  sd_key_free(other);
}

static void test_audit_mac_is_keyed_and_chained(void **state) {
  struct sd_key *k1, *k2;
  uint8_t prev[32] = {0}, h1[32], h2[32], h3[32];
  assert_int_equal(sd_key_generate(&k1), 0);
  assert_int_equal(sd_key_generate(&k2), 0);
  sd_audit_mac(k1, prev, (const uint8_t *)"rec", 3, h1);
  sd_audit_mac(k2, prev, (const uint8_t *)"rec", 3, h2);
  assert_memory_not_equal(h1, h2, 32);
  prev[31] = 1;
  sd_audit_mac(k1, prev, (const uint8_t *)"rec", 3, h3);
  assert_memory_not_equal(h1, h3, 32);
  char hex[65];
  uint8_t back[32];
  sd_hash_hex(h1, hex);
  assert_int_equal(strlen(hex), 64);
  assert_int_equal(sd_hash_from_hex(hex, back), 0);
  assert_memory_equal(back, h1, 32);
  assert_int_equal(sd_hash_from_hex("abc", back), -EINVAL);
  hex[3] = 'x';
  assert_int_equal(sd_hash_from_hex(hex, back), -EINVAL);
  sd_key_free(k1);
  sd_key_free(k2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_seal_open_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_with_other_master_fails, setup, teardown),
      cmocka_unit_test_setup_teardown(test_flipped_bits_fail, setup, teardown),
      cmocka_unit_test_setup_teardown(test_moved_to_other_secret_or_version_fails, setup, teardown),
      cmocka_unit_test_setup_teardown(test_truncated_ciphertext_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rewrap_changes_only_the_data_key_wrap, setup, teardown),
      cmocka_unit_test(test_key_wrap_binds_purpose_and_context),
      cmocka_unit_test(test_audit_mac_is_keyed_and_chained),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
