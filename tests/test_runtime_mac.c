/*
 * runtime/mac: the exec label's attr file must be the container's procfs, also when an
 * image symlink and a user mount try to put a file of the user's there
 * (CVE-2019-19921: /data -> /proc in the image, --mount VOL:/data). This host has
 * neither AppArmor nor SELinux, so the label itself is not written; what is tested is
 * which file the launcher would write: the real procfs file or the user's.
 * Real mount namespaces and procfs; needs root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/mac.h"

static char tmpdir[64];

static int setup_tmp(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/sdtest-mac.XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state) {
  char cmd[128];
  (void)state;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

static void mkfile(const char *path, const char *content) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(content, f);
  fclose(f);
}

static void read_file(const char *path, char *buf, size_t sz) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  size_t n = fread(buf, 1, sz - 1, f);
  buf[n] = '\0';
  fclose(f);
}

/* A fake attr path: a plain file where proc/thread-self/attr/exec should be. */
static void test_attr_on_a_plain_file_is_refused(void **state) {
  char path[256], buf[64];
  (void)state;
  snprintf(path, sizeof path, "%s/proc/thread-self/attr", tmpdir);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
  assert_int_equal(system(cmd), 0);
  strcat(path, "/exec");
  mkfile(path, "untouched");
  int root = open(tmpdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_true(root >= 0);
  int fd = -1;
  assert_int_equal(rt_mac_attr_open(root, "proc/thread-self/attr/exec", &fd), -EXDEV);
  assert_int_equal(fd, -1);
  /* The same for a symlinked attr file and for the open-then-check helper. */
  int plain = open(path, O_RDONLY | O_CLOEXEC);
  assert_true(plain >= 0);
  assert_int_equal(rt_mac_attr_check_fd(plain), -EXDEV);
  close(plain);
  close(root);
  read_file(path, buf, sizeof buf);
  assert_string_equal(buf, "untouched");
}

/* The real procfs file passes the check. */
static void test_attr_on_procfs_is_accepted(void **state) {
  (void)state;
  int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_true(root >= 0);
  int fd = -1;
  assert_int_equal(rt_mac_attr_open(root, "proc/thread-self/attr/exec", &fd), 0);
  assert_true(fd >= 0);
  assert_int_equal(rt_mac_attr_check_fd(fd), 0);
  close(fd);
  close(root);
}

/*
 * The launcher's order in a child with its own mount namespace: rootfs with a symlink
 * data -> /proc, procfs mounted at rootfs/proc, attr opened, THEN the user's
 * --mount VOL:/data (which lands on /proc). The fd opened first stays the procfs
 * file; opening after the user mount (the order of the old code) reaches the user's
 * file, and the check refuses it.
 */
static void test_user_mount_over_proc_cannot_take_the_label(void **state) {
  (void)state;
  char root[96], vol[96], p[512];
  snprintf(root, sizeof root, "%s/rootfs", tmpdir);
  snprintf(vol, sizeof vol, "%s/vol", tmpdir);
  snprintf(p, sizeof p, "mkdir -p '%s/proc' '%s/thread-self/attr' && ln -s /proc '%s/data'",
           root, vol, root);
  assert_int_equal(system(p), 0);
  snprintf(p, sizeof p, "%s/thread-self/attr/exec", vol);
  mkfile(p, "user-file");

  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int code = 10;
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
      _exit(code);
    int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    char procdir[160];
    snprintf(procdir, sizeof procdir, "%s/proc", root);
    code++; /* 11 */
    if (rfd < 0 || mount("proc", procdir, "proc", 0, NULL) < 0)
      _exit(code);
    int early = -1, late = -1;
    code++; /* 12: the early open works and is procfs */
    if (rt_mac_attr_open(rfd, "proc/thread-self/attr/exec", &early) < 0)
      _exit(code);
    /* --mount VOL:/data, resolved in the root: data -> /proc. */
    char target[160];
    snprintf(target, sizeof target, "%s/proc", root);
    code++; /* 13 */
    if (mount(vol, target, NULL, MS_BIND, NULL) < 0)
      _exit(code);
    code++; /* 14: the early fd is still the procfs file */
    if (rt_mac_attr_check_fd(early) != 0)
      _exit(code);
    code++; /* 15: the old order would now open the user's file ... */
    char attr[200];
    snprintf(attr, sizeof attr, "%s/proc/thread-self/attr/exec", root);
    int plain = open(attr, O_WRONLY | O_CLOEXEC);
    if (plain < 0 || rt_mac_attr_check_fd(plain) != -EXDEV)
      _exit(code);
    close(plain);
    code++; /* 16: ... which the check refuses */
    if (rt_mac_attr_open(rfd, "proc/thread-self/attr/exec", &late) != -EXDEV || late != -1)
      _exit(code);
    _exit(0);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  char buf[64];
  read_file(p, buf, sizeof buf);
  assert_string_equal(buf, "user-file");
}

/* Without an LSM, asking for a label fails clearly and opens nothing. */
static void test_exec_open_without_lsm(void **state) {
  (void)state;
  int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct rt_mac_exec m = {.aa_fd = 7, .se_fd = 7};
  assert_true(root >= 0);
  if (!rt_mac_apparmor_enabled()) {
    assert_int_equal(rt_mac_exec_open(root, "secretd-default", NULL, &m), -EOPNOTSUPP);
    assert_int_equal(m.aa_fd, 7); /* untouched on failure */
  }
  assert_int_equal(rt_mac_exec_open(root, "unconfined", NULL, &m), 0);
  assert_int_equal(m.aa_fd, -1);
  assert_int_equal(m.se_fd, -1);
  assert_int_equal(rt_mac_exec_apply(&m, "unconfined", NULL), 0);
  close(root);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_attr_on_a_plain_file_is_refused, setup_tmp, teardown_tmp),
      cmocka_unit_test(test_attr_on_procfs_is_accepted),
      cmocka_unit_test_setup_teardown(test_user_mount_over_proc_cannot_take_the_label, setup_tmp,
                                      teardown_tmp),
      cmocka_unit_test(test_exec_open_without_lsm),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
