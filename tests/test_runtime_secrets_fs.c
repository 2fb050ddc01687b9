/*
 * runtime/secrets_fs: real tmpfs mounts (new mount API), real mount namespaces.
 * Needs root (CAP_SYS_ADMIN).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/secrets_fs.h"

static char tmpdir[64];
#undef PATH_MAX
#define PATH_MAX 1024 /* test paths are short; keeps format-truncation checks quiet */

static int setup_tmp(void **state) {
  snprintf(tmpdir, sizeof(tmpdir), "/tmp/sdtest-sfs.XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state) {
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

static struct rt_secrets_fs *new_fs(size_t total, size_t largest) {
  struct rt_secrets_fs *fs = NULL;
  assert_int_equal(rt_secrets_fs_new(total, largest, &fs), 0);
  assert_non_null(fs);
  return fs;
}

/* Read a file of the writable mount into buf; returns its length or -errno. */
static int read_file_at(int dirfd, const char *path, char *buf, size_t sz) {
  int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  ssize_t n;
  if (fd < 0)
    return -errno;
  n = read(fd, buf, sz - 1);
  close(fd);
  if (n < 0)
    return -errno;
  buf[n] = '\0';
  return (int)n;
}

static int count_entries(int dirfd, const char *path) {
  int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d;
  struct dirent *e;
  int n = 0;
  if (fd < 0)
    return -errno;
  d = fdopendir(fd);
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      n++;
  closedir(d);
  return n;
}

static void test_put_replace_remove(void **state) {
  struct rt_secrets_fs *fs = new_fs(64, 32);
  int root = rt_secrets_fs_fd(fs);
  char buf[64];

  assert_int_equal(rt_secrets_fs_put(fs, "db_password", "first", 5, 0, 0, 0400), 0);
  assert_int_equal(read_file_at(root, "db_password", buf, sizeof(buf)), 5);
  assert_string_equal(buf, "first");
  assert_int_equal(rt_secrets_fs_put(fs, "db_password", "second value", 12, 0, 0, 0400), 0);
  assert_int_equal(read_file_at(root, "db_password", buf, sizeof(buf)), 12);
  assert_string_equal(buf, "second value");
  assert_int_equal(rt_secrets_fs_put(fs, "empty", NULL, 0, 0, 0, 0400), 0);
  assert_int_equal(read_file_at(root, "empty", buf, sizeof(buf)), 0);
  assert_int_equal(count_entries(root, "."), 2); /* no temporary left behind */
  assert_int_equal(rt_secrets_fs_remove(fs, "db_password"), 0);
  assert_int_equal(read_file_at(root, "db_password", buf, sizeof(buf)), -ENOENT);
  assert_int_equal(rt_secrets_fs_remove(fs, "db_password"), -ENOENT);
  rt_secrets_fs_free(fs);
}

static void test_put_sets_owner_and_mode(void **state) {
  struct rt_secrets_fs *fs = new_fs(64, 32);
  int root = rt_secrets_fs_fd(fs);
  struct stat st;

  assert_int_equal(rt_secrets_fs_put(fs, "k", "v", 1, 1234, 5678, 0440), 0);
  assert_int_equal(fstatat(root, "k", &st, AT_SYMLINK_NOFOLLOW), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_int_equal(st.st_uid, 1234);
  assert_int_equal(st.st_gid, 5678);
  assert_int_equal(st.st_mode & 07777, 0440);
  /* Replacing changes owner and mode too. */
  assert_int_equal(rt_secrets_fs_put(fs, "k", "w", 1, 42, 43, 0400), 0);
  assert_int_equal(fstatat(root, "k", &st, AT_SYMLINK_NOFOLLOW), 0);
  assert_int_equal(st.st_uid, 42);
  assert_int_equal(st.st_gid, 43);
  assert_int_equal(st.st_mode & 07777, 0400);
  assert_int_equal(fstat(root, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0755);
  rt_secrets_fs_free(fs);
}

static void test_put_creates_nested_dirs_0755(void **state) {
  struct rt_secrets_fs *fs = new_fs(64, 32);
  int root = rt_secrets_fs_fd(fs);
  mode_t old = umask(077);
  struct stat st;
  char buf[16];

  assert_int_equal(rt_secrets_fs_put(fs, "app/tls/key.pem", "K", 1, 0, 0, 0400), 0);
  assert_int_equal(rt_secrets_fs_put(fs, "app/tls/cert.pem", "C", 1, 0, 0, 0444), 0);
  umask(old);
  assert_int_equal(fstatat(root, "app", &st, AT_SYMLINK_NOFOLLOW), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0755);
  assert_int_equal(fstatat(root, "app/tls", &st, AT_SYMLINK_NOFOLLOW), 0);
  assert_int_equal(st.st_mode & 07777, 0755);
  assert_int_equal(read_file_at(root, "app/tls/key.pem", buf, sizeof(buf)), 1);
  assert_int_equal(rt_secrets_fs_remove(fs, "app/tls/key.pem"), 0);
  assert_int_equal(count_entries(root, "app/tls"), 1);
  /* A file where a directory is needed, and a directory as target. */
  assert_int_equal(rt_secrets_fs_put(fs, "app/tls/cert.pem/x", "X", 1, 0, 0, 0400), -ENOTDIR);
  assert_int_equal(rt_secrets_fs_put(fs, "app/tls", "X", 1, 0, 0, 0400), -EISDIR);
  assert_int_equal(rt_secrets_fs_remove(fs, "app"), -EISDIR);
  assert_int_equal(count_entries(root, "app/tls"), 1);
  rt_secrets_fs_free(fs);
}

static void test_put_rejects_bad_targets(void **state) {
  struct rt_secrets_fs *fs = new_fs(64, 32);
  char longname[300];
  const char *bad[] = {"", "/etc/passwd", "..", "../x", "a/../b", "a/..", "a//b", "./a", "a/.",
                       ".", "a/", ".sdtmp-1-2", "d/.sdtmp-x", longname};
  memset(longname, 'a', 256);
  longname[256] = '\0';

  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(rt_secrets_fs_put(fs, bad[i], "v", 1, 0, 0, 0400), -EINVAL);
    assert_int_equal(rt_secrets_fs_remove(fs, bad[i]), -EINVAL);
  }
  assert_int_equal(rt_secrets_fs_put(fs, NULL, "v", 1, 0, 0, 0400), -EINVAL);
  assert_int_equal(rt_secrets_fs_put(fs, "ok", "v", 1, 0, 0, 010400), -EINVAL);
  assert_int_equal(rt_secrets_fs_put(fs, "ok", NULL, 1, 0, 0, 0400), -EINVAL);
  assert_int_equal(rt_secrets_fs_put(NULL, "ok", "v", 1, 0, 0, 0400), -EINVAL);
  assert_int_equal(rt_secrets_fs_remove(NULL, "ok"), -EINVAL);
  assert_int_equal(count_entries(rt_secrets_fs_fd(fs), "."), 0);
  rt_secrets_fs_free(fs);
  rt_secrets_fs_free(NULL);
  assert_false(rt_secrets_fs_noswap(NULL));
  assert_int_equal(rt_secrets_fs_new(64, 32, NULL), -EINVAL);
}

/* Symlinks planted in the tmpfs (only possible through the writable fd) are never
 * followed: not in directories, not at the target (rename replaces the link itself). */
static void test_put_refuses_symlink_tricks(void **state) {
  struct rt_secrets_fs *fs = new_fs(64, 32);
  int root = rt_secrets_fs_fd(fs);
  char host[PATH_MAX], hostfile[PATH_MAX + 8];
  struct stat st;
  int fd;

  snprintf(host, sizeof(host), "%s/host", tmpdir);
  assert_int_equal(mkdir(host, 0700), 0);
  snprintf(hostfile, sizeof(hostfile), "%s/f", host);
  fd = open(hostfile, O_CREAT | O_WRONLY, 0600);
  assert_true(fd >= 0);
  close(fd);

  assert_int_equal(symlinkat(host, root, "dirlink"), 0);
  assert_int_equal(symlinkat(hostfile, root, "filelink"), 0);
  assert_int_equal(rt_secrets_fs_put(fs, "dirlink/x", "v", 1, 0, 0, 0400), -ELOOP);
  assert_int_equal(rt_secrets_fs_put(fs, "dirlink/sub/x", "v", 1, 0, 0, 0400), -ELOOP);
  assert_int_equal(rt_secrets_fs_remove(fs, "dirlink/f"), -ELOOP);
  assert_int_equal(rt_secrets_fs_put(fs, "filelink", "v", 1, 0, 0, 0400), 0);
  assert_int_equal(fstatat(root, "filelink", &st, AT_SYMLINK_NOFOLLOW), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_int_equal(stat(hostfile, &st), 0);
  assert_int_equal(st.st_size, 0); /* host file untouched */
  assert_int_equal(count_entries(AT_FDCWD, host), 1);
  rt_secrets_fs_free(fs);
}

static void test_size_limit_enospc_but_replacing_largest_fits(void **state) {
  enum { FILE_SZ = 64 * 1024 };
  struct rt_secrets_fs *fs = new_fs(3 * FILE_SZ, FILE_SZ);
  int root = rt_secrets_fs_fd(fs);
  size_t size = rt_secrets_fs_size(fs);
  char *big = calloc(1, size + 4096);

  assert_non_null(big);
  assert_true(size >= 4 * FILE_SZ);
  assert_true(size < 4 * FILE_SZ + 1024 * 1024);
  assert_int_equal(rt_secrets_fs_put(fs, "a", big, FILE_SZ, 0, 0, 0400), 0);
  assert_int_equal(rt_secrets_fs_put(fs, "b", big, FILE_SZ, 0, 0, 0400), 0);
  assert_int_equal(rt_secrets_fs_put(fs, "c", big, FILE_SZ, 0, 0, 0400), 0);
  /* More than the tmpfs holds: ENOSPC, and no partial temporary is left. */
  assert_int_equal(rt_secrets_fs_put(fs, "huge", big, size, 0, 0, 0400), -ENOSPC);
  assert_int_equal(count_entries(root, "."), 3);
  /* Replacing the largest file needs the old and the new copy at once: it fits. */
  for (int i = 0; i < 5; i++)
    assert_int_equal(rt_secrets_fs_put(fs, "c", big, FILE_SZ, 0, 0, 0400), 0);
  assert_int_equal(count_entries(root, "."), 3);
  free(big);
  rt_secrets_fs_free(fs);
}

static void test_noswap_where_kernel_has_it(void **state) {
  struct rt_secrets_fs *fs = new_fs(64, 32);
  struct utsname u;
  int major = 0, minor = 0;
  assert_int_equal(uname(&u), 0);
  sscanf(u.release, "%d.%d", &major, &minor);
  assert_int_equal(rt_secrets_fs_noswap(fs), major > 6 || (major == 6 && minor >= 4));
  rt_secrets_fs_free(fs);
}

/* --- mount_in, in a forked child with its own mount namespace ------------------------- */

#define CHECK(c)            \
  do {                      \
    if (!(c))               \
      _exit(__LINE__ % 250 + 1); \
  } while (0)

/* Fork; the child enters a private mount namespace and runs fn; returns its exit code. */
static int in_child(int (*fn)(struct rt_secrets_fs *, const char *, int), struct rt_secrets_fs *fs,
                    const char *rootfs, int arg) {
  int status;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    CHECK(unshare(CLONE_NEWNS) == 0);
    CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    _exit(fn(fs, rootfs, arg));
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  return WEXITSTATUS(status);
}

static void mkdirs(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof(buf), "%s", path);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      assert_true(mkdir(buf, 0755) == 0 || errno == EEXIST);
      *p = c;
      if (!c)
        break;
    }
  }
}

/* Mount options of the mount at path (last match in mountinfo), into opts. */
static bool mount_opts(const char *path, char *opts, size_t sz) {
  FILE *f = fopen("/proc/self/mountinfo", "re");
  char line[4096];
  bool found = false;
  if (!f)
    return false;
  while (fgets(line, sizeof(line), f)) {
    char mnt[PATH_MAX], o[512];
    if (sscanf(line, "%*d %*d %*s %*s %1023s %511s", mnt, o) == 2 && strcmp(mnt, path) == 0) {
      snprintf(opts, sz, "%s", o);
      found = true;
    }
  }
  fclose(f);
  return found;
}

static int child_ro_clone(struct rt_secrets_fs *fs, const char *rootfs, int pipes) {
  int rfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  char path[PATH_MAX + 64], buf[64], opts[512];
  int fd, to_parent = pipes & 0xffff, from_parent = pipes >> 16;

  CHECK(rfd >= 0);
  CHECK(rt_secrets_fs_mount_in(fs, rfd) == 0);
  snprintf(path, sizeof(path), "%s/run/secrets", rootfs);
  CHECK(mount_opts(path, opts, sizeof(opts)));
  CHECK(strstr(opts, "ro") == opts);
  CHECK(strstr(opts, "nosuid") && strstr(opts, "nodev") && strstr(opts, "noexec") &&
        strstr(opts, "nosymfollow"));
  snprintf(path, sizeof(path), "%s/run/secrets/a", rootfs);
  CHECK(read_file_at(AT_FDCWD, path, buf, sizeof(buf)) == 3 && strcmp(buf, "one") == 0);
  /* The container's view refuses every write. */
  fd = open(path, O_WRONLY | O_TRUNC);
  CHECK(fd < 0 && errno == EROFS);
  snprintf(path, sizeof(path), "%s/run/secrets/new", rootfs);
  fd = open(path, O_WRONLY | O_CREAT, 0600);
  CHECK(fd < 0 && errno == EROFS);
  snprintf(path, sizeof(path), "%s/run/secrets/a", rootfs);
  CHECK(unlink(path) < 0 && errno == EROFS);
  /* ... while the handle still writes and the clone sees it. */
  CHECK(write(to_parent, "x", 1) == 1);
  CHECK(read(from_parent, buf, 1) == 1);
  CHECK(read_file_at(AT_FDCWD, path, buf, sizeof(buf)) == 3 && strcmp(buf, "two") == 0);
  snprintf(path, sizeof(path), "%s/run/secrets/b", rootfs);
  CHECK(read_file_at(AT_FDCWD, path, buf, sizeof(buf)) == 5 && strcmp(buf, "added") == 0);
  return 0;
}

static void test_ro_clone_refuses_writes_while_handle_writes(void **state) {
  struct rt_secrets_fs *fs = new_fs(64, 32);
  int up[2], down[2], status;
  char rootfs[PATH_MAX], c;
  pid_t pid;

  snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmpdir);
  mkdirs(rootfs); /* no run/: mount_in creates run/secrets */
  assert_int_equal(rt_secrets_fs_put(fs, "a", "one", 3, 0, 0, 0444), 0);
  assert_int_equal(pipe(up), 0);
  assert_int_equal(pipe(down), 0);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    CHECK(unshare(CLONE_NEWNS) == 0);
    CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    _exit(child_ro_clone(fs, rootfs, up[1] | (down[0] << 16)));
  }
  close(up[1]);
  close(down[0]);
  if (read(up[0], &c, 1) != 1) { /* the child failed before the handshake */
    assert_int_equal(waitpid(pid, &status, 0), pid);
    fail_msg("child exited early with status 0x%x", status);
  }
  assert_int_equal(rt_secrets_fs_put(fs, "a", "two", 3, 0, 0, 0444), 0);
  assert_int_equal(rt_secrets_fs_put(fs, "b", "added", 5, 0, 0, 0444), 0);
  assert_int_equal(write(down[1], "y", 1), 1);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  /* The host's view of the rootfs never had the mount. */
  snprintf(rootfs, sizeof(rootfs), "%s/rootfs/run/secrets", tmpdir);
  assert_int_equal(count_entries(AT_FDCWD, rootfs), 0);
  close(up[0]), close(down[1]);
  rt_secrets_fs_free(fs);
}

