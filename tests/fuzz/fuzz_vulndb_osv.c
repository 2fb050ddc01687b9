/*
 * Fuzz image/vulndb_osv's parser. Whatever the bytes: no crash, a refusal
 * says why and returns no index; an accepted index holds OSV records only,
 * strictly sorted, each resolved one with a fixed version, each found again
 * through vulndb_tracker_find(), each with a well-formed affected spec whose
 * verdicts hold together: a fix it names is above the version judged. The
 * format detector must not crash either.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/vulndb_affected.h"
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
    if (!e.affected || !vulndb_affected_valid(e.affected))
      abort();
    static const char *const probes[] = {"0", "1.0-1", "1:2.0~rc1-1", "3.0.11-1~deb12u2", "99"};
    for (size_t k = 0; k < sizeof probes / sizeof *probes; k++) {
      struct dpkg_version v, fv;
      const char *fixed = NULL;
      size_t flen = 0;
      dpkg_version_parse_str(probes[k], &v, NULL);
      int a = vulndb_affected_judge(e.affected, &v, &fixed, &flen);
      if (a < 0 || (a == 1 && fixed && (dpkg_version_parse(fixed, flen, &fv, NULL) < 0 ||
                                         dpkg_version_cmp(&fv, &v) <= 0)))
        abort();
    }
    prev = e;
  }
  vulndb_tracker_free(t);
  return 0;
}
