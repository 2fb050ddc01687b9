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
 * profile when AppArmor is enabled, nothing otherwise. Returns 0, -EOPNOTSUPP, -errno.
 */
int rt_mac_apply_exec(const char *apparmor_profile, const char *selinux_label);

/* --- additions beyond the shared contract --- */

/* Static text describing the last rt_mac_check() error ("" when none). */
const char *rt_mac_last_error(void);

/* Host detection (reads /sys/kernel/security/lsm, /sys/module/apparmor, /sys/fs/selinux). */
bool rt_mac_apparmor_enabled(void);
bool rt_mac_selinux_enabled(void);
