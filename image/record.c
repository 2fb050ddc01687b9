/* The authenticated record of an image's files and its verification. */
#include "image/record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "base/io.h"
#include "base/macro.h"
#include "crypto/keys.h"
#include "image/digest.h"
#include "image/internal.h"

#define REC_DOMAIN "secret-image files.rec v1"
#define MAX_DEPTH 256

struct line {
  char *path; /* escaped; sort key */
  char *text; /* whole line with '\n' */
};

struct lines {
  struct line *v;
  size_t n, cap;
  uint64_t bytes;
};

static void lines_done(struct lines *l) {
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].path);
    free(l->v[i].text);
  }
  free(l->v);
  memset(l, 0, sizeof *l);
}

static char *escape(const char *p) {
  size_t n = strlen(p);
  char *o = malloc(n * 3 + 1), *q = o;
  if (!o)
    return NULL;
  for (; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c < 0x21 || c > 0x7e || c == '%')
      q += sprintf(q, "%%%02X", c);
    else
      *q++ = (char)c;
  }
  *q = '\0';
  return o;
}

static int add_line(struct lines *l, const char *rel, const struct stat *st, const char *hash) {
  char type = S_ISDIR(st->st_mode) ? 'd' : S_ISREG(st->st_mode) ? 'f' : S_ISLNK(st->st_mode) ? 'l'
              : S_ISFIFO(st->st_mode) ? 'p' : '?';
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 1024;
    struct line *nv = realloc(l->v, nc * sizeof *nv);
    if (!nv)
      return -ENOMEM;
    l->v = nv;
    l->cap = nc;
  }
  char *path = escape(rel);
  if (!path)
    return -ENOMEM;
  char *text;
  uint64_t size = S_ISDIR(st->st_mode) ? 0 : (uint64_t)st->st_size;
  if (asprintf(&text, "%s %c %04o %u %u %llu %s\n", path, type, (unsigned)(st->st_mode & 07777),
               (unsigned)st->st_uid, (unsigned)st->st_gid, (unsigned long long)size, hash) < 0) {
    free(path);
    return -ENOMEM;
  }
  l->v[l->n++] = (struct line){path, text};
  if (S_ISREG(st->st_mode))
    l->bytes += size;
  return 0;
}

static int walk(int dfd, const char *rel, int depth, struct lines *l) {
  if (depth > MAX_DEPTH)
    return -ELOOP;
  DIR *d;
  int q = img_opendir_at(dfd, ".", &d);
  if (q < 0)
    return q;
  struct dirent *e;
  int r = 0;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    char *child;
    if (asprintf(&child, "%s/%s", rel, e->d_name) < 0) {
      r = -ENOMEM;
      break;
    }
    struct stat st;
    char hash[IMG_HEX_LEN + 1] = "-";
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      r = -errno;
    } else if (S_ISREG(st.st_mode)) {
      int ffd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
      if (ffd < 0)
        r = -errno;
      else {
        r = img_sha256_fd(ffd, hash, NULL);
        close(ffd);
      }
    } else if (S_ISLNK(st.st_mode)) {
      char t[4097];
      ssize_t n = readlinkat(dirfd(d), e->d_name, t, sizeof t - 1);
      if (n < 0)
        r = -errno;
      else
        img_sha256_hex(t, (size_t)n, hash);
    }
    if (r == 0)
      r = add_line(l, child, &st, hash);
    if (r == 0 && S_ISDIR(st.st_mode)) {
      int cfd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (cfd < 0)
        r = -errno;
      else {
        r = walk(cfd, child, depth + 1, l);
        close(cfd);
      }
    }
    free(child);
    if (r < 0)
      break;
  }
  closedir(d);
  return r;
}

static int cmp_line(const void *a, const void *b) {
  return strcmp(((const struct line *)a)->path, ((const struct line *)b)->path);
}

static int build_lines(int rootfd, struct lines *l) {
  struct stat st;
  if (fstat(rootfd, &st) < 0)
    return -errno;
  int r = add_line(l, ".", &st, "-");
  if (r == 0)
    r = walk(rootfd, ".", 0, l);
  if (r < 0)
    return r;
  qsort(l->v, l->n, sizeof *l->v, cmp_line);
  return 0;
}

int img_record_build(int rootfd, char **ret, size_t *ret_len, uint64_t *ret_files,
                     uint64_t *ret_bytes) {
  struct lines l = {0};
  int r = build_lines(rootfd, &l);
  if (r < 0) {
    lines_done(&l);
    return r;
  }
  size_t total = 0;
  for (size_t i = 0; i < l.n; i++)
    total += strlen(l.v[i].text);
  char *buf = malloc(total + 1), *p = buf;
  if (!buf) {
    lines_done(&l);
    return -ENOMEM;
  }
  for (size_t i = 0; i < l.n; i++)
    p = stpcpy(p, l.v[i].text);
  *p = '\0';
  *ret = buf;
  *ret_len = total;
  if (ret_files)
    *ret_files = l.n;
  if (ret_bytes)
    *ret_bytes = l.bytes;
  lines_done(&l);
  return 0;
}

