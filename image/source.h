/*
 * Where an import reads blobs from: an OCI image layout directory, or an
 * oci-archive tarball (the layout tarred) that is first extracted, keeping only
 * index.json, oci-layout and blobs/sha256/<hex> regular files, into a
 * directory the caller provides (inside the store's temp directory).
 * Every blob is read through a verifier: its sha256 and size must match the
 * descriptor that named it, checked on the bytes actually consumed (no
 * check-then-use window on the source).
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "image/digest.h"
#include "image/err.h"

struct img_source;

/* Open path (a directory or a tar file). For a tar file, extract into the
 * directory scratchfd (empty, ours) with at most max_bytes. Returns 0, -ENOENT,
 * -EINVAL (not a layout: no oci-layout/index.json, bad archive member),
 * -EFBIG, -errno; err says why. Free with img_source_free. */
int img_source_open(const char *path, int scratchfd, uint64_t max_bytes, struct img_source **ret,
                    struct img_err *err);
void img_source_free(struct img_source *s);

/* Read index.json (capped at IMG_MAX_JSON) into a malloc'd buffer. */
int img_source_read_index(struct img_source *s, char **ret, size_t *ret_len, struct img_err *err);

/* Read a blob whole (JSON documents: size must be <= IMG_MAX_JSON) and check
 * digest and size. Returns 0, -EFBIG, -EBADMSG (digest or size mismatch),
 * -ENOENT, -errno. */
int img_source_read_blob(struct img_source *s, const char *hex, uint64_t size, char **ret,
                         size_t *ret_len, struct img_err *err);

/* A streaming verifier over one blob, for layers. */
struct img_blob_reader {
  int fd;
  char hex[65];
  uint64_t size, done;
  struct img_hasher h;
  unsigned char buf[256 * 1024];
};

/* Open the blob hex (regular file, resolved beneath the layout). Pair with
 * img_blob_reader_close (also after a failure of open). */
int img_blob_reader_open(struct img_source *s, const char *hex, uint64_t size,
                         struct img_blob_reader *r, struct img_err *err);
/* An img_read_fn: returns -EBADMSG once more than size bytes arrive. */
ssize_t img_blob_reader_read(void *ctx, const void **buf);
/* Consume the rest, close, compare size and digest. Returns 0 or -EBADMSG. */
int img_blob_reader_finish(struct img_blob_reader *r, struct img_err *err);
void img_blob_reader_close(struct img_blob_reader *r);
