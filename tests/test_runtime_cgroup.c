/*
 * runtime/cgroup: real cgroups (v1 and/or v2 as the host has them), real processes.
 * Needs root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/cgroup.h"
#include "runtime/cgroup_devices.h"

static char name[64];

static int setup_name(void **state) {
  static int n;
  snprintf(name, sizeof(name), "r3test-%d-%d", (int)getpid(), n++);
  return 0;
}

static int read_text(const char *dir, const char *file, char *buf, size_t sz) {
  char path[PATH_MAX + 128];
  int fd;
  ssize_t n;
  snprintf(path, sizeof(path), "%s/%s", dir, file);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  n = read(fd, buf, sz - 1);
  close(fd);
  if (n < 0)
    return -errno;
  buf[n] = '\0';
  return (int)n;
}

static void expect_file(struct rt_cgroup *cg, const char *ctrl, const char *v1file,
                        const char *v2file, const char *want) {
  char dir[PATH_MAX], buf[256];
  bool v2 = false;
  assert_int_equal(rt_cgroup_path(cg, ctrl, dir, sizeof(dir), &v2), 0);
  assert_true(read_text(dir, v2 ? v2file : v1file, buf, sizeof(buf)) > 0);
  buf[strcspn(buf, "\n")] = '\0';
  assert_string_equal(buf, want);
}

/* A child that blocks on a pipe until released, then runs fn and exits with its result. */
struct waiter {
  pid_t pid;
  int go; /* write end */
};

static struct waiter spawn(int (*fn)(void)) {
  struct waiter w;
  int p[2];
  char c;
  assert_int_equal(pipe(p), 0);
  w.pid = fork();
  assert_true(w.pid >= 0);
  if (w.pid == 0) {
    close(p[1]);
    if (read(p[0], &c, 1) != 1)
      _exit(100);
    _exit(fn ? fn() : 0);
  }
  close(p[0]);
  w.go = p[1];
  return w;
}

static int release_and_wait(struct waiter *w) {
  int status;
  assert_int_equal(write(w->go, "g", 1), 1);
  close(w->go);
  assert_int_equal(waitpid(w->pid, &status, 0), w->pid);
  return status;
}

static bool dir_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* /proc/PID/cgroup holds ".../secretd/<name>" for the line of ctrl (or the v2 line). */
static bool proc_in_group(pid_t pid, const char *ctrl, bool v2) {
  char path[64], line[512], want[128];
  FILE *f;
  bool found = false;
  snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
  snprintf(want, sizeof(want), "/secretd/%s\n", name);
  f = fopen(path, "re");
  if (!f)
    return false;
  while (fgets(line, sizeof(line), f)) {
    char *ctrls = strchr(line, ':'), *grp;
    if (!ctrls || !(grp = strchr(ctrls + 1, ':')))
      continue;
    *grp++ = '\0';
    ctrls++;
    bool match = v2 ? ctrls[0] == '\0' : (strstr(ctrls, ctrl) != NULL);
    if (match && strcmp(grp, want) == 0)
      found = true;
  }
  fclose(f);
  return found;
}

