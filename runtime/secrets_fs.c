/*
 * The secrets tmpfs: a detached tmpfs mount held by fd (the writable handle) and a
 * read-only clone of it that the container's child attaches at <rootfs>/run/secrets.
 *
 * Why this is safe:
 * - The writable mount is never attached to any mount namespace: it is reachable only
 *   through fs->mnt_fd, so nothing but this process can create files or symlinks in it.
 *   We still resolve every path with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS and open with
 *   O_NOFOLLOW (defence in depth).
 * - The container's view is a clone with a per-mount read-only flag; it shares the
 *   superblock, so the container sees our renames at once, whole.
 * - The attach point in the rootfs is resolved with RESOLVE_IN_ROOT: symlinks in the
 *   rootfs (run -> /host/dir, run/secrets -> ../../..) resolve as the container would
 *   see them, inside the rootfs, and the mount is done on the resolved fd (no path is
 *   re-walked between check and use).
 */
#include "runtime/secrets_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "base/io.h"
#include "base/macro.h"

#define PAGE_ROUND(x) (((x) + 4095u) & ~(size_t)4095u)
#define SECRETS_SLACK ((size_t)256 * 1024)      /* room for ~64 small extra files */
#define SECRETS_MAX ((size_t)1 << 30)           /* sanity bound on a secrets tmpfs */
#define TMP_PREFIX ".sdtmp-"
#define RUN_TMPFS_SIZE "1048576"

#define RESOLVE_SAFE (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)

struct rt_secrets_fs {
  int mnt_fd;      /* writable detached tmpfs (root directory of the mount) */
  int ro_fd;       /* read-only detached clone, consumed by rt_secrets_fs_mount_in */
  bool noswap;
  size_t size;     /* size at creation; the current one is read with fstatfs */
  size_t max;      /* growth cap; 0 = never grow */
};

static _Atomic unsigned long tmp_counter;

static int sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve) {
  struct open_how how = {.flags = flags, .mode = 0, .resolve = resolve};
  long r;
  do
    r = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
  while (r < 0 && errno == EAGAIN); /* rename race during resolution: retry */
  return r < 0 ? -errno : (int)r;
}

/* A configured tmpfs, detached, with the given mount attributes. "size" is a decimal
 * string. *ret_noswap (may be NULL) tells whether noswap was accepted. */
static int make_tmpfs(const char *size, unsigned attrs, bool want_noswap, int *ret_fd,
                      bool *ret_noswap) {
  _cleanup_close_ int fsfd = fsopen("tmpfs", FSOPEN_CLOEXEC);
  bool noswap = false;
  int mfd;

  if (fsfd < 0)
    return -errno;
  if (fsconfig(fsfd, FSCONFIG_SET_STRING, "source", "tmpfs", 0) < 0 ||
      fsconfig(fsfd, FSCONFIG_SET_STRING, "size", size, 0) < 0 ||
      fsconfig(fsfd, FSCONFIG_SET_STRING, "mode", "0755", 0) < 0)
    return -errno;
  /* Linux 6.4+: keep the pages out of swap. Older kernels reject the flag (EINVAL);
   * the context stays usable, the caller learns it from rt_secrets_fs_noswap(). */
  if (want_noswap && fsconfig(fsfd, FSCONFIG_SET_FLAG, "noswap", NULL, 0) == 0)
    noswap = true;
  if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    return -errno;
  mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, attrs);
  if (mfd < 0)
    return -errno;
  *ret_fd = mfd;
  if (ret_noswap)
    *ret_noswap = noswap;
  return 0;
}

int rt_secrets_fs_new(size_t total_bytes, size_t largest_bytes, struct rt_secrets_fs **ret) {
  const unsigned attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC |
                         MOUNT_ATTR_NOSYMFOLLOW;
  struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY | attrs};
  _cleanup_close_ int mnt_fd = -1, ro_fd = -1;
  struct rt_secrets_fs *fs;
  char size_str[32];
  bool noswap = false;
  size_t size;
  int r;

  if (!ret || total_bytes > SECRETS_MAX || largest_bytes > SECRETS_MAX)
    return -EINVAL;
  size = PAGE_ROUND(total_bytes) + PAGE_ROUND(largest_bytes) + SECRETS_SLACK;
  snprintf(size_str, sizeof(size_str), "%zu", size);

  r = make_tmpfs(size_str, attrs, true, &mnt_fd, &noswap);
  if (r < 0)
    return r;
  /* The container's view: a clone of the detached mount, read-only per mount. */
  ro_fd = open_tree(mnt_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
  if (ro_fd < 0)
    return -errno;
  if (mount_setattr(ro_fd, "", AT_EMPTY_PATH, &ro, sizeof(ro)) < 0)
    return -errno;

  fs = calloc(1, sizeof(*fs));
  if (!fs)
    return -ENOMEM;
  fs->mnt_fd = TAKE_FD(mnt_fd);
  fs->ro_fd = TAKE_FD(ro_fd);
  fs->noswap = noswap;
  fs->size = size;
  *ret = fs;
  return 0;
}

