/* The image store's directory, names, markers, removal and gc (see store.h). */
#include "image/store.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "base/io.h"
#include "base/macro.h"
#include "crypto/keys.h"
#include "image/internal.h"

struct img_store {
  char *path;
  int dfd;
};

const char *img_store_path(const char *opt) {
  if (opt && *opt)
    return opt;
  const char *e = getenv(IMG_STORE_ENV);
  return e && *e ? e : IMG_DEFAULT_STORE;
}

static int mkdir_parents(const char *path) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return -ENAMETOOLONG;
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
      return -errno;
    *p = '/';
  }
  return 0;
}

int img_store_open(const char *path, bool create, struct img_store **ret, struct img_err *err) {
  int r;
  struct stat st;
  if (create) {
    if ((r = mkdir_parents(path)) < 0)
      return img_fail(err, r, "creating %s: %s", path, strerror(-r));
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
      return img_fail(err, -errno, "creating %s: %s", path, strerror(errno));
  }
  _cleanup_close_ int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0)
    return img_fail(err, -errno, "image store %s: %s", path,
                    errno == ELOOP ? "is a symlink" : strerror(errno));
  if (fstat(dfd, &st) < 0)
    return -errno;
  if (st.st_uid != geteuid())
    return img_fail(err, -EPERM, "image store %s is owned by uid %u, not by us (uid %u)", path,
                    (unsigned)st.st_uid, (unsigned)geteuid());
  if (st.st_mode & 077)
    return img_fail(err, -EPERM, "image store %s has mode %04o: run chmod 0700 %s", path,
                    (unsigned)(st.st_mode & 07777), path);
  static const char *const subdirs[] = {"images", "names", "tmp", "inuse"};
  for (size_t i = 0; i < ARRAY_SIZE(subdirs); i++)
    if (mkdirat(dfd, subdirs[i], 0700) < 0 && errno != EEXIST)
      return img_fail(err, -errno, "image store %s: creating %s: %s", path, subdirs[i],
                      strerror(errno));
  struct img_store *s = calloc(1, sizeof *s);
  if (!s || !(s->path = strdup(path))) {
    free(s);
    return -ENOMEM;
  }
  s->dfd = TAKE_FD(dfd);
  *ret = s;
  return 0;
}

void img_store_free(struct img_store *s) {
  if (!s)
    return;
  close(s->dfd);
  free(s->path);
  free(s);
}

int img_store_fd(const struct img_store *s) { return s->dfd; }
const char *img_store_dir(const struct img_store *s) { return s->path; }

