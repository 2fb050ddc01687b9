/*
 * Landlock for secret-launch: a MAC layer that works on kernels without AppArmor or
 * SELinux. The container may read and execute everywhere but write only below chosen
 * paths (and to the harmless character devices /dev/null, /dev/zero, /dev/full,
 * /dev/tty, /dev/ptmx, /dev/pts). Uses the best Landlock ABI the kernel offers.
 */
#pragma once

#include <stddef.h>

/*
 * Child, after pivot_root, before seccomp: the process may read/execute everywhere but
 * write only below rw_paths (container paths). n == 0: no-op. Sets no_new_privs itself
 * only if the kernel demands it and the process lacks CAP_SYS_ADMIN. Does not allocate.
 * Returns 0, -EOPNOTSUPP (no Landlock), -ENOENT (an rw path is missing), -EINVAL
 * (relative or empty path), -errno.
 */
int rt_landlock_apply(const char *const *rw_paths, size_t n);

/* --- additions beyond the shared contract --- */

/* The Landlock ABI version the kernel offers, or -EOPNOTSUPP. */
int rt_landlock_abi(void);
