/* Join tokens: format, round trip, strict parsing of every malformed variant,
 * CA digest check, hashed secrets. Known answers computed independently
 * (Python big integers, OpenSSL BN). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/ca.h"
#include "crypto/join_token.h"
#include "base/secbuf.h"

/* A real Docker Swarm root CA certificate (public test fixture). */
static const char swarm_ca_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBajCCARCgAwIBAgIUbYqrLSOSQHoxD8CwG6Bi2PJi9c8wCgYIKoZIzj0EAwIw\n"
    "EzERMA8GA1UEAxMIc3dhcm0tY2EwHhcNMTcwNDI0MjE0MzAwWhcNMzcwNDE5MjE0\n"
    "MzAwWjATMREwDwYDVQQDEwhzd2FybS1jYTBZMBMGByqGSM49AgEGCCqGSM49AwEH\n"
    "A0IABJk/VyMPYdaqDXJb/VXh5n/1Yuv7iNrxV3Qb3l06XD46seovcDWs3IZNV1lf\n"
    "3Skyr0ofcchipoiHkXBODojJydSjQjBAMA4GA1UdDwEB/wQEAwIBBjAPBgNVHRMB\n"
    "Af8EBTADAQH/MB0GA1UdDgQWBBRUXxuRcnFjDfR/RIAUQab8ZV/n4jAKBggqhkjO\n"
    "PQQDAgNIADBFAiAy+JTe6Uc3KyLCMiqGl2GyWGQqQDEcO3/YG36x7om65AIhAJvz\n"
    "pxv6zFeVEkAEEkqIYi0omA9+CjanB/6Bz4n1uw8H\n"
    "-----END CERTIFICATE-----\n";
/* SHA-256 of its DER in base 36, zero-padded to 50 (computed with Python). */
#define SWARM_CA_DIGEST36 "0uxs0talc3h3ocdlv2zwxzuvc83838hhlylug7fhp9aw9gdlc9"
#define SECRET_ALL_FF "f5lxx1zz5pnorynqglhzmsp33"  /* 2^128 - 1 */
#define SECRET_2_128 "f5lxx1zz5pnorynqglhzmsp34"   /* 2^128: out of range */
#define SECRET_0102 "025burfp0j7epb0hqfcuw340g"    /* 0x0102...0f10 */
#define DIGEST_MAX "6dp5qcb22im238nr3wvp0ic7q99w035jmy2iw7i6n43d37jtof" /* 2^256 - 1 */
#define DIGEST_2_256 "6dp5qcb22im238nr3wvp0ic7q99w035jmy2iw7i6n43d37jtog"

static uint8_t *swarm_ca_der(size_t *len) {
  BIO *b = BIO_new_mem_buf(swarm_ca_pem, -1);
  X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
  assert_non_null(x);
  unsigned char *der = NULL;
  int n = i2d_X509(x, &der);
  assert_int_equal(n, 366);
  uint8_t *out = malloc((size_t)n);
  memcpy(out, der, (size_t)n);
  OPENSSL_free(der);
  X509_free(x);
  BIO_free(b);
  *len = (size_t)n;
  return out;
}

static int parse(const char *s, uint8_t digest[32], struct secbuf **secret) {
  return join_token_parse(s, strlen(s), digest, secret);
}

/* Independent base-36 rendering with OpenSSL BN, zero-padded to w. */
static void bn_base36(const uint8_t *in, size_t n, char *out, size_t w) {
  BIGNUM *bn = BN_bin2bn(in, (int)n, NULL);
  memset(out, '0', w);
  out[w] = '\0';
  for (size_t i = w; i-- > 0 && !BN_is_zero(bn);)
    out[i] = "0123456789abcdefghijklmnopqrstuvwxyz"[BN_div_word(bn, 36)];
  assert_true(BN_is_zero(bn));
  BN_free(bn);
}

