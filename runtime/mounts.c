/*
 * Filesystem setup of the container child. See runtime/mounts.h.
 *
 * Why this is safe: every path inside the rootfs is resolved with openat2
 * RESOLVE_IN_ROOT (".." and absolute symlinks stay below root_fd) and
 * RESOLVE_NO_MAGICLINKS (no /proc/PID/fd or /proc/self/exe jumps), and every mount
 * is attached to the resulting fd with move_mount(MOVE_MOUNT_T_EMPTY_PATH), so there
 * is no second path lookup an attacker could race. Host sources are opened by fd
 * before the old root is detached. No function here allocates memory.
 */
#include "runtime/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/macro.h"

const char *const rt_masked_paths[] = {
    "/proc/acpi",      "/proc/asound",    "/proc/interrupts",     "/proc/kcore",
    "/proc/keys",      "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
    "/proc/sched_debug", "/proc/scsi",    "/sys/firmware",   "/sys/devices/virtual/powercap",
    NULL,
};

const char *const rt_readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

static const char *last_path = "";

const char *rt_mounts_last_path(void) { return last_path; }

static int fail(const char *path, int r) {
  last_path = path;
  return r;
}

int rt_open_in_root(int root_fd, const char *path, int flags) {
  struct open_how how = {
      .flags = (uint64_t)(flags | O_CLOEXEC),
      .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  while (*path == '/')
    path++;
  if (*path == '\0')
    path = ".";
  long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof how);
  return fd < 0 ? -errno : (int)fd;
}

