/* `secret` command-line value parsing: RFC 3339 times, durations, --since,
 * modes, uids, audit heads and labels; accepted and refused inputs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli.h"

#define S 1000000000ull

static uint64_t t(const char *s) {
  uint64_t v = 0;
  assert_int_equal(cli_parse_rfc3339(s, &v), 0);
  return v;
}

static void test_rfc3339_utc_and_offsets(void **state) {
  assert_int_equal(t("1970-01-01T00:00:00Z"), 0);
  assert_int_equal(t("1970-01-02T00:00:00Z"), 86400 * S);
  /* 2026-11-29T01:00:00Z */
  assert_int_equal(t("2026-11-29T01:00:00Z"), 1795914000ull * S);
  assert_int_equal(t("2026-11-29T02:00:00+01:00"), 1795914000ull * S);
  assert_int_equal(t("2026-11-28T20:30:00-04:30"), 1795914000ull * S);
  assert_int_equal(t("2026-11-29t01:00:00z"), 1795914000ull * S);
  assert_int_equal(t("2026-11-29 01:00:00Z"), 1795914000ull * S);
}

static void test_rfc3339_fractions_and_dates(void **state) {
  assert_int_equal(t("1970-01-01T00:00:01.5Z"), S + S / 2);
  assert_int_equal(t("1970-01-01T00:00:00.000000004Z"), 4);
  assert_int_equal(t("1970-01-01T00:00:00.0000000049Z"), 4); /* beyond ns: dropped */
  assert_int_equal(t("1970-01-02"), 86400 * S);
  assert_int_equal(t("2024-02-29T00:00:00Z") - t("2024-02-28T00:00:00Z"), 86400 * S);
}

static void test_rfc3339_refuses_malformed(void **state) {
  static const char *bad[] = {
      "", "2026", "2026-11-29T", "2026-11-29T01:00", "2026-11-29T01:00:00",  /* no zone */
      "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-02-29T00:00:00Z", /* not leap */
      "2026-04-31", "2026-11-29T24:00:00Z", "2026-11-29T01:60:00Z", "2026-11-29T01:00:61Z",
      "2026-11-29T01:00:00+1:00", "2026-11-29T01:00:00+01:60", "2026-11-29T01:00:00.Z",
      "2026-11-29T01:00:00Zjunk", "1969-12-31T23:59:59Z", "26-11-29", "2026/11/29",
      "１９７０-01-01", "1h", "now"};
  uint64_t v = 42;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (cli_parse_rfc3339(bad[i], &v) != -EINVAL)
      fail_msg("accepted '%s'", bad[i]);
  }
  assert_int_equal(v, 42); /* untouched on failure */
  assert_int_equal(cli_parse_rfc3339(NULL, &v), -EINVAL);
}

static void test_durations(void **state) {
  uint64_t v;
  assert_int_equal(cli_parse_duration("90s", &v), 0);
  assert_int_equal(v, 90 * S);
  assert_int_equal(cli_parse_duration("15m", &v), 0);
  assert_int_equal(v, 900 * S);
  assert_int_equal(cli_parse_duration("1h", &v), 0);
  assert_int_equal(v, 3600 * S);
  assert_int_equal(cli_parse_duration("2d", &v), 0);
  assert_int_equal(v, 2 * 86400 * S);
  assert_int_equal(cli_parse_duration("1w", &v), 0);
  assert_int_equal(v, 7 * 86400 * S);
  assert_int_equal(cli_parse_duration("1h30m", &v), 0);
  assert_int_equal(v, 5400 * S);
  assert_int_equal(cli_parse_duration("0s", &v), 0);
  assert_int_equal(v, 0);
}

static void test_durations_refuse_malformed_and_overflow(void **state) {
  static const char *bad[] = {"", "1", "h", "1x", "-1h", "1.5h", "1h ", " 1h", "1H", "1hm"};
  uint64_t v = 7;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (cli_parse_duration(bad[i], &v) != -EINVAL)
      fail_msg("accepted '%s'", bad[i]);
  assert_int_equal(v, 7);
  assert_int_equal(cli_parse_duration("99999999999999999999s", &v), -ERANGE);
  assert_int_equal(cli_parse_duration("999999999999d", &v), -ERANGE);
  assert_int_equal(cli_parse_duration("18446744073s18446744073s", &v), -ERANGE);
}