static void test_generate_format_and_round_trip(void **state) {
  struct ca *ca;
  uint8_t *der;
  size_t len;
  assert_int_equal(ca_create(CA_KEY_P256, &ca), 0);
  assert_int_equal(ca_cert_der(ca, &der, &len), 0);
  uint8_t key[32] = {1, 2, 3};
  for (int round = 0; round < 50; round++) {
    struct secbuf *tok = NULL, *secret = NULL;
    uint8_t hash[JOIN_TOKEN_HASH_BYTES], digest[32];
    assert_int_equal(join_token_generate(der, len, key, sizeof(key), &tok, hash), 0);
    const char *t = (const char *)secbuf_cdata(tok);
    assert_int_equal(strlen(t), JOIN_TOKEN_LEN);
    assert_int_equal(JOIN_TOKEN_LEN, 85);
    assert_memory_equal(t, "SWMTKN-1-", 9);
    assert_int_equal(t[59], '-');
    for (size_t i = 9; i < JOIN_TOKEN_LEN; i++)
      assert_true((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'z') || i == 59);
    /* The digest field is SHA-256(DER) in base 36, as OpenSSL's BN renders it. */
    uint8_t sha[32];
    char want[51];
    SHA256(der, len, sha);
    bn_base36(sha, 32, want, 50);
    assert_memory_equal(t + 9, want, 50);

    assert_int_equal(join_token_parse(t, JOIN_TOKEN_LEN, digest, &secret), 0);
    assert_memory_equal(digest, sha, 32);
    assert_int_equal(secbuf_len(secret), JOIN_TOKEN_SECRET_BYTES);
    char sec36[26];
    bn_base36(secbuf_cdata(secret), 16, sec36, 25);
    assert_memory_equal(t + 60, sec36, 25);
    assert_int_equal(join_token_check_ca(digest, der, len), 0);
    assert_int_equal(join_token_check_secret(secret, key, sizeof(key), hash), 0);
    secbuf_free(secret);
    secbuf_free(tok);
  }
  free(der);
  ca_free(ca);
}

static void test_known_answers(void **state) {
  size_t len;
  uint8_t *der = swarm_ca_der(&len);
  uint8_t digest[32], sha[32];
  struct secbuf *secret = NULL;
  assert_int_equal(parse("SWMTKN-1-" SWARM_CA_DIGEST36 "-" SECRET_ALL_FF, digest, &secret), 0);
  SHA256(der, len, sha);
  assert_memory_equal(digest, sha, 32);
  assert_int_equal(join_token_check_ca(digest, der, len), 0);
  for (int i = 0; i < 16; i++)
    assert_int_equal(secbuf_cdata(secret)[i], 0xff);
  secbuf_free(secret);
  assert_int_equal(parse("SWMTKN-1-" DIGEST_MAX "-" SECRET_0102, digest, &secret), 0);
  for (int i = 0; i < 16; i++)
    assert_int_equal(secbuf_cdata(secret)[i], i + 1);
  for (int i = 0; i < 32; i++)
    assert_int_equal(digest[i], 0xff);
  secbuf_free(secret);
  free(der);
}

