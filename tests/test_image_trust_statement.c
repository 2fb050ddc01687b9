/* Unit tests of image/trust_statement.c: canonical encoding, strict decoding. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "image/trust_statement.h"

#define HEX "1111111111111111111111111111111111111111111111111111111111111111"
#define KID "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static struct trust_statement good(void) {
  struct trust_statement s = {.version = 3, .issued = 1700000000, .expires = 1707776000};
  strcpy(s.digest, HEX);
  strcpy(s.name, "team/app");
  strcpy(s.channel, "prod");
  strcpy(s.keyid, KID);
  return s;
}

static void test_encode_is_canonical_and_round_trips(void **st) {
  (void)st;
  struct trust_statement s = good(), back;
  char *t;
  size_t n;
  struct img_err err = {0};
  assert_int_equal(trust_statement_encode(&s, &t, &n, &err), 0);
  assert_string_equal(t, "{\"_type\":\"" TRUST_STATEMENT_TYPE "\",\"digest\":\"sha256:" HEX "\","
                         "\"name\":\"team/app\",\"version\":3,\"channel\":\"prod\",\"issued\":1700000000,"
                         "\"expires\":1707776000,\"keyid\":\"" KID "\"}");
  assert_int_equal(trust_statement_decode((const uint8_t *)t, n, &back, &err), 0);
  assert_memory_equal(&s, &back, sizeof s);
  free(t);
}

static void test_encode_refuses_bad_fields(void **st) {
  (void)st;
  struct img_err err = {0};
  char *t;
  size_t n;
  struct trust_statement s = good();
  s.version = 0;
  assert_int_equal(trust_statement_encode(&s, &t, &n, &err), -EINVAL);
  s = good(), strcpy(s.name, "app:1");
  assert_int_equal(trust_statement_encode(&s, &t, &n, &err), -EINVAL);
  s = good(), strcpy(s.channel, "Prod");
  assert_int_equal(trust_statement_encode(&s, &t, &n, &err), -EINVAL);
  s = good(), s.expires = s.issued;
  assert_int_equal(trust_statement_encode(&s, &t, &n, &err), -EINVAL);
  s = good(), s.expires = TRUST_MAX_TIME + 1; /* sums with grace periods must not overflow */
  assert_int_equal(trust_statement_encode(&s, &t, &n, &err), -EINVAL);
  s = good(), s.issued = -1;
  assert_int_equal(trust_statement_encode(&s, &t, &n, &err), -EINVAL);
  s = good(), s.digest[0] = 'X';
  assert_int_equal(trust_statement_encode(&s, &t, &n, &err), -EINVAL);
  assert_true(err.msg[0] != '\0');
}

static int decode(const char *j) {
  struct trust_statement s;
  struct img_err err = {0};
  int r = trust_statement_decode((const uint8_t *)j, strlen(j), &s, &err);
  if (r < 0)
    assert_true(err.msg[0] != '\0');
  return r;
}

#define T "\"_type\":\"" TRUST_STATEMENT_TYPE "\""
#define REST "\"name\":\"app\",\"channel\":\"prod\",\"issued\":1,\"expires\":2,\"keyid\":\"" KID "\""

static void test_decode_is_strict(void **st) {
  (void)st;
  assert_int_equal(decode("{" T ",\"digest\":\"sha256:" HEX "\",\"version\":1," REST "}"), 0);
  assert_int_equal(decode("{" T ",\"digest\":\"sha256:" HEX "\",\"version\":1," REST ",\"extra\":1}"), -EINVAL);
  assert_int_equal(decode("{\"_type\":\"other\",\"digest\":\"sha256:" HEX "\",\"version\":1," REST "}"), -EINVAL);
  assert_int_equal(decode("{" T ",\"digest\":\"sha512:" HEX "\",\"version\":1," REST "}"), -EINVAL);
  assert_int_equal(decode("{" T ",\"digest\":\"sha256:" HEX "\",\"version\":\"1\"," REST "}"), -EINVAL);
  assert_int_equal(decode("{" T ",\"digest\":\"sha256:" HEX "\",\"version\":-1," REST "}"), -EINVAL);
  assert_int_equal(decode("{" T ",\"digest\":\"sha256:" HEX "\",\"version\":9007199254740993," REST "}"), -EINVAL);
  assert_int_equal(decode("{" T ",\"digest\":\"sha256:" HEX "\",\"version\":1.5," REST "}"), -EINVAL);
  assert_int_equal(decode("{" T ",\"version\":1," REST "}"), -EINVAL);
  assert_int_equal(decode("{" T ",\"digest\":\"sha256:" HEX "\",\"version\":1,\"name\":\"a\\u0000b\","
                          "\"channel\":\"prod\",\"issued\":1,\"expires\":2,\"keyid\":\"" KID "\"}"), -EINVAL);
  assert_int_equal(decode("not json"), -EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_encode_is_canonical_and_round_trips),
      cmocka_unit_test(test_encode_refuses_bad_fields),
      cmocka_unit_test(test_decode_is_strict),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
