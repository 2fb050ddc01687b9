/* Shared by vulndb_tracker.c (parser) and vulndb_index.c (file, lookup). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "image/vulndb_tracker.h"

#define VT_NONE UINT32_MAX

/* One record, in memory and on disk (native byte order: a host-local file). */
struct vt_rec {
  uint32_t release, source, issue, fixed; /* offsets into the strings; fixed may be VT_NONE */
  uint32_t debianbug;
  uint8_t status, urgency, nodsa, pad;
};

struct vulndb_tracker {
  struct vt_rec *recs;
  size_t n;
  char *blob; /* NUL-terminated strings */
  size_t blob_len;
  struct vulndb_meta meta;
  void *file; /* the loaded file (recs and blob point into it), or NULL */
};

/* Order of two records: release, source, issue. */
int vt_rec_cmp(const struct vulndb_tracker *t, const struct vt_rec *a, const struct vt_rec *b);
