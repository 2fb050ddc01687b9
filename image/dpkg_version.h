/*
 * Debian package versions: strict parsing and comparison exactly as dpkg
 * compares them (Debian Policy 5.6.12), written here from the policy's
 * description; libdpkg (GPL-2+) is neither linked nor copied.
 *
 * [epoch:]upstream[-revision]
 *  - epoch: decimal digits, 0..INT_MAX; absent means 0;
 *  - upstream: starts with a digit, then [A-Za-z0-9.+~-:] ('-' only when a
 *    revision follows, which the split at the last '-' guarantees; ':' only
 *    after an epoch, which the split at the first ':' guarantees);
 *  - revision: after the last '-', non-empty, [A-Za-z0-9.+~]; absent is "".
 * No whitespace anywhere. Comparison: epochs numerically, then upstream, then
 * revision, each by alternating non-digit runs (char by char: '~' before the
 * end of the run, the end before letters, letters before other characters in
 * ASCII order) and digit runs (numerically, any length, no overflow).
 */
#pragma once

#include <stddef.h>

#include "image/err.h"

#define DPKG_VERSION_MAX 255 /* longest version string accepted (bytes) */

struct dpkg_version {
  unsigned epoch;
  char upstream[DPKG_VERSION_MAX + 1];
  char revision[DPKG_VERSION_MAX + 1];
};

/*
 * Parse the len bytes of s (need not be NUL-terminated) into *ret. Returns 0,
 * or -EINVAL with a message in err (which may be NULL) saying what is wrong
 * ("epoch is not a number", "upstream version does not start with a digit",
 * "invalid character ... in revision", ...) and leaves *ret untouched.
 * A version longer than DPKG_VERSION_MAX gives -E2BIG.
 */
int dpkg_version_parse(const char *s, size_t len, struct dpkg_version *ret, struct img_err *err);

/* The same for a NUL-terminated string. */
int dpkg_version_parse_str(const char *s, struct dpkg_version *ret, struct img_err *err);

/* <0, 0 or >0 as a sorts before, equal to or after b, as dpkg does. */
int dpkg_version_cmp(const struct dpkg_version *a, const struct dpkg_version *b);

/*
 * Compare two version strings. Returns -1, 0 or 1 into *ret_cmp and 0, or
 * the parse error of the first malformed one (*ret_cmp untouched).
 */
int dpkg_version_cmp_str(const char *a, const char *b, int *ret_cmp, struct img_err *err);

/* Write v as [epoch:]upstream[-revision] into buf (size >= 2*DPKG_VERSION_MAX). */
void dpkg_version_format(const struct dpkg_version *v, char *buf, size_t size);
