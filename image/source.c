/* Reading a layout directory or an oci-archive, with verified blobs. */
#include "image/source.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "base/io.h"
#include "base/macro.h"
#include "image/digest.h"
#include "image/oci.h"

struct img_source {
  int dfd; /* the layout directory */
};

static int open_beneath(int dfd, const char *path, int flags) {
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC | O_NOCTTY),
                         .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
  long fd;
  do
    fd = syscall(SYS_openat2, dfd, path, &how, sizeof how);
  while (fd < 0 && errno == EAGAIN);
  return fd < 0 ? -errno : (int)fd;
}

/* Keep "index.json", "oci-layout" and "blobs/sha256/<hex>" only. Returns the
 * normalised name in out or -1 to skip. */
static int archive_member(const char *name, char out[128]) {
  while (name[0] == '.' && name[1] == '/')
    name += 2;
  if (!strcmp(name, "index.json") || !strcmp(name, "oci-layout")) {
    snprintf(out, 128, "%s", name);
    return 0;
  }
  if (!strncmp(name, "blobs/sha256/", 13) && img_hex_valid(name + 13)) {
    snprintf(out, 128, "%s", name);
    return 0;
  }
  return -1;
}

static int extract_archive(const char *path, int scratchfd, uint64_t max_bytes,
                           struct img_err *err) {
  int r;
  uint64_t total = 0;
  struct archive *a = archive_read_new();
  if (!a)
    return -ENOMEM;
  archive_read_support_filter_none(a);
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  archive_read_support_format_gnutar(a);
  if (mkdirat(scratchfd, "blobs", 0700) < 0 ||
      mkdirat(scratchfd, "blobs/sha256", 0700) < 0) {
    r = img_fail(err, -errno, "extracting the archive: %s", strerror(errno));
    goto out;
  }
  if (archive_read_open_filename(a, path, 128 * 1024) != ARCHIVE_OK) {
    r = img_fail(err, -EINVAL, "%s: not an oci-archive: %s", path, archive_error_string(a));
    goto out;
  }
  for (;;) {
    struct archive_entry *e;
    char name[128];
    int ar = archive_read_next_header(a, &e);
    if (ar == ARCHIVE_EOF)
      break;
    if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
      r = img_fail(err, -EINVAL, "%s: %s", path, archive_error_string(a));
      goto out;
    }
    const char *n = archive_entry_pathname(e);
    if (!n || archive_member(n, name) < 0)
      continue;
    if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e)) {
      r = img_fail(err, -EINVAL, "%s: member %s is not a regular file", path, name);
      goto out;
    }
    la_int64_t sz = archive_entry_size(e);
    if (sz < 0 || (uint64_t)sz > max_bytes - total) {
      r = img_fail(err, -EFBIG, "%s: the archive holds more than %llu bytes", path,
                   (unsigned long long)max_bytes);
      goto out;
    }
    total += (uint64_t)sz;
    _cleanup_close_ int fd =
        openat(scratchfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      r = img_fail(err, -errno, "%s: member %s: %s", path, name,
                   errno == EEXIST ? "given twice" : strerror(errno));
      goto out;
    }
    const void *buf;
    size_t size;
    la_int64_t off;
    while ((ar = archive_read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK) {
      if (off < 0 || (uint64_t)off + size > (uint64_t)sz) {
        r = img_fail(err, -EINVAL, "%s: member %s: bad data block", path, name);
        goto out;
      }
      if (lseek(fd, off, SEEK_SET) < 0 || (r = sd_write_all(fd, buf, size)) < 0) {
        r = img_fail(err, r < 0 ? r : -errno, "%s: writing %s", path, name);
        goto out;
      }
    }
    if (ar != ARCHIVE_EOF) {
      r = img_fail(err, -EINVAL, "%s: %s", path, archive_error_string(a));
      goto out;
    }
    if (ftruncate(fd, sz) < 0) {
      r = -errno;
      goto out;
    }
  }
  r = 0;
out:
  archive_read_free(a);
  return r;
}

