/*
 * Docker JSON seccomp profiles: every Docker 20.10 and Podman file unpacked from Debian (scripts/deps.sh) is accepted, chosen rules
 * behave as Docker applies them (checked on the exported BPF with a small interpreter),
 * and malformed profiles get clear errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/caps.h"
#include "runtime/seccomp.h"
#include "runtime/seccomp_profile.h"
#include "tests/test_runtime_seccomp_bpf.h"

#ifndef PEERS_DIR
#error "PEERS_DIR: the directory scripts/deps.sh unpacks the peers' profiles into (tests/seccomp.cmake)"
#endif

#define ALLOW SCMP_ACT_ALLOW
#define ERRNO(e) SCMP_ACT_ERRNO(e)
#define CAP(n) (UINT64_C(1) << (n))
#define CAP_SYS_ADMIN 21
#define CAP_SYSLOG 34
#define CAP_DAC_READ_SEARCH 2

struct prog {
  struct sock_filter *insns;
  size_t n;
  bool empty;
};

static char err[RT_SCMP_ERRLEN];

static int build(const char *json, uint64_t caps, struct prog *p) {
  scmp_filter_ctx ctx = NULL;
  unsigned flags = 0;
  void *insns = NULL;
  int r;

  memset(p, 0, sizeof(*p));
  r = rt_seccomp_profile_build(json, strlen(json), caps, &ctx, &flags, err);
  if (r < 0)
    return r;
  if (!ctx) {
    p->empty = true;
    return 0;
  }
  r = rt_scmp_export(ctx, &insns, &p->n);
  seccomp_release(ctx);
  p->insns = insns;
  return r;
}

static void build_ok(const char *json, uint64_t caps, struct prog *p) {
  int r = build(json, caps, p);
  if (r != 0)
    fail_msg("profile refused (%d): %s", r, err);
}

static char *bufs[8];   /* keeps slurped files reachable when a test aborts */
static size_t nbufs;

