/*
 * User namespace id maps (--userns, --uidmap, --gidmap). Parent side.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/runtime.h"

/* Parse "CONTAINER:HOST:COUNT" (decimal, COUNT >= 1, no overflow of either range).
 * Returns 0 or -EINVAL; *ret untouched on failure. */
int rt_idmap_parse(const char *s, struct rt_idmap *ret);

/* Validate a map list: 1..RT_MAX_IDMAPS entries, no overlapping container or host
 * ranges. Returns 0 or -EINVAL. */
int rt_idmap_check(const struct rt_idmap *m, size_t n);

/* Whether container id `inside` is mapped by m. */
bool rt_idmap_maps(const struct rt_idmap *m, size_t n, uint32_t inside);

/* Host id of container id `inside`, or (uint32_t)-1 when unmapped. */
uint32_t rt_idmap_to_host(const struct rt_idmap *m, size_t n, uint32_t inside);

/*
 * Write /proc/PID/uid_map and gid_map for a child that waits in its new user
 * namespace (the caller is privileged in the parent namespace, so setgroups stays
 * allowed inside). Returns 0 or the negative errno of the failed open/write.
 */
int rt_userns_write_maps(pid_t pid, const struct rt_idmap *uid, size_t nu,
                         const struct rt_idmap *gid, size_t ng);