int img_source_open(const char *path, int scratchfd, uint64_t max_bytes, struct img_source **ret,
                    struct img_err *err) {
  struct stat st;
  int r;
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return img_fail(err, -errno, "%s: %s", path, strerror(errno));
  if (fstat(fd, &st) < 0)
    return -errno;
  if (S_ISREG(st.st_mode)) {
    if ((r = extract_archive(path, scratchfd, max_bytes, err)) < 0)
      return r;
    close(fd);
    fd = openat(scratchfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
      return -errno;
  } else if (!S_ISDIR(st.st_mode)) {
    return img_fail(err, -EINVAL, "%s: neither an OCI layout directory nor an oci-archive", path);
  }
  _cleanup_close_ int lfd = open_beneath(fd, "oci-layout", O_RDONLY);
  if (lfd < 0)
    return img_fail(err, -EINVAL, "%s: no oci-layout file: not an OCI image layout", path);
  char buf[256];
  ssize_t n = read(lfd, buf, sizeof buf - 1);
  if (n < 0)
    return -errno;
  buf[n] = '\0';
  if (!strstr(buf, "\"imageLayoutVersion\""))
    return img_fail(err, -EINVAL, "%s: oci-layout has no imageLayoutVersion", path);
  struct img_source *s = calloc(1, sizeof *s);
  if (!s)
    return -ENOMEM;
  s->dfd = TAKE_FD(fd);
  *ret = s;
  return 0;
}

void img_source_free(struct img_source *s) {
  if (!s)
    return;
  close(s->dfd);
  free(s);
}

static int read_capped(int fd, size_t cap, char **ret, size_t *ret_len) {
  size_t len = 0, alloc = 4096;
  char *buf = malloc(alloc + 1);
  if (!buf)
    return -ENOMEM;
  for (;;) {
    if (len == alloc) {
      if (alloc > cap) {
        free(buf);
        return -EFBIG;
      }
      alloc *= 2;
      char *nb = realloc(buf, alloc + 1);
      if (!nb) {
        free(buf);
        return -ENOMEM;
      }
      buf = nb;
    }
    ssize_t n = read(fd, buf + len, alloc - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      free(buf);
      return -errno;
    }
    if (n == 0)
      break;
    len += (size_t)n;
  }
  if (len > cap) {
    free(buf);
    return -EFBIG;
  }
  buf[len] = '\0';
  *ret = buf;
  *ret_len = len;
  return 0;
}

int img_source_read_index(struct img_source *s, char **ret, size_t *ret_len, struct img_err *err) {
  _cleanup_close_ int fd = open_beneath(s->dfd, "index.json", O_RDONLY);
  if (fd < 0)
    return img_fail(err, fd, "index.json: %s", strerror(-fd));
  int r = read_capped(fd, IMG_MAX_JSON, ret, ret_len);
  if (r == -EFBIG)
    return img_fail(err, r, "index.json is larger than %u bytes", IMG_MAX_JSON);
  return r < 0 ? img_fail(err, r, "index.json: %s", strerror(-r)) : 0;
}

static int open_blob(struct img_source *s, const char *hex, struct img_err *err) {
  char p[96];
  struct stat st;
  snprintf(p, sizeof p, "blobs/sha256/%s", hex);
  int fd = open_beneath(s->dfd, p, O_RDONLY);
  if (fd < 0)
    return img_fail(err, fd, "blob sha256:%s: %s", hex, strerror(-fd));
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return img_fail(err, -EINVAL, "blob sha256:%s is not a regular file", hex);
  }
  return fd;
}

int img_source_read_blob(struct img_source *s, const char *hex, uint64_t size, char **ret,
                         size_t *ret_len, struct img_err *err) {
  if (size > IMG_MAX_JSON)
    return img_fail(err, -EFBIG, "blob sha256:%s: a JSON document of %llu bytes (limit %u)", hex,
                    (unsigned long long)size, IMG_MAX_JSON);
  _cleanup_close_ int fd = open_blob(s, hex, err);
  if (fd < 0)
    return fd;
  char *buf;
  size_t len;
  char got[IMG_HEX_LEN + 1];
  int r = read_capped(fd, (size_t)size, &buf, &len);
  if (r == -EFBIG)
    return img_fail(err, -EBADMSG, "blob sha256:%s: larger than its descriptor's size %llu", hex,
                    (unsigned long long)size);
  if (r < 0)
    return img_fail(err, r, "blob sha256:%s: %s", hex, strerror(-r));
  if (len != size) {
    free(buf);
    return img_fail(err, -EBADMSG, "blob sha256:%s: size %zu, descriptor says %llu", hex, len,
                    (unsigned long long)size);
  }
  img_sha256_hex(buf, len, got);
  if (strcmp(got, hex)) {
    free(buf);
    return img_fail(err, -EBADMSG, "blob sha256:%s: content hashes to sha256:%s", hex, got);
  }
  *ret = buf;
  *ret_len = len;
  return 0;
}

int img_blob_reader_open(struct img_source *s, const char *hex, uint64_t size,
                         struct img_blob_reader *r, struct img_err *err) {
  r->h.ctx = NULL;
  r->fd = open_blob(s, hex, err);
  if (r->fd < 0)
    return r->fd;
  snprintf(r->hex, sizeof r->hex, "%s", hex);
  r->size = size;
  r->done = 0;
  if (img_hasher_init(&r->h) < 0) {
    close(r->fd);
    r->fd = -1;
    return -ENOMEM;
  }
  return 0;
}

ssize_t img_blob_reader_read(void *ctx, const void **buf) {
  struct img_blob_reader *r = ctx;
  ssize_t n;
  do
    n = read(r->fd, r->buf, sizeof r->buf);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return -errno;
  r->done += (uint64_t)n;
  if (r->done > r->size)
    return -EBADMSG;
  img_hasher_update(&r->h, r->buf, (size_t)n);
  *buf = r->buf;
  return n;
}

int img_blob_reader_finish(struct img_blob_reader *r, struct img_err *err) {
  const void *b;
  ssize_t n;
  char got[IMG_HEX_LEN + 1];
  while ((n = img_blob_reader_read(r, &b)) > 0)
    ;
  if (n == -EBADMSG)
    return img_fail(err, -EBADMSG, "blob sha256:%s: larger than its descriptor's size %llu",
                    r->hex, (unsigned long long)r->size);
  if (n < 0)
    return img_fail(err, (int)n, "blob sha256:%s: %s", r->hex, strerror((int)-n));
  if (r->done != r->size)
    return img_fail(err, -EBADMSG, "blob sha256:%s: size %llu, descriptor says %llu", r->hex,
                    (unsigned long long)r->done, (unsigned long long)r->size);
  img_hasher_final(&r->h, got);
  if (strcmp(got, r->hex))
    return img_fail(err, -EBADMSG, "blob sha256:%s: content hashes to sha256:%s", r->hex, got);
  return 0;
}

void img_blob_reader_close(struct img_blob_reader *r) {
  if (r->fd >= 0)
    close(r->fd);
  r->fd = -1;
  img_hasher_free(&r->h);
}
