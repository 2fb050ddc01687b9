/* The hostile-input layer unpacker (see unpack.h). */
#include "image/unpack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "base/macro.h"
#include "image/internal.h"

#define MAX_PATH 4096
#define MAX_DEPTH 200 /* directory nesting below the root, also via symlinked parents */
#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

static int openat2_in_root(int rootfd, const char *path, int flags) {
  struct open_how how = {
      .flags = (uint64_t)(flags | O_CLOEXEC),
      .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
  };
  long fd;
  do
    fd = syscall(SYS_openat2, rootfd, path, &how, sizeof how);
  while (fd < 0 && errno == EAGAIN);
  return fd < 0 ? -errno : (int)fd;
}

/* ---- the set of paths this layer wrote (for whiteouts of lower layers) ---- */

struct pathset {
  char **slot;
  size_t cap, n;
};

static uint64_t fnv(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 1099511628211ULL;
  return h;
}

static bool pathset_has(const struct pathset *ps, const char *p) {
  if (!ps->cap)
    return false;
  for (size_t i = fnv(p) & (ps->cap - 1);; i = (i + 1) & (ps->cap - 1)) {
    if (!ps->slot[i])
      return false;
    if (!strcmp(ps->slot[i], p))
      return true;
  }
}

static int pathset_add(struct pathset *ps, const char *p) {
  if (pathset_has(ps, p))
    return 0;
  if ((ps->n + 1) * 2 > ps->cap) {
    size_t ncap = ps->cap ? ps->cap * 2 : 256;
    char **ns = calloc(ncap, sizeof *ns);
    if (!ns)
      return -ENOMEM;
    for (size_t i = 0; i < ps->cap; i++) {
      if (!ps->slot[i])
        continue;
      size_t j = fnv(ps->slot[i]) & (ncap - 1);
      while (ns[j])
        j = (j + 1) & (ncap - 1);
      ns[j] = ps->slot[i];
    }
    free(ps->slot);
    ps->slot = ns;
    ps->cap = ncap;
  }
  char *d = strdup(p);
  if (!d)
    return -ENOMEM;
  size_t i = fnv(p) & (ps->cap - 1);
  while (ps->slot[i])
    i = (i + 1) & (ps->cap - 1);
  ps->slot[i] = d;
  ps->n++;
  return 0;
}

static void pathset_done(struct pathset *ps) {
  for (size_t i = 0; i < ps->cap; i++)
    free(ps->slot[i]);
  free(ps->slot);
  memset(ps, 0, sizeof *ps);
}

/* ---- names ---- */

/* Normalise an entry name into out: strip "./", leading and repeated '/'
 * (an absolute name is taken relative to the root, as Docker and umoci do),
 * refuse "..". An empty result is the root. */
static int normalise(const char *in, char out[MAX_PATH]) {
  size_t o = 0, depth = 0;
  if (!in)
    return -EINVAL;
  const char *p = in;
  while (*p) {
    while (*p == '/')
      p++;
    if (!*p)
      break;
    const char *e = strchrnul(p, '/');
    size_t len = (size_t)(e - p);
    if (len == 1 && p[0] == '.') {
      p = e;
      continue;
    }
    if (len == 2 && p[0] == '.' && p[1] == '.')
      return -EXDEV;
    if (len > 255)
      return -ENAMETOOLONG;
    if (o + len + 2 > MAX_PATH || ++depth > MAX_DEPTH)
      return -ENAMETOOLONG;
    if (o)
      out[o++] = '/';
    memcpy(out + o, p, len);
    o += len;
    p = e;
  }
  out[o] = '\0';
  return 0;
}

/* Split "a/b/c" into parent "a/b" (or "." ) and base "c", in place. */
static void split(char *path, const char **ret_parent, const char **ret_base) {
  char *slash = strrchr(path, '/');
  if (!slash) {
    *ret_parent = ".";
    *ret_base = path;
    return;
  }
  *slash = '\0';
  *ret_parent = path;
  *ret_base = slash + 1;
}

/* Open the parent directory inside the root, creating missing directories
 * (0755, root-owned, as tar does for names without their own entry). */
