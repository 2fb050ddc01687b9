/* Unit tests of the launcher's parsers: id maps, capability names, secret targets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/caps.h"
#include "runtime/runtime.h"
#include "runtime/userns.h"

static void test_idmap_parse_accepts_three_numbers(void **state) {
  struct rt_idmap m;
  assert_int_equal(rt_idmap_parse("0:100000:65536", &m), 0);
  assert_int_equal(m.inside, 0);
  assert_int_equal(m.outside, 100000);
  assert_int_equal(m.count, 65536);
}

static void test_idmap_parse_rejects_garbage(void **state) {
  struct rt_idmap m = {7, 7, 7};
  const char *bad[] = {"", "0", "0:1", "0:1:", "0:1:0", "a:1:2", "0:1:2:3", "-1:1:2",
                       "0:4294967295:2", " 0:1:2", "0:1:2 "};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(rt_idmap_parse(bad[i], &m), -EINVAL);
  assert_int_equal(m.inside, 7); /* untouched on failure */
}

static void test_idmap_check_rejects_overlap(void **state) {
  struct rt_idmap ok[2] = {{0, 100000, 1000}, {1000, 200000, 10}};
  struct rt_idmap inside[2] = {{0, 100000, 1000}, {999, 200000, 10}};
  struct rt_idmap outside[2] = {{0, 100000, 1000}, {1000, 100500, 10}};
  assert_int_equal(rt_idmap_check(ok, 2), 0);
  assert_int_equal(rt_idmap_check(inside, 2), -EINVAL);
  assert_int_equal(rt_idmap_check(outside, 2), -EINVAL);
  assert_int_equal(rt_idmap_check(ok, 0), -EINVAL);
  assert_int_equal(rt_idmap_to_host(ok, 2, 1005), 200005);
  assert_true(rt_idmap_to_host(ok, 2, 1010) == UINT32_MAX);
}

static void test_caps_names_in_every_spelling(void **state) {
  assert_int_equal(rt_caps_from_name("NET_ADMIN"), 12);
  assert_int_equal(rt_caps_from_name("CAP_NET_ADMIN"), 12);
  assert_int_equal(rt_caps_from_name("cap_net_admin"), 12);
  assert_int_equal(rt_caps_from_name("chown"), 0);
  assert_int_equal(rt_caps_from_name("NOPE"), -EINVAL);
  assert_int_equal(rt_caps_from_name(""), -EINVAL);
  assert_int_equal(rt_caps_from_name("12"), -EINVAL);
  assert_int_equal(rt_caps_from_name("ALL"), -EINVAL);
  char buf[32];
  rt_caps_name(21, buf, sizeof buf);
  assert_string_equal(buf, "SYS_ADMIN");
}

static void test_docker_default_caps_mask(void **state) {
  assert_true(rt_caps_docker_default() == UINT64_C(0xa80425fb));
  assert_true(rt_default_caps() == rt_caps_docker_default());
}

static void test_secret_target_validation(void **state) {
  char long_name[300];
  memset(long_name, 'a', sizeof long_name);
  long_name[255] = '\0';
  assert_true(rt_secret_target_valid("db"));
  assert_true(rt_secret_target_valid("dir/db.pass"));
  assert_true(rt_secret_target_valid(long_name));
  long_name[255] = 'a';
  long_name[256] = '\0';
  assert_false(rt_secret_target_valid(long_name));
  assert_false(rt_secret_target_valid(""));
  assert_false(rt_secret_target_valid("/abs"));
  assert_false(rt_secret_target_valid(".."));
  assert_false(rt_secret_target_valid("a/../b"));
  assert_false(rt_secret_target_valid("a//b"));
  assert_false(rt_secret_target_valid("a/"));
  assert_false(rt_secret_target_valid("./a"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_idmap_parse_accepts_three_numbers),
      cmocka_unit_test(test_idmap_parse_rejects_garbage),
      cmocka_unit_test(test_idmap_check_rejects_overlap),
      cmocka_unit_test(test_caps_names_in_every_spelling),
      cmocka_unit_test(test_docker_default_caps_mask),
      cmocka_unit_test(test_secret_target_validation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
