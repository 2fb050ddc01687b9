/*
 * runtime/container.c lifecycle for the agent: non-blocking start, a container that
 * outlives the thread that started it, adoption checked against start time and cgroup,
 * stop with a timeout, the growable secrets tmpfs and its cap, and the state file
 * reader. Real containers on a busybox rootfs (scripts/mkrootfs.sh); needs root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/runtime.h"
#include "runtime/secrets_fs.h"
#include "runtime/state.h"

static char tmpdir[64], rootfs[128];

static int setup_rootfs(void **state) {
  (void)state;
  char cmd[512];
  snprintf(tmpdir, sizeof tmpdir, "/tmp/sdtest-life.XXXXXX");
  if (!mkdtemp(tmpdir))
    return -1;
  snprintf(rootfs, sizeof rootfs, "%s/rootfs", tmpdir);
  snprintf(cmd, sizeof cmd, "sh '%s' '%s' >/dev/null", MKROOTFS, rootfs);
  return system(cmd) == 0 ? 0 : -1;
}

static int teardown_rootfs(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

static char *sleep_argv[] = {"/bin/sleep", "30", NULL};

/* Names unique per run: a container left by a failed earlier run cannot collide. */
static char names[2][48];

static struct rt_spec sleep_spec(int which, const char *base) {
  snprintf(names[which], sizeof names[which], "%s-%d", base, (int)getpid());
  struct rt_spec s = {.rootfs = rootfs, .argv = sleep_argv, .name = names[which],
                      .caps = rt_default_caps()};
  return s;
}

static uint64_t start_time_of(pid_t pid) {
  uint64_t t = 0;
  assert_int_equal(rt_proc_start_time(pid, &t), 0);
  return t;
}

static void test_async_start_reports_through_its_fd_and_outlives_the_thread(void **state) {
  (void)state;
  struct rt_spec s = sleep_spec(0, "life-async");
  struct rt_start_job *job = NULL;
  s.pdeathsig = true;
  assert_int_equal(rt_container_start_async(&s, &job), -EINVAL); /* would die with the thread */
  s.pdeathsig = false;
  assert_int_equal(rt_container_start_async(&s, &job), 0);
  struct pollfd p = {.fd = rt_start_job_fd(job), .events = POLLIN};
  assert_int_equal(poll(&p, 1, 10000), 1);
  struct rt_container *c = NULL;
  struct rt_error err;
  assert_int_equal(rt_start_job_finish(job, &c, &err), 0);
  assert_non_null(c);
  /* The worker thread is gone; the container runs on (no parent-death signal). */
  usleep(200000);
  assert_false(rt_container_exited(c));
  assert_int_equal(kill(rt_container_pid(c), 0), 0);
  /* Every container has a secrets tmpfs, also with no secrets. */
  assert_non_null(rt_container_secrets(c));
  assert_int_equal(rt_secrets_fs_put(rt_container_secrets(c), "late", "v", 1, 0, 0, 0400), 0);
  rt_container_free(c);
}

static void test_adopt_checks_start_time_and_cgroup_then_stop_kills_at_timeout(void **state) {
  (void)state;
  struct rt_spec s = sleep_spec(1, "life-adopt");
  struct rt_container *c = NULL, *a = NULL;
  struct rt_error err;
  char cg[80], other[80], prefix[80];
  snprintf(cg, sizeof cg, "secretd/%s", names[1]);
  snprintf(other, sizeof other, "secretd/%s-other", names[1]);
  snprintf(prefix, sizeof prefix, "secretd/%.*s", (int)strlen(names[1]) - 1, names[1]);
  s.pdeathsig = true; /* dies with this test if it fails half-way */
  assert_int_equal(rt_container_start(&s, &c, &err), 0);
  pid_t pid = rt_container_pid(c);
  uint64_t st = start_time_of(pid);
  assert_int_equal(rt_container_adopt(pid, st + 1, cg, &a), -ESRCH);
  assert_int_equal(rt_container_adopt(pid, st, other, &a), -ESRCH);
  assert_int_equal(rt_container_adopt(pid, st, prefix, &a), -ESRCH); /* a prefix of it */
  assert_null(a);
  assert_int_equal(rt_container_adopt(pid, st, cg, &a), 0);
  assert_int_equal(rt_container_wait(a, false, NULL), -ECHILD); /* not ours to reap */
  /* sleep as PID 1 ignores SIGTERM: killed at the 200 ms timeout. */
  struct timespec t0, t1;
  bool killed = false;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(rt_container_stop(a, 200, 0, &killed), 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  assert_true(killed);
  assert_true(ms >= 190 && ms < 5000);
  assert_true(rt_container_exited(a));
  rt_container_free(a); /* detaches: nothing to kill, c still owns the child */
  struct rt_exit ex;
  assert_int_equal(rt_container_wait(c, true, &ex), 0);
  assert_int_equal(ex.signal, SIGKILL);
  rt_container_free(c);
}

static void test_a_reused_pid_is_not_adopted(void **state) {
  (void)state;
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    pause();
    _exit(0);
  }
  struct rt_container *a = NULL;
  /* Right pid and start time, but not in the container's cgroup. */
  assert_int_equal(rt_container_adopt(child, start_time_of(child), "secretd/life-reuse", &a), -ESRCH);
  assert_null(a);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  assert_int_equal(rt_container_adopt(child, 1, "secretd/x", &a), -ESRCH);
  assert_int_equal(rt_container_adopt(0, 1, "secretd/x", &a), -EINVAL);
}

