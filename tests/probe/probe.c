/*
 * seccomp-probe: a small static program for integration tests. It issues the syscalls
 * named on its command line, in the container, and prints one line per check:
 *     <check> <result>
 * where result is "ok" (the call succeeded) or the errno name (EPERM, ENOSYS, ...).
 * Arguments are chosen so that, without a seccomp filter, most calls fail with an errno
 * other than EPERM (EINVAL, EBADF, ENOSYS...), so the tests can tell the filter's EPERM
 * from the kernel's own permission checks.
 *
 * Checks: mount umount2 unshare setns keyctl add_key bpf perf_event_open
 *   open_by_handle_at kexec_load syslog nr1000 clone3 clone_newuser personality
 *   x32_mount int80_setns int80_unshare int80_mount int80_getpid
 *   mkdir:PATH  write:PATH  seccomp (prints the Seccomp: line of /proc/self/status)
 *   all (the default-filter set)
 * Every call is harmless even where it is allowed (missing targets, invalid flags, bad
 * fds), so running the probe outside a container changes nothing.
 * Built with -static by tests/seccomp.cmake; needs nothing from the rootfs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif

static const char *errname(int e) {
  static char buf[16];
  switch (e) {
  case EPERM: return "EPERM";
  case ENOENT: return "ENOENT";
  case EBADF: return "EBADF";
  case EFAULT: return "EFAULT";
  case EINVAL: return "EINVAL";
  case ENOSYS: return "ENOSYS";
  case EACCES: return "EACCES";
  case ENOSPC: return "ENOSPC";
  case EROFS: return "EROFS";
  case EEXIST: return "EEXIST";
  case EOPNOTSUPP: return "EOPNOTSUPP";
  case ENOTDIR: return "ENOTDIR";
  case ENOTBLK: return "ENOTBLK";
  case EBUSY: return "EBUSY";
  case ENODEV: return "ENODEV";
  default: snprintf(buf, sizeof(buf), "E%d", e); return buf;
  }
}

static void report(const char *name, long r) {
  printf("%s %s\n", name, r < 0 ? errname(errno) : "ok");
}

#if defined(__x86_64__)
static long int80(long nr, long a, long b, long c) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
  return ret;
}

static void report_int80(const char *name, long nr, long a, long b, long c) {
  long r = int80(nr, a, b, c);
  if (r < 0 && r > -4096)
    printf("%s %s\n", name, errname((int)-r));
  else
    printf("%s ok\n", name);
}
#endif

static void seccomp_line(void) {
  char line[256];
  FILE *f = fopen("/proc/self/status", "r");
  while (f && fgets(line, sizeof(line), f))
    if (strncmp(line, "Seccomp:", 8) == 0)
      fputs(line, stdout);
  if (f)
    fclose(f);
}

static int check(const char *c) {
  if (!strcmp(c, "mount"))     /* missing target: ENOENT when allowed and privileged */
    report(c, syscall(SYS_mount, "none", "/nonexistent-probe-dir", "tmpfs", 0, NULL));
  else if (!strcmp(c, "umount2"))
    report(c, syscall(SYS_umount2, "/nonexistent-dir", 0));
  else if (!strcmp(c, "unshare"))
    report(c, syscall(SYS_unshare, -1L));                      /* bad flags: EINVAL */
  else if (!strcmp(c, "setns"))
    report(c, syscall(SYS_setns, -1, 0));                      /* EBADF */
  else if (!strcmp(c, "keyctl"))
    report(c, syscall(SYS_keyctl, 9999, 0, 0, 0, 0));          /* EOPNOTSUPP */
  else if (!strcmp(c, "add_key"))
    report(c, syscall(SYS_add_key, "user", NULL, NULL, 0, 0)); /* EINVAL/EFAULT */
  else if (!strcmp(c, "bpf"))
    report(c, syscall(SYS_bpf, 9999, NULL, 0));
  else if (!strcmp(c, "perf_event_open"))
    report(c, syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0)); /* EFAULT */
  else if (!strcmp(c, "open_by_handle_at"))
    report(c, syscall(SYS_open_by_handle_at, -1, NULL, 0));
  else if (!strcmp(c, "kexec_load"))
    report(c, syscall(SYS_kexec_load, 0, 0, NULL, 0xdead0000UL));   /* bad flags */
  else if (!strcmp(c, "syslog"))
    report(c, syscall(SYS_syslog, 10 /* SIZE_BUFFER */, NULL, 0));
  else if (!strcmp(c, "nr1000"))
    report(c, syscall(1000));                                  /* ENOSYS */
  else if (!strcmp(c, "clone3"))
    report(c, syscall(SYS_clone3, NULL, 0));                   /* EINVAL */
  else if (!strcmp(c, "clone_newuser"))
    report(c, syscall(SYS_clone, 0x10000000L | 0x200L /* NEWUSER|FS: EINVAL */, NULL, NULL,
                      NULL, 0));
  else if (!strcmp(c, "personality"))
    report(c, syscall(SYS_personality, 0xffffffffL));          /* query: allowed */
  else if (!strcmp(c, "personality_set"))
    report(c, syscall(SYS_personality, 0x0040000L));           /* ADDR_NO_RANDOMIZE */
#if defined(__x86_64__)
  else if (!strcmp(c, "x32_mount"))
    report(c, syscall(165 | 0x40000000L, NULL, NULL, NULL, 0, NULL));
  else if (!strcmp(c, "int80_setns"))
    report_int80(c, 346, -1, 0, 0);                            /* EBADF */
  else if (!strcmp(c, "int80_unshare"))
    report_int80(c, 310, -1, 0, 0);                            /* EINVAL */
  else if (!strcmp(c, "int80_mount"))
    report_int80(c, 21, 0, 0, 0);
  else if (!strcmp(c, "int80_getpid"))
    report_int80(c, 20, 0, 0, 0);
#endif
  else if (!strncmp(c, "mkdir:", 6))
    report("mkdir", mkdir(c + 6, 0755));
  else if (!strncmp(c, "write:", 6)) {
    int fd = open(c + 6, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    report("write", fd < 0 ? -1 : (write(fd, "x\n", 2) == 2 ? 0 : -1));
    if (fd >= 0)
      close(fd);
  } else if (!strcmp(c, "seccomp"))
    seccomp_line();
  else {
    fprintf(stderr, "probe: unknown check %s\n", c);
    return 2;
  }
  return 0;
}

int main(int argc, char **argv) {
  static const char *const all[] = {
    "mount", "umount2", "unshare", "setns", "keyctl", "add_key", "bpf", "perf_event_open",
    "open_by_handle_at", "kexec_load", "syslog", "nr1000", "clone3", "clone_newuser",
    "personality", "personality_set", "x32_mount", "int80_setns", "int80_unshare",
    "int80_mount", "int80_getpid", "seccomp", NULL};
  int rc = 0;

  setvbuf(stdout, NULL, _IOLBF, 0);
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "all")) {
      for (const char *const *c = all; *c; c++)
        rc |= check(*c);
    } else
      rc |= check(argv[i]);
  }
  return rc;
}