static int record_mac(struct img_store *s, bool create, const char *hex, const char *rec,
                      size_t len, char out[IMG_HEX_LEN + 1]) {
  _cleanup_(sd_key_freep) struct sd_key *k = NULL;
  int r = img_store_hostkey(s, create, &k);
  if (r < 0)
    return r;
  crypto_generichash_state st;
  uint8_t mac[32];
  const uint8_t *kb = sd_key_acquire(k);
  crypto_generichash_init(&st, kb, SD_KEY_LEN, sizeof mac);
  sd_key_release(k);
  crypto_generichash_update(&st, (const uint8_t *)REC_DOMAIN, sizeof REC_DOMAIN);
  crypto_generichash_update(&st, (const uint8_t *)hex, IMG_HEX_LEN);
  crypto_generichash_update(&st, (const uint8_t *)rec, len);
  crypto_generichash_final(&st, mac, sizeof mac);
  sodium_memzero(&st, sizeof st);
  img_hex_encode(mac, out);
  return 0;
}

static int write_file_at(int dfd, const char *name, const void *p, size_t n) {
  _cleanup_close_ int fd =
      openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  return sd_write_all(fd, p, n);
}

int img_record_write(struct img_store *s, int imgfd, const char *hex, uint64_t *ret_files,
                     uint64_t *ret_bytes) {
  _cleanup_close_ int rootfd = openat(imgfd, "rootfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                                           O_CLOEXEC);
  if (rootfd < 0)
    return -errno;
  _cleanup_free_ char *rec = NULL;
  size_t len;
  char mac[IMG_HEX_LEN + 1], line[IMG_HEX_LEN + 8];
  int r = img_record_build(rootfd, &rec, &len, ret_files, ret_bytes);
  if (r < 0 || (r = record_mac(s, true, hex, rec, len, mac)) < 0)
    return r;
  if ((r = write_file_at(imgfd, "files.rec", rec, len)) < 0)
    return r;
  int n = snprintf(line, sizeof line, "v1 %s\n", mac);
  return write_file_at(imgfd, "files.mac", line, (size_t)n);
}

static int read_at(int dfd, const char *name, size_t cap, char **ret, size_t *ret_len) {
  _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  struct stat st;
  if (fstat(fd, &st) < 0)
    return -errno;
  if (!S_ISREG(st.st_mode))
    return -EINVAL;
  if ((uint64_t)st.st_size > cap)
    return -EFBIG;
  char *buf = malloc((size_t)st.st_size + 1);
  if (!buf)
    return -ENOMEM;
  size_t len = 0;
  while (len < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      free(buf);
      return n < 0 ? -errno : -EIO;
    }
    len += (size_t)n;
  }
  buf[len] = '\0';
  *ret = buf;
  *ret_len = len;
  return 0;
}