static void test_secrets_tmpfs_grows_to_its_cap(void **state) {
  (void)state;
  struct rt_secrets_fs *fs = NULL;
  static char big[600000];
  memset(big, 'b', sizeof big);
  assert_int_equal(rt_secrets_fs_new(0, 0, &fs), 0);
  size_t initial = rt_secrets_fs_size(fs);
  assert_true(initial < sizeof big);
  /* Without a cap it never grows. */
  assert_int_equal(rt_secrets_fs_put(fs, "big1", big, sizeof big, 0, 0, 0400), -ENOSPC);
  assert_int_equal(rt_secrets_fs_set_max(fs, (size_t)1 << 20), 0);
  assert_int_equal(rt_secrets_fs_put(fs, "big1", big, sizeof big, 0, 0, 0400), 0);
  assert_true(rt_secrets_fs_size(fs) > initial);
  assert_true(rt_secrets_fs_size(fs) <= (size_t)1 << 20);
  assert_int_equal(rt_secrets_fs_put(fs, "big2", big, sizeof big, 0, 0, 0400), -ENOSPC);
  assert_int_equal(rt_secrets_fs_put(fs, "small", "s", 1, 0, 0, 0400), 0);
  assert_int_equal(rt_secrets_fs_set_max(fs, ((size_t)1 << 30) + 1), -EINVAL);
  /* A handle from the fd (as the supervisor hands it out) sees the same files. */
  int dup_fd = fcntl(rt_secrets_fs_fd(fs), F_DUPFD_CLOEXEC, 3);
  struct rt_secrets_fs *fs2 = NULL;
  assert_int_equal(rt_secrets_fs_from_fd(dup_fd, (size_t)1 << 20, &fs2), 0);
  assert_int_equal(rt_secrets_fs_remove(fs2, "big1"), 0);
  assert_int_equal(rt_secrets_fs_put(fs2, "big2", big, sizeof big, 0, 0, 0400), 0);
  rt_secrets_fs_free(fs2);
  rt_secrets_fs_free(fs);
  int notmpfs = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_int_equal(rt_secrets_fs_from_fd(notmpfs, 0, &fs2), -EXDEV);
  close(notmpfs);
}

static void test_state_parse_round_trip_and_refusals(void **state) {
  (void)state;
  char dir[] = "/tmp/sdtest-state.XXXXXX";
  assert_non_null(mkdtemp(dir));
  int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct rt_state st = {.status = RT_STATUS_STOPPED, .pid = 42, .start_time = 7, .supervisor = 41,
                        .supervisor_start = 6, .secrets_max = 1024, .exited = true,
                        .exit_code = 3, .oom_killed = true};
  strcpy(st.id, "web-1");
  strcpy(st.bundle, "/srv/root \"quoted\"");
  strcpy(st.cgroup, "secretd/web-1");
  strcpy(st.created, "2026-12-02T06:00:00Z");
  assert_int_equal(rt_state_write(fd, &st), 0);
  struct rt_state back;
  assert_int_equal(rt_state_read(fd, &back), 0);
  assert_string_equal(back.id, "web-1");
  assert_string_equal(back.bundle, st.bundle);
  assert_int_equal(back.pid, 42);
  assert_int_equal(back.status, RT_STATUS_STOPPED);
  assert_true(back.exited && back.oom_killed);
  assert_int_equal(back.exit_code, 3);
  static const char *const bad[] = {
      "", "{}", "[]", "{\"id\":\"../x\"}",
      "{\"id\":\"a\",\"status\":\"running\",\"pid\":-1,\"bundle\":\"/\",\"cgroup\":\"c\","
      "\"supervisor\":1,\"startTime\":1,\"supervisorStartTime\":1}",
      "{\"id\":\"a\",\"status\":\"zombie\",\"pid\":1,\"bundle\":\"/\",\"cgroup\":\"c\","
      "\"supervisor\":1,\"startTime\":1,\"supervisorStartTime\":1}",
      "{\"id\":\"a\",\"status\":\"running\",\"pid\":1,\"bundle\":\"/\",\"cgroup\":\"c\","
      "\"supervisor\":1,\"startTime\":1,\"supervisorStartTime\":1,\"exitCode\":1}",
      "{\"id\":\"a\",\"status\":\"running\",\"pid\":1,\"bundle\":\"/\\u0000x\",\"cgroup\":\"c\","
      "\"supervisor\":1,\"startTime\":1,\"supervisorStartTime\":1}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(rt_state_parse(bad[i], strlen(bad[i]), &back), -EBADMSG);
  assert_true(rt_name_valid("a.b_c-9"));
  assert_false(rt_name_valid("-x"));
  assert_false(rt_name_valid(".x"));
  assert_false(rt_name_valid("a/b"));
  assert_int_equal(rt_state_remove(AT_FDCWD, "../x"), -EINVAL);
  close(fd);
  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_async_start_reports_through_its_fd_and_outlives_the_thread),
      cmocka_unit_test(test_adopt_checks_start_time_and_cgroup_then_stop_kills_at_timeout),
      cmocka_unit_test(test_a_reused_pid_is_not_adopted),
      cmocka_unit_test(test_secrets_tmpfs_grows_to_its_cap),
      cmocka_unit_test(test_state_parse_round_trip_and_refusals),
  };
  return cmocka_run_group_tests(tests, setup_rootfs, teardown_rootfs);
}