static char *slurp(const char *name) {
  char path[512];
  FILE *f;
  char *buf;
  long n;

  snprintf(path, sizeof(path), "%s/%s", PEERS_DIR, name);
  f = fopen(path, "r");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  n = ftell(f);
  rewind(f);
  buf = calloc(1, (size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  if (nbufs < 8)
    bufs[nbufs++] = buf;   /* freed at exit by the OS; kept reachable for LSan */
  return buf;
}

static uint32_t ask_arch(const struct prog *p, uint32_t audit_arch, uint32_t scmp_arch,
                         const char *name, uint64_t a0, uint64_t a1) {
  uint64_t args[6] = {a0, a1, 0, 0, 0, 0};
  int nr = seccomp_syscall_resolve_name_arch(scmp_arch, name);
  assert_true(nr >= 0);
  return bpf_sim(p->insns, p->n, audit_arch, nr, args);
}

static uint32_t ask(const struct prog *p, const char *name, uint64_t a0) {
  return ask_arch(p, AUDIT_ARCH_X86_64, SCMP_ARCH_X86_64, name, a0, 0);
}

static uint32_t ask_x86(const struct prog *p, const char *name) {
  return ask_arch(p, AUDIT_ARCH_I386, SCMP_ARCH_X86, name, 0, 0);
}

static void prog_free(struct prog *p) { free(p->insns); }

/* ---- Docker's own files ---- */

static void test_docker_default_profile_is_accepted_with_default_caps(void **state) {
  char *json = slurp("docker-seccomp-default.json");
  struct prog p;

  build_ok(json, rt_caps_docker_default(), &p);
  assert_false(p.empty);
  assert_int_equal(ask(&p, "read", 0), ALLOW);
  assert_int_equal(ask(&p, "getpid", 0), ALLOW);
  assert_int_equal(ask(&p, "chroot", 0), ALLOW);           /* CAP_SYS_CHROOT is default */
  assert_int_equal(ask(&p, "mount", 0), ERRNO(EPERM));
  assert_int_equal(ask(&p, "umount2", 0), ERRNO(EPERM));
  assert_int_equal(ask(&p, "unshare", 0), ERRNO(EPERM));
  assert_int_equal(ask(&p, "setns", 0), ERRNO(EPERM));
  assert_int_equal(ask(&p, "keyctl", 0), ERRNO(EPERM));
  assert_int_equal(ask(&p, "add_key", 0), ERRNO(EPERM));
  assert_int_equal(ask(&p, "bpf", 0), ERRNO(EPERM));
  assert_int_equal(ask(&p, "perf_event_open", 0), ERRNO(EPERM));
  assert_int_equal(ask(&p, "open_by_handle_at", 0), ERRNO(EPERM));
  assert_int_equal(ask(&p, "kexec_load", 0), ERRNO(EPERM));
  assert_int_equal(ask(&p, "syslog", 0), ERRNO(EPERM));
  assert_int_equal(ask(&p, "clone3", 0), ERRNO(ENOSYS));
  /* clone: allowed without namespace flags only */
  assert_int_equal(ask(&p, "clone", 0x11 /* SIGCHLD|... */), ALLOW);
  assert_int_equal(ask(&p, "clone", 0x10000000 /* CLONE_NEWUSER */), ERRNO(EPERM));
  assert_int_equal(ask(&p, "clone", 0x20000000 /* CLONE_NEWPID */), ERRNO(EPERM));
  /* personality: only Docker's values */
  assert_int_equal(ask(&p, "personality", 0), ALLOW);
  assert_int_equal(ask(&p, "personality", 0xffffffff), ALLOW);
  assert_int_equal(ask(&p, "personality", 0x0040000 /* ADDR_NO_RANDOMIZE */), ERRNO(EPERM));
  /* socket: Docker 20.10 still allows AF_VSOCK (40); later releases and the built-in
   * default deny it (runtime/seccomp_default_since_20.10.txt) */
  assert_int_equal(ask(&p, "socket", 1), ALLOW);
  assert_int_equal(ask(&p, "socket", 40), ALLOW);
  /* io_uring: allowed by 20.10, denied by later releases and the built-in default */
  assert_int_equal(ask(&p, "io_uring_setup", 0), ALLOW);
  /* pkey_alloc: denied by 20.10, allowed since Docker 23.0 */
  assert_int_equal(ask(&p, "pkey_alloc", 0), ERRNO(EPERM));
  assert_int_equal(ask(&p, "arch_prctl", 0), ALLOW);
  /* the x86 ABI is covered by archMap */
  assert_int_equal(ask_x86(&p, "getpid"), ALLOW);
  assert_int_equal(ask_x86(&p, "chown32"), ALLOW);
  assert_int_equal(ask_x86(&p, "mount"), ERRNO(EPERM));
  assert_int_equal(ask_x86(&p, "setns"), ERRNO(EPERM));
  prog_free(&p);
  free(json);
}

static void test_docker_default_profile_with_sys_admin_allows_mount_family(void **state) {
  char *json = slurp("docker-seccomp-default.json");
  struct prog p;

  build_ok(json, rt_caps_docker_default() | CAP(CAP_SYS_ADMIN), &p);
  assert_int_equal(ask(&p, "mount", 0), ALLOW);
  assert_int_equal(ask(&p, "umount2", 0), ALLOW);
  assert_int_equal(ask(&p, "unshare", 0), ALLOW);
  assert_int_equal(ask(&p, "setns", 0), ALLOW);
  assert_int_equal(ask(&p, "clone", 0x10000000), ALLOW);
  assert_int_equal(ask(&p, "clone3", 0), ALLOW);
  assert_int_equal(ask(&p, "keyctl", 0), ERRNO(EPERM));  /* never allowed */
  assert_int_equal(ask(&p, "syslog", 0), ALLOW);         /* in the SYS_ADMIN list */
  prog_free(&p);
  free(json);
}

static void test_docker_default_profile_without_any_cap_denies_chroot(void **state) {
  char *json = slurp("docker-seccomp-default.json");
  struct prog p;

  build_ok(json, 0, &p);
  assert_int_equal(ask(&p, "chroot", 0), ERRNO(EPERM));
  assert_int_equal(ask(&p, "open_by_handle_at", 0), ERRNO(EPERM));
  prog_free(&p);
  build_ok(json, CAP(CAP_DAC_READ_SEARCH), &p);
  assert_int_equal(ask(&p, "open_by_handle_at", 0), ALLOW);
  prog_free(&p);
  free(json);
}

static void test_conditional_include_fixture_follows_caps(void **state) {
  char *json = slurp("docker-seccomp-fixture-conditional_include.json");
  struct prog p;

  build_ok(json, 0, &p);
  assert_int_equal(ask(&p, "chmod", 0), ALLOW);
  assert_int_equal(ask(&p, "syslog", 0), ERRNO(EPERM));
  assert_int_equal(ask(&p, "ptrace", 0), ALLOW);
  prog_free(&p);
  build_ok(json, CAP(CAP_SYSLOG) | CAP(CAP_SYS_ADMIN), &p);
  assert_int_equal(ask(&p, "syslog", 0), ALLOW);
  assert_int_equal(ask(&p, "ptrace", 0), ERRNO(EPERM));   /* excluded by CAP_SYS_ADMIN */
  /* no architectures: native only, so an x86 syscall hits the bad-arch action (kill) */
  assert_int_equal(ask_x86(&p, "getpid"), SCMP_ACT_KILL);
  prog_free(&p);
  free(json);
}

static void test_example_fixture_old_name_field(void **state) {
  char *json = slurp("docker-seccomp-fixture-example.json");
  struct prog p;

  build_ok(json, 0, &p);
  assert_int_equal(ask(&p, "open", 0), ALLOW);
  assert_int_equal(ask(&p, "close", 0), ALLOW);
  assert_int_equal(ask(&p, "syslog", 0), ERRNO(EPERM));   /* not listed: default */
  assert_int_equal(ask(&p, "clone", 0), ALLOW);
  assert_int_equal(ask(&p, "clone", 0x10000000), ERRNO(EPERM));
  assert_int_equal(ask(&p, "read", 0), ERRNO(EPERM));
  prog_free(&p);
  free(json);
}

static void test_old_format_default_fixture_is_accepted(void **state) {
  char *json = slurp("docker-seccomp-fixture-default-old-format.json");
  struct prog p;

  build_ok(json, 0, &p);
  assert_int_equal(ask(&p, "read", 0), ALLOW);
  assert_int_equal(ask(&p, "mount", 0), ERRNO(EPERM));
  assert_int_equal(ask(&p, "personality", 8), ALLOW);
  assert_int_equal(ask(&p, "personality", 1), ERRNO(EPERM));
  assert_int_equal(ask_x86(&p, "getpid"), ALLOW);          /* "architectures" */
  assert_int_equal(ask_x86(&p, "mount"), ERRNO(EPERM));
  prog_free(&p);
  free(json);
}

/* Podman's default (golang-github-containers-common): ERRNO(ENOSYS) by default, explicit
 * EPERM rules, and capability-conditional rules in both directions. */
static void test_podman_profile_is_accepted_with_default_caps(void **state) {
  char *json = slurp("podman-seccomp.json");
  struct prog p;

  build_ok(json, rt_caps_docker_default(), &p);
  assert_false(p.empty);
  assert_int_equal(ask(&p, "getpid", 0), ALLOW);
  assert_int_equal(ask(&p, "mount", 0), ALLOW);             /* Podman leaves it to caps */
  assert_int_equal(ask(&p, "add_key", 0), ERRNO(ENOSYS));   /* not listed: default */
  assert_int_equal(ask(&p, "kexec_load", 0), ERRNO(EPERM)); /* explicit errnoRet 1 */
  assert_int_equal(ask(&p, "bpf", 0), ERRNO(EPERM));        /* excludes CAP_SYS_ADMIN */
  assert_int_equal(ask(&p, "personality", 0x0040000), ERRNO(ENOSYS));
  assert_int_equal(ask(&p, "personality", 0), ALLOW);
  assert_int_equal(ask_x86(&p, "getpid"), ALLOW);
  prog_free(&p);
  build_ok(json, rt_caps_docker_default() | CAP(CAP_SYS_ADMIN), &p);
  assert_int_equal(ask(&p, "bpf", 0), ALLOW);
  prog_free(&p);
  free(json);
}

static void test_every_peer_profile_compiles_through_public_api(void **state) {
  const char *files[] = {"docker-seccomp-default.json",
                         "docker-seccomp-fixture-conditional_include.json",
                         "docker-seccomp-fixture-default-old-format.json",
                         "docker-seccomp-fixture-example.json", "podman-seccomp.json"};
  rt_seccomp_set_cache_dir("");
  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    char path[512];
    struct rt_seccomp *f = NULL;
    snprintf(path, sizeof(path), "%s/%s", PEERS_DIR, files[i]);
    assert_int_equal(rt_seccomp_compile(path, rt_caps_docker_default(), &f), 0);
    assert_non_null(f);
    assert_int_equal(rt_seccomp_source(f), RT_SECCOMP_SRC_COMPILED);
    assert_false(rt_seccomp_is_empty(f));
    rt_seccomp_free(f);
  }
  rt_seccomp_set_cache_dir("");
}

/* ---- semantics on small profiles ---- */

static void test_unknown_syscall_names_are_skipped(void **state) {
  struct prog p;
  build_ok("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":"
                         "[\"no_such_syscall\",\"getpid\"],\"action\":\"SCMP_ACT_ALLOW\"}]}",
                         0, &p);
  assert_int_equal(ask(&p, "getpid", 0), ALLOW);
  prog_free(&p);
}

static void test_empty_profile_means_no_filter(void **state) {
  struct prog p;
  build_ok("{}", 0, &p);
  assert_true(p.empty);
  build_ok("{\"syscalls\":null}", 0, &p);
  assert_true(p.empty);
}

static void test_default_errno_ret_and_keys_are_case_insensitive(void **state) {
  struct prog p;
  build_ok("{\"DefaultAction\":\"SCMP_ACT_ERRNO\",\"defaulterrnoret\":13,"
                         "\"Syscalls\":[{\"Names\":[\"getpid\"],\"Action\":\"SCMP_ACT_ALLOW\"}]}",
                         0, &p);
  assert_int_equal(ask(&p, "getpid", 0), ALLOW);
  assert_int_equal(ask(&p, "mkdir", 0), ERRNO(EACCES));
  prog_free(&p);
}

static void test_rule_equal_to_default_is_skipped(void **state) {
  struct prog p;
  /* libseccomp alone would refuse this rule; runc skips it */
  build_ok("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
                         "{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_ALLOW\"},"
                         "{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":28}]}",
                         0, &p);
  assert_int_equal(ask(&p, "getpid", 0), ALLOW);
  assert_int_equal(ask(&p, "mkdir", 0), ERRNO(ENOSPC));
  prog_free(&p);
}

