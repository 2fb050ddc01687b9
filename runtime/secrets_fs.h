/*
 * The secrets tmpfs of one container: a tmpfs created with the new mount API that
 * stays a DETACHED mount in the launcher/agent (the writable handle), and a read-only
 * clone of it that the container's child attaches at <rootfs>/run/secrets.
 *
 * The writable handle is a mount fd, not a path: every file operation is relative to
 * it (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, O_NOFOLLOW), so it works from any
 * thread of a multithreaded process (no setns into the container's mount namespace)
 * and never touches a host path. The secret bytes are written straight from the
 * caller's buffer into the tmpfs: this module never copies them into its own memory.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct rt_secrets_fs;

/*
 * Parent: a new tmpfs (new mount API: fsopen/fsconfig/fsmount), nosuid,nodev,noexec,
 * nosymfollow, mode 0755, size = total + largest + slack (room to replace the largest
 * file atomically), noswap when the kernel has it (6.4+; else log-once is the CALLER's
 * job: rt_secrets_fs_noswap() tells). Also prepares the read-only clone for
 * rt_secrets_fs_mount_in (its fd is O_CLOEXEC but stays open in a clone()d child).
 * On success *ret owns the handle (rt_secrets_fs_free).
 * Returns 0, -ENOMEM, -EPERM (no CAP_SYS_ADMIN), -ENOSYS (no new mount API) or the
 * negative errno of the failed mount call.
 */
int  rt_secrets_fs_new(size_t total_bytes, size_t largest_bytes, struct rt_secrets_fs **ret);

/* Borrowed fd of the writable mount's root directory (do not close; valid until
 * rt_secrets_fs_free). For diagnostics and tests. NULL: -EBADF. */
int  rt_secrets_fs_fd(const struct rt_secrets_fs *fs);

/* Whether the tmpfs was mounted with noswap. NULL: false. */
bool rt_secrets_fs_noswap(const struct rt_secrets_fs *fs);

/* The tmpfs size limit in bytes now (it grows up to rt_secrets_fs_max). NULL: 0. */
size_t rt_secrets_fs_size(const struct rt_secrets_fs *fs);

/*
 * Growth cap: when a put needs room, the tmpfs is resized (fspick + FSCONFIG_CMD_
 * RECONFIGURE on the superblock, so the container's read-only view grows too) up to
 * max_bytes; 0 (the default of rt_secrets_fs_new) never grows. Returns 0 or -EINVAL
 * (above 1 GiB).
 */
int    rt_secrets_fs_set_max(struct rt_secrets_fs *fs, size_t max_bytes);
size_t rt_secrets_fs_max(const struct rt_secrets_fs *fs);

/*
 * A handle on an existing secrets tmpfs given by the fd of its writable mount (e.g.
 * received from a container's supervisor): *ret takes ownership of mnt_fd (closed by
 * rt_secrets_fs_free; not on failure). Returns 0, -EINVAL, -EXDEV (not a tmpfs),
 * -ENOMEM. It has no read-only clone (rt_secrets_fs_mount_in fails).
 */
int    rt_secrets_fs_from_fd(int mnt_fd, size_t max_bytes, struct rt_secrets_fs **ret);

/*
 * A second handle on the same tmpfs as fs: a dup of its writable mount fd and a NEW
 * read-only clone for rt_secrets_fs_mount_in (so a tmpfs filled by one process can be
 * attached by a container started with it); same cap. fs may come from
 * rt_secrets_fs_from_fd. On success *ret owns the new handle. Returns 0, -EINVAL,
 * -ENOMEM or the negative errno of dup/open_tree/mount_setattr.
 */
int    rt_secrets_fs_share(const struct rt_secrets_fs *fs, struct rt_secrets_fs **ret);

/*
 * Add or atomically replace a file (write temp, fchown, fchmod, fsync-free, renameat),
 * creating parent directories 0755; target is a validated relative path; resolved with
 * openat2 RESOLVE_BENEATH|NO_SYMLINKS against the writable mount fd. Callable from any
 * thread at any time, also while the container runs. Readers see the old or the new
 * file whole. data is only read; len 0 makes an empty file; mode & ~07777 must be 0.
 * target: relative, components of 1..255 bytes, no "", ".", "..", no leading '/',
 * final name not starting with ".sdtmp-" (reserved for temporaries), total < 4096.
 * Returns 0, -EINVAL (bad target or mode), -ENOSPC (tmpfs full: the old file, if any,
 * is kept, the tmpfs grew as far as its cap allows), -ELOOP/-EXDEV (a symlink or escape on the path), -EISDIR (target is a
 * directory), -ENOTDIR, or another negative errno. On failure no temporary is left.
 */
int  rt_secrets_fs_put(struct rt_secrets_fs *fs, const char *target, const void *data, size_t len,
                       uid_t uid, gid_t gid, mode_t mode);

/* Remove a file put earlier (directories are kept). Same target rules as put.
 * Returns 0, -ENOENT, -EINVAL, -EISDIR, or another negative errno. */
int  rt_secrets_fs_remove(struct rt_secrets_fs *fs, const char *target);

/*
 * Child, inside the new mount namespace, before pivot_root: attach a READ-ONLY clone
 * of the tmpfs (open_tree OPEN_TREE_CLONE + mount_setattr MOUNT_ATTR_RDONLY +
 * move_mount) at <rootfs>/run/secrets, resolved with openat2 RESOLVE_IN_ROOT so a
 * symlinked /run or /run/secrets cannot redirect it outside. Creates run/secrets when
 * missing; if the rootfs cannot be written (read-only), mount a small tmpfs on /run
 * first. The clone is prepared in the parent by rt_secrets_fs_new (fd inherited by the
 * child). rootfs_fd: an O_PATH or O_DIRECTORY fd of the rootfs (the bind mount the
 * child will pivot into). Does not allocate. Callable once per clone (the clone is
 * consumed by move_mount; call in a forked/cloned child).
 * Returns 0 or a negative errno (-ENOTDIR: run or run/secrets is not a directory).
 */
int  rt_secrets_fs_mount_in(struct rt_secrets_fs *fs, int rootfs_fd);

/* Flags for rt_secrets_fs_mount_in_flags. */
#define RT_SECRETS_FS_NO_CREATE 1u /* never create anything in the rootfs (--read-only):
                                      when run/secrets is missing, cover run/ with a small
                                      tmpfs that holds the secrets/ mount point */

/* rt_secrets_fs_mount_in with flags (0 = rt_secrets_fs_mount_in). With --read-only the
 * launcher passes RT_SECRETS_FS_NO_CREATE so that the rootfs image is never modified. */
int  rt_secrets_fs_mount_in_flags(struct rt_secrets_fs *fs, int rootfs_fd, unsigned flags);

void rt_secrets_fs_free(struct rt_secrets_fs *fs);        /* closes fds; NULL ok */
