/*
 * Landlock: read and execute everywhere, write only below chosen paths.
 *
 * The ruleset handles every filesystem right the kernel's ABI knows (v1: 13 rights,
 * v2: +REFER, v3: +TRUNCATE, v5: +IOCTL_DEV), so anything not granted below is denied
 * with EACCES. Grants:
 *  - "/": EXECUTE, READ_FILE, READ_DIR (and IOCTL_DEV: ioctls are not writes, and
 *    terminals need them);
 *  - each rw path: every handled right (create, remove, rename, write, truncate...);
 *  - /dev/null, /dev/zero, /dev/full, /dev/tty, /dev/ptmx and /dev/pts: reading and
 *    writing the device files only (shells redirect to /dev/null all the time).
 * Network rights (ABI v4) and scopes (v6) are not handled: the net namespace isolates.
 */
#include "runtime/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/macro.h"

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

#define FS_V1 ((LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1)   /* bits 0..12 */
#define FS_READ (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | \
                 LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_IOCTL_DEV)
/* Rights that apply to a non-directory (Landlock refuses others on files). */
#define FS_FILE (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
                 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | \
                 LANDLOCK_ACCESS_FS_IOCTL_DEV)
#define FS_DEVICE (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
                   LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV | \
                   LANDLOCK_ACCESS_FS_READ_DIR)

int rt_landlock_abi(void) {
  long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (v < 0)
    return (errno == ENOSYS || errno == EOPNOTSUPP) ? -EOPNOTSUPP : -errno;
  return (int)v;
}

static uint64_t handled_for_abi(int abi) {
  uint64_t h = FS_V1;
  if (abi >= 2)
    h |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3)
    h |= LANDLOCK_ACCESS_FS_TRUNCATE;
  if (abi >= 5)
    h |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
  return h;
}

/*
 * Grant access (masked to the handled rights, and to file rights for a non-directory)
 * below path. missing_ok: a path that does not exist is skipped.
 */
static int allow_path(int ruleset, const char *path, uint64_t access, uint64_t handled,
                      bool missing_ok) {
  _cleanup_close_ int fd = open(path, O_PATH | O_CLOEXEC);
  struct landlock_path_beneath_attr attr;
  struct stat st;

  if (fd < 0)
    return (missing_ok && errno == ENOENT) ? 0 : -errno;
  if (fstat(fd, &st) < 0)
    return -errno;
  access &= handled;
  if (!S_ISDIR(st.st_mode))
    access &= FS_FILE;
  if (!access)
    return 0;
  attr = (struct landlock_path_beneath_attr){.allowed_access = access, .parent_fd = fd};
  if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0) < 0)
    return -errno;
  return 0;
}

static int restrict_self(int ruleset) {
  if (syscall(SYS_landlock_restrict_self, ruleset, 0) == 0)
    return 0;
  if (errno != EPERM)
    return -errno;
  /* Without CAP_SYS_ADMIN the kernel demands no_new_privs, which the launcher sets
   * later anyway: setting it now changes nothing for the container. */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return -errno;
  return syscall(SYS_landlock_restrict_self, ruleset, 0) == 0 ? 0 : -errno;
}

int rt_landlock_apply(const char *const *rw_paths, size_t n) {
  static const char *const devices[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/tty",
                                        "/dev/ptmx", "/dev/pts"};
  _cleanup_close_ int ruleset = -1;
  struct landlock_ruleset_attr attr;
  uint64_t handled;
  int abi, r;

  if (n == 0)
    return 0;
  if (!rw_paths)
    return -EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!rw_paths[i] || rw_paths[i][0] != '/')
      return -EINVAL;
  if ((abi = rt_landlock_abi()) < 0)
    return abi;
  handled = handled_for_abi(abi);
  attr = (struct landlock_ruleset_attr){.handled_access_fs = handled};
  ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
  if (ruleset < 0)
    return -errno;
  if ((r = allow_path(ruleset, "/", FS_READ, handled, false)) < 0)
    return r;
  for (size_t i = 0; i < n; i++)
    if ((r = allow_path(ruleset, rw_paths[i], handled, handled, false)) < 0)
      return r;
  for (size_t i = 0; i < ARRAY_SIZE(devices); i++)
    if ((r = allow_path(ruleset, devices[i], FS_DEVICE, handled, true)) < 0)
      return r;
  return restrict_self(ruleset);
}
