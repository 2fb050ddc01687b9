/* Unit tests of image/trust_dsse.c: PAE as the DSSE spec defines it, envelope
 * encoding and strict decoding, Ed25519 signing and verification over the PAE. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "base/secbuf.h"
#include "image/trust_dsse.h"

static void test_pae_matches_the_dsse_spec_example(void **st) {
  (void)st;
  uint8_t *p;
  size_t n;
  assert_int_equal(trust_pae("http://example.com/HelloWorld", (const uint8_t *)"hello world", 11, &p, &n), 0);
  const char *want = "DSSEv1 29 http://example.com/HelloWorld 11 hello world";
  assert_int_equal(n, strlen(want));
  assert_memory_equal(p, want, n);
  free(p);
  assert_int_equal(trust_pae("t", (const uint8_t *)"", 0, &p, &n), 0);
  assert_int_equal(n, strlen("DSSEv1 1 t 0 "));
  assert_memory_equal(p, "DSSEv1 1 t 0 ", n);
  free(p);
}

struct keypair {
  uint8_t pk[32];
  struct secbuf *sk;
  char keyid[TRUST_KEYID_LEN + 1];
};

static void keypair(struct keypair *k) {
  assert_int_equal(secbuf_new(64, &k->sk), 0);
  crypto_sign_keypair(k->pk, secbuf_data(k->sk));
  trust_keyid(k->pk, k->keyid);
}

static void envelope(struct trust_dsse *d, const char *payload) {
  memset(d, 0, sizeof *d);
  strcpy(d->payload_type, TRUST_PAYLOAD_TYPE);
  d->payload_len = strlen(payload);
  memcpy(d->payload, payload, d->payload_len);
}

static void test_sign_encode_decode_verify_round_trip(void **st) {
  (void)st;
  struct keypair a, b;
  keypair(&a), keypair(&b);
  struct trust_dsse d, back;
  envelope(&d, "{\"x\":1}");
  assert_int_equal(trust_dsse_sign(&d, a.keyid, a.sk), 0);
  assert_int_equal(trust_dsse_sign(&d, b.keyid, b.sk), 0);
  char *text;
  assert_int_equal(trust_dsse_encode(&d, &text), 0);
  struct img_err err = {0};
  assert_int_equal(trust_dsse_decode(text, strlen(text), &back, &err), 0);
  assert_int_equal(back.n_sigs, 2);
  assert_string_equal(back.payload_type, TRUST_PAYLOAD_TYPE);
  assert_memory_equal(back.payload, "{\"x\":1}", 7);
  assert_int_equal(trust_dsse_verify(&back, 0, a.pk), 0);
  assert_int_equal(trust_dsse_verify(&back, 1, b.pk), 0);
  assert_int_equal(trust_dsse_verify(&back, 0, b.pk), -EBADMSG); /* another key */
  assert_int_equal(trust_dsse_verify(&back, 2, a.pk), -EBADMSG); /* no such signature */
  free(text);
  secbuf_free(a.sk), secbuf_free(b.sk);
}

static void test_changed_payload_or_type_does_not_verify(void **st) {
  (void)st;
  struct keypair a;
  keypair(&a);
  struct trust_dsse d;
  envelope(&d, "{\"version\":2}");
  assert_int_equal(trust_dsse_sign(&d, a.keyid, a.sk), 0);
  d.payload[11] = '1';
  assert_int_equal(trust_dsse_verify(&d, 0, a.pk), -EBADMSG);
  d.payload[11] = '2';
  assert_int_equal(trust_dsse_verify(&d, 0, a.pk), 0);
  strcpy(d.payload_type, "application/other");
  assert_int_equal(trust_dsse_verify(&d, 0, a.pk), -EBADMSG);
  secbuf_free(a.sk);
}

static void test_sign_refuses_a_short_key_and_a_full_envelope(void **st) {
  (void)st;
  struct keypair a;
  keypair(&a);
  struct secbuf *shortk;
  assert_int_equal(secbuf_new(32, &shortk), 0);
  struct trust_dsse d;
  envelope(&d, "x");
  assert_int_equal(trust_dsse_sign(&d, a.keyid, shortk), -EINVAL);
  assert_int_equal(trust_dsse_sign(&d, "not-a-keyid", a.sk), -EINVAL);
  for (int i = 0; i < TRUST_DSSE_MAX_SIGS; i++)
    assert_int_equal(trust_dsse_sign(&d, a.keyid, a.sk), 0);
  assert_int_equal(trust_dsse_sign(&d, a.keyid, a.sk), -ENOSPC);
  secbuf_free(shortk), secbuf_free(a.sk);
}