/* arg = expected mount_in result; on success the secret must show at <rootfs>/<where>. */
static const char *expect_where;
static int child_mount_expect(struct rt_secrets_fs *fs, const char *rootfs, int expect) {
  int rfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  char path[PATH_MAX + 64], buf[16];
  int r;
  CHECK(rfd >= 0);
  r = rt_secrets_fs_mount_in(fs, rfd);
  CHECK(r == expect);
  if (r == 0) {
    snprintf(path, sizeof(path), "%s/%s/s", rootfs, expect_where);
    CHECK(read_file_at(AT_FDCWD, path, buf, sizeof(buf)) == 1);
  }
  return 0;
}

/* tmpl with "%H" replaced by host. */
static void subst_host(const char *tmpl, const char *host, char *out, size_t sz) {
  const char *h = strstr(tmpl, "%H");
  assert_non_null(h);
  snprintf(out, sz, "%.*s%s%s", (int)(h - tmpl), tmpl, host, h + 2);
}

/* /run/secrets -> host dir, /run -> host dir, relative ../../ escapes: the mount lands
 * inside the rootfs (where the container would resolve it) or fails; the host directory
 * never receives anything, not even in the child's namespace. */
static void test_mount_in_symlinked_run_secrets_stays_in_rootfs(void **state) {
  struct {
    const char *run_link, *secrets_link; /* symlink values, NULL = real directory */
    bool host_path_in_rootfs;            /* rootfs contains <host> as a directory */
    int expect;
    const char *where; /* relative to rootfs, "%H" = host path */
  } cases[] = {
      {NULL, "%H", false, -ENOENT, NULL},
      {NULL, "%H", true, 0, "%H"},
      {"%H", NULL, false, -ENOENT, NULL},
      {"%H", NULL, true, 0, "%H/secrets"},
      {"../../../../../../../../../../%H", NULL, true, 0, "%H/secrets"},
      {NULL, "../../../../../../../../%H", true, 0, "%H"},
  };
  char host[PATH_MAX];
  snprintf(host, sizeof(host), "%s/host", tmpdir);
  assert_int_equal(mkdir(host, 0700), 0);

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct rt_secrets_fs *fs = new_fs(64, 32);
    char rootfs[PATH_MAX], path[3 * PATH_MAX], val[2 * PATH_MAX], where[2 * PATH_MAX];

    assert_int_equal(rt_secrets_fs_put(fs, "s", "v", 1, 0, 0, 0444), 0);
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs%zu", tmpdir, i);
    mkdirs(rootfs);
    if (cases[i].host_path_in_rootfs) {
      snprintf(path, sizeof(path), "%s%s", rootfs, host);
      mkdirs(path);
    }
    snprintf(path, sizeof(path), "%s/run", rootfs);
    if (cases[i].run_link) {
      subst_host(cases[i].run_link, host, val, sizeof(val));
      assert_int_equal(symlink(val, path), 0);
    } else {
      assert_int_equal(mkdir(path, 0755), 0);
      if (cases[i].secrets_link) {
        subst_host(cases[i].secrets_link, host, val, sizeof(val));
        snprintf(path, sizeof(path), "%s/run/secrets", rootfs);
        assert_int_equal(symlink(val, path), 0);
      }
    }
    if (cases[i].where)
      subst_host(cases[i].where, host, where, sizeof(where));
    expect_where = where;
    assert_int_equal(in_child(child_mount_expect, fs, rootfs, cases[i].expect), 0);
    assert_int_equal(count_entries(AT_FDCWD, host), 0);
    rt_secrets_fs_free(fs);
  }
}

