#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/error.h"

static void test_every_domain_error_has_a_message(void **state) {
  for (int r = SD_E_SCHEMA; r > SD_E_LAST; r--) {
    assert_true(sd_is_domain_error(r));
    assert_string_not_equal(sd_strerror(r), "unknown error");
  }
}

static void test_errno_values_map_to_strerror(void **state) {
  assert_string_equal(sd_strerror(-ENOENT), strerror(ENOENT));
  assert_false(sd_is_domain_error(-ENOENT));
  assert_string_equal(sd_strerror(-(SD_ERR_BASE + 999)), "unknown error");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_domain_error_has_a_message),
      cmocka_unit_test(test_errno_values_map_to_strerror),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