static void test_create_attach_limits_visible_destroy_removes(void **state) {
  struct rt_limits lim = {.memory_bytes = 64 << 20, .cpu_quota_us = 50000,
                          .cpu_period_us = 100000, .pids_max = 20};
  const char *ctrls[] = {"memory", "cpu", "pids", "devices"};
  char dirs[4][PATH_MAX], buf[4096];
  struct rt_cgroup *cg = NULL;
  struct waiter w;
  bool v2;
  int status;

  assert_int_equal(rt_cgroup_create(name, &lim, &cg), 0);
  assert_non_null(cg);
  expect_file(cg, "memory", "memory.limit_in_bytes", "memory.max", "67108864");
  expect_file(cg, "cpu", "cpu.cfs_quota_us", "cpu.max", "50000");
  expect_file(cg, "pids", "pids.max", "pids.max", "20");
  assert_int_equal(rt_cgroup_path(cg, "devices", dirs[3], sizeof(dirs[3]), &v2), 0);
  if (!v2) {
    assert_true(read_text(dirs[3], "devices.list", buf, sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "c 1:3 rwm"));
    assert_non_null(strstr(buf, "c 136:* rwm"));
    assert_non_null(strstr(buf, "b *:* m"));
    assert_null(strstr(buf, "a *:*"));
    assert_null(strstr(buf, "b 7:"));
  }

  w = spawn(NULL);
  assert_int_equal(rt_cgroup_attach(cg, w.pid), 0);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(rt_cgroup_path(cg, ctrls[i], dirs[i], sizeof(dirs[i]), &v2), 0);
    assert_true(dir_exists(dirs[i]));
    assert_true(proc_in_group(w.pid, ctrls[i], v2));
  }
  /* destroy kills what is left and removes every directory. */
  assert_int_equal(rt_cgroup_destroy(cg), 0);
  assert_int_equal(waitpid(w.pid, &status, 0), w.pid);
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGKILL);
  close(w.go);
  for (int i = 0; i < 4; i++)
    assert_false(dir_exists(dirs[i]));
}

static void test_no_limits_still_restricts_devices(void **state) {
  struct rt_cgroup *cg = NULL;
  char dir[PATH_MAX];
  assert_int_equal(rt_cgroup_create(name, NULL, &cg), 0);
  assert_int_equal(rt_cgroup_path(cg, "memory", dir, sizeof(dir), NULL), -ENOENT);
  assert_int_equal(rt_cgroup_path(cg, "devices", dir, sizeof(dir), NULL), 0);
  assert_false(rt_cgroup_oom_killed(cg));
  assert_int_equal(rt_cgroup_destroy(cg), 0);
  assert_false(dir_exists(dir));
}

static int eat_100mb(void) {
  size_t sz = 100u << 20;
  char *p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return 2;
  for (size_t i = 0; i < sz; i += 4096)
    p[i] = 1;
  return 0; /* survived: the limit did not work */
}

static void test_memory_limit_32m_oom_kills_100mb_child(void **state) {
  struct rt_limits lim = {.memory_bytes = 32 << 20};
  struct rt_cgroup *cg = NULL;
  struct waiter w;
  int status;

  assert_int_equal(rt_cgroup_create(name, &lim, &cg), 0);
  w = spawn(eat_100mb);
  assert_int_equal(rt_cgroup_attach(cg, w.pid), 0);
  assert_false(rt_cgroup_oom_killed(cg));
  status = release_and_wait(&w);
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGKILL);
  assert_true(rt_cgroup_oom_killed(cg));
  assert_int_equal(rt_cgroup_destroy(cg), 0);
}

static int fork_loop(void) {
  int made = 0;
  for (int i = 0; i < 50; i++) {
    pid_t p = fork();
    if (p == 0) {
      pause();
      _exit(0);
    }
    if (p < 0)
      return errno == EAGAIN && made < 10 ? 0 : 3;
    made++;
  }
  return 4; /* 50 forks succeeded: no limit */
}

static void test_pids_limit_10_stops_fork_loop(void **state) {
  struct rt_limits lim = {.pids_max = 10};
  struct rt_cgroup *cg = NULL;
  struct waiter w;
  int status;

  assert_int_equal(rt_cgroup_create(name, &lim, &cg), 0);
  w = spawn(fork_loop);
  assert_int_equal(rt_cgroup_attach(cg, w.pid), 0);
  status = release_and_wait(&w);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  /* The paused grandchildren are still in the group: destroy kills and removes. */
  assert_int_equal(rt_cgroup_destroy(cg), 0);
}

/* In a child attached to the group(s): mknod is allowed, opening a block device is not. */
static char devdir[64];
static int try_devices(void) {
  char blk[128], mem[128], null[128];
  int fd;
  snprintf(blk, sizeof(blk), "%s/blk", devdir);
  snprintf(mem, sizeof(mem), "%s/mem", devdir);
  snprintf(null, sizeof(null), "%s/null", devdir);
  if (mknod(blk, S_IFBLK | 0600, makedev(7, 0)) < 0 || mknod(mem, S_IFCHR | 0600, makedev(1, 1)) < 0 ||
      mknod(null, S_IFCHR | 0666, makedev(1, 3)) < 0)
    return 10;
  fd = open(null, O_RDWR);
  if (fd < 0)
    return 11;
  close(fd);
  fd = open(blk, O_RDONLY);
  if (fd >= 0 || errno != EPERM)
    return 12;
  fd = open(mem, O_RDONLY);
  if (fd >= 0 || errno != EPERM)
    return 13;
  return 0;
}

