/*
 * Unit tests of the agent's reconcile planning (agent/core/plan.h): pure, no system
 * calls. Each case builds a desired set and what the agent has, and checks the actions
 * and their order (revocations first, then stops, puts, starts) and the restart backoff.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/core/plan.h"

static const uint8_t D1[AC_DIGEST_LEN] = {1};
static const uint8_t D2[AC_DIGEST_LEN] = {2};

#define FILE_(s, v, t) {s, v, t, 0, 0, 0400}

struct result {
  struct ac_action *a;
  size_t n;
  uint64_t wake;
};

static struct result plan(const struct ac_plan_want *w, size_t nw, const struct ac_plan_have *h,
                          size_t nh, uint64_t now) {
  struct result r = {0};
  assert_int_equal(ac_plan(w, nw, h, nh, now, &r.a, &r.n, &r.wake), 0);
  return r;
}

static void test_empty_sets_plan_nothing(void **state) {
  struct result r = plan(NULL, 0, NULL, 0, 0);
  assert_int_equal(r.n, 0);
  assert_null(r.a);
  assert_true(r.wake == UINT64_MAX);
}

static void test_missing_task_is_started(void **state) {
  struct ac_file f[] = {FILE_("db", 1, "db")};
  struct ac_plan_want w[] = {{"t1", D1, f, 1}};
  struct result r = plan(w, 1, NULL, 0, 0);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.a[0].kind, AC_ACT_START);
  assert_int_equal(r.a[0].want, 0);
  assert_true(r.a[0].have == SIZE_MAX);
  free(r.a);
}

static void test_running_task_in_sync_plans_nothing(void **state) {
  struct ac_file f[] = {FILE_("db", 1, "db"), FILE_("api", 3, "keys/api")};
  struct ac_plan_want w[] = {{"t1", D1, f, 2}};
  struct ac_plan_have h[] = {{"t1", D1, AC_PHASE_RUNNING, 0, false, f, 2}};
  struct result r = plan(w, 1, h, 1, 0);
  assert_int_equal(r.n, 0);
}

static void test_removed_task_is_stopped(void **state) {
  struct ac_plan_have h[] = {{"gone", D1, AC_PHASE_RUNNING, 0, false, NULL, 0}};
  struct result r = plan(NULL, 0, h, 1, 0);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.a[0].kind, AC_ACT_STOP);
  assert_int_equal(r.a[0].have, 0);
  free(r.a);
}

static void test_rotation_is_one_put_and_no_remove(void **state) {
  struct ac_file now[] = {FILE_("db", 1, "db")}, want[] = {FILE_("db", 2, "db")};
  struct ac_plan_want w[] = {{"t1", D1, want, 1}};
  struct ac_plan_have h[] = {{"t1", D1, AC_PHASE_RUNNING, 0, false, now, 1}};
  struct result r = plan(w, 1, h, 1, 0);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.a[0].kind, AC_ACT_PUT);
  assert_int_equal(r.a[0].file, 0);
  free(r.a);
}

static void test_owner_or_mode_change_is_a_put(void **state) {
  struct ac_file now[] = {FILE_("db", 1, "db")}, want[] = {FILE_("db", 1, "db")};
  want[0].mode = 0440;
  struct ac_plan_want w[] = {{"t1", D1, want, 1}};
  struct ac_plan_have h[] = {{"t1", D1, AC_PHASE_RUNNING, 0, false, now, 1}};
  struct result r = plan(w, 1, h, 1, 0);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.a[0].kind, AC_ACT_PUT);
  free(r.a);
  want[0].mode = 0400;
  want[0].uid = 1000;
  r = plan(w, 1, h, 1, 0);
  assert_int_equal(r.n, 1);
  free(r.a);
}

static void test_other_secret_at_same_target_is_replaced(void **state) {
  struct ac_file now[] = {FILE_("old", 1, "db")}, want[] = {FILE_("new", 1, "db")};
  struct ac_plan_want w[] = {{"t1", D1, want, 1}};
  struct ac_plan_have h[] = {{"t1", D1, AC_PHASE_RUNNING, 0, false, now, 1}};
  struct result r = plan(w, 1, h, 1, 0);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.a[0].kind, AC_ACT_PUT); /* atomic replace, never remove + add */
  free(r.a);
}

