/*
 * The container's filesystem view: rootfs bind, /proc, /dev, /sys, Docker's masked and
 * read-only paths, --mount binds, pivot_root. Every function here runs in the cloned
 * child, inside its new mount namespace; none allocates (safe after a raw clone() of a
 * multithreaded process). Paths inside the rootfs are always resolved with openat2
 * RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS against root_fd, so a symlink in the rootfs
 * can never make a mount land outside it; mounts are attached by fd (move_mount).
 *
 * Errors are negative errno; rt_mounts_last_path() names the path of the failed step
 * (static or spec-owned text, never secret).
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* Docker's masked and read-only paths (NULL-terminated). */
extern const char *const rt_masked_paths[];
extern const char *const rt_readonly_paths[];

/* Path (container or host) of the last failing step in this module. */
const char *rt_mounts_last_path(void);

/*
 * openat2(root_fd, path, flags | O_CLOEXEC, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS).
 * A leading '/' in path is fine. Returns the fd or a negative errno.
 */
int rt_open_in_root(int root_fd, const char *path, int flags);

/*
 * Make path exist inside the root (missing parents 0755; the last component an empty
 * file 0644 if as_file, else a directory 0755) and return an O_PATH fd of it in *ret_fd.
 * Returns 0, -ENOTDIR, -EEXIST (exists with the other type is NOT an error: the caller
 * gets whatever is there), or another negative errno.
 */
int rt_mkpath_in_root(int root_fd, const char *path, bool as_file, int *ret_fd);

/*
 * Make every mount private (no propagation to the host) and make the rootfs directory
 * (rootfs_fd, opened in this mount namespace) a mount point: with layer_tree >= 0 (the
 * detached overlay of runtime/rootfs_layer.h, consumed) that layer is attached on it;
 * with layer_tree < 0 the directory itself is cloned recursively onto itself
 * (--rootfs-writable). *ret_root_fd: an fd of the new mount's root. Returns 0 or a
 * negative errno.
 */
int rt_mount_rootfs(int rootfs_fd, int layer_tree, int *ret_root_fd);

/* Fresh procfs at /proc (nosuid, nodev, noexec). */
int rt_mount_proc(int root_fd);

/*
 * tmpfs /dev (mode 0755, 64 KiB, nosuid, noexec) holding null, zero, full, random,
 * urandom, tty (mknod'ed, or bind-mounted from the host when userns is true), pts
 * (devpts newinstance, ptmxmode=0666), shm (tmpfs 1777, 64 MiB), mqueue and the
 * symlinks ptmx, fd, stdin, stdout, stderr, core.
 */
int rt_mount_dev(int root_fd, bool userns);

/* /sys read-only: a new sysfs (it shows the new net namespace) or, where that is
 * refused (user namespace), a recursive read-only bind of the host's /sys. */
int rt_mount_sys(int root_fd);

/* Attach tree (a detached mount made by the parent with open_tree(OPEN_TREE_CLONE |
 * AT_RECURSIVE); consumed) at target inside the root, creating the target (file or
 * directory like the source). ro: recursively read-only (set on the clone only). */
int rt_mount_bind(int root_fd, int tree, const char *target, bool ro);

/* Docker's masked paths (files: /dev/null bound over, dirs: an empty read-only tmpfs)
 * and read-only paths (recursive read-only binds). Paths the host lacks are skipped. */
int rt_mount_masked_paths(int root_fd);
int rt_mount_readonly_paths(int root_fd);

/* pivot_root into root_fd's mount with the old root stacked and then detached
 * (pivot_root(".", ".") + umount2(MNT_DETACH)); cwd becomes "/". */
int rt_pivot_root(int root_fd);

/* After pivot_root: make "/" read-only (that mount only, not the ones below it). */
int rt_remount_root_readonly(void);