static void test_args_same_index_are_ored_distinct_are_anded(void **state) {
  struct prog p;
  build_ok("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
                         "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":["
                         "{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_EQ\"},"
                         "{\"index\":0,\"value\":2,\"op\":\"SCMP_CMP_EQ\"}]},"
                         "{\"names\":[\"kill\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":["
                         "{\"index\":0,\"value\":5,\"op\":\"SCMP_CMP_EQ\"},"
                         "{\"index\":1,\"value\":9,\"op\":\"SCMP_CMP_NE\"}]}]}",
                         0, &p);
  assert_int_equal(ask(&p, "personality", 1), ALLOW);
  assert_int_equal(ask(&p, "personality", 2), ALLOW);
  assert_int_equal(ask(&p, "personality", 3), ERRNO(EPERM));
  assert_int_equal(ask_arch(&p, AUDIT_ARCH_X86_64, SCMP_ARCH_X86_64, "kill", 5, 15), ALLOW);
  assert_int_equal(ask_arch(&p, AUDIT_ARCH_X86_64, SCMP_ARCH_X86_64, "kill", 5, 9), ERRNO(EPERM));
  assert_int_equal(ask_arch(&p, AUDIT_ARCH_X86_64, SCMP_ARCH_X86_64, "kill", 6, 15), ERRNO(EPERM));
  prog_free(&p);
}

static void test_includes_arches_and_min_kernel(void **state) {
  struct prog p;
  build_ok("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
                         "{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"arches\":[\"amd64\"]}},"
                         "{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"arches\":[\"arm64\"]}},"
                         "{\"names\":[\"gettid\"],\"action\":\"SCMP_ACT_ALLOW\",\"excludes\":{\"arches\":[\"amd64\"]}},"
                         "{\"names\":[\"getuid\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"minKernel\":\"4.8\"}},"
                         "{\"names\":[\"getgid\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"minKernel\":\"99.0\"}},"
                         "{\"names\":[\"getegid\"],\"action\":\"SCMP_ACT_ALLOW\",\"excludes\":{\"minKernel\":\"99.0\"}}]}",
                         0, &p);
  assert_int_equal(ask(&p, "getpid", 0), ALLOW);
  assert_int_equal(ask(&p, "getppid", 0), ERRNO(EPERM));
  assert_int_equal(ask(&p, "gettid", 0), ERRNO(EPERM));
  assert_int_equal(ask(&p, "getuid", 0), ALLOW);
  assert_int_equal(ask(&p, "getgid", 0), ERRNO(EPERM));
  assert_int_equal(ask(&p, "getegid", 0), ALLOW);
  prog_free(&p);
}

static void test_other_actions_are_encoded(void **state) {
  struct prog p;
  build_ok("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
                         "{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_KILL\"},"
                         "{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_KILL_PROCESS\"},"
                         "{\"names\":[\"gettid\"],\"action\":\"SCMP_ACT_TRAP\"},"
                         "{\"names\":[\"getuid\"],\"action\":\"SCMP_ACT_LOG\"},"
                         "{\"names\":[\"getgid\"],\"action\":\"SCMP_ACT_TRACE\"},"
                         "{\"names\":[\"getegid\"],\"action\":\"SCMP_ACT_KILL_THREAD\"},"
                         "{\"names\":[\"geteuid\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":65537},"
                         "{\"names\":[\"getpgrp\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":5000}]}",
                         0, &p);
  assert_int_equal(ask(&p, "getpid", 0), SCMP_ACT_KILL_THREAD);
  assert_int_equal(ask(&p, "getppid", 0), SCMP_ACT_KILL_PROCESS);
  assert_int_equal(ask(&p, "gettid", 0), SCMP_ACT_TRAP);
  assert_int_equal(ask(&p, "getuid", 0), SCMP_ACT_LOG);
  assert_int_equal(ask(&p, "getgid", 0), SCMP_ACT_TRACE(EPERM));
  assert_int_equal(ask(&p, "getegid", 0), SCMP_ACT_KILL_THREAD);
  assert_int_equal(ask(&p, "geteuid", 0), ERRNO(1));     /* errnoRet is 16 bits, as in runc */
  assert_int_equal(ask(&p, "getpgrp", 0), ERRNO(4094));  /* clamped to libseccomp's limit */
  prog_free(&p);
}

