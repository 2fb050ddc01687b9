/*
 * The built-in default seccomp allow-list: Docker's default profile as it applies on an
 * x86_64 host (Docker evaluates includes/excludes.arches against GOARCH "amd64"; rules
 * for other architectures are left out here). Each rule keeps Docker's capability
 * conditions (caps_all: every listed capability must be in the container's set; caps_none:
 * none may be) and its minKernel, so that --cap-add SYS_ADMIN, for example, allows what
 * Docker then allows. Default action ERRNO(EPERM): a syscall not listed fails with EPERM.
 *
 * Derived once from moby/profiles seccomp/default.json (commit cd3bed8, Apache-2.0) by a
 * script that printed one entry per "syscalls" element kept for amd64, in the file's
 * order. Debian 12 ships Docker 20.10's profile only; every difference from it is listed
 * in runtime/seccomp_default_since_20.10.txt, which tests/test_runtime_seccomp_vs_20_10.c
 * checks against this table and that profile (BPF answers and rule names).
 * To refresh from a newer profile: docs/seccomp.md, "The built-in default".
 */
#include "runtime/seccomp_default.h"

#include <errno.h>

#include "base/macro.h"
#include "runtime/seccomp.h"
#include "runtime/seccomp_profile.h"

#define CAPBIT(n) (UINT64_C(1) << (n))
#define KV(maj, min) ((maj) * 256u + (min))
#define CAP_DAC_READ_SEARCH 2
#define CAP_SYS_MODULE 16
#define CAP_SYS_RAWIO 17
#define CAP_SYS_CHROOT 18
#define CAP_SYS_PTRACE 19
#define CAP_SYS_PACCT 20
#define CAP_SYS_ADMIN 21
#define CAP_SYS_BOOT 22
#define CAP_SYS_NICE 23
#define CAP_SYS_TIME 25
#define CAP_SYS_TTY_CONFIG 26
#define CAP_SYSLOG 34
#define CAP_PERFMON 38
#define CAP_BPF 39

struct default_rule {
  const char *const *names;   /* NULL-terminated */
  uint32_t action;
  uint64_t caps_all;          /* includes.caps */
  uint64_t caps_none;         /* excludes.caps */
  unsigned min_kernel;        /* includes.minKernel, KV(); 0 = none */
  unsigned nconds;
  struct rt_scmp_cond conds[1];
};

