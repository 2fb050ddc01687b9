/* Shared by vulndb_tracker.c (parser) and vulndb_index.c (file, lookup). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "image/vulndb_tracker.h"

#define VT_NONE UINT32_MAX

/* One record, in memory and on disk (native byte order: a host-local file). */
struct vt_rec {
  uint32_t release, source, issue, fixed; /* offsets into the strings; fixed may be VT_NONE */
  uint32_t introduced, aliases;           /* offsets or VT_NONE (OSV only) */
  uint32_t debianbug;
  uint32_t affected; /* offset or VT_NONE (OSV only: vulndb_affected.h) */
  uint8_t status, urgency, nodsa, origin;
};

/* String interning: each distinct string once in blob. */
struct vt_intern {
  char *blob;
  size_t len, cap;
  uint32_t *slots; /* offset + 1, 0 = empty */
  size_t nslots, used;
};

/* Records being collected, then sorted and checked by vt_builder_finish(). */
struct vt_builder {
  struct vt_intern in;
  struct vt_rec *recs;
  size_t n, cap;
};

/* The offset of s[0..n) in the blob, added if new. Returns 0, -ENOMEM, -E2BIG. */
int vt_intern(struct vt_intern *in, const char *s, size_t n, uint32_t *ret_off);
/* Append r (offsets already interned). Returns 0, -ENOMEM, -E2BIG. */
int vt_builder_add(struct vt_builder *b, const struct vt_rec *r);
/* Append e, interning its strings. Returns 0, -ENOMEM, -E2BIG. */
int vt_builder_add_entry(struct vt_builder *b, const struct vulndb_entry *e);
/* Sort by (release, source, issue, origin), refuse duplicates (-EBADMSG) and
 * hand the records over to a new index (meta zero). b is emptied either way. */
int vt_builder_finish(struct vt_builder *b, struct vulndb_tracker **ret_t, struct img_err *err);
void vt_builder_free(struct vt_builder *b);

/* Read fd to its end in 64 KiB chunks, each handed to feed(ctx, chunk, n),
 * for the streaming parsers. Returns 0 at end of file, feed's first negative
 * result, -ENOMEM, or a read error (err says). */
int vt_read_stream(int fd, int (*feed)(void *ctx, const char *chunk, size_t n), void *ctx,
                   struct img_err *err);

struct vulndb_tracker {
  struct vt_rec *recs;
  size_t n;
  char *blob; /* NUL-terminated strings */
  size_t blob_len;
  struct vulndb_meta meta;
  size_t per_origin[VULNDB_ORIGIN_COUNT]; /* records of each source */
  void *file; /* the loaded file (recs and blob point into it), or NULL */
};

/* Order of two records: release, source, issue, origin. */
int vt_rec_cmp(const struct vulndb_tracker *t, const struct vt_rec *a, const struct vt_rec *b);