bool rt_secrets_fs_noswap(const struct rt_secrets_fs *fs) { return fs && fs->noswap; }

size_t rt_secrets_fs_size(const struct rt_secrets_fs *fs) {
  struct statfs sf;
  if (!fs)
    return 0;
  if (fstatfs(fs->mnt_fd, &sf) == 0)
    return (size_t)sf.f_blocks * (size_t)sf.f_bsize;
  return fs->size;
}

size_t rt_secrets_fs_max(const struct rt_secrets_fs *fs) { return fs ? fs->max : 0; }

int rt_secrets_fs_set_max(struct rt_secrets_fs *fs, size_t max_bytes) {
  if (!fs || max_bytes > SECRETS_MAX)
    return -EINVAL;
  fs->max = max_bytes;
  return 0;
}

int rt_secrets_fs_from_fd(int mnt_fd, size_t max_bytes, struct rt_secrets_fs **ret) {
  struct statfs sf;
  struct rt_secrets_fs *fs;

  if (mnt_fd < 0 || !ret || max_bytes > SECRETS_MAX)
    return -EINVAL;
  if (fstatfs(mnt_fd, &sf) < 0)
    return -errno;
  if (sf.f_type != TMPFS_MAGIC)
    return -EXDEV;
  fs = calloc(1, sizeof(*fs));
  if (!fs)
    return -ENOMEM;
  fs->mnt_fd = mnt_fd;
  fs->ro_fd = -1;
  fs->size = (size_t)sf.f_blocks * (size_t)sf.f_bsize;
  fs->max = max_bytes;
  *ret = fs;
  return 0;
}

int rt_secrets_fs_share(const struct rt_secrets_fs *fs, struct rt_secrets_fs **ret) {
  const unsigned attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC |
                         MOUNT_ATTR_NOSYMFOLLOW;
  struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY | attrs};
  _cleanup_close_ int mnt_fd = -1, ro_fd = -1;
  struct rt_secrets_fs *n;

  if (!fs || !ret || fs->mnt_fd < 0)
    return -EINVAL;
  mnt_fd = fcntl(fs->mnt_fd, F_DUPFD_CLOEXEC, 3);
  if (mnt_fd < 0)
    return -errno;
  ro_fd = open_tree(mnt_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
  if (ro_fd < 0)
    return -errno;
  if (mount_setattr(ro_fd, "", AT_EMPTY_PATH, &ro, sizeof(ro)) < 0)
    return -errno;
  n = calloc(1, sizeof(*n));
  if (!n)
    return -ENOMEM;
  n->mnt_fd = TAKE_FD(mnt_fd);
  n->ro_fd = TAKE_FD(ro_fd);
  n->noswap = fs->noswap;
  n->size = fs->size;
  n->max = fs->max;
  *ret = n;
  return 0;
}

/* Make room for a file of len bytes: raise the tmpfs size (fspick + reconfigure) to
 * the current size plus twice the file plus slack, at most fs->max. -ENOSPC when the
 * cap leaves no room. */
static int grow(struct rt_secrets_fs *fs, size_t len) {
  size_t cur = rt_secrets_fs_size(fs), want;
  char size_str[32];

  if (fs->max <= cur)
    return -ENOSPC;
  want = cur + 2 * PAGE_ROUND(len) + SECRETS_SLACK;
  if (want < cur * 2)
    want = cur * 2;
  if (want > fs->max)
    want = fs->max;
  _cleanup_close_ int fc = fspick(fs->mnt_fd, "", FSPICK_EMPTY_PATH | FSPICK_CLOEXEC);
  if (fc < 0)
    return -errno;
  snprintf(size_str, sizeof(size_str), "%zu", PAGE_ROUND(want));
  if (fsconfig(fc, FSCONFIG_SET_STRING, "size", size_str, 0) < 0 ||
      fsconfig(fc, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0) < 0)
    return -errno;
  return 0;
}

int rt_secrets_fs_fd(const struct rt_secrets_fs *fs) { return fs ? fs->mnt_fd : -EBADF; }

void rt_secrets_fs_free(struct rt_secrets_fs *fs) {
  if (!fs)
    return;
  if (fs->mnt_fd >= 0)
    close(fs->mnt_fd);
  if (fs->ro_fd >= 0)
    close(fs->ro_fd);
  free(fs);
}

