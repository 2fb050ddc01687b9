/* Unit tests of image/trust_check.c and trust_store.c on a real image store in
 * a temporary directory, with real Ed25519 signatures: which signatures count,
 * when a claim expires under a threshold, which version decides, verdicts
 * recomputed when the policy or the signatures change, marks. */
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

#include "base/secbuf.h"
#include "image/trust_check.h"
#include "image/trust_store.h"

#define HEX "7777777777777777777777777777777777777777777777777777777777777777"
#define NOW ((int64_t)1800000000)

struct key {
  uint8_t pk[32];
  struct secbuf *sk;
  char id[TRUST_KEYID_LEN + 1];
};

struct fixture {
  char dir[64];
  struct img_store *s;
  struct key a, b, c;
};

static void mkkey(struct key *k) {
  assert_int_equal(secbuf_new(64, &k->sk), 0);
  crypto_sign_keypair(k->pk, secbuf_data(k->sk));
  trust_keyid(k->pk, k->id);
}

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/trust-check-test.XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  char p[128];
  snprintf(p, sizeof p, "%s/store", f->dir);
  struct img_err err = {0};
  assert_int_equal(img_store_open(p, true, &f->s, &err), 0);
  snprintf(p, sizeof p, "%s/store/images/" HEX, f->dir);
  assert_int_equal(mkdir(p, 0700), 0);
  mkkey(&f->a), mkkey(&f->b), mkkey(&f->c);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  img_store_free(f->s);
  secbuf_free(f->a.sk), secbuf_free(f->b.sk), secbuf_free(f->c.sk);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  assert_int_equal(system(cmd), 0);
  free(f);
  return 0;
}

static void sign(struct fixture *f, const struct key *k, const char *name, uint64_t version,
                 const char *channel, int64_t expires) {
  struct trust_statement st = {.version = version, .issued = NOW - 100, .expires = expires};
  strcpy(st.digest, HEX), strcpy(st.name, name), strcpy(st.channel, channel), strcpy(st.keyid, k->id);
  static struct trust_dsse d;
  memset(&d, 0, sizeof d);
  char *payload, *text;
  size_t n;
  struct img_err err = {0};
  assert_int_equal(trust_statement_encode(&st, &payload, &n, &err), 0);
  strcpy(d.payload_type, TRUST_PAYLOAD_TYPE);
  memcpy(d.payload, payload, n);
  d.payload_len = n;
  assert_int_equal(trust_dsse_sign(&d, k->id, k->sk), 0);
  assert_int_equal(trust_dsse_encode(&d, &text), 0);
  assert_int_equal(trust_store_add(f->s, HEX, &st, text, &err), 0);
  free(payload), free(text);
}

/* A policy: enforce, require prod, grace, rule app* prod threshold over keys. */
static struct trust_policy *policy(struct fixture *f, int threshold, int64_t grace, bool with_c) {
  struct trust_policy *p;
  struct img_err err = {0};
  assert_int_equal(trust_policy_parse("{}", 2, &p, &err), 0);
  assert_int_equal(trust_policy_require(p, "prod", &err), 0);
  assert_int_equal(trust_policy_set_enforce(p, true, &err), 0);
  assert_int_equal(trust_policy_set_seconds(p, "grace", grace, &err), 0);
  assert_int_equal(trust_policy_trust(p, "app*", "prod", f->a.pk, f->a.id, threshold, &err), 0);
  assert_int_equal(trust_policy_trust(p, "app*", "prod", f->b.pk, f->b.id, 0, &err), 0);
  if (with_c)
    assert_int_equal(trust_policy_trust(p, "app*", "prod", f->c.pk, f->c.id, 0, &err), 0);
  /* the digest of a parsed policy is that of its text: make each one distinct */
  char path[128];
  snprintf(path, sizeof path, "%s/trust-%d-%lld-%d.json", f->dir, threshold, (long long)grace, with_c);
  struct trust_policy *q;
  json_object *j = trust_policy_json(p);
  const char *t = json_object_to_json_string(j);
  FILE *fp = fopen(path, "w");
  fputs(t, fp);
  fclose(fp);
  assert_int_equal(trust_policy_load(path, &q, &err), 0);
  trust_policy_free(p);
  return q;
}

static struct trust_decision check(struct fixture *f, struct trust_policy *p, const char *name, int64_t now) {
  struct trust_decision d;
  struct img_err err = {0};
  assert_int_equal(trust_check_image(f->s, p, NULL, HEX, name, now, false, &d, &err), 0);
  return d;
}