static void make_devdir(void) {
  snprintf(devdir, sizeof(devdir), "/tmp/sdtest-dev.XXXXXX");
  assert_non_null(mkdtemp(devdir));
}

static void remove_devdir(void) {
  char p[128];
  const char *n[] = {"blk", "mem", "null"};
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof(p), "%s/%s", devdir, n[i]);
    unlink(p);
  }
  rmdir(devdir);
}

static void test_devices_deny_block_device_open(void **state) {
  struct rt_cgroup *cg = NULL;
  struct waiter w;
  int status;

  make_devdir();
  /* Without the group the same steps open the block device: the check can fail. */
  w = spawn(try_devices);
  status = release_and_wait(&w);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 12);
  remove_devdir();

  make_devdir();
  assert_int_equal(rt_cgroup_create(name, NULL, &cg), 0);
  w = spawn(try_devices);
  assert_int_equal(rt_cgroup_attach(cg, w.pid), 0);
  status = release_and_wait(&w);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_int_equal(rt_cgroup_destroy(cg), 0);
  remove_devdir();
}

/* The v2 device program, on whatever cgroup2 hierarchy the host mounts. */
static void test_devices_bpf_program_on_cgroup2(void **state) {
  const char *roots[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
  char dir[PATH_MAX], procs[PATH_MAX + 16], pid[32];
  struct statfs sf;
  struct waiter w;
  int fd, status;
  const char *root = NULL;

  for (int i = 0; i < 2; i++)
    if (statfs(roots[i], &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
      root = roots[i];
  if (!root)
    skip();
  snprintf(dir, sizeof(dir), "%s/%s-bpf", root, name);
  assert_int_equal(mkdir(dir, 0755), 0);
  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(rt_cgroup_devices_bpf_attach(fd), 0);
  close(fd);

  make_devdir();
  w = spawn(try_devices);
  snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
  fd = open(procs, O_WRONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  snprintf(pid, sizeof(pid), "%d", (int)w.pid);
  assert_int_equal(write(fd, pid, strlen(pid)), (ssize_t)strlen(pid));
  close(fd);
  status = release_and_wait(&w);
  remove_devdir();
  for (int i = 0; i < 100 && rmdir(dir) < 0 && errno == EBUSY; i++)
    usleep(5000);
  assert_false(dir_exists(dir));
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

/* The child joins by itself (v1 "tasks" + "0"), also from a new user namespace, and the
 * limits then apply to it. */
static struct rt_cgroup *join_cg;
static bool join_in_userns;
static int join_then_eat(void) {
  if (join_in_userns && unshare(CLONE_NEWUSER) < 0)
    return 20;
  if (rt_cgroup_join_self(join_cg) < 0)
    return 21;
  return eat_100mb();
}

static void test_join_self_moves_child_and_limits_apply(void **state) {
  struct rt_limits lim = {.memory_bytes = 32 << 20, .pids_max = 20, .cpu_quota_us = 100000};
  const char *ctrls[] = {"memory", "cpu", "pids", "devices"};
  char dir[PATH_MAX];

  for (int userns = 0; userns < 2; userns++) {
    struct rt_cgroup *cg = NULL;
    struct waiter w;
    bool v2;
    int status, p[2];
    char c;

    setup_name(state);
    assert_int_equal(rt_cgroup_create(name, &lim, &cg), 0);
    assert_int_equal(rt_cgroup_prepare_join(cg), 0);
    assert_int_equal(pipe(p), 0);
    /* First child: joins, reports, waits to be killed. */
    w.pid = fork();
    assert_true(w.pid >= 0);
    if (w.pid == 0) {
      if (userns && unshare(CLONE_NEWUSER) < 0)
        _exit(20);
      c = rt_cgroup_join_self(cg) == 0 ? 'j' : 'x';
      if (write(p[1], &c, 1) != 1)
        _exit(22);
      pause();
      _exit(0);
    }
    assert_int_equal(read(p[0], &c, 1), 1);
    assert_int_equal(c, 'j');
    for (int i = 0; i < 4; i++) {
      assert_int_equal(rt_cgroup_path(cg, ctrls[i], dir, sizeof(dir), &v2), 0);
      assert_true(proc_in_group(w.pid, ctrls[i], v2));
    }
    rt_cgroup_join_close(cg);
    close(p[0]);
    close(p[1]);
    /* Second child: joins and allocates 100 MB: OOM-killed. */
    assert_int_equal(rt_cgroup_prepare_join(cg), 0);
    join_cg = cg;
    join_in_userns = userns;
    w = spawn(join_then_eat);
    status = release_and_wait(&w);
    rt_cgroup_join_close(cg);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    assert_true(rt_cgroup_oom_killed(cg));
    assert_int_equal(rt_cgroup_destroy(cg), 0); /* kills the first child */
    assert_int_equal(waitpid(-1, &status, 0) > 0, 1);
  }
  assert_int_equal(rt_cgroup_join_self(NULL), -EINVAL);
  assert_int_equal(rt_cgroup_prepare_join(NULL), -EINVAL);
  rt_cgroup_join_close(NULL);
}

static void test_bad_input_is_refused_with_message(void **state) {
  struct rt_cgroup *cg = NULL, *dup = NULL;
  char longname[96];
  const char *bad[] = {"", ".", "..", "a/b", "../x", "a b", longname};
  struct rt_limits neg = {.memory_bytes = -1};
  struct rt_limits badcpu = {.cpu_quota_us = 500};

  memset(longname, 'x', 81); /* one over the limit: a name (64) and a state root tag */
  longname[81] = '\0';
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(rt_cgroup_create(bad[i], NULL, &cg), -EINVAL);
    assert_true(strlen(rt_cgroup_last_error()) > 0);
  }
  assert_int_equal(rt_cgroup_create(NULL, NULL, &cg), -EINVAL);
  assert_int_equal(rt_cgroup_create(name, &neg, &cg), -EINVAL);
  assert_int_equal(rt_cgroup_create(name, &badcpu, &cg), -EINVAL);
  assert_null(cg);
  /* The same name twice: the second is refused and leaves the first intact. */
  assert_int_equal(rt_cgroup_create(name, NULL, &cg), 0);
  assert_int_equal(rt_cgroup_create(name, NULL, &dup), -EEXIST);
  assert_null(dup);
  assert_non_null(strstr(rt_cgroup_last_error(), name));
  assert_int_equal(rt_cgroup_attach(cg, 0), -EINVAL);
  assert_int_equal(rt_cgroup_attach(NULL, 1), -EINVAL);
  assert_int_equal(rt_cgroup_attach(cg, 999999999), -ESRCH);
  assert_non_null(strstr(rt_cgroup_last_error(), "cgroup.procs"));
  assert_int_equal(rt_cgroup_destroy(cg), 0);
  assert_int_equal(rt_cgroup_destroy(NULL), 0);
  assert_false(rt_cgroup_oom_killed(NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_create_attach_limits_visible_destroy_removes, setup_name),
      cmocka_unit_test_setup(test_no_limits_still_restricts_devices, setup_name),
      cmocka_unit_test_setup(test_memory_limit_32m_oom_kills_100mb_child, setup_name),
      cmocka_unit_test_setup(test_pids_limit_10_stops_fork_loop, setup_name),
      cmocka_unit_test_setup(test_devices_deny_block_device_open, setup_name),
      cmocka_unit_test_setup(test_devices_bpf_program_on_cgroup2, setup_name),
      cmocka_unit_test_setup(test_join_self_moves_child_and_limits_apply, setup_name),
      cmocka_unit_test_setup(test_bad_input_is_refused_with_message, setup_name),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
