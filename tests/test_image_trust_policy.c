/* Unit tests of image/trust_policy.c: validation, rules, edits that keep
 * unknown keys, the environment only turning enforcement on, file checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "image/trust_policy.h"

static int parse(const char *s, struct trust_policy **p) {
  struct img_err err = {0};
  int r = trust_policy_parse(s, strlen(s), p, &err);
  if (r < 0)
    assert_true(err.msg[0] != '\0');
  return r;
}

static void test_invalid_policies_are_refused(void **st) {
  (void)st;
  struct trust_policy *p = NULL;
  assert_int_equal(parse("{}", &p), 0);
  trust_policy_free(p);
  assert_int_equal(parse("[]", &p), -EINVAL);
  assert_int_equal(parse("{\"enforce\":\"yes\"}", &p), -EINVAL);
  assert_int_equal(parse("{\"require\":\"PROD\"}", &p), -EINVAL);
  assert_int_equal(parse("{\"grace\":-1}", &p), -EINVAL);
  assert_int_equal(parse("{\"keys\":{\"aa\":\"AAAA\"}}", &p), -EINVAL);
  assert_int_equal(parse("{\"rules\":[{\"pattern\":\"*\",\"channel\":\"prod\",\"threshold\":0,\"keys\":[]}]}", &p), -EINVAL);
  assert_int_equal(parse("{\"rules\":[{\"pattern\":\"*\",\"channel\":\"prod\",\"threshold\":1}]}", &p), -EINVAL);
  assert_int_equal(parse("{\"rules\":[{\"pattern\":\"*\",\"channel\":\"prod\",\"threshold\":1,\"keys\":[\"x\"]}]}", &p), -EINVAL);
  assert_int_equal(parse("{\"revoked\":[1]}", &p), -EINVAL);
  /* other sections are not ours to judge */
  assert_int_equal(parse("{\"scan\":{\"anything\":[1,{\"x\":null}]}}", &p), 0);
  trust_policy_free(p);
}

static void key(uint8_t pk[32], char id[TRUST_KEYID_LEN + 1]) {
  uint8_t sk[64];
  crypto_sign_keypair(pk, sk);
  sodium_memzero(sk, sizeof sk);
  trust_keyid(pk, id);
}

static void test_rules_thresholds_and_untrust(void **st) {
  (void)st;
  struct trust_policy *p;
  struct img_err err = {0};
  uint8_t a[32], b[32], got[32];
  char ida[TRUST_KEYID_LEN + 1], idb[TRUST_KEYID_LEN + 1];
  key(a, ida), key(b, idb);
  assert_int_equal(parse("{\"scan\":{\"max\":\"high\"}}", &p), 0);
  assert_int_equal(trust_policy_trust(p, "*", "prod", a, ida, 0, &err), 0);
  assert_int_equal(trust_policy_trust(p, "app*", "prod", a, ida, 2, &err), 0);
  assert_int_equal(trust_policy_trust(p, "app*", "prod", b, idb, 0, &err), 0);
  assert_int_equal(trust_policy_trust(p, "*", "Prod", a, ida, 0, &err), -EINVAL);
  int t = 0;
  assert_true(trust_policy_rule(p, "app/web", "prod", &t));
  assert_int_equal(t, 2); /* the longest pattern decides */
  assert_true(trust_policy_rule(p, "db", "prod", &t));
  assert_int_equal(t, 1);
  assert_false(trust_policy_rule(p, "db", "dev", &t));
  assert_true(trust_policy_counts(p, "app", "prod", idb));
  assert_false(trust_policy_counts(p, "db", "prod", idb)); /* "*" does not list b */
  assert_false(trust_policy_counts(p, "app", "dev", ida));
  assert_true(trust_policy_key(p, ida, got));
  assert_memory_equal(got, a, 32);
  /* untrust: stops counting at once, everywhere, and for good */
  assert_int_equal(trust_policy_untrust(p, idb, &err), 0);
  assert_false(trust_policy_counts(p, "app", "prod", idb));
  assert_false(trust_policy_key(p, idb, got));
  assert_true(trust_policy_revoked(p, idb));
  assert_int_equal(trust_policy_trust(p, "app*", "prod", b, idb, 0, &err), -EINVAL);
  assert_int_equal(trust_policy_untrust(p, "zz", &err), -EINVAL);
  /* the unknown section is still there */
  json_object *scan;
  assert_true(json_object_object_get_ex(trust_policy_json(p), "scan", &scan));
  assert_string_equal(json_object_to_json_string_ext(scan, JSON_C_TO_STRING_PLAIN), "{\"max\":\"high\"}");
  trust_policy_free(p);
}

static void test_environment_only_turns_enforcement_on(void **st) {
  (void)st;
  struct trust_policy *p;
  struct img_err err = {0};
  assert_int_equal(parse("{}", &p), 0);
  assert_false(trust_policy_enforced(p, NULL));
  assert_true(trust_policy_enforced(p, "1"));
  assert_int_equal(trust_policy_set_enforce(p, true, &err), -EINVAL); /* no channel yet */
  assert_int_equal(trust_policy_require(p, "prod", &err), 0);
  assert_int_equal(trust_policy_set_enforce(p, true, &err), 0);
  assert_true(trust_policy_enforced(p, "0"));
  assert_true(trust_policy_enforced(p, ""));
  assert_true(trust_policy_enforced(p, NULL));
  trust_policy_free(p);
}

static void test_file_checks_save_and_reload(void **st) {
  (void)st;
  char dir[] = "/tmp/trust-policy-test.XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof path, "%s/sub/trust.json", dir);
  struct trust_policy *p, *q;
  struct img_err err = {0};
  assert_int_equal(trust_policy_load(path, &p, &err), 0); /* absent: empty */
  assert_false(trust_policy_exists(p));
  assert_false(trust_policy_enforced(p, NULL));
  assert_int_equal(trust_policy_require(p, "prod", &err), 0);
  assert_int_equal(trust_policy_save(p, &err), 0);
  struct stat s;
  assert_int_equal(stat(path, &s), 0);
  assert_int_equal(s.st_mode & 07777, 0644);
  assert_int_equal(trust_policy_load(path, &q, &err), 0);
  assert_string_equal(trust_policy_digest(p), trust_policy_digest(q));
  assert_string_equal(trust_policy_required(q), "prod");
  trust_policy_free(q);
  chmod(path, 0664);
  memset(&err, 0, sizeof err);
  assert_int_equal(trust_policy_load(path, &q, &err), -EPERM);
  assert_non_null(strstr(err.msg, "writable by group"));
  chmod(path, 0644);
  char sub[300];
  snprintf(sub, sizeof sub, "%s/sub", dir);
  chmod(sub, 0777);
  memset(&err, 0, sizeof err);
  assert_int_equal(trust_policy_load(path, &q, &err), -EPERM); /* a writable directory above */
  chmod(sub, 0755);
  FILE *f = fopen(path, "w");
  fputs("{\"enforce\":", f);
  fclose(f);
  memset(&err, 0, sizeof err);
  assert_int_equal(trust_policy_load(path, &q, &err), -EINVAL);
  unlink(path);
  rmdir(sub);
  rmdir(dir);
  trust_policy_free(p);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_invalid_policies_are_refused),
      cmocka_unit_test(test_rules_thresholds_and_untrust),
      cmocka_unit_test(test_environment_only_turns_enforcement_on),
      cmocka_unit_test(test_file_checks_save_and_reload),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
