/*
 * Landlock (rt_landlock_apply) enforced for real in forked children, and the MAC checks
 * (rt_mac_check / rt_mac_apply_exec) against this host's LSMs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/landlock.h"
#include "runtime/mac.h"
#include "tests/skip.h"

static char tmpdir[] = "/tmp/r2-landlock-test-XXXXXX";
static char rw[600], ro[600];

static int setup(void **state) {
  if (!mkdtemp(tmpdir))
    return -1;
  snprintf(rw, sizeof(rw), "%s/rw", tmpdir);
  snprintf(ro, sizeof(ro), "%s/ro", tmpdir);
  return mkdir(rw, 0755) == 0 && mkdir(ro, 0755) == 0 ? 0 : -1;
}

static int teardown(void **state) {
  char cmd[700];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

/* errno of creating path (0 = created), measured in the calling process. */
static int create_errno(const char *dir, const char *name) {
  char p[700];
  int fd;
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return errno;
  close(fd);
  return 0;
}

/* Child: apply Landlock with paths, then run the checks; exit code = failing check. */
static int in_child(const char *const *paths, size_t n, int want_apply) {
  pid_t pid = fork();
  int status;

  assert_true(pid >= 0);
  if (pid == 0) {
    char buf[8];
    int fd;
    if (rt_landlock_apply(paths, n) != want_apply)
      _exit(10);
    if (want_apply < 0 || n == 0)
      _exit(create_errno(ro, "free") == 0 ? 0 : 11);
    if (create_errno(rw, "x") != 0)
      _exit(12);
    if (create_errno(ro, "x") != EACCES)
      _exit(13);
    if (mkdir(ro, 0755) == 0 || (errno != EACCES && errno != EEXIST))
      _exit(14);
    fd = open("/etc/passwd", O_RDONLY);     /* reading everywhere still works */
    if (fd < 0 || read(fd, buf, sizeof(buf)) <= 0)
      _exit(15);
    close(fd);
    fd = open("/dev/null", O_WRONLY | O_TRUNC);
    if (fd < 0 || write(fd, "x", 1) != 1)
      _exit(16);
    close(fd);
    if (unlink("/etc/passwd") == 0 || errno != EACCES)
      _exit(17);
    _exit(0);
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  return WEXITSTATUS(status);
}

static void test_landlock_allows_writes_only_below_rw_paths(void **state) {
  const char *paths[] = {rw};
  if (rt_landlock_abi() < 0)
    sd_skip("landlock", "kernel without Landlock (landlock_create_ruleset: %s)",
            strerror(-rt_landlock_abi()));
  assert_int_equal(in_child(paths, 1, 0), 0);
}

static void test_landlock_with_no_paths_is_a_no_op(void **state) {
  assert_int_equal(in_child(NULL, 0, 0), 0);
}

static void test_landlock_bad_paths_are_refused(void **state) {
  const char *rel[] = {"tmp"}, *missing[] = {"/nonexistent-r2-dir"}, *null[] = {NULL};
  if (rt_landlock_abi() < 0)
    sd_skip("landlock", "kernel without Landlock (landlock_create_ruleset: %s)",
            strerror(-rt_landlock_abi()));
  assert_int_equal(in_child(rel, 1, -EINVAL), 0);
  assert_int_equal(in_child(missing, 1, -ENOENT), 0);
  assert_int_equal(in_child(null, 1, -EINVAL), 0);
}

static void test_landlock_abi_is_reported(void **state) {
  int abi = rt_landlock_abi();
  assert_true(abi >= 1 || abi == -EOPNOTSUPP);
  print_message("Landlock ABI: %d\n", abi);
}

static void test_mac_check_refuses_missing_lsms_clearly(void **state) {
  if (!rt_mac_apparmor_enabled()) {
    assert_int_equal(rt_mac_check("secretd-default", NULL), -EOPNOTSUPP);
    assert_non_null(strstr(rt_mac_last_error(), "AppArmor is not enabled"));
    assert_int_equal(rt_mac_apply_exec("secretd-default", NULL), -EOPNOTSUPP);
  }
  if (!rt_mac_selinux_enabled()) {
    assert_int_equal(rt_mac_check(NULL, "system_u:system_r:container_t:s0"), -EOPNOTSUPP);
    assert_non_null(strstr(rt_mac_last_error(), "SELinux is not enabled"));
    assert_int_equal(rt_mac_apply_exec(NULL, "system_u:system_r:container_t:s0"), -EOPNOTSUPP);
  }
}

static void test_mac_check_accepts_defaults_and_unconfined(void **state) {
  if (!rt_mac_apparmor_enabled()) {
    assert_int_equal(rt_mac_check(NULL, NULL), 0);
    assert_string_equal(rt_mac_last_error(), "");
    assert_int_equal(rt_mac_apply_exec(NULL, NULL), 0);   /* nothing to do */
  }
  assert_int_equal(rt_mac_check("unconfined", NULL), 0);
  assert_int_equal(rt_mac_apply_exec("unconfined", NULL), 0);
}

static void test_mac_check_refuses_malformed_labels(void **state) {
  char longlabel[2000];
  memset(longlabel, 'a', sizeof(longlabel) - 1);
  longlabel[sizeof(longlabel) - 1] = 0;
  assert_int_equal(rt_mac_check("bad\nprofile", NULL), -EINVAL);
  assert_int_equal(rt_mac_check("", NULL), -EINVAL);
  assert_int_equal(rt_mac_check(NULL, longlabel), -EINVAL);
  assert_non_null(strstr(rt_mac_last_error(), "invalid SELinux label"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_landlock_allows_writes_only_below_rw_paths),
    cmocka_unit_test(test_landlock_with_no_paths_is_a_no_op),
    cmocka_unit_test(test_landlock_bad_paths_are_refused),
    cmocka_unit_test(test_landlock_abi_is_reported),
    cmocka_unit_test(test_mac_check_refuses_missing_lsms_clearly),
    cmocka_unit_test(test_mac_check_accepts_defaults_and_unconfined),
    cmocka_unit_test(test_mac_check_refuses_malformed_labels),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
