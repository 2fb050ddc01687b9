/* The ordering rules of pushed and asked-for assignment sets (agent/core/set_order.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/core/set_order.h"

static const uint8_t D1[AC_SET_DIGEST_LEN] = {1};
static const uint8_t D2[AC_SET_DIGEST_LEN] = {2};

static struct ac_set_held held(uint64_t gen, const uint8_t *digest) {
  struct ac_set_held h = {.have = true, .generation = gen};
  memcpy(h.digest, digest, AC_SET_DIGEST_LEN);
  return h;
}

static void test_first_push_is_taken_whatever_its_generation(void **state) {
  (void)state;
  struct ac_set_held none = {0};
  assert_int_equal(ac_set_on_push(&none, 0, D1), AC_SET_TAKE);
  assert_int_equal(ac_set_on_push(&none, 7, D1), AC_SET_TAKE);
}

static void test_newer_push_is_taken_and_a_resent_one_skipped(void **state) {
  (void)state;
  struct ac_set_held h = held(5, D1);
  assert_int_equal(ac_set_on_push(&h, 6, D2), AC_SET_TAKE);
  assert_int_equal(ac_set_on_push(&h, 5, D1), AC_SET_SKIP); /* resent after a reconnection */
  assert_int_equal(ac_set_on_push(&h, 4, D1), AC_SET_SKIP); /* an older push of the same set */
}

static void test_older_push_with_another_digest_asks_the_manager(void **state) {
  (void)state;
  struct ac_set_held h = held(5, D1);
  /* generations went back (a restored store): only node.assignments settles it */
  assert_int_equal(ac_set_on_push(&h, 5, D2), AC_SET_ASK);
  assert_int_equal(ac_set_on_push(&h, 2, D2), AC_SET_ASK);
}

static void test_reply_read_before_a_push_is_not_applied_over_it(void **state) {
  (void)state;
  struct ac_set_held h = held(9, D2); /* the push brought generation 9 */
  assert_int_equal(ac_set_on_reply(&h, true, 8), AC_SET_SKIP);
  assert_int_equal(ac_set_on_reply(&h, true, 9), AC_SET_SKIP);
  assert_int_equal(ac_set_on_reply(&h, true, 10), AC_SET_TAKE); /* newer than the push */
}

static void test_reply_without_a_push_since_is_the_answer(void **state) {
  (void)state;
  struct ac_set_held none = {0}, h = held(9, D2);
  assert_int_equal(ac_set_on_reply(&none, false, 1), AC_SET_TAKE);
  assert_int_equal(ac_set_on_reply(&none, true, 1), AC_SET_TAKE); /* nothing held yet */
  /* the manager's answer settles a generation that went back */
  assert_int_equal(ac_set_on_reply(&h, false, 3), AC_SET_TAKE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_first_push_is_taken_whatever_its_generation),
      cmocka_unit_test(test_newer_push_is_taken_and_a_resent_one_skipped),
      cmocka_unit_test(test_older_push_with_another_digest_asks_the_manager),
      cmocka_unit_test(test_reply_read_before_a_push_is_not_applied_over_it),
      cmocka_unit_test(test_reply_without_a_push_since_is_the_answer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
