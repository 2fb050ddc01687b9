/* image/dpkg_version: parsing and the comparison's classic tricky cases. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "image/dpkg_version.h"

static int cmp(const char *a, const char *b) {
  int c = 99;
  struct img_err err = {0};
  int r = dpkg_version_cmp_str(a, b, &c, &err);
  if (r < 0)
    fail_msg("%s vs %s: %s", a, b, err.msg);
  return c;
}

#define LT(a, b)                                                                               \
  do {                                                                                         \
    assert_int_equal(cmp(a, b), -1);                                                           \
    assert_int_equal(cmp(b, a), 1);                                                            \
  } while (0)
#define EQ(a, b)                                                                               \
  do {                                                                                         \
    assert_int_equal(cmp(a, b), 0);                                                            \
    assert_int_equal(cmp(b, a), 0);                                                            \
  } while (0)

static void test_tilde_sorts_before_everything(void **state) {
  LT("1.0~rc1", "1.0");
  LT("1.0~~", "1.0~");
  LT("1.0~~a", "1.0~");
  LT("1.0~", "1.0");
  LT("1.0~rc1-1", "1.0-1");
  LT("2.30-21~deb12u1", "2.30-21");
  LT("1.0-1~bpo12+1", "1.0-1");
  LT("1.0", "1.0+b1");
  LT("1.0-1", "1.0-1+b1");
}

static void test_letters_sort_before_non_letters(void **state) {
  LT("1.0a", "1.0+");
  LT("1.0a", "1.0.");
  LT("1.0A", "1.0a");
  LT("1.0", "1.0a");
  LT("1a", "1.");
}

static void test_digit_runs_compare_numerically(void **state) {
  LT("1.2", "1.10");
  LT("9", "10");
  EQ("1.01", "1.1");
  EQ("1.000", "1.0");
  LT("1.99999999999999999999999", "1.100000000000000000000000"); /* no overflow */
  LT("1.0", "1.0.0");
  LT("1.0", "1.0.1");
}

static void test_epochs_dominate(void **state) {
  LT("1.0", "1:0.1");
  LT("1:9.9", "2:0.1");
  EQ("0:1.0", "1.0");
  LT("2147483646:1", "2147483647:1");
}

static void test_revision_rules(void **state) {
  EQ("1.0", "1.0-0");
  LT("1.0-1", "1.0-2");
  LT("1.0-9", "1.0-10");
  LT("1.0-1", "1.0.1-1");
  LT("1.0-1-1", "1.0-1-2"); /* upstream "1.0-1", revisions 1 and 2 */
  LT("1.2-3", "1.2.0-1");
  EQ("1.0-1", "1.0-01");
}

static void test_real_debian_versions(void **state) {
  LT("3.0.11-1~deb12u1", "3.0.11-1~deb12u2");
  LT("3.0.9-1", "3.0.11-1~deb12u2");
  LT("1:2.38.1-5+deb12u1", "1:2.38.1-5+deb12u2");
  LT("2.36.1-8+deb12u1", "1:2.0");
  LT("7.88.1-10+deb12u5", "7.88.1-10+deb12u12");
  EQ("1:9.18.28-1~deb12u2", "01:9.18.28-1~deb12u2");
}

static void expect_invalid(const char *s, const char *needle) {
  struct dpkg_version v;
  memset(&v, 0x5a, sizeof v);
  struct img_err err = {0};
  int r = dpkg_version_parse_str(s, &v, &err);
  assert_true(r == -EINVAL || r == -E2BIG);
  if (!strstr(err.msg, needle))
    fail_msg("'%s': message '%s' lacks '%s'", s, err.msg, needle);
  assert_int_equal(((unsigned char *)&v)[0], 0x5a); /* untouched */
}

static void test_malformed_versions_are_refused_with_a_reason(void **state) {
  expect_invalid("", "empty");
  expect_invalid(":1.0", "epoch is empty");
  expect_invalid("a:1.0", "epoch is not a number");
  expect_invalid("-1:1.0", "epoch is not a number");
  expect_invalid("99999999999:1.0", "epoch is too big");
  expect_invalid("1:", "upstream version is empty");
  expect_invalid("-1", "upstream version is empty");
  expect_invalid("1.0-", "revision is empty");
  expect_invalid("a1.0", "does not start with a digit");
  expect_invalid("1.0 1", "invalid character 0x20 in upstream");
  expect_invalid("1.0_1", "invalid character '_'");
  expect_invalid("1:1.0-1:2", "invalid character ':' in revision");
  expect_invalid("1.0-a_b", "in revision");
  expect_invalid("1.0\n", "0x0a");
  char longv[DPKG_VERSION_MAX + 2];
  memset(longv, '1', sizeof longv - 1);
  longv[sizeof longv - 1] = '\0';
  expect_invalid(longv, "longer than");
  longv[DPKG_VERSION_MAX] = '\0';
  struct dpkg_version v;
  assert_int_equal(dpkg_version_parse_str(longv, &v, NULL), 0);
  assert_int_equal(dpkg_version_parse("1.0\0x", 5, &v, NULL), -EINVAL);
  assert_int_equal(dpkg_version_parse_str(NULL, &v, NULL), -EINVAL);
}

static void test_parse_splits_epoch_upstream_revision(void **state) {
  struct dpkg_version v;
  assert_int_equal(dpkg_version_parse_str("3:1.2-3-4+b1", &v, NULL), 0);
  assert_int_equal(v.epoch, 3);
  assert_string_equal(v.upstream, "1.2-3");
  assert_string_equal(v.revision, "4+b1");
  assert_int_equal(dpkg_version_parse_str("1:2:3", &v, NULL), 0);
  assert_int_equal(v.epoch, 1);
  assert_string_equal(v.upstream, "2:3");
  assert_string_equal(v.revision, "");
  char buf[2 * DPKG_VERSION_MAX];
  assert_int_equal(dpkg_version_parse_str("0:1:2-1", &v, NULL), 0);
  dpkg_version_format(&v, buf, sizeof buf);
  assert_string_equal(buf, "0:1:2-1"); /* the epoch stays: "1:2-1" would differ */
  assert_int_equal(dpkg_version_parse_str("0:1.0", &v, NULL), 0);
  dpkg_version_format(&v, buf, sizeof buf);
  assert_string_equal(buf, "1.0");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tilde_sorts_before_everything),
      cmocka_unit_test(test_letters_sort_before_non_letters),
      cmocka_unit_test(test_digit_runs_compare_numerically),
      cmocka_unit_test(test_epochs_dominate),
      cmocka_unit_test(test_revision_rules),
      cmocka_unit_test(test_real_debian_versions),
      cmocka_unit_test(test_malformed_versions_are_refused_with_a_reason),
      cmocka_unit_test(test_parse_splits_epoch_upstream_revision),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