static void test_malformed_tokens_refused_with_distinct_errors(void **state) {
  static const char D[] = SWARM_CA_DIGEST36, S[] = SECRET_0102;
  char good[128], bad[160];
  snprintf(good, sizeof(good), "SWMTKN-1-%s-%s", D, S);
  uint8_t digest[32] = {0}, zero[32] = {0};
  struct secbuf *secret = NULL;
  struct {
    const char *fmt; /* %s = good token, or a literal */
    int want;
  } cases[] = {
      {"", JT_E_EMPTY},
      {" %s", JT_E_SPACE},
      {"%s ", JT_E_SPACE},
      {"%s\n", JT_E_SPACE},
      {"\t%s", JT_E_SPACE},
      {"%s\r\n", JT_E_SPACE},
      {"swmtkn-1-" SWARM_CA_DIGEST36 "-" SECRET_0102, JT_E_CASE},
      {"SWMTKN-1-" SWARM_CA_DIGEST36 "-025BURFP0J7EPB0HQFCUW340G", JT_E_CASE},
      {"SWMTKN-1-0UXS0TALC3H3OCDLV2ZWXZUVC83838HHLYLUG7FHP9AW9GDLC9-" SECRET_0102, JT_E_CASE},
      {"SWMTKN-1-" SWARM_CA_DIGEST36 "-025burfp0j7epb0hqfcuw340G", JT_E_CASE},
      {"SDUNLOCK-1-abc", JT_E_PREFIX},
      {"SWMTK", JT_E_PREFIX},
      {"XSWMTKN-1-" SWARM_CA_DIGEST36 "-" SECRET_0102, JT_E_PREFIX},
      {"SWMTKN-2-" SWARM_CA_DIGEST36 "-" SECRET_0102, JT_E_VERSION},
      {"SWMTKN-01-" SWARM_CA_DIGEST36 "-" SECRET_0102, JT_E_VERSION},
      {"SWMTKN--" SWARM_CA_DIGEST36 "-" SECRET_0102, JT_E_VERSION},
      {"SWMTKN-", JT_E_FIELDS},
      {"SWMTKN-1", JT_E_FIELDS},
      {"SWMTKN-1-" SWARM_CA_DIGEST36, JT_E_FIELDS},
      {"SWMTKN-1-" SWARM_CA_DIGEST36 "-" SECRET_0102 "-x", JT_E_FIELDS},
      {"SWMTKN-1-" SWARM_CA_DIGEST36 SECRET_0102, JT_E_FIELDS},
      {"SWMTKN-1-" SWARM_CA_DIGEST36 "--" SECRET_0102, JT_E_FIELDS},
      {"SWMTKN-1-0" SWARM_CA_DIGEST36 "-" SECRET_0102, JT_E_DIGEST_LEN},
      {"SWMTKN-1-uxs0talc3h3ocdlv2zwxzuvc83838hhlylug7fhp9aw9gdlc9-" SECRET_0102, JT_E_DIGEST_LEN},
      {"SWMTKN-1-" SWARM_CA_DIGEST36 "-", JT_E_SECRET_LEN},
      {"SWMTKN-1-" SWARM_CA_DIGEST36 "-025burfp0j7epb0hqfcuw340", JT_E_SECRET_LEN},
      {"SWMTKN-1-" SWARM_CA_DIGEST36 "-0025burfp0j7epb0hqfcuw340g", JT_E_SECRET_LEN},
      {"SWMTKN-1-" SWARM_CA_DIGEST36 "-025burfp0j7epb0hqfcuw340_", JT_E_CHAR},
      {"SWMTKN-1-" SWARM_CA_DIGEST36 "-025burfp0j7epb0hqfcuw340\xc3", JT_E_CHAR},
      {"SWMTKN-1-0uxs0talc3h3ocdlv2zwxzuvc83838hhlylug7fhp9aw9gdl+9-" SECRET_0102, JT_E_CHAR},
      {"SWMTKN-1-" SWARM_CA_DIGEST36 "-" SECRET_2_128, JT_E_RANGE},
      {"SWMTKN-1-" SWARM_CA_DIGEST36 "-zzzzzzzzzzzzzzzzzzzzzzzzz", JT_E_RANGE},
      {"SWMTKN-1-" DIGEST_2_256 "-" SECRET_0102, JT_E_RANGE},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    if (strstr(cases[i].fmt, "%s"))
      snprintf(bad, sizeof(bad), cases[i].fmt, good);
    else
      snprintf(bad, sizeof(bad), "%s", cases[i].fmt);
    int r = parse(bad, digest, &secret);
    if (r != cases[i].want)
      fail_msg("case %zu (%s): got %d (%s), want %d", i, bad, r, join_token_strerror(r),
               cases[i].want);
    assert_null(secret);
    assert_memory_equal(digest, zero, 32); /* untouched */
    /* The message never repeats the token. */
    assert_null(strstr(join_token_strerror(r), S));
  }
  /* An embedded NUL counts as a control character. */
  char nul[128];
  memcpy(nul, good, strlen(good));
  nul[20] = '\0';
  assert_int_equal(join_token_parse(nul, strlen(good), digest, &secret), JT_E_SPACE);
  /* Truncated anywhere: never accepted. */
  for (size_t n = 0; n < strlen(good); n++) {
    assert_true(join_token_parse(good, n, digest, &secret) < 0);
    assert_null(secret);
  }
  assert_int_equal(join_token_parse(NULL, 3, digest, &secret), -EINVAL);
  assert_int_equal(parse(good, digest, &secret), 0);
  secbuf_free(secret);
}

