/*
 * A writable layer of its own for every container: an overlayfs whose only lower layer
 * is the rootfs directory and whose upper and work directories live on a fresh,
 * size-limited tmpfs. Both mounts are made with the new mount API (fsopen, fsconfig,
 * fsmount) and stay DETACHED: nothing appears in the host's mount table, and the
 * directory itself is never written (a container that replaces /bin/sh changes only its
 * own upper layer; another container on the same directory still sees the original).
 *
 * The overlay is built by the parent (host user namespace, CAP_SYS_ADMIN) before
 * clone(): with --userns the container's root then needs no privilege over the
 * directory, and copy-up runs with the parent's credentials (overlayfs' mounter model).
 * The child attaches the returned tree with rt_mount_rootfs_layer() (runtime/mounts.h).
 *
 * Pages of the upper tmpfs are charged to the memory cgroup of the task that writes them
 * (the container). The layer disappears with the last reference to its mount (the
 * container's mount namespace), so nothing has to be cleaned up.
 *
 * Requires Linux >= 6.13 (overlayfs layers given by file descriptor, detached layers).
 */
#pragma once

#include <stdint.h>

/* Default size of the upper tmpfs (--rootfs-size). */
#define RT_ROOTFS_LAYER_DEFAULT_SIZE ((uint64_t)256 << 20)

/*
 * Build the overlay for the directory rootfs_fd (any fd of a directory, O_PATH is fine)
 * with an upper tmpfs of size_bytes (page-rounded, >= 1 page; 0 = the default). The
 * upper directory takes the owner and mode of the rootfs directory, so the container's
 * "/" looks as it did on the directory. On success *ret_tree is a detached mount fd
 * (O_CLOEXEC) of the overlay's root, owned by the caller (close it, or hand it to the
 * child). Returns 0, -EINVAL (size too large), -EPERM (no CAP_SYS_ADMIN), -EOPNOTSUPP
 * (the kernel cannot build the layer: overlayfs missing or too old, or the directory's
 * filesystem cannot be a lower layer) or another negative errno.
 */
int rt_rootfs_layer_new(int rootfs_fd, uint64_t size_bytes, int *ret_tree);
