/*
 * Import of an OCI layout or oci-archive into the store. The steps:
 *  1. a fresh directory tmp/import.XXXXXX, flock'ed (gc removes it only once
 *     its importer is gone);
 *  2. the source: a layout directory, or an oci-archive extracted into tmp;
 *  3. index.json -> (nested index ->) the linux/amd64 manifest -> config, each
 *     read whole (capped) and checked against its digest and size;
 *  4. an image already stored under that manifest digest: only the name is set;
 *  5. the layers unpacked in order into tmp/.../rootfs, each blob hashed as it
 *     streams into the unpacker and checked at its end;
 *  6. manifest.json, config.json, the authenticated file record and info are
 *     written, syncfs(2), then one rename(2) makes images/<hex> visible;
 *  7. the name is pointed at it.
 * Any failure removes the temporary directory: nothing becomes visible.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/io.h"
#include "base/macro.h"
#include "image/internal.h"
#include "image/record.h"
#include "image/source.h"

static void index_donep(struct img_index *x) { img_index_done(x); }
static void manifest_donep(struct img_manifest *m) { img_manifest_done(m); }
static void config_donep(struct img_config *c) { img_config_done(c); }
static void source_freep(struct img_source **s) { img_source_free(*s); }

static int write_at(int dfd, const char *name, const void *p, size_t n) {
  _cleanup_close_ int fd =
      openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  return sd_write_all(fd, p, n);
}

/* Name when none is given: the source's base name without .tar, version from
 * the chosen manifest's ref.name annotation or "latest". */
static int default_ref(const char *path, const char *ref_name, char name[IMG_MAX_NAME + 1],
                       char version[129]) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  size_t l = strlen(buf);
  while (l > 1 && buf[l - 1] == '/')
    buf[--l] = '\0';
  char *b = basename(buf);
  size_t bl = strlen(b);
  if (bl > 4 && !strcmp(b + bl - 4, ".tar"))
    b[bl - 4] = '\0';
  char ref[IMG_MAX_NAME + 200];
  snprintf(ref, sizeof ref, "%s:%s", b, ref_name && *ref_name ? ref_name : "latest");
  return img_ref_parse(ref, name, version);
}

/* index.json -> the chosen manifest descriptor (following one nested index). */
static int choose_manifest(struct img_source *src, struct img_descriptor *ret,
                           char ref_name[129], struct img_err *err) {
  _cleanup_free_ char *buf = NULL;
  size_t len;
  _cleanup_(index_donep) struct img_index x = {0};
  int r = img_source_read_index(src, &buf, &len, err);
  if (r < 0)
    return r;
  if ((r = img_index_parse(buf, len, &x)) < 0)
    return img_fail(err, r, "index.json: %s", r == -EFBIG ? "too large" : r == -E2BIG ?
                    "too many manifests" : "not a valid OCI image index");
  for (int depth = 0;; depth++) {
    int i = img_index_pick(&x);
    if (i < 0)
      return img_fail(err, -ENOENT, "the index has no linux/amd64 image manifest");
    struct img_descriptor *d = &x.manifests[i];
    if (d->ref_name)
      snprintf(ref_name, 129, "%s", d->ref_name);
    if (d->media == IMG_MEDIA_MANIFEST) {
      *ret = *d;
      ret->os = ret->arch = ret->ref_name = NULL;
      return 0;
    }
    if (depth == 1)
      return img_fail(err, -EINVAL, "image indexes nested more than twice");
    _cleanup_free_ char *nb = NULL;
    size_t nlen;
    char hex[IMG_HEX_LEN + 1];
    memcpy(hex, d->hex, sizeof hex);
    if ((r = img_source_read_blob(src, hex, d->size, &nb, &nlen, err)) < 0)
      return r;
    img_index_done(&x);
    if ((r = img_index_parse(nb, nlen, &x)) < 0)
      return img_fail(err, r, "index sha256:%s: not a valid OCI image index", hex);
  }
}