static void test_revocations_come_before_everything(void **state) {
  /* t1: a revoke and a rotation; t2: removed; t3: new; t0: a revoke listed last. */
  struct ac_file t1now[] = {FILE_("a", 1, "a"), FILE_("b", 1, "b")};
  struct ac_file t1want[] = {FILE_("b", 2, "b")};
  struct ac_file t0now[] = {FILE_("x", 1, "x")};
  struct ac_plan_want w[] = {{"t3", D1, NULL, 0}, {"t1", D1, t1want, 1}, {"t0", D1, NULL, 0}};
  struct ac_plan_have h[] = {{"t2", D1, AC_PHASE_RUNNING, 0, false, NULL, 0},
                             {"t1", D1, AC_PHASE_RUNNING, 0, false, t1now, 2},
                             {"t0", D1, AC_PHASE_RUNNING, 0, false, t0now, 1}};
  struct result r = plan(w, 3, h, 3, 0);
  assert_int_equal(r.n, 5);
  assert_int_equal(r.a[0].kind, AC_ACT_REMOVE);
  assert_int_equal(r.a[0].have, 1);
  assert_int_equal(r.a[0].file, 0);
  assert_int_equal(r.a[1].kind, AC_ACT_REMOVE);
  assert_int_equal(r.a[1].have, 2);
  assert_int_equal(r.a[2].kind, AC_ACT_STOP);
  assert_int_equal(r.a[2].have, 0);
  assert_int_equal(r.a[3].kind, AC_ACT_PUT);
  assert_int_equal(r.a[3].have, 1);
  assert_int_equal(r.a[4].kind, AC_ACT_START);
  assert_int_equal(r.a[4].want, 0);
  free(r.a);
}

static void test_busy_task_gets_revokes_but_no_put(void **state) {
  struct ac_file now[] = {FILE_("a", 1, "a"), FILE_("b", 1, "b")};
  struct ac_file want[] = {FILE_("b", 2, "b"), FILE_("c", 1, "c")};
  struct ac_plan_want w[] = {{"t1", D1, want, 2}};
  struct ac_plan_have h[] = {{"t1", D1, AC_PHASE_RUNNING, 0, true, now, 2}};
  struct result r = plan(w, 1, h, 1, 0);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.a[0].kind, AC_ACT_REMOVE);
  free(r.a);
}

static void test_new_grant_to_running_task_is_a_put(void **state) {
  struct ac_file want[] = {FILE_("late", 1, "late")};
  struct ac_plan_want w[] = {{"t1", D1, want, 1}};
  struct ac_plan_have h[] = {{"t1", D1, AC_PHASE_RUNNING, 0, false, NULL, 0}};
  struct result r = plan(w, 1, h, 1, 0);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.a[0].kind, AC_ACT_PUT);
  free(r.a);
}

static void test_changed_spec_stops_then_starts_after_stop(void **state) {
  struct ac_plan_want w[] = {{"t1", D2, NULL, 0}};
  struct ac_plan_have h[] = {{"t1", D1, AC_PHASE_RUNNING, 0, false, NULL, 0}};
  struct result r = plan(w, 1, h, 1, 0);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.a[0].kind, AC_ACT_STOP);
  free(r.a);
  h[0].phase = AC_PHASE_STOPPING; /* no second stop, no start while it stops */
  r = plan(w, 1, h, 1, 0);
  assert_int_equal(r.n, 0);
}