int img_store_lock(struct img_store *s, int mode) {
  int fd = openat(s->dfd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  while (flock(fd, mode) < 0) {
    if (errno != EINTR) {
      int r = -errno;
      close(fd);
      return r;
    }
  }
  return fd;
}

int img_store_hostkey(struct img_store *s, bool create, struct sd_key **ret) {
  char path[4200];
  struct stat st;
  snprintf(path, sizeof path, "%s/hostkey", s->path);
  if (fstatat(s->dfd, "hostkey", &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno != ENOENT || !create)
      return -errno;
    _cleanup_close_ int lk = img_store_lock(s, LOCK_EX);
    if (lk < 0)
      return lk;
    if (fstatat(s->dfd, "hostkey", &st, AT_SYMLINK_NOFOLLOW) < 0) {
      _cleanup_(sd_key_freep) struct sd_key *k = NULL;
      int r = sd_key_generate(&k);
      if (r < 0 || (r = sd_key_write_file(path, k)) < 0)
        return r;
      *ret = TAKE_PTR(k);
      return 0;
    }
  }
  if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
    return -EPERM;
  return sd_key_read_file(path, ret);
}

static bool name_char(char c) {
  return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-' || c == '/';
}

int img_ref_parse(const char *ref, char name[IMG_MAX_NAME + 1], char version[129]) {
  const char *slash = strrchr(ref, '/');
  const char *colon = strrchr(slash ? slash : ref, ':');
  size_t nlen = colon ? (size_t)(colon - ref) : strlen(ref);
  const char *ver = colon ? colon + 1 : "latest";
  if (nlen == 0 || nlen > IMG_MAX_NAME || !*ver || strlen(ver) > 128)
    return -EINVAL;
  if (!isalnum((unsigned char)ref[0]) || ref[nlen - 1] == '/')
    return -EINVAL;
  for (size_t i = 0; i < nlen; i++)
    if (!name_char(ref[i]) || (ref[i] == '/' && ref[i + 1] == '/'))
      return -EINVAL;
  if (!isalnum((unsigned char)ver[0]) && ver[0] != '_')
    return -EINVAL;
  for (const char *p = ver; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
      return -EINVAL;
  memcpy(name, ref, nlen);
  name[nlen] = '\0';
  snprintf(version, 129, "%s", ver);
  return 0;
}

void img_name_file(const char *name, const char *version, char out[IMG_HEX_LEN + 1]) {
  char buf[IMG_MAX_NAME + 130];
  int n = snprintf(buf, sizeof buf, "%s:%s", name, version);
  img_sha256_hex(buf, (size_t)n, out);
}

static bool image_exists(struct img_store *s, const char *hex) {
  char p[96];
  struct stat st;
  snprintf(p, sizeof p, "images/%s", hex);
  return fstatat(s->dfd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* Read names/<file>: digest line and ref line. */
static int read_name(struct img_store *s, const char *file, char hex[IMG_HEX_LEN + 1],
                     char ref[IMG_MAX_NAME + 130]) {
  char p[96], buf[512];
  snprintf(p, sizeof p, "names/%s", file);
  _cleanup_close_ int fd = openat(s->dfd, p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n < 0)
    return -errno;
  buf[n] = '\0';
  char *nl = strchr(buf, '\n');
  if (!nl)
    return -EINVAL;
  *nl = '\0';
  if (!img_hex_valid(buf))
    return -EINVAL;
  memcpy(hex, buf, IMG_HEX_LEN + 1);
  char *r2 = nl + 1, *nl2 = strchr(r2, '\n');
  if (nl2)
    *nl2 = '\0';
  if (ref)
    snprintf(ref, IMG_MAX_NAME + 130, "%s", r2);
  return 0;
}

int img_store_resolve(struct img_store *s, const char *ref, char hex[IMG_HEX_LEN + 1],
                      struct img_err *err) {
  const char *at = strchr(ref, '@');
  char name[IMG_MAX_NAME + 1], version[129], file[IMG_HEX_LEN + 1];
  if (at || !strncmp(ref, "sha256:", 7)) {
    const char *d = at ? at + 1 : ref;
    if (img_digest_parse(d, hex) < 0)
      return img_fail(err, -EINVAL, "\"%.200s\": expected @sha256:<64 hex digits>", ref);
    if (!image_exists(s, hex))
      return img_fail(err, -ENOENT, "no image sha256:%s in %s", hex, s->path);
    return 0;
  }
  if (img_ref_parse(ref, name, version) < 0)
    return img_fail(err, -EINVAL, "\"%.200s\": not an image name (NAME[:VERSION])", ref);
  img_name_file(name, version, file);
  int r = read_name(s, file, hex, NULL);
  if (r == -ENOENT)
    return img_fail(err, r, "no image %s:%s in %s", name, version, s->path);
  if (r < 0)
    return img_fail(err, r, "image name %s:%s: %s", name, version, strerror(-r));
  if (!image_exists(s, hex))
    return img_fail(err, -ENOENT, "image %s:%s (sha256:%s) is missing from %s", name, version,
                    hex, s->path);
  return 0;
}

int img_store_set_name(struct img_store *s, const char *name, const char *version,
                       const char *hex) {
  char file[IMG_HEX_LEN + 1], p[128], tmp[160], buf[512];
  img_name_file(name, version, file);
  snprintf(p, sizeof p, "names/%s", file);
  snprintf(tmp, sizeof tmp, "tmp/name.%s.%d", file, (int)getpid());
  int n = snprintf(buf, sizeof buf, "%s\n%s:%s\n", hex, name, version);
  _cleanup_close_ int fd =
      openat(s->dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  int r = sd_write_all(fd, buf, (size_t)n);
  if (r == 0 && fsync(fd) < 0)
    r = -errno;
  if (r == 0 && renameat(s->dfd, tmp, s->dfd, p) < 0)
    r = -errno;
  if (r < 0)
    unlinkat(s->dfd, tmp, 0);
  return r;
}

int img_store_info(struct img_store *s, const char *hex, struct img_entry *ret) {
  char p[128], buf[1024];
  snprintf(p, sizeof p, "images/%s/info", hex);
  _cleanup_close_ int fd = openat(s->dfd, p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n < 0)
    return -errno;
  buf[n] = '\0';
  long long created = 0;
  unsigned long long bytes = 0, files = 0;
  if (sscanf(buf, "created %lld\nbytes %llu\nfiles %llu", &created, &bytes, &files) != 3)
    return -EINVAL;
  memset(ret, 0, sizeof *ret);
  snprintf(ret->hex, sizeof ret->hex, "%s", hex);
  ret->created = (time_t)created;
  ret->bytes = bytes;
  ret->files = files;
  return 0;
}

int img_opendir_at(int dfd, const char *name, DIR **ret) {
  int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  DIR *d = fdopendir(fd);
  if (!d) {
    int r = -errno;
    close(fd);
    return r;
  }
  *ret = d;
  return 0;
}

int img_fstat_regular(int fd, const char *what, size_t max, struct stat *ret_st,
                      struct img_err *err) {
  if (fstat(fd, ret_st) < 0)
    return img_fail(err, -errno, "%s: %s", what, strerror(errno));
  if (!S_ISREG(ret_st->st_mode))
    return img_fail(err, -EINVAL, "%s: not a regular file", what);
  if ((uint64_t)ret_st->st_size > max)
    return img_fail(err, -EFBIG, "%s: larger than %zu bytes", what, max);
  return 0;
}

/* For each marker inuse/<hex>.<pid>.<n>: fn(ctx, hex, locked). Stale markers
 * (nobody holds them) are removed when remove_stale. */
static int scan_markers(struct img_store *s, bool remove_stale,
                        void (*fn)(void *, const char *, bool), void *ctx) {
  DIR *d;
  int q = img_opendir_at(s->dfd, "inuse", &d);
  if (q < 0)
    return q;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || strlen(e->d_name) < IMG_HEX_LEN + 1 || e->d_name[IMG_HEX_LEN] != '.')
      continue;
    char hex[IMG_HEX_LEN + 1];
    memcpy(hex, e->d_name, IMG_HEX_LEN);
    hex[IMG_HEX_LEN] = '\0';
    _cleanup_close_ int mfd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (mfd < 0)
      continue;
    bool locked = flock(mfd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    if (!locked && remove_stale)
      unlinkat(dirfd(d), e->d_name, 0);
    fn(ctx, hex, locked);
  }
  closedir(d);
  return 0;
}

struct in_use_q {
  const char *hex;
  bool found;
};

static void in_use_cb(void *p, const char *hex, bool locked) {
  struct in_use_q *q = p;
  if (locked && !strcmp(q->hex, hex))
    q->found = true;
}

bool img_store_in_use(struct img_store *s, const char *hex) {
  struct in_use_q q = {hex, false};
  scan_markers(s, false, in_use_cb, &q);
  return q.found;
}

int img_store_mark_in_use(struct img_store *s, const char *hex, char ret_marker[128]) {
  _cleanup_close_ int lk = img_store_lock(s, LOCK_SH);
  if (lk < 0)
    return lk;
  if (!image_exists(s, hex))
    return -ENOENT;
  char name[128], p[160];
  uint32_t n = randombytes_random();
  snprintf(name, sizeof name, "%s.%d.%08x", hex, (int)getpid(), n);
  snprintf(p, sizeof p, "inuse/%s", name);
  int fd = openat(s->dfd, p, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  if (flock(fd, LOCK_SH) < 0) {
    int r = -errno;
    close(fd);
    unlinkat(s->dfd, p, 0);
    return r;
  }
  snprintf(ret_marker, 128, "%s", name);
  return fd;
}

void img_store_unmark(struct img_store *s, const char *marker) {
  char p[160];
  snprintf(p, sizeof p, "inuse/%s", marker);
  unlinkat(s->dfd, p, 0);
}

/* Move images/<hex> into tmp/ (invisible at once) and delete it there. */
static int remove_image(struct img_store *s, const char *hex) {
  char from[96], to[128];
  snprintf(from, sizeof from, "images/%s", hex);
  snprintf(to, sizeof to, "tmp/rm.%s.%d", hex, (int)getpid());
  if (renameat(s->dfd, from, s->dfd, to) < 0)
    return -errno;
  int r = img_rm_rf_at(s->dfd, to);
  return r == -ENOENT ? 0 : r;
}

struct names_acc {
  struct img_entry *v;
  size_t n, cap;
};

static int acc_push(struct names_acc *a, const struct img_entry *e) {
  if (a->n == a->cap) {
    size_t nc = a->cap ? a->cap * 2 : 16;
    struct img_entry *nv = realloc(a->v, nc * sizeof *nv);
    if (!nv)
      return -ENOMEM;
    a->v = nv;
    a->cap = nc;
  }
  a->v[a->n++] = *e;
  return 0;
}

/* All names, as entries with ref and hex set. */
static int list_names(struct img_store *s, struct names_acc *a) {
  DIR *d;
  int q = img_opendir_at(s->dfd, "names", &d);
  if (q < 0)
    return q;
  struct dirent *e;
  int r = 0;
  while ((e = readdir(d))) {
    if (!img_hex_valid(e->d_name))
      continue;
    struct img_entry en = {0};
    if (read_name(s, e->d_name, en.hex, en.ref) < 0)
      continue;
    if ((r = acc_push(a, &en)) < 0)
      break;
  }
  closedir(d);
  return r;
}

static int cmp_entry(const void *a, const void *b) {
  const struct img_entry *x = a, *y = b;
  if (!x->ref[0] != !y->ref[0])
    return x->ref[0] ? -1 : 1;
  int c = strcmp(x->ref, y->ref);
  return c ? c : strcmp(x->hex, y->hex);
}

static bool named(const struct names_acc *a, const char *hex) {
  for (size_t i = 0; i < a->n; i++)
    if (a->v[i].ref[0] && !strcmp(a->v[i].hex, hex))
      return true;
  return false;
}

/* Append an entry for every image directory that no name refers to. */
static int list_unnamed(struct img_store *s, struct names_acc *a) {
  DIR *d;
  int q = img_opendir_at(s->dfd, "images", &d);
  if (q < 0)
    return q;
  struct dirent *e;
  int r = 0;
  while ((e = readdir(d))) {
    if (!img_hex_valid(e->d_name) || named(a, e->d_name))
      continue;
    struct img_entry en = {0};
    memcpy(en.hex, e->d_name, IMG_HEX_LEN + 1);
    if ((r = acc_push(a, &en)) < 0)
      break;
  }
  closedir(d);
  return r;
}

int img_store_list(struct img_store *s, struct img_entry **ret, size_t *ret_n) {
  struct names_acc a = {0};
  int r = list_names(s, &a);
  if (r == 0)
    r = list_unnamed(s, &a);
  if (r < 0) {
    free(a.v);
    return r;
  }
  for (size_t i = 0; i < a.n; i++) {
    struct img_entry info;
    if (img_store_info(s, a.v[i].hex, &info) == 0) {
      a.v[i].created = info.created;
      a.v[i].bytes = info.bytes;
      a.v[i].files = info.files;
    }
    a.v[i].in_use = img_store_in_use(s, a.v[i].hex);
  }
  if (a.n)
    qsort(a.v, a.n, sizeof *a.v, cmp_entry);
  *ret = a.v;
  *ret_n = a.n;
  return 0;
}

int img_store_remove(struct img_store *s, const char *ref, bool *ret_removed,
                     struct img_err *err) {
  char name[IMG_MAX_NAME + 1], version[129], file[IMG_HEX_LEN + 1], hex[IMG_HEX_LEN + 1];
  char p[96];
  int r;
  *ret_removed = false;
  _cleanup_close_ int lk = img_store_lock(s, LOCK_EX);
  if (lk < 0)
    return img_fail(err, lk, "locking the store: %s", strerror(-lk));
  if (strchr(ref, '@') || !strncmp(ref, "sha256:", 7)) {
    /* by digest: every name of it goes */
    if ((r = img_store_resolve(s, ref, hex, err)) < 0)
      return r;
    struct names_acc a = {0};
    if ((r = list_names(s, &a)) < 0)
      return r;
    for (size_t i = 0; i < a.n; i++) {
      if (strcmp(a.v[i].hex, hex))
        continue;
      char n2[IMG_MAX_NAME + 1], v2[129];
      if (img_ref_parse(a.v[i].ref, n2, v2) == 0) {
        img_name_file(n2, v2, file);
        snprintf(p, sizeof p, "names/%s", file);
        unlinkat(s->dfd, p, 0);
      }
    }
    free(a.v);
  } else {
    if (img_ref_parse(ref, name, version) < 0)
      return img_fail(err, -EINVAL, "\"%.200s\": not an image name (NAME[:VERSION])", ref);
    img_name_file(name, version, file);
    if ((r = read_name(s, file, hex, NULL)) < 0)
      return img_fail(err, r, "no image %s:%s in %s", name, version, s->path);
    snprintf(p, sizeof p, "names/%s", file);
    if (unlinkat(s->dfd, p, 0) < 0)
      return img_fail(err, -errno, "removing %s:%s: %s", name, version, strerror(errno));
  }
  struct names_acc a = {0};
  if ((r = list_names(s, &a)) < 0)
    return r;
  bool still = named(&a, hex);
  free(a.v);
  if (still || img_store_in_use(s, hex) || !image_exists(s, hex))
    return 0;
  if ((r = remove_image(s, hex)) < 0)
    return img_fail(err, r, "removing sha256:%s: %s", hex, strerror(-r));
  *ret_removed = true;
  return 0;
}

struct gc_ctx {
  char (*hex)[IMG_HEX_LEN + 1];
  size_t n, cap;
  bool oom;
};

static void gc_marker_cb(void *p, const char *hex, bool locked) {
  struct gc_ctx *g = p;
  if (!locked || g->n == g->cap) {
    if (!locked)
      return;
    size_t nc = g->cap ? g->cap * 2 : 16;
    void *nv = realloc(g->hex, nc * sizeof *g->hex);
    if (!nv) {
      g->oom = true; /* the caller then removes nothing */
      return;
    }
    g->hex = nv;
    g->cap = nc;
  }
  snprintf(g->hex[g->n++], IMG_HEX_LEN + 1, "%s", hex);
}

int img_store_gc(struct img_store *s, void (*fn)(void *, const char *hex), void *ctx) {
  _cleanup_close_ int lk = img_store_lock(s, LOCK_EX);
  if (lk < 0)
    return lk;
  struct gc_ctx g = {0};
  int r = scan_markers(s, true, gc_marker_cb, &g);
  if (r < 0 || g.oom) {
    free(g.hex);
    return r < 0 ? r : -ENOMEM;
  }
  struct names_acc a = {0};
  if ((r = list_names(s, &a)) < 0 || (r = list_unnamed(s, &a)) < 0)
    goto out;
  for (size_t i = 0; i < a.n; i++) {
    if (a.v[i].ref[0])
      continue;
    bool used = false;
    for (size_t j = 0; j < g.n; j++)
      used |= !strcmp(g.hex[j], a.v[i].hex);
    if (used)
      continue;
    if ((r = remove_image(s, a.v[i].hex)) < 0)
      goto out;
    if (fn)
      fn(ctx, a.v[i].hex);
  }
  /* stale imports (their importer died: the flock is gone) and removals */
  DIR *d;
  if (img_opendir_at(s->dfd, "tmp", &d) == 0) {
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.')
        continue;
      _cleanup_close_ int tfd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (tfd >= 0 && flock(tfd, LOCK_EX | LOCK_NB) == 0)
        img_rm_rf_at(dirfd(d), e->d_name);
    }
    closedir(d);
  }
  r = 0;
out:
  free(a.v);
  free(g.hex);
  return r;
}