static const struct default_rule rules[] = {
  {.names = (const char *const[]){
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat",
    "capget", "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime",
    "clock_adjtime64", "clock_getres", "clock_getres_time64", "clock_gettime",
    "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
    "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create",
    "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2",
    "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit",
    "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32",
    "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock",
    "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs",
    "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_requeue",
    "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat", "getcpu",
    "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32",
    "getgid", "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername",
    "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
    "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage",
    "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday",
    "getuid", "getuid32", "getxattr", "getxattrat", "inotify_add_watch", "inotify_init",
    "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy",
    "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set",
    "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset",
    "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat",
    "listen", "listmount", "listxattr", "listxattrat", "llistxattr", "_llseek",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise",
    "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
    "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2",
    "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
    "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap",
    "mseal", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall",
    "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open",
    "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2",
    "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl",
    "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
    "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
    "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
    "remap_file_pages", "removexattr", "removexattrat", "rename", "renameat", "renameat2",
    "restart_syscall", "riscv_hwprobe", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
    "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
    "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity",
    "sched_getattr", "sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
    "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
    "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler",
    "sched_yield", "seccomp", "select", "semctl", "semget", "semop", "semtimedop",
    "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto",
    "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups",
    "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32",
    "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32",
    "setrlimit", "set_robust_list", "setsid", "setsockopt", "set_thread_area",
    "set_tid_address", "setuid", "setuid32", "setxattr", "setxattrat", "shmat", "shmctl",
    "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask",
    "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs",
    "statfs64", "statmount", "statx", "symlink", "symlinkat", "sync", "sync_file_range",
    "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
    "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
    "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
    "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64",
    "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "uretprobe", "utime",
    "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid",
    "waitpid", "write", "writev", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = 0, .caps_none = 0, .min_kernel = 0,
   .nconds = 0, .conds = {}},
  {.names = (const char *const[]){
    "process_vm_readv", "process_vm_writev", "ptrace", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = 0, .caps_none = 0, .min_kernel = KV(4, 8),
   .nconds = 0, .conds = {}},
  {.names = (const char *const[]){
    "socket", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = 0, .caps_none = 0, .min_kernel = 0,
   .nconds = 1, .conds = {{0, SCMP_CMP_LT, 38ULL, 0ULL}}},
  {.names = (const char *const[]){
    "socket", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = 0, .caps_none = 0, .min_kernel = 0,
   .nconds = 1, .conds = {{0, SCMP_CMP_EQ, 39ULL, 0ULL}}},
  {.names = (const char *const[]){
    "socket", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = 0, .caps_none = 0, .min_kernel = 0,
   .nconds = 1, .conds = {{0, SCMP_CMP_GT, 40ULL, 0ULL}}},
  {.names = (const char *const[]){
    "personality", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = 0, .caps_none = 0, .min_kernel = 0,
   .nconds = 1, .conds = {{0, SCMP_CMP_EQ, 0ULL, 0ULL}}},
  {.names = (const char *const[]){
    "personality", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = 0, .caps_none = 0, .min_kernel = 0,
   .nconds = 1, .conds = {{0, SCMP_CMP_EQ, 8ULL, 0ULL}}},
  {.names = (const char *const[]){
    "personality", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = 0, .caps_none = 0, .min_kernel = 0,
   .nconds = 1, .conds = {{0, SCMP_CMP_EQ, 131072ULL, 0ULL}}},
  {.names = (const char *const[]){
    "personality", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = 0, .caps_none = 0, .min_kernel = 0,
   .nconds = 1, .conds = {{0, SCMP_CMP_EQ, 131080ULL, 0ULL}}},
  {.names = (const char *const[]){
    "personality", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = 0, .caps_none = 0, .min_kernel = 0,
   .nconds = 1, .conds = {{0, SCMP_CMP_EQ, 4294967295ULL, 0ULL}}},
  {.names = (const char *const[]){
    "arch_prctl", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = 0, .caps_none = 0, .min_kernel = 0,
   .nconds = 0, .conds = {}},
  {.names = (const char *const[]){
    "modify_ldt", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = 0, .caps_none = 0, .min_kernel = 0,
   .nconds = 0, .conds = {}},
  {.names = (const char *const[]){
    "open_by_handle_at", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = CAPBIT(CAP_DAC_READ_SEARCH), .caps_none = 0, .min_kernel = 0,
   .nconds = 0, .conds = {}},
  {.names = (const char *const[]){
    "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
    "lookup_dcookie", "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr",
    "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl",
    "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2",
    "unshare", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = CAPBIT(CAP_SYS_ADMIN), .caps_none = 0, .min_kernel = 0,
   .nconds = 0, .conds = {}},
  {.names = (const char *const[]){
    "clone", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = 0, .caps_none = CAPBIT(CAP_SYS_ADMIN), .min_kernel = 0,
   .nconds = 1, .conds = {{0, SCMP_CMP_MASKED_EQ, 2114060288ULL, 0ULL}}},
  {.names = (const char *const[]){
    "clone3", NULL},
   .action = SCMP_ACT_ERRNO(38), .caps_all = 0, .caps_none = CAPBIT(CAP_SYS_ADMIN), .min_kernel = 0,
   .nconds = 0, .conds = {}},
  {.names = (const char *const[]){
    "reboot", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = CAPBIT(CAP_SYS_BOOT), .caps_none = 0, .min_kernel = 0,
   .nconds = 0, .conds = {}},
  {.names = (const char *const[]){
    "chroot", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = CAPBIT(CAP_SYS_CHROOT), .caps_none = 0, .min_kernel = 0,
   .nconds = 0, .conds = {}},
  {.names = (const char *const[]){
    "delete_module", "init_module", "finit_module", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = CAPBIT(CAP_SYS_MODULE), .caps_none = 0, .min_kernel = 0,
   .nconds = 0, .conds = {}},
  {.names = (const char *const[]){
    "acct", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = CAPBIT(CAP_SYS_PACCT), .caps_none = 0, .min_kernel = 0,
   .nconds = 0, .conds = {}},
  {.names = (const char *const[]){
    "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
    "ptrace", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = CAPBIT(CAP_SYS_PTRACE), .caps_none = 0, .min_kernel = 0,
   .nconds = 0, .conds = {}},
  {.names = (const char *const[]){
    "iopl", "ioperm", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = CAPBIT(CAP_SYS_RAWIO), .caps_none = 0, .min_kernel = 0,
   .nconds = 0, .conds = {}},
  {.names = (const char *const[]){
    "settimeofday", "stime", "clock_settime", "clock_settime64", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = CAPBIT(CAP_SYS_TIME), .caps_none = 0, .min_kernel = 0,
   .nconds = 0, .conds = {}},
  {.names = (const char *const[]){
    "vhangup", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = CAPBIT(CAP_SYS_TTY_CONFIG), .caps_none = 0, .min_kernel = 0,
   .nconds = 0, .conds = {}},
  {.names = (const char *const[]){
    "get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = CAPBIT(CAP_SYS_NICE), .caps_none = 0, .min_kernel = 0,
   .nconds = 0, .conds = {}},
  {.names = (const char *const[]){
    "syslog", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = CAPBIT(CAP_SYSLOG), .caps_none = 0, .min_kernel = 0,
   .nconds = 0, .conds = {}},
  {.names = (const char *const[]){
    "bpf", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = CAPBIT(CAP_BPF), .caps_none = 0, .min_kernel = 0,
   .nconds = 0, .conds = {}},
  {.names = (const char *const[]){
    "perf_event_open", NULL},
   .action = SCMP_ACT_ALLOW, .caps_all = CAPBIT(CAP_PERFMON), .caps_none = 0, .min_kernel = 0,
   .nconds = 0, .conds = {}},
};

_Static_assert(ARRAY_SIZE(rules) <= 64, "selection is a 64-bit mask");

bool rt_seccomp_default_rule(size_t i, const char *const **ret_names, uint32_t *ret_action,
                             uint64_t *ret_caps_all, uint64_t *ret_caps_none) {
  if (i >= ARRAY_SIZE(rules))
    return false;
  *ret_names = rules[i].names;
  *ret_action = rules[i].action;
  *ret_caps_all = rules[i].caps_all;
  *ret_caps_none = rules[i].caps_none;
  return true;
}

uint64_t rt_seccomp_default_selection(uint64_t caps, unsigned kernel) {
  uint64_t sel = 0;

  for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
    const struct default_rule *r = &rules[i];
    if ((caps & r->caps_all) != r->caps_all)
      continue;
    if (caps & r->caps_none)
      continue;
    if (r->min_kernel && kernel < r->min_kernel)
      continue;
    sel |= UINT64_C(1) << i;
  }
  return sel;
}

static void releasep(scmp_filter_ctx *ctx) {
  if (*ctx)
    seccomp_release(*ctx);
}

int rt_seccomp_default_build(uint64_t selection, scmp_filter_ctx *ret_ctx) {
  const uint32_t def = SCMP_ACT_ERRNO(EPERM);
  _cleanup_(releasep) scmp_filter_ctx ctx = seccomp_init(def);
  int r;

  if (!ctx)
    return -ENOMEM;
  if ((r = rt_scmp_add_native_arches(ctx)) < 0)
    return r;
  rt_scmp_optimize(ctx);
  for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
    if (!(selection & (UINT64_C(1) << i)))
      continue;
    for (const char *const *n = rules[i].names; *n; n++)
      if ((r = rt_scmp_add(ctx, def, *n, rules[i].action, rules[i].conds, rules[i].nconds)) < 0)
        return r;
  }
  *ret_ctx = TAKE_PTR(ctx);
  return 0;
}
