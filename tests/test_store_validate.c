/* Validation rules of issue 2 item 7, accepted and refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "base/error.h"
#include "store/validate.h"

static void test_names(void **state) {
  char n64[65], n65[66];
  memset(n64, 'a', 64);
  n64[64] = 0;
  memset(n65, 'a', 65);
  n65[65] = 0;
  const char *ok[] = {"a", "Z", "0", "db_password", "a.b-c_d", "9lives", n64};
  const char *bad[] = {"", ".hidden", "_x", "-x", "a/b", "/a", "a b", "caf\xc3\xa9", "a\n",
                       "a:b", n65, "..", "a*"};
  for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++)
    assert_int_equal(store_validate_name(ok[i]), 0);
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
    assert_int_equal(store_validate_name(bad[i]), SD_E_NAME);
  assert_int_equal(store_validate_name(NULL), SD_E_NAME);
}

static void test_value_sizes(void **state) {
  assert_int_equal(store_validate_value_len(0), SD_E_VALUE);
  assert_int_equal(store_validate_value_len(1), 0);
  assert_int_equal(store_validate_value_len(512000), 0);
  assert_int_equal(store_validate_value_len(512001), SD_E_VALUE);
}

#define T(s) store_validate_target(s, sizeof(s) - 1)
static void test_targets(void **state) {
  assert_int_equal(T("db_password"), 0);
  assert_int_equal(T("app/config/db.pw"), 0);
  assert_int_equal(T("a..b"), 0);
  assert_int_equal(T("..x"), 0);
  assert_int_equal(T("../x"), SD_E_TARGET);
  assert_int_equal(T("a/../b"), SD_E_TARGET);
  assert_int_equal(T("a/.."), SD_E_TARGET);
  assert_int_equal(T(".."), SD_E_TARGET);
  assert_int_equal(T("/abs"), SD_E_TARGET);
  assert_int_equal(T("a//b"), SD_E_TARGET);
  assert_int_equal(T("a/"), SD_E_TARGET);
  assert_int_equal(T("./a"), SD_E_TARGET);
  assert_int_equal(T("a\nb"), SD_E_TARGET);
  assert_int_equal(T(""), SD_E_TARGET);
  assert_int_equal(T("a\0b"), SD_E_TARGET); /* embedded NUL via length */
  assert_int_equal(store_validate_target(NULL, 0), SD_E_TARGET);
  char t[257];
  memset(t, 'x', sizeof(t));
  assert_int_equal(store_validate_target(t, 255), 0);
  assert_int_equal(store_validate_target(t, 256), SD_E_TARGET);
}

static void test_modes_and_ids(void **state) {
  assert_int_equal(store_validate_mode(0400), 0);
  assert_int_equal(store_validate_mode(0), 0);
  assert_int_equal(store_validate_mode(0777), 0);
  assert_int_equal(store_validate_mode(04000), SD_E_MODE);
  assert_int_equal(store_validate_mode(02000), SD_E_MODE);
  assert_int_equal(store_validate_mode(01000), SD_E_MODE);
  assert_int_equal(store_validate_mode(01777), SD_E_MODE);
  assert_int_equal(store_validate_mode(04400), SD_E_MODE);
  assert_int_equal(store_validate_id(0), 0);
  assert_int_equal(store_validate_id(65534), 0);
  assert_int_equal(store_validate_id(UINT32_MAX), -EINVAL);
}

static void test_hex_ids(void **state) {
  assert_true(store_is_hex_id("0123456789abcdef0123456789ABCDEF"));
  assert_false(store_is_hex_id("0123456789abcdef0123456789abcde"));
  assert_false(store_is_hex_id("0123456789abcdef0123456789abcdef0"));
  assert_false(store_is_hex_id("0123456789abcdef0123456789abcdeg"));
  assert_false(store_is_hex_id(NULL));
  assert_int_equal(store_validate_label_value("prod", 4), 0);
  assert_int_equal(store_validate_label_value("a\x01", 2), -EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),         cmocka_unit_test(test_value_sizes),
      cmocka_unit_test(test_targets),       cmocka_unit_test(test_modes_and_ids),
      cmocka_unit_test(test_hex_ids),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
