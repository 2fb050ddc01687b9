/*
 * Resolving an image config's User ("uid", "uid:gid", "name", "name:group",
 * "uid:group", "name:gid") against the image's own /etc/passwd and /etc/group,
 * read inside the rootfs (openat2 RESOLVE_IN_ROOT, at most 1 MiB each) as
 * Docker does. A uid without a group takes the passwd entry's gid, else 0.
 */
#pragma once

#include <sys/types.h>

/* Returns 0, -ENOENT (name not in the image's files), -EINVAL (malformed). */
int img_user_resolve(int rootfd, const char *spec, uid_t *ret_uid, gid_t *ret_gid);
