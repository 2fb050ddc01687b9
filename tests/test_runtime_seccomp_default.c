/*
 * The built-in default filter: the build-time precompiled BPF equals a fresh compile; loaded for real in a forked child it denies what Docker denies with EPERM
 * (also through int $0x80), answers clone3 with ENOSYS, and lets normal work through;
 * the on-disk cache is used only when private; compile times are measured.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/caps.h"
#include "runtime/seccomp.h"
#include "runtime/seccomp_default.h"
#include "runtime/seccomp_profile.h"
#include "tests/test_runtime_seccomp_bpf.h"

#ifndef PEERS_DIR
#error "PEERS_DIR: the directory scripts/deps.sh unpacks the peers' profiles into (tests/seccomp.cmake)"
#endif
#define DOCKER_DEFAULT PEERS_DIR "/docker-seccomp-default.json"
#define CAP(n) (UINT64_C(1) << (n))

static char tmpdir[] = "/tmp/r2-seccomp-test-XXXXXX";

static char default_cache[600];

static int setup(void **state) {
  if (!mkdtemp(tmpdir))
    return -1;
  /* never touch the host's real cache from unit tests */
  snprintf(default_cache, sizeof(default_cache), "%s/default-cache", tmpdir);
  rt_seccomp_set_cache_dir(default_cache);
  return 0;
}

static void reset_cache_dir(void) { rt_seccomp_set_cache_dir(default_cache); }

