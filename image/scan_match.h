/*
 * Matching a root's installed packages against the Security Tracker index.
 *
 * For each installed binary package, the tracker's records of its SOURCE
 * package in the root's release (os-release VERSION_CODENAME) are compared
 * with its SOURCE version, as dpkg compares versions:
 *  - resolved, fixed_version "0": the release was never affected: nothing;
 *  - resolved, fixed_version <= installed source version: fixed: nothing;
 *  - resolved, fixed_version > installed: vulnerable, SCAN_FIXABLE;
 *  - open or undetermined: vulnerable, no fix in this release yet:
 *    SCAN_MINOR when Debian marked it no-DSA (nodsa, postponed, ignored) or
 *    unimportant, SCAN_EOL when its urgency is end-of-life (the package is
 *    out of security support in this release), SCAN_NO_FIX otherwise.
 * OSV records (origin VULNDB_FROM_OSV) are judged by their affected spec
 * (vulndb_affected.h: ranges of introduced, fixed, last_affected and limit
 * events, and versions[]): a version a range with a fixed event includes is
 * SCAN_FIXABLE with that fix; one that last_affected, a limit, an open range
 * or versions[] alone makes affected has no fix: open, categorised as above. Where the index
 * holds a tracker record for the same package, release and issue (the OSV
 * record's id or one of its aliases), the tracker wins for Debian packages:
 * the OSV record gives no finding of its own; if its verdict differs (affected
 * or not, or another fixed version) the difference is kept: on the tracker's
 * finding (osv_overridden) or, when the tracker says not affected, in the
 * result's overrides list.
 * Comparing the distribution's own fixed version with the source version is
 * what avoids the backport false positives of upstream-version matching:
 * Debian's 3.0.11-1~deb12u2 carries fixes that upstream shipped in 3.0.13.
 */
#pragma once

#include <stddef.h>

#include "image/dpkg_status.h"
#include "image/err.h"
#include "image/vulndb_tracker.h"

enum scan_category { SCAN_FIXABLE = 0, SCAN_NO_FIX, SCAN_MINOR, SCAN_EOL, SCAN_CATEGORY_COUNT };

struct scan_finding {
  const struct dpkg_pkg *pkg; /* owned by the db */
  struct vulndb_entry entry;  /* strings owned by the index; entry.origin is the source */
  enum scan_category category;
  /* a tracker finding whose issue an OSV record disagreed on: that record, else NULL */
  const char *osv_overridden, *osv_fixed;
};

/* An OSV verdict the tracker overruled where the tracker reports nothing. */
struct scan_override {
  const struct dpkg_pkg *pkg;
  struct vulndb_entry osv, tracker;
  enum scan_category osv_category; /* what OSV alone would have reported */
};

struct scan_result {
  struct scan_finding *findings; /* by severity (high first), then issue, then package */
  size_t n;
  size_t count[SCAN_CATEGORY_COUNT];
  char release[DPKG_OS_FIELD_MAX + 1];
  int release_in_data; /* 0: the data has no record for this release (unknown or EOL) */
  struct scan_override *overrides;
  size_t n_overrides;
  size_t shadowed; /* OSV records not used because the tracker speaks for the same issue */
  char **strings;  /* fixed versions the findings name that the index holds in no string of
                    * their own (OSV specs); freed by scan_result_clear() */
  size_t nstrings;
};

/*
 * Match db against t for release (NULL: db's os-release VERSION_CODENAME).
 * Returns 0 and fills *ret (free with scan_result_clear), or -ENODATA when
 * no release is known, -EPROTONOSUPPORT when os-release's ID is not
 * "debian" (the tracker only speaks for Debian), -ENOMEM. The result points
 * into db and t: keep both alive while using it.
 */
int scan_match(const struct dpkg_db *db, const struct vulndb_tracker *t, const char *release,
               struct scan_result *ret, struct img_err *err);

void scan_result_clear(struct scan_result *r);

/* Severities of findings, as bits for scan_result_filter(). */
#define SCAN_SEV_UNKNOWN (1u << 0) /* not yet assigned, end-of-life, absent */
#define SCAN_SEV_UNIMPORTANT (1u << 1)
#define SCAN_SEV_LOW (1u << 2)
#define SCAN_SEV_MEDIUM (1u << 3)
#define SCAN_SEV_HIGH (1u << 4)
#define SCAN_SEV_ALL 0x1fu

/* The severity name of an urgency: high, medium, low, unimportant, unknown. */
const char *scan_severity_name(enum vulndb_urgency u);

/*
 * Parse a comma-separated list of severity names ("high,medium") into bits.
 * Returns 0 or -EINVAL (err names the word).
 */
int scan_severity_parse(const char *list, unsigned *ret_mask, struct img_err *err);

/* Keep only the findings whose severity is in mask and, with fixable_only,
 * that are fixable now; recount. Order is kept. */
void scan_result_filter(struct scan_result *r, unsigned mask, int fixable_only);

const char *scan_category_name(enum scan_category c);

/* Severity order of an urgency: high 4, medium 3, low 2, unimportant 1, other 0. */
int scan_severity_rank(enum vulndb_urgency u);