/* Validate target and copy it to buf; *ret_base points at the final component in buf
 * and the directory part (if any) is NUL-terminated in place, *ret_dir NULL if none. */
static int split_target(const char *target, char *buf, size_t bufsz, char **ret_dir,
                        char **ret_base) {
  size_t n, comp = 0;
  char *slash;

  if (!target)
    return -EINVAL;
  n = strnlen(target, bufsz);
  if (n == 0 || n >= bufsz || target[0] == '/')
    return -EINVAL;
  for (size_t i = 0; i <= n; i++) {
    if (target[i] == '/' || target[i] == '\0') {
      const char *c = target + i - comp;
      if (comp == 0 || comp > NAME_MAX || (comp == 1 && c[0] == '.') ||
          (comp == 2 && c[0] == '.' && c[1] == '.'))
        return -EINVAL;
      comp = 0;
    } else {
      comp++;
    }
  }
  memcpy(buf, target, n + 1);
  slash = strrchr(buf, '/');
  if (slash) {
    *slash = '\0';
    *ret_dir = buf;
    *ret_base = slash + 1;
  } else {
    *ret_dir = NULL;
    *ret_base = buf;
  }
  if (strncmp(*ret_base, TMP_PREFIX, sizeof(TMP_PREFIX) - 1) == 0)
    return -EINVAL; /* reserved for our temporaries */
  return 0;
}

/* Open (and with create, make 0755) each directory of dir below the mount root. */
static int open_dir(struct rt_secrets_fs *fs, char *dir, bool create, int *ret_fd) {
  _cleanup_close_ int cur = -1;
  char *p, *next;
  int r;

  if (!dir) {
    r = sys_openat2(fs->mnt_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC, RESOLVE_SAFE);
    goto done;
  }
  r = sys_openat2(fs->mnt_fd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC, RESOLVE_SAFE);
  if (r != -ENOENT || !create)
    goto done;

  /* Slow path: walk and create the missing components. */
  cur = sys_openat2(fs->mnt_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC, RESOLVE_SAFE);
  if (cur < 0)
    return cur;
  for (p = dir; p; p = next) {
    _cleanup_close_ int d = -1;
    next = strchr(p, '/');
    if (next)
      *next++ = '\0';
    if (mkdirat(cur, p, 0755) == 0) {
      /* The umask may have narrowed the mode: state it explicitly. */
      d = sys_openat2(cur, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC, RESOLVE_SAFE);
      if (d < 0)
        return d;
      if (fchmod(d, 0755) < 0)
        return -errno;
      close(TAKE_FD(d));
    } else if (errno != EEXIST) {
      return -errno;
    }
    d = sys_openat2(cur, p, O_PATH | O_DIRECTORY | O_CLOEXEC, RESOLVE_SAFE);
    if (d < 0)
      return d;
    close(cur);
    cur = TAKE_FD(d);
    if (next)
      next[-1] = '/';
  }
  r = TAKE_FD(cur);
done:
  if (r < 0)
    return r;
  *ret_fd = r;
  return 0;
}

/* Create a fresh temporary in dirfd; its name is written to name (>= 64 bytes). */
static int open_temp(int dirfd, char *name, size_t namesz) {
  for (int attempt = 0; attempt < 16; attempt++) {
    unsigned long n = atomic_fetch_add(&tmp_counter, 1);
    int fd;
    snprintf(name, namesz, TMP_PREFIX "%ld-%lu", (long)gettid(), n);
    fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0)
      return fd;
    if (errno != EEXIST)
      return -errno;
  }
  return -EEXIST;
}

static int put_once(struct rt_secrets_fs *fs, const char *target, const void *data, size_t len,
                    uid_t uid, gid_t gid, mode_t mode) {
  _cleanup_close_ int dirfd = -1, fd = -1;
  char path[PATH_MAX], tmp[64];
  char *dir, *base;
  int r;

  if (!fs || fs->mnt_fd < 0 || (mode & ~(mode_t)07777) || (len > 0 && !data))
    return -EINVAL;
  r = split_target(target, path, sizeof(path), &dir, &base);
  if (r < 0)
    return r;
  r = open_dir(fs, dir, true, &dirfd);
  if (r < 0)
    return r;

  fd = open_temp(dirfd, tmp, sizeof(tmp));
  if (fd < 0)
    return fd;
  /* The bytes go straight from the caller's buffer into the tmpfs pages. */
  r = sd_write_all(fd, data, len);
  if (r == 0 && fchown(fd, uid, gid) < 0)
    r = -errno;
  if (r == 0 && fchmod(fd, mode) < 0) /* after fchown, which clears set-id bits */
    r = -errno;
  if (r == 0 && renameat(dirfd, tmp, dirfd, base) < 0)
    r = -errno;
  if (r < 0)
    unlinkat(dirfd, tmp, 0);
  return r;
}