/* ---- errors ---- */

static void expect_error(const char *json, int code, const char *needle) {
  struct prog p;
  int r = build(json, 0, &p);
  if (r != code || !strstr(err, needle))
    fail_msg("profile %s: got %d \"%s\", expected %d with \"%s\"", json, r, err, code, needle);
}

static void test_malformed_json_is_refused_clearly(void **state) {
  expect_error("{\"defaultAction\": ", -EINVAL, "malformed JSON");
  expect_error("{\"defaultAction\": \"SCMP_ACT_ERRNO\",}x", -EINVAL, "malformed JSON");
  expect_error("{} {}", -EINVAL, "trailing data");
  expect_error("[1,2]", -EINVAL, "must be a JSON object");
  expect_error("", -EINVAL, "malformed JSON");
}

static void test_unknown_action_is_refused(void **state) {
  expect_error("{\"defaultAction\":\"SCMP_ACT_NOPE\"}", -EINVAL,
               "defaultAction: unknown action \"SCMP_ACT_NOPE\"");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"getpid\"],"
               "\"action\":\"ALLOW\"}]}", -EINVAL, "syscalls[0]: unknown action \"ALLOW\"");
  expect_error("{\"syscalls\":[{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_ALLOW\"}]}",
               -EINVAL, "defaultAction: unknown action \"\"");
}