static int child_readonly_rootfs(struct rt_secrets_fs *fs, const char *rootfs, int unused) {
  char path[PATH_MAX + 64], buf[16];
  int rfd;
  /* The rootfs as a read-only bind mount, as with --read-only. */
  CHECK(mount(rootfs, rootfs, NULL, MS_BIND, NULL) == 0);
  CHECK(mount(NULL, rootfs, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) == 0);
  rfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  CHECK(rfd >= 0);
  CHECK(rt_secrets_fs_mount_in(fs, rfd) == 0);
  snprintf(path, sizeof(path), "%s/run/secrets/s", rootfs);
  CHECK(read_file_at(AT_FDCWD, path, buf, sizeof(buf)) == 1);
  return 0;
}

static int child_no_create(struct rt_secrets_fs *fs, const char *rootfs, int unused) {
  char path[PATH_MAX + 64], buf[16];
  int rfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  CHECK(rfd >= 0);
  CHECK(rt_secrets_fs_mount_in_flags(fs, rfd, 0x80) == -EINVAL);
  CHECK(rt_secrets_fs_mount_in_flags(fs, rfd, RT_SECRETS_FS_NO_CREATE) == 0);
  snprintf(path, sizeof(path), "%s/run/secrets/s", rootfs);
  CHECK(read_file_at(AT_FDCWD, path, buf, sizeof(buf)) == 1);
  return 0;
}

