/*
 * OSV (https://ossf.github.io/osv-schema/) records of the Debian ecosystem
 * into the vulnerability index (vulndb_tracker.h), origin VULNDB_FROM_OSV.
 *
 * Input: one OSV object, or a JSON array of them (as `osv` tools and
 * `jq -s` produce from the per-record files of Debian's OSV export). Each
 * array element is parsed on its own (json-c, at most OSV_RECORD_MAX bytes
 * each), so memory is bounded by one record plus the index, whatever the
 * file's size.
 *
 * Per record: "id" (required, the issue id shown), "modified" (required,
 * RFC 3339), "withdrawn" (the record is skipped), "aliases" and "upstream"
 * (ids kept as the record's aliases: they are how a record is matched with
 * the tracker's CVE ids), "severity" ([{type, score}]: a CVSS_V3 vector's base
 * score gives the severity; other types are skipped) and "affected": for each
 * entry whose package.ecosystem is "Debian:N" (N a Debian release number,
 * mapped to its codename: 12 -> bookworm), package.name is the SOURCE package
 * and its "ranges" of type ECOSYSTEM give "introduced" and "fixed" events
 * (dpkg versions; "0" introduced means from the start). Several ranges or
 * entries for one package collapse to the lowest introduced and the highest
 * fixed version (conservative: a gap between ranges is reported as
 * affected); a package without a fixed event is open. Severity, in order: the
 * entry's own severity[], the record's severity[], ecosystem_specific.urgency
 * (Debian's urgency), ecosystem_specific.severity, database_specific.severity
 * (CRITICAL and HIGH map to high, MODERATE and MEDIUM to medium, LOW to low).
 * Other ecosystems, "Debian" without a release and unknown release numbers
 * are skipped and counted. Unknown keys are ignored.
 *
 * Strict: malformed JSON, a truncated file, trailing data, a wrong type for
 * a field we read, a missing id or modified, an invalid version or name, a
 * malformed CVSS_V3 vector, a duplicate (release, package, id) across the
 * input, or no Debian entry at all is refused (-EBADMSG, err says where).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "image/err.h"
#include "image/vulndb_tracker.h"

#define OSV_RECORD_MAX (4u << 20) /* bytes of one OSV record */

struct vulndb_osv_stats {
  size_t records;          /* OSV records read */
  size_t withdrawn;        /* skipped: withdrawn */
  size_t other_ecosystems; /* affected entries skipped: not Debian:N */
  size_t unknown_releases; /* affected entries skipped: Debian:N with an unknown N */
  size_t no_ranges;        /* affected Debian entries skipped: no ECOSYSTEM range */
  int64_t newest_modified; /* the newest "modified", seconds since the epoch */
};

/*
 * Parse OSV JSON from fd (to its end) or buf into a new index of OSV records.
 * Returns 0 with *ret_t the caller's, -EBADMSG, -E2BIG, -ENOMEM or a read
 * error. stats (may be NULL) is filled on success.
 */
int vulndb_osv_parse_fd(int fd, struct vulndb_tracker **ret_t, struct vulndb_osv_stats *stats,
                        struct img_err *err);
int vulndb_osv_parse_buf(const char *buf, size_t len, struct vulndb_tracker **ret_t,
                         struct vulndb_osv_stats *stats, struct img_err *err);

/*
 * Which source a file's first bytes look like: an array, or an object whose
 * first key is one of OSV's top-level fields, is OSV; any other object is
 * tracker data. Returns VULNDB_FROM_TRACKER, VULNDB_FROM_OSV, or -EBADMSG
 * when head is not a JSON object or array.
 */
int vulndb_detect_format(const char *head, size_t len);

/* The codename of Debian release number n ("12" -> "bookworm"), or NULL. */
const char *vulndb_debian_codename(const char *number);

/*
 * The CVSS v3.x base score of a vector ("CVSS:3.1/AV:N/AC:L/..."), times
 * ten (98 for 9.8). Returns the score or -EINVAL for a malformed vector.
 */
int vulndb_cvss3_base_score(const char *vector);
