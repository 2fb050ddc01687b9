/*
 * Docker's default device allow-list, for the cgroup v1 devices controller and as a
 * cgroup v2 BPF_PROG_TYPE_CGROUP_DEVICE program. Internal to runtime/cgroup*.c (and
 * its tests).
 *
 * Allowed: mknod of any char or block device ("c *:* m", "b *:* m"), and every access
 * to null 1:3, zero 1:5, full 1:7, random 1:8, urandom 1:9, tty 5:0, console 5:1,
 * ptmx 5:2, pts 136:*. Everything else (in particular every block device) is denied.
 */
#pragma once

#include <stddef.h>

/* v1: write "a" to devices.deny, then each of these to devices.allow. */
extern const char *const rt_cgroup_devices_v1_allow[];
extern const size_t rt_cgroup_devices_v1_allow_n;

/* Load the allow-list program and attach it with BPF_F_ALLOW_MULTI to the cgroup v2
 * directory open at cgroup_fd (O_RDONLY|O_DIRECTORY). The attachment lives as long as
 * the cgroup; no fd stays open. Returns 0 or a negative errno (-EPERM without
 * CAP_SYS_ADMIN/CAP_BPF, -EINVAL if the kernel rejects the program). */
int rt_cgroup_devices_bpf_attach(int cgroup_fd);
