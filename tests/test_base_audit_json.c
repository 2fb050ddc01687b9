#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/audit_json.h"

static void test_render_has_fixed_field_order(void **state) {
  char buf[512];
  struct audit_fields f = {.seq = 7, .time_ns = 1000000000ull * 86400 + 5, .actor = "uid:0",
                           .action = "secret.create", .object = "secret:db", .outcome = "ok",
                           .prev_hex = "00", .hash_hex = "ff"};
  int n = audit_json_render(&f, buf, sizeof(buf));
  assert_int_equal(n, (int)strlen(buf));
  assert_string_equal(buf, "{\"seq\":7,\"time\":\"1970-01-02T00:00:00.000000005Z\",\"actor\":\"uid:0\","
                           "\"action\":\"secret.create\",\"object\":\"secret:db\",\"outcome\":\"ok\","
                           "\"prev\":\"00\",\"hash\":\"ff\"}");
}

static void test_render_escapes_quotes_and_controls(void **state) {
  char buf[512];
  struct audit_fields f = {.seq = 1, .actor = "a\"b\\c", .action = "x\ny", .object = "\x01",
                           .outcome = NULL};
  assert_true(audit_json_render(&f, buf, sizeof(buf)) > 0);
  assert_non_null(strstr(buf, "\"actor\":\"a\\\"b\\\\c\""));
  assert_non_null(strstr(buf, "\"action\":\"x\\ny\""));
  assert_non_null(strstr(buf, "\"object\":\"\\u0001\""));
  assert_non_null(strstr(buf, "\"outcome\":\"\""));
}

static void test_render_too_small_buffer_fails_cleanly(void **state) {
  char buf[20];
  struct audit_fields f = {.seq = 1, .actor = "uid:0", .action = "a", .object = "o", .outcome = "ok"};
  assert_int_equal(audit_json_render(&f, buf, sizeof(buf)), -ENOBUFS);
  assert_string_equal(buf, "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_render_has_fixed_field_order),
      cmocka_unit_test(test_render_escapes_quotes_and_controls),
      cmocka_unit_test(test_render_too_small_buffer_fails_cleanly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
