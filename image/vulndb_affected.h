/*
 * Which versions an OSV record affects, in the index: the "affected spec"
 * (vulndb_entry.affected) kept with each OSV record and judged against an
 * installed version at scan time, as the OSV schema evaluates it
 * (https://ossf.github.io/osv-schema/#evaluation).
 *
 * The spec is one string of tokens separated by single spaces (dpkg versions
 * hold no space): "|" opens an ECOSYSTEM range, whose events follow sorted by
 * version (an introduced "0" first; equal versions in their input order):
 *   iV  introduced: V and later are affected ("i0": from the start)
 *   fV  fixed: V and later are not (V is the fix)
 *   lV  last_affected: V is affected, later versions are not (no fix named)
 *   xV  limit: only versions below V can be in this range ("x*": no bound)
 * and "=V" tokens, outside ranges, name versions affected exactly (OSV's
 * versions[]). Example: "| i0 f1.2-1 | i2.0-1 l2.3-1 =1.9-1".
 *
 * A version is affected when a range includes it (OSV: the last event at or
 * below it, in order, is an introduced, or a last_affected equal to it; and it
 * is below one of the range's limits, if any) or a "=" token names it (dpkg
 * equality: "0:1.0" is "1.0").
 */
#pragma once

#include <stddef.h>

#include "image/dpkg_version.h"

#define VULNDB_AFFECTED_MAX 65536 /* bytes of one record's spec */

/*
 * Judge installed against spec. Returns 1 (affected), 0 (not affected) or
 * -EBADMSG (a malformed spec: the index refuses one at import and load). When
 * affected, *ret_fixed / *ret_fixed_len name the version that fixes it, in
 * spec (not NUL-terminated): the fixed event that closes the including range
 * (the highest when several ranges include it), or NULL when any including
 * range has no fix (last_affected, a limit, no closing event, or only a
 * versions[] entry).
 */
int vulndb_affected_judge(const char *spec, const struct dpkg_version *installed,
                          const char **ret_fixed, size_t *ret_fixed_len);

/* Whether spec is well formed (each token known, each version valid). */
int vulndb_affected_valid(const char *spec);