static int teardown(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

struct bpf {
  struct sock_filter *insns;
  size_t n;
};

static void export_ctx(scmp_filter_ctx ctx, struct bpf *b) {
  void *insns = NULL;
  assert_int_equal(rt_scmp_export(ctx, &insns, &b->n), 0);
  b->insns = insns;
  seccomp_release(ctx);
}

static void builtin_bpf(uint64_t caps, struct bpf *b) {
  scmp_filter_ctx ctx = NULL;
  uint64_t sel = rt_seccomp_default_selection(caps, rt_scmp_kernel_version());
  assert_int_equal(rt_seccomp_default_build(sel, &ctx), 0);
  export_ctx(ctx, b);
}

/* ---- the precompiled filter ----
 * (How the built-in table compares with Docker 20.10's default, the Docker profile
 * Debian ships: tests/test_runtime_seccomp_vs_20_10.c.) */

static void test_precompiled_bpf_equals_fresh_compile(void **state) {
  struct bpf fresh;

  builtin_bpf(rt_caps_docker_default(), &fresh);
  assert_int_equal(rt_seccomp_default_bpf_len, fresh.n);
  assert_memory_equal(rt_seccomp_default_bpf, fresh.insns, fresh.n * sizeof(struct sock_filter));
  assert_int_equal(rt_seccomp_default_bpf_arch, seccomp_arch_native());
  free(fresh.insns);
}

/* ---- sources and the cache ---- */

static void test_default_caps_use_precompiled_filter(void **state) {
  struct rt_seccomp *f = NULL;
  const void *insns;

  assert_int_equal(rt_seccomp_compile(NULL, rt_caps_docker_default(), &f), 0);
  assert_int_equal(rt_seccomp_source(f), RT_SECCOMP_SRC_PRECOMPILED);
  assert_int_equal(rt_seccomp_bpf(f, &insns), rt_seccomp_default_bpf_len);
  assert_ptr_equal(insns, rt_seccomp_default_bpf);
  rt_seccomp_free(f);
  /* capabilities that no rule mentions do not matter */
  assert_int_equal(rt_seccomp_compile(NULL, rt_caps_docker_default() | CAP(12), &f), 0);
  assert_int_equal(rt_seccomp_source(f), RT_SECCOMP_SRC_PRECOMPILED);
  rt_seccomp_free(f);
}

static void test_cache_is_used_for_other_caps_and_profiles(void **state) {
  char dir[512];
  struct rt_seccomp *a = NULL, *b = NULL;
  const void *ia, *ib;
  struct stat st;

  snprintf(dir, sizeof(dir), "%s/cache/seccomp", tmpdir);
  rt_seccomp_set_cache_dir(dir);
  assert_int_equal(rt_seccomp_compile(NULL, 0, &a), 0);
  assert_int_equal(rt_seccomp_source(a), RT_SECCOMP_SRC_COMPILED);
  assert_int_equal(stat(dir, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  assert_int_equal(rt_seccomp_compile(NULL, 0, &b), 0);
  assert_int_equal(rt_seccomp_source(b), RT_SECCOMP_SRC_CACHE);
  assert_int_equal(rt_seccomp_bpf(a, &ia), rt_seccomp_bpf(b, &ib));
  assert_memory_equal(ia, ib, rt_seccomp_bpf(a, &ia) * sizeof(struct sock_filter));
  rt_seccomp_free(a);
  rt_seccomp_free(b);

  assert_int_equal(rt_seccomp_compile(DOCKER_DEFAULT, 0, &a), 0);
  assert_int_equal(rt_seccomp_source(a), RT_SECCOMP_SRC_COMPILED);
  assert_int_equal(rt_seccomp_compile(DOCKER_DEFAULT, 0, &b), 0);
  assert_int_equal(rt_seccomp_source(b), RT_SECCOMP_SRC_CACHE);
  assert_int_equal(rt_seccomp_bpf(a, &ia), rt_seccomp_bpf(b, &ib));
  assert_memory_equal(ia, ib, rt_seccomp_bpf(a, &ia) * sizeof(struct sock_filter));
  rt_seccomp_free(b);
  /* other caps: another key */
  assert_int_equal(rt_seccomp_compile(DOCKER_DEFAULT, CAP(21), &b), 0);
  assert_int_equal(rt_seccomp_source(b), RT_SECCOMP_SRC_COMPILED);
  rt_seccomp_free(a);
  rt_seccomp_free(b);
  reset_cache_dir();
}

static void test_cache_is_ignored_when_not_private_or_damaged(void **state) {
  char dir[512], cmd[1200];
  struct rt_seccomp *f = NULL;

  snprintf(dir, sizeof(dir), "%s/open", tmpdir);
  assert_int_equal(mkdir(dir, 0700), 0);
  rt_seccomp_set_cache_dir(dir);
  assert_int_equal(rt_seccomp_compile(NULL, 0, &f), 0);
  rt_seccomp_free(f);
  /* group/world access: never trusted */
  assert_int_equal(chmod(dir, 0777), 0);
  assert_int_equal(rt_seccomp_compile(NULL, 0, &f), 0);
  assert_int_equal(rt_seccomp_source(f), RT_SECCOMP_SRC_COMPILED);
  rt_seccomp_free(f);
  assert_int_equal(chmod(dir, 0700), 0);
  assert_int_equal(rt_seccomp_compile(NULL, 0, &f), 0);
  assert_int_equal(rt_seccomp_source(f), RT_SECCOMP_SRC_CACHE);
  rt_seccomp_free(f);
  /* a file readable by others is ignored */
  snprintf(cmd, sizeof(cmd), "chmod 0644 '%s'/*.bpf", dir);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(rt_seccomp_compile(NULL, 0, &f), 0);
  assert_int_equal(rt_seccomp_source(f), RT_SECCOMP_SRC_COMPILED);   /* and rewritten */
  rt_seccomp_free(f);
  /* a truncated file is ignored */
  snprintf(cmd, sizeof(cmd), "for f in '%s'/*.bpf; do truncate -s -8 \"$f\"; done", dir);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(rt_seccomp_compile(NULL, 0, &f), 0);
  assert_int_equal(rt_seccomp_source(f), RT_SECCOMP_SRC_COMPILED);
  rt_seccomp_free(f);
  /* a file whose stored key differs (same name) is ignored */
  snprintf(cmd, sizeof(cmd), "for f in '%s'/*.bpf; do printf X | dd of=\"$f\" bs=1 seek=40 "
           "conv=notrunc status=none; done", dir);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(rt_seccomp_compile(NULL, 0, &f), 0);
  assert_int_equal(rt_seccomp_source(f), RT_SECCOMP_SRC_COMPILED);
  rt_seccomp_free(f);
  /* unwritable location: compiles anyway */
  rt_seccomp_set_cache_dir("/proc/none/cache");
  assert_int_equal(rt_seccomp_compile(NULL, 0, &f), 0);
  assert_int_equal(rt_seccomp_source(f), RT_SECCOMP_SRC_COMPILED);
  rt_seccomp_free(f);
  reset_cache_dir();
}

/* ---- loading for real ---- */

static long int80(long nr, long a, long b, long c) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
  return ret;
}

static char report[512];

#define EXPECT_ERRNO(call, e)                                                         \
  do {                                                                                \
    errno = 0;                                                                        \
    long r_ = (call);                                                                 \
    if (r_ != -1 || errno != (e)) {                                                   \
      snprintf(report, sizeof(report), "%s: ret %ld errno %d (%s), wanted %s",        \
               #call, r_, errno, strerror(errno), #e);                                \
      return false;                                                                   \
    }                                                                                 \
  } while (0)

static int seccomp_status(void) {
  char line[256];
  int v = -1;
  FILE *f = fopen("/proc/self/status", "r");
  while (f && fgets(line, sizeof(line), f))
    if (sscanf(line, "Seccomp: %d", &v) == 1)
      break;
  if (f)
    fclose(f);
  return v;
}

static bool default_checks(void) {
  char buf[16];
  int fd;

  if (seccomp_status() != 2) {
    snprintf(report, sizeof(report), "Seccomp status %d", seccomp_status());
    return false;
  }
  /* Every call is harmless if the filter were missing: missing paths, bad flags, bad fds. */
  EXPECT_ERRNO(syscall(SYS_mount, "none", "/nonexistent-r2-dir", "tmpfs", 0, NULL), EPERM);
  EXPECT_ERRNO(syscall(SYS_umount2, "/nonexistent-r2-dir", 0), EPERM);
  EXPECT_ERRNO(syscall(SYS_unshare, -1L), EPERM);        /* unfiltered: EINVAL */
  EXPECT_ERRNO(syscall(SYS_setns, -1, 0), EPERM);        /* unfiltered: EBADF */
  EXPECT_ERRNO(syscall(SYS_keyctl, 9999, 0, 0, 0, 0), EPERM);
  EXPECT_ERRNO(syscall(SYS_add_key, NULL, NULL, NULL, 0, 0), EPERM);
  EXPECT_ERRNO(syscall(SYS_bpf, 9999, NULL, 0), EPERM);
  EXPECT_ERRNO(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0), EPERM);
  EXPECT_ERRNO(syscall(SYS_open_by_handle_at, -1, NULL, 0), EPERM);
  EXPECT_ERRNO(syscall(SYS_kexec_load, 0, 0, NULL, 0xdead0000UL), EPERM);
  EXPECT_ERRNO(syscall(1000), EPERM);                    /* unfiltered: ENOSYS */
  EXPECT_ERRNO(syscall(SYS_personality, 0x0040000L), EPERM);
  EXPECT_ERRNO(syscall(SYS_clone, 0x10000000L | 0x200L /* NEWUSER|FS */, NULL, NULL, NULL, 0),
               EPERM);
  EXPECT_ERRNO(syscall(SYS_clone3, NULL, 0), ENOSYS);
  EXPECT_ERRNO(syscall(165 | 0x40000000, NULL, NULL, NULL, 0, NULL), EPERM);  /* x32 mount */
  if (int80(346 /* i386 setns */, -1, 0, 0) != -EPERM ||
      int80(310 /* i386 unshare */, -1, 0, 0) != -EPERM ||
      int80(21 /* i386 mount */, 0, 0, 0) != -EPERM) {
    snprintf(report, sizeof(report), "int $0x80 not denied with EPERM");
    return false;
  }
  if (int80(20 /* i386 getpid */, 0, 0, 0) != getpid()) {
    snprintf(report, sizeof(report), "int $0x80 getpid not allowed");
    return false;
  }
  /* normal work */
  fd = open("/proc/self/status", O_RDONLY);
  if (fd < 0 || read(fd, buf, sizeof(buf)) <= 0 || getpid() <= 0 ||
      syscall(SYS_personality, 0xffffffffL) < 0) {
    snprintf(report, sizeof(report), "normal syscalls failed: %s", strerror(errno));
    return false;
  }
  close(fd);
  return true;
}

/* Run checks in a child that loaded f; returns the child's report ("" = success). */
static const char *run_in_child(const struct rt_seccomp *f, bool (*checks)(void)) {
  int p[2];
  pid_t pid;
  int status;
  ssize_t n;

  memset(report, 0, sizeof(report));
  assert_int_equal(pipe(p), 0);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int r;
    close(p[0]);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
      _exit(3);
    if ((r = rt_seccomp_load(f)) < 0) {
      snprintf(report, sizeof(report), "load: %s", strerror(-r));
    } else if (!checks()) {
      /* report was set */
    }
    if (write(p[1], report, strlen(report)) < 0)
      _exit(4);
    _exit(0);
  }
  close(p[1]);
  n = read(p[0], report, sizeof(report) - 1);
  close(p[0]);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  report[n > 0 ? n : 0] = 0;
  return report;
}

static void test_loaded_default_denies_with_eperm_and_allows_normal_work(void **state) {
  struct rt_seccomp *f = NULL;
  assert_int_equal(rt_seccomp_compile(NULL, rt_caps_docker_default(), &f), 0);
  assert_string_equal(run_in_child(f, default_checks), "");
  rt_seccomp_free(f);
}

static bool mkdir_checks(void) {
  char d[600];
  snprintf(d, sizeof(d), "%s/denied", tmpdir);
  EXPECT_ERRNO(mkdir(d, 0700), ENOSPC);
  if (getpid() <= 0)
    return false;
  return true;
}

static void test_custom_profile_denying_mkdir_is_enforced(void **state) {
  char path[600];
  struct rt_seccomp *f = NULL;
  FILE *fp;

  snprintf(path, sizeof(path), "%s/deny-mkdir.json", tmpdir);
  fp = fopen(path, "w");
  assert_non_null(fp);
  fputs("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\",\"mkdirat\"],"
        "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":28}]}", fp);
  fclose(fp);
  rt_seccomp_set_cache_dir("");
  assert_int_equal(rt_seccomp_compile(path, 0, &f), 0);
  reset_cache_dir();
  assert_string_equal(run_in_child(f, mkdir_checks), "");
  rt_seccomp_free(f);
}