static void test_waiting_task_starts_when_due_and_wakes_otherwise(void **state) {
  struct ac_plan_want w[] = {{"t1", D1, NULL, 0}};
  struct ac_plan_have h[] = {{"t1", D1, AC_PHASE_WAITING, 500, false, NULL, 0}};
  struct result r = plan(w, 1, h, 1, 100);
  assert_int_equal(r.n, 0);
  assert_true(r.wake == 500);
  r = plan(w, 1, h, 1, 500);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.a[0].kind, AC_ACT_START);
  assert_int_equal(r.a[0].have, 0);
  free(r.a);
  h[0].start_at_ms = UINT64_MAX; /* done for good */
  r = plan(w, 1, h, 1, 1000);
  assert_int_equal(r.n, 0);
  assert_true(r.wake == UINT64_MAX);
}

static void test_starting_task_gets_nothing_and_unwanted_one_is_cancelled(void **state) {
  struct ac_file want[] = {FILE_("a", 2, "a")};
  struct ac_plan_want w[] = {{"t1", D1, want, 1}};
  struct ac_plan_have h[] = {{"t1", D1, AC_PHASE_STARTING, 0, true, NULL, 0},
                             {"t9", D1, AC_PHASE_STARTING, 0, true, NULL, 0}};
  struct result r = plan(w, 1, h, 2, 0);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.a[0].kind, AC_ACT_STOP);
  assert_int_equal(r.a[0].have, 1);
  free(r.a);
}

static void test_unset_owner_is_the_service_user_and_mode_defaults_to_0400(void **state) {
  struct ac_file f = {"db", 1, "db", AC_ID_UNSET, AC_ID_UNSET, 0};
  ac_file_resolve(&f, 1000, 1001);
  assert_int_equal(f.uid, 1000);
  assert_int_equal(f.gid, 1001);
  assert_int_equal(f.mode, 0400);
  struct ac_file g = {"db", 1, "db", 0, 5, 0440};
  ac_file_resolve(&g, 1000, 1001);
  assert_int_equal(g.uid, 0);
  assert_int_equal(g.gid, 5);
  assert_int_equal(g.mode, 0440);
}

static void test_restart_policies(void **state) {
  uint64_t d = 0;
  assert_false(ac_restart_due(LAUNCH_RESTART_NO, true, 0, &d));
  assert_false(ac_restart_due(LAUNCH_RESTART_ON_FAILURE, false, 0, &d));
  assert_true(ac_restart_due(LAUNCH_RESTART_ON_FAILURE, true, 0, &d));
  assert_int_equal(d, AC_BACKOFF_FIRST_MS);
  assert_true(ac_restart_due(LAUNCH_RESTART_ALWAYS, false, 3, &d));
  assert_int_equal(d, AC_BACKOFF_FIRST_MS * 8);
  assert_true(ac_restart_due(LAUNCH_RESTART_ALWAYS, true, 1000, &d));
  assert_int_equal(d, AC_BACKOFF_MAX_MS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty_sets_plan_nothing),
      cmocka_unit_test(test_missing_task_is_started),
      cmocka_unit_test(test_running_task_in_sync_plans_nothing),
      cmocka_unit_test(test_removed_task_is_stopped),
      cmocka_unit_test(test_rotation_is_one_put_and_no_remove),
      cmocka_unit_test(test_owner_or_mode_change_is_a_put),
      cmocka_unit_test(test_other_secret_at_same_target_is_replaced),
      cmocka_unit_test(test_revocations_come_before_everything),
      cmocka_unit_test(test_busy_task_gets_revokes_but_no_put),
      cmocka_unit_test(test_new_grant_to_running_task_is_a_put),
      cmocka_unit_test(test_changed_spec_stops_then_starts_after_stop),
      cmocka_unit_test(test_waiting_task_starts_when_due_and_wakes_otherwise),
      cmocka_unit_test(test_starting_task_gets_nothing_and_unwanted_one_is_cancelled),
      cmocka_unit_test(test_unset_owner_is_the_service_user_and_mode_defaults_to_0400),
      cmocka_unit_test(test_restart_policies),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
