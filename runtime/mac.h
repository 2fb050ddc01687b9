/*
 * AppArmor / SELinux exec labels for secret-launch. The label is written to the
 * kernel's "exec" attribute so that it takes effect at the container's execve.
 */
#pragma once

#include <stdbool.h>

/* The AppArmor profile used when AppArmor is enabled and none was asked for. It must be
 * loaded on the host (apparmor_parser -r docs/apparmor/secretd-default). */
#define RT_MAC_APPARMOR_DEFAULT "secretd-default"

/*
 * Parent: check that the requested LSM exists; -EOPNOTSUPP when asked for a missing one
 * (message via rt_mac_last_error()). Also -EINVAL for a malformed label and -ENOENT when
 * AppArmor is enabled but the requested (or default) profile is not loaded.
 * apparmor_profile "unconfined" asks for no AppArmor profile. Remembers what it found,
 * so that rt_mac_apply_exec() in the child needs no further detection.
 */
int rt_mac_check(const char *apparmor_profile, const char *selinux_label);

/*
 * Child, after /proc is mounted and before execve: set the exec label
 * (/proc/thread-self/attr/apparmor/exec or attr/exec). NULL arguments: default AppArmor
 * profile when AppArmor is enabled, nothing otherwise. Returns 0, -EOPNOTSUPP, -EXDEV
 * (the attr file is not on procfs), -errno. Same as rt_mac_exec_open("/") + apply.
 */
int rt_mac_apply_exec(const char *apparmor_profile, const char *selinux_label);

/* The attr files to write, opened early (-1: nothing to write). */
struct rt_mac_exec {
  int aa_fd;
  int se_fd;
};

/*
 * Child, right after the container's /proc is mounted under root_fd and BEFORE any user
 * mount (CVE-2019-19921: a user mount over a symlink to /proc must not receive the
 * label): open the attr file(s) that rt_mac_exec_apply() will write, resolved inside
 * root_fd (RESOLVE_IN_ROOT, no magic links, no final symlink) and checked with
 * rt_mac_attr_check_fd(). Same argument rules as rt_mac_apply_exec(). On success *ret
 * holds the fds (close with rt_mac_exec_apply or rt_mac_exec_close). Returns 0,
 * -EOPNOTSUPP, -EINVAL, -EXDEV (not procfs), or the negative errno of the open.
 * Does not allocate.
 */
int rt_mac_exec_open(int root_fd, const char *apparmor_profile, const char *selinux_label,
                     struct rt_mac_exec *ret);

/* Write the labels through the fds of rt_mac_exec_open (same arguments), close them.
 * Returns 0 or a negative errno. */
int rt_mac_exec_apply(struct rt_mac_exec *m, const char *apparmor_profile,
                      const char *selinux_label);
void rt_mac_exec_close(struct rt_mac_exec *m);

/* 0 when fd is a file on procfs, -EXDEV otherwise (or the errno of fstatfs). */
int rt_mac_attr_check_fd(int fd);

/* Open path (e.g. "proc/thread-self/attr/exec") inside root_fd (RESOLVE_IN_ROOT, no
 * magic links, O_NOFOLLOW) for writing and check it with rt_mac_attr_check_fd().
 * *ret_fd: the fd (O_CLOEXEC). Returns 0, -EXDEV (not procfs: nothing was written),
 * or the negative errno of the open. */
int rt_mac_attr_open(int root_fd, const char *path, int *ret_fd);

/* --- additions beyond the shared contract --- */

/* Static text describing the last rt_mac_check() error ("" when none). */
const char *rt_mac_last_error(void);

/* Host detection (reads /sys/kernel/security/lsm, /sys/module/apparmor, /sys/fs/selinux). */
bool rt_mac_apparmor_enabled(void);
bool rt_mac_selinux_enabled(void);