static void test_notify_is_refused_as_unsupported(void **state) {
  expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"getpid\"],"
               "\"action\":\"SCMP_ACT_NOTIFY\"}]}", -EOPNOTSUPP, "SCMP_ACT_NOTIFY");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"listenerPath\":\"/run/x.sock\"}",
               -EOPNOTSUPP, "listenerPath");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"flags\":[\"SECCOMP_FILTER_FLAG_X\"]}",
               -EOPNOTSUPP, "SECCOMP_FILTER_FLAG_X");
}

static void test_bad_operator_and_index_are_refused(void **state) {
  expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"kill\"],"
               "\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,\"value\":1,"
               "\"op\":\"SCMP_CMP_SORTOF\"}]}]}", -EINVAL, "unknown operator \"SCMP_CMP_SORTOF\"");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"kill\"],"
               "\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":6,\"value\":1,"
               "\"op\":\"SCMP_CMP_EQ\"}]}]}", -EINVAL, "index 6 is out of range");
}

static void test_wrong_types_are_refused(void **state) {
  expect_error("{\"defaultAction\":1}", -EINVAL, "defaultAction: expected a string, got int");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":{}}", -EINVAL,
               "syscalls: expected an array, got object");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":\"getpid\","
               "\"action\":\"SCMP_ACT_ALLOW\"}]}", -EINVAL, "syscalls[0]: expected an array");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[1],"
               "\"action\":\"SCMP_ACT_ALLOW\"}]}", -EINVAL, "expected a string, got int");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":-1}", -EINVAL,
               "negative");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":1.5}", -EINVAL,
               "expected an unsigned integer, got double");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"kill\"],"
               "\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":\"0\",\"op\":\"SCMP_CMP_EQ\"}]}]}",
               -EINVAL, "expected an unsigned integer, got string");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"kill\"],"
               "\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"caps\":\"CAP_KILL\"}}]}",
               -EINVAL, "includes.caps: expected an array");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"kill\"],"
               "\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"minKernel\":\"4\"}}]}",
               -EINVAL, "invalid kernel version");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"kill\"],"
               "\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"minKernel\":\"0.0\"}}]}",
               -EINVAL, "cannot be 0.0");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[null]}", -EINVAL,
               "null syscall");
}

