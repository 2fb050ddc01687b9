/* image/scan_ignore: entries need an id, a real date and a reason; an expired
 * entry hides nothing; /PACKAGE limits an entry to one package. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "image/scan_ignore.h"

static void refused(const char *text, const char *needle) {
  struct scan_ignore ig = {0};
  struct img_err err = {0};
  int r = scan_ignore_parse(text, strlen(text), &ig, &err);
  if (r != -EINVAL || !strstr(err.msg, needle))
    fail_msg("'%s': %d '%s', want '%s'", text, r, err.msg, needle);
  assert_int_equal(ig.n, 0);
}

static void test_malformed_entries_are_refused_with_the_line(void **state) {
  refused("CVE-2024-1 2030-01-01\n", "line 1: an entry needs a reason");
  refused("# c\n\nCVE-2024-1 2030-01-01   \t\n", "line 3: an entry needs a reason");
  refused("CVE-2024-1 2030-02-30 why\n", "expected an expiry date");
  refused("CVE-2024-1 2030-1-01 why\n", "expected an expiry date");
  refused("CVE-2024-1 tomorrow why\n", "expected an expiry date");
  refused("CVE-2024-1\n", "expected an expiry date");
  refused("CVE 2024 2030-01-01 why\n", "expected an expiry date");
  refused("CVE;2024 2030-01-01 why\n", "invalid issue id");
  refused("CVE-2024-1/ 2030-01-01 why\n", "empty or long package");
  refused("CVE-2024-1/Bad_Pkg 2030-01-01 why\n", "invalid package name");
  refused("CVE-2024-1 2030-01-01 why\x1b[2J\n", "control byte");
}

static void test_entries_parse(void **state) {
  static const char text[] = "# accepted risks\n"
                             "CVE-2024-0001 2030-12-31 not reachable: we never parse X.509 here\r\n"
                             "  CVE-2024-0002/libssl3\t2020-01-01 old entry\n";
  struct scan_ignore ig;
  assert_int_equal(scan_ignore_parse(text, sizeof text - 1, &ig, NULL), 0);
  assert_int_equal(ig.n, 2);
  assert_string_equal(ig.entries[0].issue, "CVE-2024-0001");
  assert_string_equal(ig.entries[0].package, "");
  assert_string_equal(ig.entries[0].date, "2030-12-31");
  assert_string_equal(ig.entries[0].reason, "not reachable: we never parse X.509 here");
  assert_int_equal(ig.entries[0].line, 2);
  assert_string_equal(ig.entries[1].package, "libssl3");
  assert_int_equal(ig.entries[1].expires, 1577836800 + 86400); /* end of 2020-01-01 UTC */
  scan_ignore_clear(&ig);
  scan_ignore_clear(NULL);
}

static void test_expired_entries_stop_hiding(void **state) {
  struct dpkg_pkg a = {.name = "libssl3"}, b = {.name = "openssl"};
  struct scan_finding f[3] = {
      {.pkg = &a, .entry = {.issue = "CVE-2024-0002"}, .category = SCAN_FIXABLE},
      {.pkg = &b, .entry = {.issue = "CVE-2024-0002"}, .category = SCAN_FIXABLE},
      {.pkg = &a, .entry = {.issue = "CVE-2024-0003"}, .category = SCAN_NO_FIX},
  };
  static const char text[] = "CVE-2024-0002/libssl3 2020-01-01 until the rebuild\n"
                             "CVE-2024-0003 2020-01-02 accepted\n";
  struct scan_ignore ig;
  assert_int_equal(scan_ignore_parse(text, sizeof text - 1, &ig, NULL), 0);

  struct scan_finding copy[3];
  memcpy(copy, f, sizeof f);
  struct scan_result r = {.findings = copy, .n = 3};
  /* 2020-01-01 12:00 UTC: both valid; the first only for libssl3 */
  assert_int_equal(scan_ignore_apply(&ig, &r, 1577880000), 2);
  assert_int_equal(r.n, 1);
  assert_string_equal(r.findings[0].pkg->name, "openssl");
  assert_int_equal(r.count[SCAN_FIXABLE], 1);
  assert_int_equal(r.count[SCAN_NO_FIX], 0);
  assert_int_equal(ig.entries[0].hidden, 1);
  assert_false(ig.entries[0].expired);

  /* 2020-01-02 00:00 UTC: the first expired, the second still valid */
  memcpy(copy, f, sizeof f);
  r = (struct scan_result){.findings = copy, .n = 3};
  assert_int_equal(scan_ignore_apply(&ig, &r, 1577923200), 1);
  assert_int_equal(r.n, 2);
  assert_true(ig.entries[0].expired);
  assert_false(ig.entries[1].expired);
  assert_int_equal(r.count[SCAN_FIXABLE], 2);
  scan_ignore_clear(&ig);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_malformed_entries_are_refused_with_the_line),
      cmocka_unit_test(test_entries_parse),
      cmocka_unit_test(test_expired_entries_stop_hiding),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