static bool unconfined_checks(void) {
  if (seccomp_status() != 0) {
    snprintf(report, sizeof(report), "Seccomp status %d", seccomp_status());
    return false;
  }
  return true;
}

static void test_empty_profile_loads_no_filter(void **state) {
  char path[600];
  struct rt_seccomp *f = NULL;
  FILE *fp;

  snprintf(path, sizeof(path), "%s/empty.json", tmpdir);
  fp = fopen(path, "w");
  assert_non_null(fp);
  fputs("{}", fp);
  fclose(fp);
  assert_int_equal(rt_seccomp_compile(path, 0, &f), 0);
  assert_true(rt_seccomp_is_empty(f));
  assert_string_equal(run_in_child(f, unconfined_checks), "");
  rt_seccomp_free(f);
  assert_int_equal(rt_seccomp_load(NULL), -EINVAL);
}

/* ---- speed ---- */

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double avg_compile_us(const char *profile, uint64_t caps, int n,
                             enum rt_seccomp_source want) {
  double t0 = now_us();
  for (int i = 0; i < n; i++) {
    struct rt_seccomp *f = NULL;
    assert_int_equal(rt_seccomp_compile(profile, caps, &f), 0);
    assert_int_equal(rt_seccomp_source(f), want);
    rt_seccomp_free(f);
  }
  return (now_us() - t0) / n;
}