static void test_claim_holds_until_the_threshold_th_latest_expiry(void **state) {
  struct fixture *f = *state;
  sign(f, &f->a, "app", 1, "prod", NOW + 1000);
  sign(f, &f->b, "app", 1, "prod", NOW + 5000);
  sign(f, &f->c, "app", 1, "prod", NOW + 9000);
  struct trust_policy *p = policy(f, 2, 0, true);
  struct trust_decision d = check(f, p, "app", NOW);
  assert_int_equal(d.reason, TRUST_ALLOWED);
  assert_int_equal(d.expires, NOW + 5000); /* two of three still valid until then */
  d = check(f, p, "app", NOW + 6000);
  assert_int_equal(d.reason, TRUST_EXPIRED);
  assert_false(d.allowed);
  trust_policy_free(p);
  p = policy(f, 2, 2000, true); /* within the grace period */
  d = check(f, p, "app", NOW + 6000);
  assert_int_equal(d.reason, TRUST_GRACE);
  assert_true(d.allowed);
  assert_non_null(strstr(d.warning, "grace"));
  d = check(f, p, "app", NOW + 7001);
  assert_int_equal(d.reason, TRUST_EXPIRED);
  trust_policy_free(p);
}

static void test_untrusted_signer_does_not_count_toward_threshold(void **state) {
  struct fixture *f = *state;
  sign(f, &f->a, "app", 1, "prod", NOW + 1000);
  sign(f, &f->c, "app", 1, "prod", NOW + 1000); /* c is not in this policy */
  struct trust_policy *p = policy(f, 2, 0, false);
  struct trust_decision d = check(f, p, "app", NOW);
  assert_int_equal(d.reason, TRUST_THRESHOLD);
  assert_non_null(strstr(d.message, "1 trusted signature"));
  trust_policy_free(p);
  p = policy(f, 2, 0, true); /* a new policy: recomputed, c counts */
  d = check(f, p, "app", NOW);
  assert_int_equal(d.reason, TRUST_ALLOWED);
  trust_policy_free(p);
}

static void test_new_signature_is_seen_under_the_same_policy(void **state) {
  struct fixture *f = *state;
  sign(f, &f->a, "app", 1, "prod", NOW + 1000);
  struct trust_policy *p = policy(f, 2, 0, false);
  assert_int_equal(check(f, p, "app", NOW).reason, TRUST_THRESHOLD); /* verdict stored */
  sign(f, &f->b, "app", 1, "prod", NOW + 1000);                    /* drops it */
  assert_int_equal(check(f, p, "app", NOW).reason, TRUST_ALLOWED);
  trust_policy_free(p);
}

static void test_best_version_decides_and_marks_guard_rollback(void **state) {
  struct fixture *f = *state;
  sign(f, &f->a, "app", 1, "prod", NOW - 10); /* expired */
  sign(f, &f->a, "app", 2, "prod", NOW + 1000);
  sign(f, &f->a, "other", 1, "dev", NOW + 1000);
  struct trust_policy *p = policy(f, 1, 0, false);
  struct trust_decision d = check(f, p, "app", NOW);
  assert_int_equal(d.reason, TRUST_ALLOWED);
  assert_int_equal(d.version, 2);
  d = check(f, p, "other", NOW);
  assert_int_equal(d.reason, TRUST_WRONG_CHANNEL);
  d = check(f, p, "nobody", NOW);
  assert_int_equal(d.reason, TRUST_UNSIGNED);
  uint64_t run = 0;
  assert_int_equal(trust_mark_get(f->s, "run", "app", "prod", &run), 0);
  assert_int_equal(run, 2);
  assert_int_equal(trust_mark_raise(f->s, "run", "app", "prod", 3), 0);
  assert_int_equal(trust_mark_raise(f->s, "run", "app", "prod", 1), 0); /* never lowered */
  d = check(f, p, "app", NOW);
  assert_int_equal(d.reason, TRUST_ROLLBACK);
  trust_policy_free(p);
}

static void test_enforcement_off_and_no_channel(void **state) {
  struct fixture *f = *state;
  struct trust_policy *p;
  struct img_err err = {0};
  assert_int_equal(trust_policy_parse("{}", 2, &p, &err), 0);
  struct trust_decision d;
  assert_int_equal(trust_check_image(f->s, p, NULL, HEX, "app", NOW, false, &d, &err), 0);
  assert_int_equal(d.reason, TRUST_OFF);
  assert_true(d.allowed);
  assert_int_equal(trust_check_image(f->s, p, "0", HEX, "app", NOW, false, &d, &err), 0);
  assert_true(d.allowed);
  assert_int_equal(trust_check_image(f->s, p, "1", HEX, "app", NOW, false, &d, &err), 0);
  assert_int_equal(d.reason, TRUST_NO_CHANNEL);
  assert_false(d.allowed);
  assert_int_equal(trust_check_rootfs(p, "1", NULL, "/x", &d), 0);
  assert_int_equal(d.reason, TRUST_ROOTFS);
  assert_false(d.allowed);
  trust_policy_free(p);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_claim_holds_until_the_threshold_th_latest_expiry, setup, teardown),
      cmocka_unit_test_setup_teardown(test_untrusted_signer_does_not_count_toward_threshold, setup, teardown),
      cmocka_unit_test_setup_teardown(test_new_signature_is_seen_under_the_same_policy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_best_version_decides_and_marks_guard_rollback, setup, teardown),
      cmocka_unit_test_setup_teardown(test_enforcement_off_and_no_channel, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