static int open_image(struct img_store *s, const char *hex) {
  char p[96];
  snprintf(p, sizeof p, "images/%s", hex);
  int fd = openat(img_store_fd(s), p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

/* Check manifest.json against hex and return the parsed manifest. */
static int check_manifest(int imgfd, const char *hex, struct img_manifest *ret,
                          struct img_err *err) {
  _cleanup_free_ char *m = NULL;
  size_t len;
  char got[IMG_HEX_LEN + 1];
  int r = read_at(imgfd, "manifest.json", IMG_MAX_JSON, &m, &len);
  if (r < 0)
    return img_fail(err, r, "sha256:%s: manifest.json: %s", hex, strerror(-r));
  img_sha256_hex(m, len, got);
  if (strcmp(got, hex))
    return img_fail(err, -EBADMSG, "sha256:%s: manifest.json was changed", hex);
  r = img_manifest_parse(m, len, ret);
  return r < 0 ? img_fail(err, r, "sha256:%s: manifest.json: %s", hex, strerror(-r)) : 0;
}

int img_store_config(struct img_store *s, const char *hex, struct img_config *ret,
                     struct img_err *err) {
  _cleanup_close_ int imgfd = open_image(s, hex);
  if (imgfd < 0)
    return img_fail(err, imgfd, "sha256:%s: %s", hex, strerror(-imgfd));
  struct img_manifest m;
  int r = check_manifest(imgfd, hex, &m, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *c = NULL;
  size_t len;
  char got[IMG_HEX_LEN + 1];
  r = read_at(imgfd, "config.json", IMG_MAX_JSON, &c, &len);
  if (r < 0) {
    img_fail(err, r, "sha256:%s: config.json: %s", hex, strerror(-r));
    goto out;
  }
  img_sha256_hex(c, len, got);
  if (strcmp(got, m.config.hex) || len != m.config.size) {
    r = img_fail(err, -EBADMSG, "sha256:%s: config.json was changed", hex);
    goto out;
  }
  r = img_config_parse(c, len, ret);
  if (r < 0)
    img_fail(err, r, "sha256:%s: config.json: %s", hex, strerror(-r));
out:
  img_manifest_done(&m);
  return r;
}

/* Split a record into lines in place: parallel arrays of path and whole line. */
static int split_record(char *rec, char ***ret_lines, size_t *ret_n) {
  size_t n = 0, cap = 0;
  char **v = NULL;
  for (char *p = rec; *p;) {
    char *nl = strchr(p, '\n');
    if (!nl) {
      free(v);
      return -EINVAL;
    }
    *nl = '\0';
    if (n == cap) {
      cap = cap ? cap * 2 : 1024;
      char **nv = realloc(v, cap * sizeof *nv);
      if (!nv) {
        free(v);
        return -ENOMEM;
      }
      v = nv;
    }
    v[n++] = p;
    p = nl + 1;
  }
  *ret_lines = v;
  *ret_n = n;
  return 0;
}

/* Compare two lines' path fields (up to the first space). */
static int cmp_path(const char *a, const char *b) {
  size_t la = strcspn(a, " "), lb = strcspn(b, " ");
  int c = memcmp(a, b, la < lb ? la : lb);
  if (c)
    return c;
  return la < lb ? -1 : la > lb ? 1 : 0;
}

static void report(img_change_fn fn, void *ctx, enum img_change w, const char *line) {
  char path[4096 * 3 + 1];
  size_t n = strcspn(line, " ");
  if (n >= sizeof path)
    n = sizeof path - 1;
  memcpy(path, line, n);
  path[n] = '\0';
  if (fn)
    fn(ctx, w, path);
}

int img_verify(struct img_store *s, const char *hex, bool deep, img_change_fn fn, void *ctx,
               size_t *ret_changes, struct img_err *err) {
  *ret_changes = 0;
  _cleanup_close_ int imgfd = open_image(s, hex);
  if (imgfd < 0)
    return img_fail(err, imgfd, "sha256:%s: %s", hex, strerror(-imgfd));
  struct img_config cfg;
  int r = img_store_config(s, hex, &cfg, err);
  if (r < 0)
    return r;
  img_config_done(&cfg);
  _cleanup_free_ char *rec = NULL, *macf = NULL, *now = NULL;
  size_t len, mlen, nlen;
  char mac[IMG_HEX_LEN + 1];
  if ((r = read_at(imgfd, "files.rec", (size_t)1 << 30, &rec, &len)) < 0)
    return img_fail(err, r, "sha256:%s: files.rec: %s", hex, strerror(-r));
  if ((r = read_at(imgfd, "files.mac", 256, &macf, &mlen)) < 0)
    return img_fail(err, r, "sha256:%s: files.mac: %s", hex, strerror(-r));
  if ((r = record_mac(s, false, hex, rec, len, mac)) < 0)
    return img_fail(err, r, "host key %s/hostkey: %s", img_store_dir(s),
                    r == -EPERM ? "not a 0600 file of ours" : strerror(-r));
  if (mlen < 3 + IMG_HEX_LEN || strncmp(macf, "v1 ", 3) ||
      sodium_memcmp(macf + 3, mac, IMG_HEX_LEN) != 0)
    return img_fail(err, -EBADMSG, "sha256:%s: the file record fails authentication "
                    "(edited, or made with another host key)", hex);
  if (!deep)
    return 0;
  _cleanup_close_ int rootfd = openat(imgfd, "rootfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                                            O_CLOEXEC);
  if (rootfd < 0)
    return img_fail(err, -errno, "sha256:%s: rootfs: %s", hex, strerror(errno));
  if ((r = img_record_build(rootfd, &now, &nlen, NULL, NULL)) < 0)
    return img_fail(err, r, "sha256:%s: walking the tree: %s", hex, strerror(-r));
  _cleanup_free_ char **a = NULL, **b = NULL;
  size_t na, nb;
  if ((r = split_record(rec, &a, &na)) < 0 || (r = split_record(now, &b, &nb)) < 0)
    return img_fail(err, r, "sha256:%s: files.rec is malformed", hex);
  size_t i = 0, j = 0, changes = 0;
  while (i < na || j < nb) {
    int c = i == na ? 1 : j == nb ? -1 : cmp_path(a[i], b[j]);
    if (c < 0) {
      report(fn, ctx, IMG_REMOVED, a[i++]);
      changes++;
    } else if (c > 0) {
      report(fn, ctx, IMG_ADDED, b[j++]);
      changes++;
    } else {
      if (strcmp(a[i], b[j])) {
        report(fn, ctx, IMG_CHANGED, a[i]);
        changes++;
      }
      i++;
      j++;
    }
  }
  *ret_changes = changes;
  return changes ? -EBADMSG : 0;
}
