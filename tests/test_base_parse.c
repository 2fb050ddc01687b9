/* base/parse.h: sd_parse_u64, the one number parser of the tools' options. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/parse.h"

static void test_decimal_only(void **state) {
  uint64_t v = 99;
  assert_int_equal(sd_parse_u64("0", 10, &v), 0);
  assert_true(v == 0);
  assert_int_equal(sd_parse_u64("010", 100, &v), 0); /* ten, not octal eight */
  assert_true(v == 10);
  assert_int_equal(sd_parse_u64("000000000000000000000000007", 100, &v), 0);
  assert_true(v == 7);
  assert_int_equal(sd_parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
  assert_true(v == UINT64_MAX);
}

static void test_refusals_leave_the_value(void **state) {
  static const char *bad[] = {"",    "0x10", "-1",  "+1", " 1", "1 ", "1k",
                              "1.5", "08a",  "18446744073709551616"};
  uint64_t v = 42;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(sd_parse_u64(bad[i], UINT64_MAX, &v), -EINVAL);
    assert_true(v == 42);
  }
  assert_int_equal(sd_parse_u64(NULL, 1, &v), -EINVAL);
  assert_int_equal(sd_parse_u64("11", 10, &v), -EINVAL); /* above max */
  assert_int_equal(sd_parse_u64("10", 10, &v), 0);
  assert_true(v == 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decimal_only),
      cmocka_unit_test(test_refusals_leave_the_value),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