static void test_compile_times(void **state) {
  char dir[512];
  double pre, cached, docker_cached, docker_raw;

  snprintf(dir, sizeof(dir), "%s/speed", tmpdir);
  pre = avg_compile_us(NULL, rt_caps_docker_default(), 2000, RT_SECCOMP_SRC_PRECOMPILED);
  rt_seccomp_set_cache_dir("");
  docker_raw = avg_compile_us(DOCKER_DEFAULT, rt_caps_docker_default(), 10,
                              RT_SECCOMP_SRC_COMPILED);
  rt_seccomp_set_cache_dir(dir);
  avg_compile_us(NULL, 0, 1, RT_SECCOMP_SRC_COMPILED);
  cached = avg_compile_us(NULL, 0, 200, RT_SECCOMP_SRC_CACHE);
  avg_compile_us(DOCKER_DEFAULT, rt_caps_docker_default(), 1, RT_SECCOMP_SRC_COMPILED);
  docker_cached = avg_compile_us(DOCKER_DEFAULT, rt_caps_docker_default(), 200,
                                 RT_SECCOMP_SRC_CACHE);
  reset_cache_dir();
  print_message("rt_seccomp_compile: built-in default, precompiled: %.1f us; "
                "built-in other caps, cached: %.1f us; Docker JSON cached: %.1f us; "
                "Docker JSON uncached (libseccomp): %.1f us\n",
                pre, cached, docker_cached, docker_raw);
  assert_true(pre < 1000);
  assert_true(cached < 1000);
  assert_true(docker_cached < docker_raw);
}

static void test_load_time(void **state) {
  struct rt_seccomp *f = NULL;
  double total = 0;
  const int n = 50;

  assert_int_equal(rt_seccomp_compile(NULL, rt_caps_docker_default(), &f), 0);
  for (int i = 0; i < n; i++) {
    int p[2];
    double d = -1;
    pid_t pid;
    assert_int_equal(pipe(p), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      double t0;
      if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        _exit(1);
      t0 = now_us();
      if (rt_seccomp_load(f) == 0)
        d = now_us() - t0;
      _exit(write(p[1], &d, sizeof(d)) == sizeof(d) ? 0 : 1);
    }
    assert_int_equal(read(p[0], &d, sizeof(d)), sizeof(d));
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    close(p[0]);
    close(p[1]);
    assert_true(d >= 0);
    total += d;
  }
  print_message("rt_seccomp_load (built-in default, %zu instructions, binary tree): %.1f us\n",
                rt_seccomp_default_bpf_len, total / n);
  assert_true(total / n < 5000);
  rt_seccomp_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_precompiled_bpf_equals_fresh_compile),
    cmocka_unit_test(test_default_caps_use_precompiled_filter),
    cmocka_unit_test(test_cache_is_used_for_other_caps_and_profiles),
    cmocka_unit_test(test_cache_is_ignored_when_not_private_or_damaged),
    cmocka_unit_test(test_loaded_default_denies_with_eperm_and_allows_normal_work),
    cmocka_unit_test(test_custom_profile_denying_mkdir_is_enforced),
    cmocka_unit_test(test_empty_profile_loads_no_filter),
    cmocka_unit_test(test_compile_times),
    cmocka_unit_test(test_load_time),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
