/*
 * Capabilities of the container process. A set is a uint64_t mask: bit N = capability N.
 * Parsing and host queries run in the parent; rt_caps_drop_bounding() and rt_caps_set()
 * run in the child and do not allocate.
 */
#pragma once

#include <stdint.h>

/* Docker's default set: CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID,
 * SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE.
 * The project's one definition of it: the default seccomp filter selects by it, and
 * scripts read it from `secret-launch --print-default-caps`. */
uint64_t rt_caps_docker_default(void);

/* Parse "NET_ADMIN", "CAP_NET_ADMIN" or "net_admin" (any case). "ALL" is not a
 * capability here (the caller expands it with rt_caps_host_bounding()).
 * Returns the capability number (>= 0) or -EINVAL. */
int rt_caps_from_name(const char *name);

/* Name of capability cap in upper case without "CAP_" into buf ("cap_N" if unknown). */
void rt_caps_name(int cap, char *buf, unsigned len);

/* Highest capability number the kernel knows (/proc/sys/kernel/cap_last_cap, cached).
 * Returns it (>= 0) or a negative errno. */
int rt_caps_last_cap(void);

/* The calling process's bounding set as a mask (PR_CAPBSET_READ). Returns 0 or -errno. */
int rt_caps_host_bounding(uint64_t *ret_mask);

/* Child, while still privileged: drop every capability not in keep from the bounding
 * set (caps 0..last_cap) and clear the ambient set. Returns 0 or a negative errno. */
int rt_caps_drop_bounding(uint64_t keep, int last_cap);

/* Child, after the uid/gid change: effective = permitted = set, inheritable empty.
 * Returns 0 or a negative errno (-EPERM if set holds a capability not permitted). */
int rt_caps_set(uint64_t set);