static int unpack_layers(struct img_source *src, int imgfd, const struct img_manifest *m,
                         const struct img_limits *lim, struct img_unpack_stats *st,
                         struct img_err *err) {
  if (mkdirat(imgfd, "rootfs", 0755) < 0)
    return -errno;
  _cleanup_close_ int rootfd = openat(imgfd, "rootfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                                           O_CLOEXEC);
  if (rootfd < 0)
    return -errno;
  struct img_blob_reader *br = malloc(sizeof *br);
  if (!br)
    return -ENOMEM;
  int r = 0;
  for (size_t i = 0; i < m->n_layers; i++) {
    const struct img_descriptor *l = &m->layers[i];
    if ((r = img_blob_reader_open(src, l->hex, l->size, br, err)) < 0)
      break;
    r = img_unpack_layer(rootfd, img_blob_reader_read, br, lim, st, err);
    struct img_err derr = {0};
    if (r < 0 && r != -EFBIG && r != -E2BIG && img_blob_reader_finish(br, &derr) == -EBADMSG) {
      /* a corrupt stream: say that the blob does not match, the root cause */
      *err = derr;
      r = -EBADMSG;
      img_err_prefix(err, "layer %zu: ", i + 1);
    } else if (r < 0) {
      img_err_prefix(err, "layer %zu (sha256:%.12s): ", i + 1, l->hex);
    }
    if (r == 0)
      r = img_blob_reader_finish(br, err);
    img_blob_reader_close(br);
    if (r < 0)
      break;
  }
  free(br);
  return r;
}

static int write_info(int imgfd, uint64_t bytes, uint64_t files) {
  char buf[256];
  int n = snprintf(buf, sizeof buf, "created %lld\nbytes %llu\nfiles %llu\n",
                   (long long)time(NULL), (unsigned long long)bytes, (unsigned long long)files);
  return write_at(imgfd, "info", buf, (size_t)n);
}

int img_import(struct img_store *s, const char *path, const struct img_import_opts *o,
               struct img_import_result *ret, struct img_err *err) {
  int sfd = img_store_fd(s), r;
  char tmpname[64] = "", name[IMG_MAX_NAME + 1], version[129], ref_name[129] = "";
  _cleanup_close_ int tmpfd = -1;
  _cleanup_(source_freep) struct img_source *src = NULL;
  _cleanup_(manifest_donep) struct img_manifest m = {0};
  _cleanup_(config_donep) struct img_config cfg = {0};
  _cleanup_free_ char *mbuf = NULL, *cbuf = NULL;
  size_t mlen, clen;
  struct img_descriptor md;
  memset(ret, 0, sizeof *ret);

  if (o->name && img_ref_parse(o->name, name, version) < 0)
    return img_fail(err, -EINVAL, "--name \"%.200s\": expected NAME[:VERSION] (letters, digits, "
                    ". _ - /; version letters, digits, . _ -)", o->name);
  /* 1 */
  snprintf(tmpname, sizeof tmpname, "tmp/import.XXXXXX");
  char full[4400];
  snprintf(full, sizeof full, "%s/%s", img_store_dir(s), tmpname);
  if (!mkdtemp(full))
    return img_fail(err, -errno, "creating a temporary directory in the store: %s",
                    strerror(errno));
  snprintf(tmpname, sizeof tmpname, "tmp/%s", strrchr(full, '/') + 1);
  tmpfd = openat(sfd, tmpname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (tmpfd < 0 || flock(tmpfd, LOCK_EX) < 0) {
    r = -errno;
    goto fail;
  }
  /* 2 */
  if (mkdirat(tmpfd, "src", 0700) < 0) {
    r = -errno;
    goto fail;
  }
  {
    _cleanup_close_ int scratch = openat(tmpfd, "src", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (scratch < 0) {
      r = -errno;
      goto fail;
    }
    if ((r = img_source_open(path, scratch, o->limits.max_bytes, &src, err)) < 0)
      goto fail;
  }
  /* 3 */
  if ((r = choose_manifest(src, &md, ref_name, err)) < 0)
    goto fail;
  if ((r = img_source_read_blob(src, md.hex, md.size, &mbuf, &mlen, err)) < 0)
    goto fail;
  if ((r = img_manifest_parse(mbuf, mlen, &m)) < 0) {
    r = img_fail(err, r, "manifest sha256:%s: %s", md.hex,
                 r == -ENOTSUP ? "a layer media type we cannot unpack" : "not a valid OCI manifest");
    goto fail;
  }
  if (!o->name && (r = default_ref(path, ref_name, name, version)) < 0) {
    r = img_fail(err, r, "no usable name from %s: give --name NAME:VERSION", path);
    goto fail;
  }
  snprintf(ret->hex, sizeof ret->hex, "%s", md.hex);
  snprintf(ret->ref, sizeof ret->ref, "%s:%s", name, version);
  if ((r = img_source_read_blob(src, m.config.hex, m.config.size, &cbuf, &clen, err)) < 0)
    goto fail;
  if ((r = img_config_parse(cbuf, clen, &cfg)) < 0) {
    r = img_fail(err, r, "config sha256:%s: not a valid OCI image config", m.config.hex);
    goto fail;
  }
  if ((cfg.os && strcmp(cfg.os, "linux")) || (cfg.arch && strcmp(cfg.arch, "amd64"))) {
    r = img_fail(err, -ENOEXEC, "the image is for %s/%s, not linux/amd64",
                 cfg.os ? cfg.os : "?", cfg.arch ? cfg.arch : "?");
    goto fail;
  }
  /* 4 */
  char ipath[96];
  struct stat st;
  snprintf(ipath, sizeof ipath, "images/%s", md.hex);
  if (fstatat(sfd, ipath, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    ret->existed = true;
  } else {
    /* 5 */
    if ((r = unpack_layers(src, tmpfd, &m, &o->limits, &ret->stats, err)) < 0)
      goto fail;
    img_source_free(TAKE_PTR(src));
    if ((r = img_rm_rf_at(tmpfd, "src")) < 0)
      goto fail;
    /* 6 */
    uint64_t files, bytes;
    if ((r = write_at(tmpfd, "manifest.json", mbuf, mlen)) < 0 ||
        (r = write_at(tmpfd, "config.json", cbuf, clen)) < 0 ||
        (r = img_record_write(s, tmpfd, md.hex, &files, &bytes)) < 0 ||
        (r = write_info(tmpfd, bytes, files)) < 0) {
      r = img_fail(err, r, "writing the image into the store: %s", strerror(-r));
      goto fail;
    }
    if (fchmod(tmpfd, 0700) < 0 || syncfs(tmpfd) < 0) {
      r = -errno;
      goto fail;
    }
  }
  {
    _cleanup_close_ int lk = img_store_lock(s, LOCK_SH);
    if (lk < 0) {
      r = lk;
      goto fail;
    }
    if (ret->existed && fstatat(sfd, ipath, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      r = img_fail(err, -EAGAIN, "sha256:%s was removed while being imported: import again",
                   md.hex);
      goto fail;
    }
    if (!ret->existed && renameat(sfd, tmpname, sfd, ipath) < 0) {
      if (errno != EEXIST && errno != ENOTEMPTY) {
        r = img_fail(err, -errno, "moving the image into place: %s", strerror(errno));
        goto fail;
      }
      ret->existed = true; /* a concurrent import of the same image won */
    } else if (!ret->existed) {
      tmpname[0] = '\0';
    }
    /* 7 */
    if ((r = img_store_set_name(s, name, version, md.hex)) < 0) {
      r = img_fail(err, r, "naming the image: %s", strerror(-r));
      goto fail;
    }
  }
  r = 0;
fail:
  if (tmpname[0]) {
    img_source_free(TAKE_PTR(src));
    img_rm_rf_at(sfd, tmpname);
  }
  if (r < 0 && !err->msg[0])
    img_fail(err, r, "%s", strerror(-r));
  return r;
}