int rt_secrets_fs_put(struct rt_secrets_fs *fs, const char *target, const void *data, size_t len,
                      uid_t uid, gid_t gid, mode_t mode) {
  int r = put_once(fs, target, data, len, uid, gid, mode);
  /* Full: grow towards the cap and try again (each round at least doubles). */
  for (int round = 0; r == -ENOSPC && fs && fs->max && round < 32; round++) {
    int g = grow(fs, len);
    if (g < 0)
      return g == -ENOSPC ? -ENOSPC : g;
    r = put_once(fs, target, data, len, uid, gid, mode);
  }
  return r;
}

int rt_secrets_fs_remove(struct rt_secrets_fs *fs, const char *target) {
  _cleanup_close_ int dirfd = -1;
  char path[PATH_MAX];
  char *dir, *base;
  int r;

  if (!fs || fs->mnt_fd < 0)
    return -EINVAL;
  r = split_target(target, path, sizeof(path), &dir, &base);
  if (r < 0)
    return r;
  r = open_dir(fs, dir, false, &dirfd);
  if (r < 0)
    return r;
  if (unlinkat(dirfd, base, 0) < 0)
    return -errno;
  return 0;
}

/* --- child side ------------------------------------------------------------------ */

#define RESOLVE_ROOT (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

static int open_in_root(int rootfs_fd, const char *path) {
  return sys_openat2(rootfs_fd, path, O_PATH | O_DIRECTORY | O_CLOEXEC, RESOLVE_ROOT);
}

/* run/ exists (as the container resolves it) but secrets/ cannot be created in it
 * because the rootfs is read-only: cover run/ with a small tmpfs holding secrets/. */
static int mount_run_tmpfs(int run_fd) {
  _cleanup_close_ int tfd = -1;
  int r = make_tmpfs(RUN_TMPFS_SIZE, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                     false, &tfd, NULL);
  if (r < 0)
    return r;
  if (mkdirat(tfd, "secrets", 0755) < 0 || fchmodat(tfd, "secrets", 0755, 0) < 0)
    return -errno;
  /* It only holds the mount point: read-only like the rootfs it stands in for. */
  struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
  if (mount_setattr(tfd, "", AT_EMPTY_PATH, &ro, sizeof(ro)) < 0)
    return -errno;
  if (move_mount(tfd, "", run_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    return -errno;
  return 0;
}

/* Resolve <root>/run/secrets inside the rootfs, creating what is missing (or, with
 * no_create, covering run/ with a tmpfs). */
static int resolve_target(int rootfs_fd, bool no_create) {
  _cleanup_close_ int run = -1;
  int fd = open_in_root(rootfs_fd, "run/secrets");

  if (fd != -ENOENT)
    return fd;
  run = open_in_root(rootfs_fd, "run");
  if (run == -ENOENT && !no_create) {
    /* mkdirat never follows a final symlink: a dangling run -> X gives EEXIST and the
     * reopen below fails with ENOENT. */
    if (mkdirat(rootfs_fd, "run", 0755) < 0 && errno != EEXIST)
      return -errno;
    run = open_in_root(rootfs_fd, "run");
  }
  if (run < 0)
    return run;
  if (no_create || mkdirat(run, "secrets", 0755) < 0) {
    if (no_create || errno == EROFS) {
      int r = mount_run_tmpfs(run);
      if (r < 0)
        return r;
    } else if (errno != EEXIST) {
      return -errno;
    }
  }
  return open_in_root(rootfs_fd, "run/secrets");
}

int rt_secrets_fs_mount_in(struct rt_secrets_fs *fs, int rootfs_fd) {
  return rt_secrets_fs_mount_in_flags(fs, rootfs_fd, 0);
}

int rt_secrets_fs_mount_in_flags(struct rt_secrets_fs *fs, int rootfs_fd, unsigned flags) {
  _cleanup_close_ int target = -1;

  if (!fs || fs->ro_fd < 0 || rootfs_fd < 0 || (flags & ~RT_SECRETS_FS_NO_CREATE))
    return -EINVAL;
  target = resolve_target(rootfs_fd, flags & RT_SECRETS_FS_NO_CREATE);
  if (target < 0)
    return target;
  if (move_mount(fs->ro_fd, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    return -errno;
  return 0;
}