static void test_since_is_time_or_duration_ago(void **state) {
  uint64_t now = 1795914000ull * S, v;
  assert_int_equal(cli_parse_since("1h", now, &v), 0);
  assert_int_equal(v, now - 3600 * S);
  assert_int_equal(cli_parse_since("2026-11-29T00:00:00Z", now, &v), 0);
  assert_int_equal(v, now - 3600 * S);
  assert_int_equal(cli_parse_since("10000w", now, &v), 0); /* before 1970: clamped */
  assert_int_equal(v, 0);
  assert_int_equal(cli_parse_since("yesterday", now, &v), -EINVAL);
}

static void test_mode_is_octal_up_to_07777(void **state) {
  uint32_t m;
  assert_int_equal(cli_parse_mode("0400", &m), 0);
  assert_int_equal(m, 0400);
  assert_int_equal(cli_parse_mode("440", &m), 0);
  assert_int_equal(m, 0440);
  assert_int_equal(cli_parse_mode("0", &m), 0);
  assert_int_equal(m, 0);
  assert_int_equal(cli_parse_mode("4755", &m), 0); /* the daemon refuses setuid bits */
  assert_int_equal(m, 04755);
  assert_int_equal(cli_parse_mode("0800", &m), -EINVAL);
  assert_int_equal(cli_parse_mode("17777", &m), -EINVAL);
  assert_int_equal(cli_parse_mode("", &m), -EINVAL);
  assert_int_equal(cli_parse_mode("0x1ff", &m), -EINVAL);
  assert_int_equal(cli_parse_mode("-1", &m), -EINVAL);
}

static void test_u32(void **state) {
  uint32_t u;
  assert_int_equal(cli_parse_u32("0", &u), 0);
  assert_int_equal(u, 0);
  assert_int_equal(cli_parse_u32("4294967295", &u), 0);
  assert_int_equal(u, UINT32_MAX);
  assert_int_equal(cli_parse_u32("4294967296", &u), -ERANGE);
  assert_int_equal(cli_parse_u32("-1", &u), -EINVAL);
  assert_int_equal(cli_parse_u32("1e3", &u), -EINVAL);
  assert_int_equal(cli_parse_u32("", &u), -EINVAL);
}

static void test_head(void **state) {
  char h[65], in[100];
  uint64_t seq;
  memset(in, 0, sizeof(in));
  strcpy(in, "42:");
  memset(in + 3, 'A', 64);
  assert_int_equal(cli_parse_head(in, &seq, h), 0);
  assert_int_equal(seq, 42);
  assert_int_equal(strlen(h), 64);
  assert_int_equal(h[0], 'a'); /* lower-cased */
  in[3 + 63] = 0;               /* 63 digits */
  assert_int_equal(cli_parse_head(in, &seq, h), -EINVAL);
  in[3 + 63] = 'g';
  assert_int_equal(cli_parse_head(in, &seq, h), -EINVAL);
  in[3 + 63] = 'a';
  in[0] = '0', in[1] = ':', memmove(in + 2, in + 3, 65);
  assert_int_equal(cli_parse_head(in, &seq, h), -EINVAL); /* seq 0 */
  assert_int_equal(cli_parse_head("12", &seq, h), -EINVAL);
  assert_int_equal(cli_parse_head(":abc", &seq, h), -EINVAL);
}

static void test_label(void **state) {
  struct cli_label l;
  assert_int_equal(cli_parse_label("env=prod", &l), 0);
  assert_int_equal(l.key_len, 3);
  assert_memory_equal(l.key, "env", 3);
  assert_string_equal(l.value, "prod");
  assert_int_equal(cli_parse_label("k=", &l), 0);
  assert_string_equal(l.value, "");
  assert_int_equal(cli_parse_label("k=a=b", &l), 0);
  assert_string_equal(l.value, "a=b");
  assert_int_equal(cli_parse_label("=v", &l), -EINVAL);
  assert_int_equal(cli_parse_label("novalue", &l), -EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc3339_utc_and_offsets),
      cmocka_unit_test(test_rfc3339_fractions_and_dates),
      cmocka_unit_test(test_rfc3339_refuses_malformed),
      cmocka_unit_test(test_durations),
      cmocka_unit_test(test_durations_refuse_malformed_and_overflow),
      cmocka_unit_test(test_since_is_time_or_duration_ago),
      cmocka_unit_test(test_mode_is_octal_up_to_07777),
      cmocka_unit_test(test_u32),
      cmocka_unit_test(test_head),
      cmocka_unit_test(test_label),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
