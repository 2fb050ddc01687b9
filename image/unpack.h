/*
 * The layer unpacker: reads one layer (tar, tar+gzip or tar+zstd, sniffed) with
 * libarchive and applies it to a root directory through directory fds, never
 * through libarchive's disk writer. Hostile input rules:
 *  - a ".." component in an entry name is refused; an absolute name is taken
 *    relative to the root (as Docker, containerd and umoci do);
 *  - every parent directory is opened with openat2(RESOLVE_IN_ROOT), so a
 *    symlink on the way (absolute or relative) resolves inside the root;
 *    the last component is created by name (O_NOFOLLOW, O_EXCL, mkdirat,
 *    symlinkat), never through a symlink;
 *  - hard-link targets resolve inside the root as above and must be regular
 *    files or symlinks;
 *  - whiteouts (.wh.NAME) remove NAME in the resolved parent, opaque markers
 *    (.wh..wh..opq) empty it of what lower layers put there; both are
 *    resolved inside the root; names "", "." and ".." are refused;
 *  - device nodes and sockets are never created (counted in skipped);
 *  - only user.* extended attributes are kept (trusted.*, security.*, system.*
 *    are dropped and counted);
 *  - modes are applied exactly (after chown), setuid/setgid only where the
 *    entry says; owners as the entry says;
 *  - the total logical size and the number of entries are capped, and so is
 *    directory nesting (200 levels, also when reached through symlinks).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "image/err.h"

#define IMG_DEFAULT_MAX_BYTES (UINT64_C(16) << 30) /* expanded size of an image */
#define IMG_DEFAULT_MAX_ENTRIES UINT64_C(1000000)
#define IMG_MAX_XATTR 65536

struct img_limits {
  uint64_t max_bytes;   /* total logical size of regular files, all layers */
  uint64_t max_entries; /* tar entries, all layers */
};

/* Counters across layers (the caps apply to them). */
struct img_unpack_stats {
  uint64_t bytes, entries;
  uint64_t skipped_nodes;  /* device nodes and sockets not created */
  uint64_t dropped_xattrs; /* non-user.* extended attributes dropped */
};

/* Read callback: set *buf to the next bytes and return their count, 0 at EOF,
 * or a negative errno. */
typedef ssize_t (*img_read_fn)(void *ctx, const void **buf);

/* Apply one layer to the directory rootfd (opened O_RDONLY|O_DIRECTORY).
 * Returns 0, -EFBIG (size cap), -E2BIG (entry cap), -EXDEV (a name or link
 * target holds ".."), -EINVAL (not a tar stream, bad whiteout, bad owner),
 * -ELOOP/-ENOTDIR/-ENOENT from resolving a parent, or -errno from the file
 * system; err names the entry. On failure the root holds a partial layer: the
 * caller discards it. */
int img_unpack_layer(int rootfd, img_read_fn read, void *ctx, const struct img_limits *lim,
                     struct img_unpack_stats *stats, struct img_err *err);

/* Remove name under dirfd, recursively for a directory, never following a
 * symlink. -ENOENT if absent. */
int img_rm_rf_at(int pfd, const char *name);