/* Create the last component of path (parent must exist inside the root). */
static int create_last(int root_fd, char *path, char *slash, bool as_file) {
  const char *name = slash ? slash + 1 : path;
  _cleanup_close_ int parent = -1;
  if (slash) {
    *slash = '\0';
    parent = rt_open_in_root(root_fd, *path ? path : "/", O_PATH | O_DIRECTORY);
    *slash = '/';
  } else {
    parent = rt_open_in_root(root_fd, ".", O_PATH | O_DIRECTORY);
  }
  if (parent < 0)
    return parent;
  if (as_file) {
    int fd = openat(parent, name, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
      return errno == EEXIST ? 0 : -errno;
    close(fd);
    return 0;
  }
  if (mkdirat(parent, name, 0755) < 0 && errno != EEXIST)
    return -errno;
  return 0;
}

int rt_mkpath_in_root(int root_fd, const char *path, bool as_file, int *ret_fd) {
  char buf[4096];
  size_t len = strlen(path);
  if (len == 0 || len >= sizeof buf)
    return fail(path, -ENAMETOOLONG);
  int fd = rt_open_in_root(root_fd, path, O_PATH);
  if (fd >= 0) {
    *ret_fd = fd;
    return 0;
  }
  if (fd != -ENOENT)
    return fail(path, fd);

  memcpy(buf, path, len + 1);
  /* Walk the components: each prefix is created if missing, then resolved again in
   * the root (a symlink created meanwhile can only point inside the root). */
  for (char *p = buf; *p;) {
    while (*p == '/')
      p++;
    if (!*p)
      break;
    char *end = strchr(p, '/');
    bool last = true;
    if (end) {
      char *q = end;
      while (*q == '/')
        q++;
      last = *q == '\0';
    }
    if (end)
      *end = '\0';
    char *slash = strrchr(buf, '/'); /* buf[0] for "/name": parent is the root */
    int r = create_last(root_fd, buf, slash, last && as_file);
    if (end)
      *end = '/';
    if (r < 0)
      return fail(path, r);
    if (!end)
      break;
    p = end;
  }
  fd = rt_open_in_root(root_fd, path, O_PATH);
  if (fd < 0)
    return fail(path, fd);
  *ret_fd = fd;
  return 0;
}

int rt_mount_rootfs(int rootfs_fd, int layer_tree, int *ret_root_fd) {
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return fail("/", -errno);
  int tree = layer_tree >= 0 ? layer_tree
                             : open_tree(rootfs_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
                                                            AT_RECURSIVE | AT_EMPTY_PATH);
  if (tree < 0)
    return fail("rootfs", -errno);
  if (move_mount(tree, "", rootfs_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
    int r = -errno;
    close(tree);
    return fail("rootfs", r);
  }
  *ret_root_fd = tree; /* now the root of the attached clone */
  return 0;
}

/* Attach mount fd mfd at path inside the root (created as file/dir if missing). */
static int attach_at(int root_fd, int mfd, const char *path, bool as_file) {
  _cleanup_close_ int target = -1;
  int r = rt_mkpath_in_root(root_fd, path, as_file, &target);
  if (r < 0)
    return fail(path, r);
  if (move_mount(mfd, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    return fail(path, -errno);
  return 0;
}

/* fsopen + fsconfig(opts: "key", "value" pairs; value NULL = flag) + fsmount.
 * Returns the detached mount fd or a negative errno. */
static int new_fs(const char *type, const char *const *opts, unsigned attrs) {
  _cleanup_close_ int fs = fsopen(type, FSOPEN_CLOEXEC);
  if (fs < 0)
    return -errno;
  for (; opts && opts[0]; opts += 2) {
    int r = opts[1] ? fsconfig(fs, FSCONFIG_SET_STRING, opts[0], opts[1], 0)
                    : fsconfig(fs, FSCONFIG_SET_FLAG, opts[0], NULL, 0);
    if (r < 0)
      return -errno;
  }
  if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    return -errno;
  int mfd = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
  return mfd < 0 ? -errno : mfd;
}

static int mount_new_fs(int root_fd, const char *path, const char *type, const char *const *opts,
                        unsigned attrs) {
  _cleanup_close_ int mfd = new_fs(type, opts, attrs);
  if (mfd < 0)
    return fail(path, mfd);
  return attach_at(root_fd, mfd, path, false);
}

int rt_mount_proc(int root_fd) {
  return mount_new_fs(root_fd, "/proc", "proc", NULL,
                      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
}

struct devnode {
  const char *name;
  unsigned major, minor;
};
static const struct devnode devnodes[] = {
    {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

static const char *const devlinks[][2] = {
    {"ptmx", "pts/ptmx"},          {"fd", "/proc/self/fd"},         {"stdin", "/proc/self/fd/0"},
    {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}, {"core", "/proc/kcore"},
};

/* Bind the host's /dev/NAME onto the (created) file dev/NAME of mount dev_fd. */
static int bind_host_dev(int dev_fd, const char *name) {
  char host[64] = "/dev/";
  strncat(host, name, sizeof host - 6);
  int fd = openat(dev_fd, name, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0666);
  if (fd < 0)
    return -errno;
  close(fd);
  _cleanup_close_ int tree = open_tree(AT_FDCWD, host, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0)
    return -errno;
  if (move_mount(tree, "", dev_fd, name, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return -errno;
  return 0;
}

int rt_mount_dev(int root_fd, bool userns) {
  static const char *const dev_opts[] = {"mode", "755", "size", "65536k", NULL};
  _cleanup_close_ int dev = new_fs("tmpfs", dev_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC |
                                                          MOUNT_ATTR_STRICTATIME);
  if (dev < 0)
    return fail("/dev", dev);
  int r = attach_at(root_fd, dev, "/dev", false);
  if (r < 0)
    return r;
  /* dev now refers to the root of the attached tmpfs. */
  for (size_t i = 0; i < ARRAY_SIZE(devnodes); i++) {
    const struct devnode *d = &devnodes[i];
    if (userns)
      r = bind_host_dev(dev, d->name);
    else
      r = mknodat(dev, d->name, S_IFCHR | 0666, makedev(d->major, d->minor)) < 0 ? -errno : 0;
    if (r < 0)
      return fail(d->name, r);
  }
  for (size_t i = 0; i < ARRAY_SIZE(devlinks); i++)
    if (symlinkat(devlinks[i][1], dev, devlinks[i][0]) < 0)
      return fail(devlinks[i][0], -errno);

  static const char *const pts_opts[] = {"newinstance", NULL, "ptmxmode", "0666",
                                         "mode", "0620", "gid", "5", NULL};
  static const char *const pts_opts_nogid[] = {"newinstance", NULL, "ptmxmode", "0666",
                                               "mode", "0620", NULL};
  static const char *const shm_opts[] = {"mode", "1777", "size", "65536k", NULL};
  static const struct {
    const char *path, *type;
    const char *const *opts, *const *fallback;
    unsigned attrs;
  } subs[] = {
      {"/dev/pts", "devpts", pts_opts, pts_opts_nogid, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC},
      {"/dev/shm", "tmpfs", shm_opts, NULL,
       MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC},
      {"/dev/mqueue", "mqueue", NULL, NULL,
       MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC},
  };
  for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
    if (mkdirat(dev, subs[i].path + 5, 0755) < 0)
      return fail(subs[i].path, -errno);
    int mfd = new_fs(subs[i].type, subs[i].opts, subs[i].attrs);
    if (mfd == -EINVAL && subs[i].fallback) /* gid 5 not mapped in the user namespace */
      mfd = new_fs(subs[i].type, subs[i].fallback, subs[i].attrs);
    if (mfd < 0)
      return fail(subs[i].path, mfd);
    r = move_mount(mfd, "", dev, subs[i].path + 5, MOVE_MOUNT_F_EMPTY_PATH) < 0 ? -errno : 0;
    close(mfd);
    if (r < 0)
      return fail(subs[i].path, r);
  }
  return 0;
}

int rt_mount_sys(int root_fd) {
  const unsigned attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                         MOUNT_ATTR_NOEXEC;
  _cleanup_close_ int mfd = new_fs("sysfs", NULL, attrs);
  if (mfd < 0) {
    /* A sysfs mount is refused in a user namespace that does not own the network
     * namespace (or on older kernels): bind the host's /sys read-only instead. */
    mfd = open_tree(AT_FDCWD, "/sys", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (mfd < 0)
      return fail("/sys", -errno);
    struct mount_attr a = {.attr_set = attrs};
    if (mount_setattr(mfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0)
      return fail("/sys", -errno);
  }
  return attach_at(root_fd, mfd, "/sys", false);
}

int rt_mount_bind(int root_fd, int tree, const char *target, bool ro) {
  struct stat st;
  if (fstat(tree, &st) < 0)
    return fail(target, -errno);
  if (ro) {
    struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
    if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0)
      return fail(target, -errno);
  }
  return attach_at(root_fd, tree, target, !S_ISDIR(st.st_mode));
}

int rt_mount_masked_paths(int root_fd) {
  _cleanup_close_ int empty = -1;
  for (const char *const *p = rt_masked_paths; *p; p++) {
    _cleanup_close_ int fd = rt_open_in_root(root_fd, *p, O_PATH | O_NOFOLLOW);
    if (fd == -ENOENT)
      continue; /* as Docker: the host lacks it */
    if (fd < 0)
      return fail(*p, fd);
    struct stat st;
    if (fstat(fd, &st) < 0)
      return fail(*p, -errno);
    _cleanup_close_ int src = -1;
    if (S_ISDIR(st.st_mode)) {
      if (empty < 0) {
        static const char *const opts[] = {"size", "0", "mode", "0555", NULL};
        empty = new_fs("tmpfs", opts, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                          MOUNT_ATTR_NOEXEC);
        if (empty < 0)
          return fail(*p, empty);
      }
      src = open_tree(empty, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    } else {
      src = open_tree(AT_FDCWD, "/dev/null", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    }
    if (src < 0)
      return fail(*p, -errno);
    if (move_mount(src, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
      return fail(*p, -errno);
  }
  return 0;
}

int rt_mount_readonly_paths(int root_fd) {
  for (const char *const *p = rt_readonly_paths; *p; p++) {
    _cleanup_close_ int fd = rt_open_in_root(root_fd, *p, O_PATH | O_NOFOLLOW);
    if (fd == -ENOENT)
      continue;
    if (fd < 0)
      return fail(*p, fd);
    _cleanup_close_ int tree = open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
                                                     AT_RECURSIVE | AT_EMPTY_PATH);
    if (tree < 0)
      return fail(*p, -errno);
    struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
                                       MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC};
    if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0)
      return fail(*p, -errno);
    if (move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
      return fail(*p, -errno);
  }
  return 0;
}

int rt_pivot_root(int root_fd) {
  if (fchdir(root_fd) < 0)
    return fail("rootfs", -errno);
  if (syscall(SYS_pivot_root, ".", ".") < 0)
    return fail("pivot_root", -errno);
  /* The old root is now stacked on "/": detach it so no host path stays reachable. */
  if (umount2(".", MNT_DETACH) < 0)
    return fail("old root", -errno);
  if (chdir("/") < 0)
    return fail("/", -errno);
  return 0;
}

int rt_remount_root_readonly(void) {
  struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
  if (mount_setattr(AT_FDCWD, "/", 0, &a, sizeof a) < 0)
    return fail("/", -errno);
  return 0;
}
