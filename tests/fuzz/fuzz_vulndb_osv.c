/*
 * Fuzz image/vulndb_osv's parser. Whatever the bytes: no crash, a refusal
 * says why and returns no index; an accepted index holds OSV records only,
 * strictly sorted, each resolved one with a fixed version, each found again
 * through vulndb_tracker_find(). The format detector must not crash either.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/vulndb_osv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  (void)vulndb_detect_format((const char *)data, size);
  struct vulndb_tracker *t = NULL;
  struct img_err err = {0};
  int r = vulndb_osv_parse_buf((const char *)data, size, &t, NULL, &err);
  if (r < 0) {
    if (t || !err.msg[0])
      abort();
    return 0;
  }
  size_t n = vulndb_tracker_count(t);
  if (n == 0)
    abort();
  struct vulndb_entry prev = {0}, e;
  for (size_t i = 0; i < n; i++) {
    vulndb_tracker_get(t, i, &e);
    if (e.origin != VULNDB_FROM_OSV || (e.status == VULNDB_RESOLVED && !e.fixed_version) ||
        (e.status != VULNDB_RESOLVED && e.fixed_version))
      abort();
    if (i) {
      int c = strcmp(prev.release, e.release);
      if (!c)
        c = strcmp(prev.source, e.source);
      if (!c)
        c = strcmp(prev.issue, e.issue);
      if (c >= 0)
        abort();
    }
    size_t first, cnt = vulndb_tracker_find(t, e.release, e.source, &first);
    if (cnt == 0 || i < first || i >= first + cnt)
      abort();
    prev = e;
  }
  vulndb_tracker_free(t);
  return 0;
}