/* NO_CREATE (--read-only): a writable rootfs dir is still never written to. */
static void test_mount_in_no_create_leaves_rootfs_untouched(void **state) {
  struct rt_secrets_fs *fs = new_fs(64, 32);
  char rootfs[PATH_MAX], run[PATH_MAX + 8];
  snprintf(rootfs, sizeof(rootfs), "%s/r", tmpdir);
  snprintf(run, sizeof(run), "%s/run", rootfs);
  mkdirs(run);
  assert_int_equal(rt_secrets_fs_put(fs, "s", "v", 1, 0, 0, 0444), 0);
  assert_int_equal(in_child(child_no_create, fs, rootfs, 0), 0);
  assert_int_equal(count_entries(AT_FDCWD, run), 0);
  rt_secrets_fs_free(fs);
}

static void test_mount_in_readonly_rootfs_without_run_secrets(void **state) {
  struct rt_secrets_fs *fs = new_fs(64, 32);
  char rootfs[PATH_MAX], run[PATH_MAX + 8];
  snprintf(rootfs, sizeof(rootfs), "%s/rorootfs", tmpdir);
  snprintf(run, sizeof(run), "%s/run", rootfs);
  mkdirs(run);
  assert_int_equal(rt_secrets_fs_put(fs, "s", "v", 1, 0, 0, 0444), 0);
  assert_int_equal(in_child(child_readonly_rootfs, fs, rootfs, 0), 0);
  assert_int_equal(count_entries(AT_FDCWD, run), 0);
  assert_int_equal(rt_secrets_fs_mount_in(NULL, 0), -EINVAL);
  rt_secrets_fs_free(fs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_put_replace_remove),
      cmocka_unit_test(test_put_sets_owner_and_mode),
      cmocka_unit_test(test_put_creates_nested_dirs_0755),
      cmocka_unit_test(test_put_rejects_bad_targets),
      cmocka_unit_test_setup_teardown(test_put_refuses_symlink_tricks, setup_tmp, teardown_tmp),
      cmocka_unit_test(test_size_limit_enospc_but_replacing_largest_fits),
      cmocka_unit_test(test_noswap_where_kernel_has_it),
      cmocka_unit_test_setup_teardown(test_ro_clone_refuses_writes_while_handle_writes, setup_tmp,
                                      teardown_tmp),
      cmocka_unit_test_setup_teardown(test_mount_in_symlinked_run_secrets_stays_in_rootfs,
                                      setup_tmp, teardown_tmp),
      cmocka_unit_test_setup_teardown(test_mount_in_readonly_rootfs_without_run_secrets, setup_tmp,
                                      teardown_tmp),
      cmocka_unit_test_setup_teardown(test_mount_in_no_create_leaves_rootfs_untouched, setup_tmp,
                                      teardown_tmp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