static void test_ca_digest_mismatch_detected(void **state) {
  struct ca *ours, *impostor;
  uint8_t *d1, *d2, digest[32];
  size_t l1, l2;
  assert_int_equal(ca_create(CA_KEY_P256, &ours), 0);
  assert_int_equal(ca_create(CA_KEY_ED25519, &impostor), 0);
  assert_int_equal(ca_cert_der(ours, &d1, &l1), 0);
  assert_int_equal(ca_cert_der(impostor, &d2, &l2), 0);
  struct secbuf *tok, *secret;
  assert_int_equal(join_token_generate(d1, l1, NULL, 0, &tok, NULL), 0);
  assert_int_equal(join_token_parse((const char *)secbuf_cdata(tok), JOIN_TOKEN_LEN, digest,
                                    &secret),
                   0);
  assert_int_equal(join_token_check_ca(digest, d1, l1), 0);
  assert_int_equal(join_token_check_ca(digest, d2, l2), JT_E_CA_MISMATCH);
  d1[l1 - 1] ^= 1; /* one bit of the certificate */
  assert_int_equal(join_token_check_ca(digest, d1, l1), JT_E_CA_MISMATCH);
  assert_int_equal(join_token_check_ca(digest, d1, 0), -EINVAL);
  assert_int_equal(join_token_check_ca(NULL, d1, l1), -EINVAL);
  assert_int_equal(join_token_generate(NULL, 0, NULL, 0, &tok, NULL), -EINVAL);
  secbuf_free(secret);
  secbuf_free(tok);
  free(d1);
  free(d2);
  ca_free(ours);
  ca_free(impostor);
}

static void test_secret_hash_compare(void **state) {
  size_t len;
  uint8_t *der = swarm_ca_der(&len);
  uint8_t key[32], other_key[32], h1[32], h2[32], digest[32];
  memset(key, 7, sizeof(key));
  memset(other_key, 8, sizeof(other_key));
  struct secbuf *t1, *t2, *s1, *s2;
  assert_int_equal(join_token_generate(der, len, key, sizeof(key), &t1, h1), 0);
  assert_int_equal(join_token_generate(der, len, key, sizeof(key), &t2, h2), 0); /* rotation */
  assert_memory_not_equal(h1, h2, 32);
  assert_int_equal(parse((const char *)secbuf_cdata(t1), digest, &s1), 0);
  assert_int_equal(parse((const char *)secbuf_cdata(t2), digest, &s2), 0);
  assert_int_equal(join_token_check_secret(s1, key, sizeof(key), h1), 0);
  assert_int_equal(join_token_check_secret(s2, key, sizeof(key), h2), 0);
  /* The rotated-away token no longer matches the stored hash. */
  assert_int_equal(join_token_check_secret(s1, key, sizeof(key), h2), JT_E_SECRET);
  /* Another key gives another hash: a stolen hash table needs the key too. */
  assert_int_equal(join_token_check_secret(s1, other_key, sizeof(other_key), h1), JT_E_SECRET);
  /* The hash is not the secret. */
  uint8_t hk[32];
  assert_int_equal(join_token_hash(s1, NULL, 0, hk), 0);
  assert_memory_not_equal(hk, h1, 32);
  assert_int_equal(join_token_hash(s1, key, 15, hk), -EINVAL); /* key too short */
  assert_int_equal(join_token_hash(s1, key, 65, hk), -EINVAL);
  struct secbuf *wrong;
  assert_int_equal(secbuf_new(15, &wrong), 0);
  assert_int_equal(join_token_hash(wrong, NULL, 0, hk), -EINVAL);
  assert_int_equal(join_token_check_secret(s1, key, sizeof(key), NULL), -EINVAL);
  /* One changed bit in the stored hash. */
  h1[31] ^= 0x80;
  assert_int_equal(join_token_check_secret(s1, key, sizeof(key), h1), JT_E_SECRET);
  secbuf_free(wrong);
  secbuf_free(s1);
  secbuf_free(s2);
  secbuf_free(t1);
  secbuf_free(t2);
  free(der);
}

static void test_strerror_distinct(void **state) {
  for (int a = JT_E_EMPTY; a > JT_E_LAST; a--) {
    assert_true(strlen(join_token_strerror(a)) > 5);
    for (int b = a - 1; b > JT_E_LAST; b--)
      assert_string_not_equal(join_token_strerror(a), join_token_strerror(b));
  }
  assert_non_null(join_token_strerror(-ENOMEM));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_generate_format_and_round_trip),
      cmocka_unit_test(test_known_answers),
      cmocka_unit_test(test_malformed_tokens_refused_with_distinct_errors),
      cmocka_unit_test(test_ca_digest_mismatch_detected),
      cmocka_unit_test(test_secret_hash_compare),
      cmocka_unit_test(test_strerror_distinct),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