static int open_parent(int rootfd, const char *parent) {
  int fd = openat2_in_root(rootfd, parent, O_RDONLY | O_DIRECTORY);
  if (fd != -ENOENT)
    return fd;
  char buf[MAX_PATH];
  snprintf(buf, sizeof buf, "%s", parent);
  /* create each missing prefix in turn */
  for (char *p = buf;;) {
    char *slash = strchr(p, '/');
    if (slash)
      *slash = '\0';
    int d = openat2_in_root(rootfd, buf, O_RDONLY | O_DIRECTORY);
    if (d == -ENOENT) {
      char *last = strrchr(buf, '/');
      const char *pp = ".", *base = buf;
      if (last) {
        *last = '\0';
        pp = buf;
        base = last + 1;
      }
      _cleanup_close_ int pfd = openat2_in_root(rootfd, pp, O_RDONLY | O_DIRECTORY);
      if (last)
        *last = '/';
      if (pfd < 0)
        return pfd;
      if (mkdirat(pfd, base, 0755) < 0 && errno != EEXIST)
        return -errno;
      /* a dangling symlink stays ENOENT: refuse rather than follow it anywhere */
      d = openat2_in_root(rootfd, buf, O_RDONLY | O_DIRECTORY);
    }
    if (d < 0)
      return d;
    if (!slash)
      return d;
    close(d);
    *slash = '/';
    p = slash + 1;
  }
}

int img_rm_rf_at(int pfd, const char *name) {
  struct stat st;
  if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return -errno;
  if (S_ISDIR(st.st_mode)) {
    DIR *d;
    int q = img_opendir_at(pfd, name, &d);
    if (q < 0)
      return q;
    struct dirent *e;
    int r = 0;
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
        continue;
      int q = img_rm_rf_at(dirfd(d), e->d_name);
      if (q < 0 && q != -ENOENT && !r)
        r = q;
    }
    closedir(d);
    if (r < 0)
      return r;
    if (unlinkat(pfd, name, AT_REMOVEDIR) < 0)
      return -errno;
    return 0;
  }
  if (unlinkat(pfd, name, 0) < 0)
    return -errno;
  return 0;
}

/* The number of '/' in the kernel's path of fd. */
static int fd_depth(int fd) {
  char p[64], buf[MAX_PATH * 2];
  snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(p, buf, sizeof buf - 1);
  if (n < 0)
    return -errno;
  int d = 0;
  for (ssize_t i = 0; i < n; i++)
    d += buf[i] == '/';
  return d;
}

/* ---- one layer ---- */

struct ctx {
  int rootfd;
  struct archive *a;
  const struct img_limits *lim;
  struct img_unpack_stats *st;
  struct img_err *err;
  struct pathset written;
  img_read_fn read;
  void *rctx;
  bool truncated; /* the stream ended right after the last entry's data */
  int root_depth;
};

static la_ssize_t read_cb(struct archive *a, void *p, const void **buf) {
  struct ctx *c = p;
  ssize_t n = c->read(c->rctx, buf);
  if (n < 0) {
    archive_set_error(a, (int)-n, "read: %s", strerror((int)-n));
    return -1;
  }
  return n;
}

/* Keep only user.* attributes, with bounded values. */
static int apply_xattrs(struct ctx *c, struct archive_entry *e, int fd) {
  const char *name;
  const void *val;
  size_t size;
  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK) {
    if (!name || strncmp(name, "user.", 5) != 0 || size > IMG_MAX_XATTR || fd < 0) {
      c->st->dropped_xattrs++;
      continue;
    }
    if (fsetxattr(fd, name, val, size, 0) < 0 && errno != ENOTSUP && errno != EOPNOTSUPP)
      return -errno;
  }
  return 0;
}

