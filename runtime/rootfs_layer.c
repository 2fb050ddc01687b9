/*
 * The per-container writable layer (see runtime/rootfs_layer.h).
 *
 * Why this is safe: the tmpfs and the overlay are created detached (fsmount), so no host
 * path ever names them and no other process can reach the upper directory; the
 * directory is passed to overlayfs as an fd (no path lookup a rename could race); the
 * overlay is mounted by the privileged parent, so in a user namespace the container's
 * root gains no right over the lower directory (overlayfs checks the caller against the
 * overlay inode, then writes only to the upper layer).
 */
#include "runtime/rootfs_layer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/macro.h"

#define PAGE 4096u
#define LAYER_MAX_SIZE ((uint64_t)1 << 40)

/* fsconfig errors of overlayfs that mean "this kernel or this lower fs cannot do it". */
static int unsupported(int e) { return e == EINVAL || e == ENODEV || e == ENOSYS ? -EOPNOTSUPP : -e; }

int rt_rootfs_layer_new(int rootfs_fd, uint64_t size_bytes, int *ret_tree) {
  _cleanup_close_ int lower = -1, tfs = -1, tmnt = -1, upper = -1, work = -1, ofs = -1;
  char size[32];
  struct stat st;
  int mnt;

  if (size_bytes == 0)
    size_bytes = RT_ROOTFS_LAYER_DEFAULT_SIZE;
  if (size_bytes > LAYER_MAX_SIZE)
    return -EINVAL;
  size_bytes = (size_bytes + PAGE - 1) / PAGE * PAGE;
  /* fsconfig(FSCONFIG_SET_FD) takes a real open file, not an O_PATH one. */
  lower = openat(rootfs_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lower < 0)
    return -errno;
  if (fstat(lower, &st) < 0)
    return -errno;

  tfs = fsopen("tmpfs", FSOPEN_CLOEXEC);
  if (tfs < 0)
    return -errno;
  snprintf(size, sizeof size, "%" PRIu64, size_bytes);
  if (fsconfig(tfs, FSCONFIG_SET_STRING, "source", "rootfs-layer", 0) < 0 ||
      fsconfig(tfs, FSCONFIG_SET_STRING, "size", size, 0) < 0 ||
      fsconfig(tfs, FSCONFIG_SET_STRING, "mode", "0700", 0) < 0 ||
      fsconfig(tfs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    return -errno;
  tmnt = fsmount(tfs, FSMOUNT_CLOEXEC, 0);
  if (tmnt < 0)
    return -errno;
  if (mkdirat(tmnt, "upper", 0700) < 0 || mkdirat(tmnt, "work", 0700) < 0)
    return -errno;
  upper = openat(tmnt, "upper", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  work = openat(tmnt, "work", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (upper < 0 || work < 0)
    return -errno;
  /* The overlay's root takes its attributes from the upper directory: make it look
   * like the directory (owner first: fchown clears set-id bits). */
  if (fchown(upper, st.st_uid, st.st_gid) < 0 || fchmod(upper, st.st_mode & 07777) < 0)
    return -errno;

  ofs = fsopen("overlay", FSOPEN_CLOEXEC);
  if (ofs < 0)
    return errno == ENODEV ? -EOPNOTSUPP : -errno;
  if (fsconfig(ofs, FSCONFIG_SET_STRING, "source", "rootfs-layer", 0) < 0 ||
      fsconfig(ofs, FSCONFIG_SET_FD, "lowerdir+", NULL, lower) < 0 ||
      fsconfig(ofs, FSCONFIG_SET_FD, "upperdir", NULL, upper) < 0 ||
      fsconfig(ofs, FSCONFIG_SET_FD, "workdir", NULL, work) < 0)
    return unsupported(errno);
  /* Only this container ever uses the upper layer and nothing is exported: no index,
   * no NFS file handles; xino off keeps inode numbers those of the layers. */
  (void)fsconfig(ofs, FSCONFIG_SET_STRING, "index", "off", 0);
  (void)fsconfig(ofs, FSCONFIG_SET_STRING, "xino", "off", 0);
  /* The tmpfs mount fd must still be open here: overlayfs clones the upper mount
   * while it is created. Afterwards the overlay holds its own references. */
  if (fsconfig(ofs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    return unsupported(errno);
  mnt = fsmount(ofs, FSMOUNT_CLOEXEC, 0);
  if (mnt < 0)
    return -errno;
  *ret_tree = mnt;
  return 0;
}
