/*
 * Fuzz image/dpkg_version: parsing never crashes on any bytes; the input is
 * split at '\n' into up to three versions, and when they parse the comparison
 * must be reflexive, antisymmetric and transitive, must survive a format and
 * re-parse round trip, and must agree with an independent reference written
 * differently (runs extracted first, then compared) below.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/dpkg_version.h"

static int ref_weight(int c) { /* c < 0: end of the run */
  if (c < 0)
    return 0;
  if (c == '~')
    return -1;
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
    return c;
  return c + 256;
}

static int isdig(char c) { return c >= '0' && c <= '9'; }

static int ref_part(const char *a, const char *b) {
  size_t ia = 0, ib = 0, la = strlen(a), lb = strlen(b);
  while (ia < la || ib < lb) {
    size_t sa = ia, sb = ib;
    while (ia < la && !isdig(a[ia]))
      ia++;
    while (ib < lb && !isdig(b[ib]))
      ib++;
    size_t na = ia - sa, nb = ib - sb, n = na > nb ? na : nb;
    for (size_t i = 0; i < n; i++) {
      int wa = ref_weight(i < na ? (unsigned char)a[sa + i] : -1);
      int wb = ref_weight(i < nb ? (unsigned char)b[sb + i] : -1);
      if (wa != wb)
        return wa < wb ? -1 : 1;
    }
    sa = ia;
    sb = ib;
    while (ia < la && isdig(a[ia]))
      ia++;
    while (ib < lb && isdig(b[ib]))
      ib++;
    while (sa < ia && a[sa] == '0')
      sa++;
    while (sb < ib && b[sb] == '0')
      sb++;
    if (ia - sa != ib - sb)
      return ia - sa < ib - sb ? -1 : 1;
    int c = memcmp(a + sa, b + sb, ia - sa);
    if (c)
      return c < 0 ? -1 : 1;
  }
  return 0;
}

static int ref_cmp(const struct dpkg_version *a, const struct dpkg_version *b) {
  if (a->epoch != b->epoch)
    return a->epoch < b->epoch ? -1 : 1;
  int r = ref_part(a->upstream, b->upstream);
  return r ? r : ref_part(a->revision, b->revision);
}

static int sign(int x) { return (x > 0) - (x < 0); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct dpkg_version v[3];
  int ok = 0;
  size_t start = 0;
  for (size_t i = 0; i <= size && ok < 3; i++) {
    if (i == size || data[i] == '\n') {
      struct img_err err = {0};
      if (dpkg_version_parse((const char *)data + start, i - start, &v[ok], &err) == 0)
        ok++;
      else if (!err.msg[0])
        abort(); /* every refusal says why */
      start = i + 1;
    }
  }
  for (int i = 0; i < ok; i++) {
    if (dpkg_version_cmp(&v[i], &v[i]) != 0)
      abort();
    char buf[2 * DPKG_VERSION_MAX + 16];
    struct dpkg_version back;
    dpkg_version_format(&v[i], buf, sizeof buf);
    if (dpkg_version_parse_str(buf, &back, NULL) != 0 || dpkg_version_cmp(&v[i], &back) != 0)
      abort();
    for (int j = 0; j < ok; j++) {
      int c = sign(dpkg_version_cmp(&v[i], &v[j]));
      if (c != -sign(dpkg_version_cmp(&v[j], &v[i])))
        abort();
      if (c != sign(ref_cmp(&v[i], &v[j])))
        abort();
      for (int k = 0; k < ok; k++) {
        int d = sign(dpkg_version_cmp(&v[j], &v[k]));
        int e = sign(dpkg_version_cmp(&v[i], &v[k]));
        if (c <= 0 && d <= 0 && e > 0)
          abort();
        if (c >= 0 && d >= 0 && e < 0)
          abort();
      }
    }
  }
  return 0;
}