/* Owner, then mode (chown clears setuid), then xattrs and times, on an fd. */
static int apply_meta_fd(struct ctx *c, struct archive_entry *e, int fd, uid_t uid, gid_t gid,
                         bool times) {
  if (fchown(fd, uid, gid) < 0)
    return -errno;
  if (fchmod(fd, archive_entry_mode(e) & 07777) < 0)
    return -errno;
  int r = apply_xattrs(c, e, fd);
  if (r < 0)
    return r;
  if (times) {
    struct timespec ts[2] = {
        {archive_entry_atime_is_set(e) ? archive_entry_atime(e) : archive_entry_mtime(e),
         archive_entry_atime_is_set(e) ? archive_entry_atime_nsec(e) : archive_entry_mtime_nsec(e)},
        {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
    if (futimens(fd, ts) < 0)
      return -errno;
  }
  return 0;
}

/* Returns 0, 1 when the data is complete but the stream ends right after it
 * (the last entry's padding and the end-of-archive blocks missing, as umoci
 * 0.4's insert writes them; Go's reader accepts that too), or -errno. */
static int write_data(struct ctx *c, struct archive_entry *e, int fd) {
  const void *buf;
  size_t size;
  la_int64_t off;
  uint64_t end = 0;
  int r;
  for (;;) {
    r = archive_read_data_block(c->a, &buf, &size, &off);
    if (r == ARCHIVE_EOF)
      break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      const char *es = archive_error_string(c->a);
      if (end == (uint64_t)archive_entry_size(e) && es && strstr(es, "Truncated")) {
        c->truncated = true;
        break;
      }
      return -EIO;
    }
    if (off < 0 || (uint64_t)off + size > (uint64_t)archive_entry_size(e))
      return -EINVAL;
    const char *p = buf;
    if ((uint64_t)off + size > end)
      end = (uint64_t)off + size;
    while (size) {
      ssize_t n = pwrite(fd, p, size, off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -errno;
      p += n;
      off += n;
      size -= (size_t)n;
    }
  }
  if (ftruncate(fd, archive_entry_size(e)) < 0)
    return -errno;
  return 0;
}

/* Remove whatever is at base unless it is a directory and keep_dir is set.
 * Returns 1 if a directory was kept. */
static int clear_slot(int pfd, const char *base, bool keep_dir) {
  struct stat st;
  if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : -errno;
  if (keep_dir && S_ISDIR(st.st_mode))
    return 1;
  int r = img_rm_rf_at(pfd, base);
  return r == -ENOENT ? 0 : r;
}

static int do_opaque(struct ctx *c, int pfd, const char *parent) {
  DIR *d;
  int q = img_opendir_at(pfd, ".", &d);
  if (q < 0)
    return q;
  struct dirent *de;
  char path[MAX_PATH * 2];
  int r = 0;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    if (strcmp(parent, "."))
      snprintf(path, sizeof path, "%s/%s", parent, de->d_name);
    else
      snprintf(path, sizeof path, "%s", de->d_name);
    if (pathset_has(&c->written, path))
      continue;
    int q = img_rm_rf_at(pfd, de->d_name);
    if (q < 0 && q != -ENOENT) {
      r = q;
      break;
    }
  }
  closedir(d);
  return r;
}

static int id_of(la_int64_t v, uint32_t *ret) {
  if (v < 0 || v >= (la_int64_t)UINT32_MAX)
    return -EINVAL;
  *ret = (uint32_t)v;
  return 0;
}

static int apply_entry(struct ctx *c, struct archive_entry *e) {
  char path[MAX_PATH], pcopy[MAX_PATH];
  const char *name = archive_entry_pathname(e);
  if (!name)
    name = archive_entry_pathname_utf8(e);
  int r = normalise(name, path);
  if (r == -EXDEV)
    return img_fail(c->err, r, "entry \"%.200s\": name escapes the root (\"..\")",
                    name);
  if (r < 0)
    return img_fail(c->err, r, "entry \"%.200s\": invalid name (unreadable, a component over 255 "
                    "bytes, or nested deeper than %d)", name ? name : "(unreadable)", MAX_DEPTH);
  uint32_t uid, gid;
  if (id_of(archive_entry_uid(e), &uid) < 0 || id_of(archive_entry_gid(e), &gid) < 0)
    return img_fail(c->err, -EINVAL, "entry \"%.200s\": invalid owner", path);
  mode_t type = archive_entry_filetype(e);
  const char *hl = archive_entry_hardlink(e);

  if (!path[0]) { /* the root itself */
    if (type != AE_IFDIR || hl)
      return img_fail(c->err, -EINVAL, "entry \".\": the root must be a directory");
    return apply_meta_fd(c, e, c->rootfd, uid, gid, false);
  }
  strcpy(pcopy, path);
  const char *parent, *base;
  split(pcopy, &parent, &base);

  /* whiteouts */
  if (!strncmp(base, WH_PREFIX, strlen(WH_PREFIX))) {
    _cleanup_close_ int pfd = openat2_in_root(c->rootfd, parent, O_RDONLY | O_DIRECTORY);
    if (pfd == -ENOENT)
      return 0; /* nothing below to hide */
    if (pfd < 0)
      return img_fail(c->err, pfd, "whiteout \"%.200s\": %s", path, strerror(-pfd));
    if (!strcmp(base, WH_OPAQUE)) {
      r = do_opaque(c, pfd, parent);
      return r < 0 ? img_fail(c->err, r, "opaque whiteout \"%.200s\": %s", path, strerror(-r)) : 0;
    }
    const char *victim = base + strlen(WH_PREFIX);
    if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
      return img_fail(c->err, -EINVAL, "whiteout \"%.200s\": names no file", path);
    char vpath[MAX_PATH * 2];
    if (strcmp(parent, "."))
      snprintf(vpath, sizeof vpath, "%s/%s", parent, victim);
    else
      snprintf(vpath, sizeof vpath, "%s", victim);
    if (pathset_has(&c->written, vpath))
      return 0; /* a whiteout hides lower layers only */
    r = img_rm_rf_at(pfd, victim);
    if (r < 0 && r != -ENOENT)
      return img_fail(c->err, r, "whiteout \"%.200s\": %s", path, strerror(-r));
    return 0;
  }

  _cleanup_close_ int pfd = open_parent(c->rootfd, parent);
  if (pfd < 0)
    return img_fail(c->err, pfd, "entry \"%.200s\": parent directory: %s", path, strerror(-pfd));
  /* symlinked parents can nest deeper than the name says: bound the real depth
   * (removal and the file record walk hold one fd per level) */
  if (strcmp(parent, ".")) {
    int d = fd_depth(pfd);
    if (d < 0 || d - c->root_depth >= MAX_DEPTH)
      return img_fail(c->err, -ENAMETOOLONG, "entry \"%.200s\": directories nested deeper than %d",
                      path, MAX_DEPTH);
  }
  if ((r = pathset_add(&c->written, path)) < 0)
    return r;

  if (hl) {
    char tpath[MAX_PATH], tcopy[MAX_PATH];
    r = normalise(hl, tpath);
    if (r == -EXDEV)
      return img_fail(c->err, r, "hard link \"%.200s\": target \"%.200s\" escapes the root", path,
                      hl);
    if (r < 0 || !tpath[0])
      return img_fail(c->err, -EINVAL, "hard link \"%.200s\": invalid target", path);
    strcpy(tcopy, tpath);
    const char *tparent, *tbase;
    split(tcopy, &tparent, &tbase);
    _cleanup_close_ int tfd = openat2_in_root(c->rootfd, tparent, O_RDONLY | O_DIRECTORY);
    if (tfd < 0)
      return img_fail(c->err, tfd, "hard link \"%.200s\": target \"%.200s\": %s", path, tpath,
                      strerror(-tfd));
    struct stat st;
    if (fstatat(tfd, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0)
      return img_fail(c->err, -errno, "hard link \"%.200s\": target \"%.200s\": %s", path, tpath,
                      strerror(errno));
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
      return img_fail(c->err, -EINVAL, "hard link \"%.200s\": target is not a file", path);
    if (tpath[0] && !strcmp(tpath, path))
      return 0;
    if ((r = clear_slot(pfd, base, false)) < 0)
      return img_fail(c->err, r, "entry \"%.200s\": %s", path, strerror(-r));
    if (linkat(tfd, tbase, pfd, base, 0) < 0)
      return img_fail(c->err, -errno, "hard link \"%.200s\": %s", path, strerror(errno));
    return 0;
  }

  switch (type) {
  case AE_IFDIR: {
    if ((r = clear_slot(pfd, base, true)) < 0)
      return img_fail(c->err, r, "entry \"%.200s\": %s", path, strerror(-r));
    if (r == 0 && mkdirat(pfd, base, 0700) < 0)
      return img_fail(c->err, -errno, "directory \"%.200s\": %s", path, strerror(errno));
    _cleanup_close_ int fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      return img_fail(c->err, -errno, "directory \"%.200s\": %s", path, strerror(errno));
    r = apply_meta_fd(c, e, fd, uid, gid, false);
    return r < 0 ? img_fail(c->err, r, "directory \"%.200s\": %s", path, strerror(-r)) : 0;
  }
  case AE_IFREG: {
    la_int64_t size = archive_entry_size(e);
    if (size < 0)
      return img_fail(c->err, -EINVAL, "file \"%.200s\": invalid size", path);
    if ((uint64_t)size > c->lim->max_bytes - c->st->bytes)
      return img_fail(c->err, -EFBIG, "file \"%.200s\": the image expands beyond %llu bytes",
                      path, (unsigned long long)c->lim->max_bytes);
    c->st->bytes += (uint64_t)size;
    if ((r = clear_slot(pfd, base, false)) < 0)
      return img_fail(c->err, r, "entry \"%.200s\": %s", path, strerror(-r));
    _cleanup_close_ int fd =
        openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
      return img_fail(c->err, -errno, "file \"%.200s\": %s", path, strerror(errno));
    if ((r = write_data(c, e, fd)) < 0)
      return img_fail(c->err, r, "file \"%.200s\": %s", path,
                      r == -EIO ? archive_error_string(c->a) ? archive_error_string(c->a) : "read error"
                                : strerror(-r));
    r = apply_meta_fd(c, e, fd, uid, gid, true);
    return r < 0 ? img_fail(c->err, r, "file \"%.200s\": %s", path, strerror(-r)) : 0;
  }
  case AE_IFLNK: {
    const char *target = archive_entry_symlink(e);
    if (!target)
      target = archive_entry_symlink_utf8(e);
    if (!target || !*target || strlen(target) >= MAX_PATH)
      return img_fail(c->err, -EINVAL, "symlink \"%.200s\": invalid target", path);
    if ((r = clear_slot(pfd, base, false)) < 0)
      return img_fail(c->err, r, "entry \"%.200s\": %s", path, strerror(-r));
    if (symlinkat(target, pfd, base) < 0 ||
        fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
      return img_fail(c->err, -errno, "symlink \"%.200s\": %s", path, strerror(errno));
    struct timespec ts[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                             {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
    utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
    if (archive_entry_xattr_count(e))
      c->st->dropped_xattrs += (uint64_t)archive_entry_xattr_count(e);
    return 0;
  }
  case AE_IFIFO: {
    if ((r = clear_slot(pfd, base, false)) < 0)
      return img_fail(c->err, r, "entry \"%.200s\": %s", path, strerror(-r));
    if (mkfifoat(pfd, base, 0600) < 0)
      return img_fail(c->err, -errno, "fifo \"%.200s\": %s", path, strerror(errno));
    _cleanup_close_ int fd = openat(pfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0 ||
        fchmodat(pfd, base, archive_entry_mode(e) & 07777, 0) < 0)
      return img_fail(c->err, -errno, "fifo \"%.200s\": %s", path, strerror(errno));
    return 0;
  }
  default: /* character and block devices, sockets: the launcher supplies /dev */
    c->st->skipped_nodes++;
    return 0;
  }
}

int img_unpack_layer(int rootfd, img_read_fn read, void *rctx, const struct img_limits *lim,
                     struct img_unpack_stats *stats, struct img_err *err) {
  struct ctx c = {.rootfd = rootfd, .lim = lim, .st = stats, .err = err, .read = read,
                  .rctx = rctx};
  int r;
  if ((c.root_depth = fd_depth(rootfd)) < 0)
    return c.root_depth;
  c.a = archive_read_new();
  if (!c.a)
    return -ENOMEM;
  archive_read_support_filter_gzip(c.a);
  archive_read_support_filter_zstd(c.a);
  archive_read_support_filter_none(c.a);
  archive_read_support_format_tar(c.a);
  archive_read_support_format_gnutar(c.a);
  if (archive_read_open(c.a, &c, NULL, read_cb, NULL) != ARCHIVE_OK) {
    r = img_fail(err, -EINVAL, "not a tar stream (plain, gzip or zstd): %s",
                 archive_error_string(c.a) ? archive_error_string(c.a) : "unknown format");
    goto out;
  }
  for (;;) {
    struct archive_entry *e;
    int ar = archive_read_next_header(c.a, &e);
    if (ar == ARCHIVE_EOF)
      break;
    if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
      r = img_fail(err, -EINVAL, "reading the layer: %s",
                   archive_error_string(c.a) ? archive_error_string(c.a) : "corrupt archive");
      goto out;
    }
    if (++stats->entries > lim->max_entries) {
      r = img_fail(err, -E2BIG, "more than %llu entries", (unsigned long long)lim->max_entries);
      goto out;
    }
    if ((r = apply_entry(&c, e)) < 0) {
      img_fail(err, r, "%s", strerror(-r));
      goto out;
    }
    if (c.truncated)
      break;
  }
  r = 0;
out:
  archive_read_free(c.a);
  pathset_done(&c.written);
  return r;
}