static void test_arch_errors_are_refused(void **state) {
  expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"SCMP_ARCH_VAX\"]}",
               -EINVAL, "unknown architecture \"SCMP_ARCH_VAX\"");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"SCMP_ARCH_X86\"],"
               "\"archMap\":[{\"architecture\":\"SCMP_ARCH_X86_64\"}]}", -EINVAL,
               "use either 'architectures' or 'archMap'");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"name\":\"kill\","
               "\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_ALLOW\"}]}", -EINVAL,
               "use either 'name' or 'names'");
  expect_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"\"],"
               "\"action\":\"SCMP_ACT_ALLOW\"}]}", -EINVAL, "empty string is not a valid syscall");
}

static void test_public_api_errors(void **state) {
  struct rt_seccomp *f = (struct rt_seccomp *)0x1;
  char path[] = "/tmp/r2-seccomp-bad-XXXXXX";
  int fd;

  rt_seccomp_set_cache_dir("");
  assert_int_equal(rt_seccomp_compile("/nonexistent/profile.json", 0, &f), -ENOENT);
  assert_ptr_equal(f, (struct rt_seccomp *)0x1);
  assert_non_null(strstr(rt_seccomp_last_error(), "No such file"));
  assert_int_equal(rt_seccomp_compile("", 0, &f), -EINVAL);
  assert_int_equal(rt_seccomp_compile("/tmp", 0, &f), -EINVAL);
  assert_non_null(strstr(rt_seccomp_last_error(), "not a regular file"));
  fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "{\"defaultAction\":7}", 19), 19);
  close(fd);
  rt_seccomp_set_cache_dir("");
  assert_int_equal(rt_seccomp_compile(path, 0, &f), -EINVAL);
  assert_non_null(strstr(rt_seccomp_last_error(), "defaultAction: expected a string"));
  unlink(path);
  rt_seccomp_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_docker_default_profile_is_accepted_with_default_caps),
    cmocka_unit_test(test_docker_default_profile_with_sys_admin_allows_mount_family),
    cmocka_unit_test(test_docker_default_profile_without_any_cap_denies_chroot),
    cmocka_unit_test(test_conditional_include_fixture_follows_caps),
    cmocka_unit_test(test_example_fixture_old_name_field),
    cmocka_unit_test(test_old_format_default_fixture_is_accepted),
    cmocka_unit_test(test_podman_profile_is_accepted_with_default_caps),
    cmocka_unit_test(test_every_peer_profile_compiles_through_public_api),
    cmocka_unit_test(test_unknown_syscall_names_are_skipped),
    cmocka_unit_test(test_empty_profile_means_no_filter),
    cmocka_unit_test(test_default_errno_ret_and_keys_are_case_insensitive),
    cmocka_unit_test(test_rule_equal_to_default_is_skipped),
    cmocka_unit_test(test_args_same_index_are_ored_distinct_are_anded),
    cmocka_unit_test(test_includes_arches_and_min_kernel),
    cmocka_unit_test(test_other_actions_are_encoded),
    cmocka_unit_test(test_malformed_json_is_refused_clearly),
    cmocka_unit_test(test_unknown_action_is_refused),
    cmocka_unit_test(test_notify_is_refused_as_unsupported),
    cmocka_unit_test(test_bad_operator_and_index_are_refused),
    cmocka_unit_test(test_wrong_types_are_refused),
    cmocka_unit_test(test_arch_errors_are_refused),
    cmocka_unit_test(test_public_api_errors),
  };
  rt_seccomp_set_cache_dir("");   /* unit tests never touch the host's cache */
  return cmocka_run_group_tests(tests, NULL, NULL);
}