static int decode(const char *s) {
  struct trust_dsse d;
  struct img_err err = {0};
  int r = trust_dsse_decode(s, strlen(s), &d, &err);
  if (r < 0)
    assert_true(err.msg[0] != '\0'); /* every refusal says why */
  return r;
}

#define KID "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SIG "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="

static void test_decode_refuses_malformed_envelopes(void **st) {
  (void)st;
  assert_int_equal(decode("{\"payloadType\":\"t\",\"payload\":\"eA==\",\"signatures\":[{\"keyid\":\"" KID "\",\"sig\":\"" SIG "\"}]}"), 0);
  assert_int_equal(decode(""), -EINVAL);
  assert_int_equal(decode("[]"), -EINVAL);
  assert_int_equal(decode("{\"payloadType\":\"t\",\"payload\":\"eA==\",\"signatures\":[{\"keyid\":\"" KID "\",\"sig\":\"" SIG "\"}]} x"), -EINVAL);
  /* unknown field, missing field, wrong types */
  assert_int_equal(decode("{\"payloadType\":\"t\",\"payload\":\"eA==\",\"signatures\":[{\"keyid\":\"" KID "\",\"sig\":\"" SIG "\"}],\"x\":1}"), -EINVAL);
  assert_int_equal(decode("{\"payload\":\"eA==\",\"signatures\":[{\"keyid\":\"" KID "\",\"sig\":\"" SIG "\"}]}"), -EINVAL);
  assert_int_equal(decode("{\"payloadType\":1,\"payload\":\"eA==\",\"signatures\":[{\"keyid\":\"" KID "\",\"sig\":\"" SIG "\"}]}"), -EINVAL);
  /* no signatures, bad base64, empty payload, short signature, bad key id */
  assert_int_equal(decode("{\"payloadType\":\"t\",\"payload\":\"eA==\",\"signatures\":[]}"), -EINVAL);
  assert_int_equal(decode("{\"payloadType\":\"t\",\"payload\":\"e!==\",\"signatures\":[{\"keyid\":\"" KID "\",\"sig\":\"" SIG "\"}]}"), -EINVAL);
  assert_int_equal(decode("{\"payloadType\":\"t\",\"payload\":\"\",\"signatures\":[{\"keyid\":\"" KID "\",\"sig\":\"" SIG "\"}]}"), -EINVAL);
  assert_int_equal(decode("{\"payloadType\":\"t\",\"payload\":\"eA==\",\"signatures\":[{\"keyid\":\"" KID "\",\"sig\":\"AAAA\"}]}"), -EINVAL);
  assert_int_equal(decode("{\"payloadType\":\"t\",\"payload\":\"eA==\",\"signatures\":[{\"keyid\":\"AB\",\"sig\":\"" SIG "\"}]}"), -EINVAL);
  assert_int_equal(decode("{\"payloadType\":\"\",\"payload\":\"eA==\",\"signatures\":[{\"keyid\":\"" KID "\",\"sig\":\"" SIG "\"}]}"), -EINVAL);
  assert_int_equal(decode("{\"payloadType\":\"t\",\"payload\":\"eA==\\u0000eA==\",\"signatures\":[{\"keyid\":\"" KID "\",\"sig\":\"" SIG "\"}]}"), -EINVAL);
  assert_int_equal(decode("{\"payloadType\":\"t\\u0000x\",\"payload\":\"eA==\",\"signatures\":[{\"keyid\":\"" KID "\",\"sig\":\"" SIG "\"}]}"), -EINVAL);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pae_matches_the_dsse_spec_example),
      cmocka_unit_test(test_sign_encode_decode_verify_round_trip),
      cmocka_unit_test(test_changed_payload_or_type_does_not_verify),
      cmocka_unit_test(test_sign_refuses_a_short_key_and_a_full_envelope),
      cmocka_unit_test(test_decode_refuses_malformed_envelopes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
