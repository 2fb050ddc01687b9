/*
 * The Debian Security Tracker's data (https://security-tracker.debian.org/
 * tracker/data/json) as a compact, sorted index.
 *
 * Input: one JSON object keyed by source package; each value an object keyed
 * by issue id (CVE-..., TEMP-...), each with "description", "scope",
 * "debianbug" (number) and "releases": an object keyed by release codename
 * whose values hold "status" (resolved | open | undetermined), "fixed_version"
 * (a Debian version; "0" means the release was never affected), "urgency"
 * (unimportant, low, medium, high, not yet assigned, end-of-life; a trailing
 * "*" is dropped), "nodsa" (present: no DSA will be issued; its text is the
 * reason), "nodsa_reason" (postponed, ignored) and "repositories" (ignored).
 * Unknown keys are skipped, whatever their type.
 *
 * The file (50-80 MB) is parsed as a stream with yajl: memory is the index
 * itself (36 bytes per (issue, source, release, origin) plus interned strings), never a
 * DOM. Parsing is strict: a truncated file, trailing garbage, invalid UTF-8, a
 * structure of the wrong type, an unknown status, a resolved entry without a
 * fixed version, an invalid version, an over-long name, a duplicate entry or
 * a file without any entry is refused (-EBADMSG, the byte offset in err).
 *
 * The same index also holds OSV records (vulndb_osv.h): every record says
 * which source it came from (enum vulndb_origin); records are keyed by
 * (release, source, issue, origin).
 *
 * On disk ("index file"): a header (magic, counts, per source the import
 * time, the source file's mtime and size, BLAKE2b-256 of everything) then the
 * records sorted by (release, source, issue, origin) then the strings. Written to a temporary file,
 * fsync'd and renamed over the old one, so a failed import leaves the
 * previous index in place. Loading checks the hash, every offset, every enum
 * and the order before anything is looked up.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "image/err.h"

#define VULNDB_NAME_MAX 128        /* source names, issue ids, release names */
#define VULNDB_MAX_RECORDS 20000000u
#define VULNDB_INPUT_MAX (1ull << 30) /* bytes of tracker JSON */

enum vulndb_status { VULNDB_RESOLVED = 0, VULNDB_OPEN = 1, VULNDB_UNDETERMINED = 2 };

enum vulndb_urgency {
  VULNDB_URG_UNKNOWN = 0, /* absent or another value */
  VULNDB_URG_NOT_YET_ASSIGNED,
  VULNDB_URG_UNIMPORTANT,
  VULNDB_URG_LOW,
  VULNDB_URG_MEDIUM,
  VULNDB_URG_HIGH,
  VULNDB_URG_END_OF_LIFE,
  VULNDB_URG_COUNT
};

/* Where a record came from. */
enum vulndb_origin { VULNDB_FROM_TRACKER = 0, VULNDB_FROM_OSV = 1, VULNDB_ORIGIN_COUNT };

enum vulndb_nodsa { VULNDB_NODSA_NONE = 0, VULNDB_NODSA_YES, VULNDB_NODSA_POSTPONED,
                    VULNDB_NODSA_IGNORED, VULNDB_NODSA_COUNT };

/* One (issue, source package, release) verdict; strings owned by the index. */
struct vulndb_entry {
  const char *release;
  const char *source;
  const char *issue;
  const char *fixed_version; /* NULL when none is given (open, undetermined) */
  enum vulndb_status status;
  enum vulndb_urgency urgency;
  enum vulndb_nodsa nodsa;
  uint32_t debianbug; /* 0 if none */
  enum vulndb_origin origin;
  const char *introduced; /* OSV: the first affected version, NULL when "0" or absent */
  const char *aliases;    /* OSV: space-separated aliases and upstream ids, or NULL */
  const char *affected;   /* OSV: which versions it affects, exactly (vulndb_affected.h); the
                           * fields above are then its summary (the lowest introduced, the
                           * highest fixed); NULL for the tracker's records */
};

/* What the index records about its import. */
struct vulndb_meta {
  int64_t import_time; /* seconds since the epoch, when imported (0: no tracker data) */
  int64_t file_mtime;  /* the tracker file's own mtime (it carries no date) */
  uint64_t file_size;
  /* the same for the OSV data (0: none); file_mtime is the newest "modified"
   * of its records or, without any, the newest file's mtime */
  int64_t osv_import_time, osv_file_mtime;
  uint64_t osv_file_size;
};

/* The time of the oldest source present (what "the data's age" means), 0 if none. */
int64_t vulndb_meta_data_time(const struct vulndb_meta *m);

struct vulndb_tracker;

/*
 * Parse tracker JSON read from fd to its end (at most VULNDB_INPUT_MAX bytes)
 * into a new index. Returns 0 with *ret_t the caller's (vulndb_tracker_free),
 * -EBADMSG for malformed or truncated data, -E2BIG past a cap, -ENOMEM, or a
 * read error; err says what and at which byte. The meta of the new index is
 * zero; the caller sets it with vulndb_tracker_set_meta().
 */
int vulndb_tracker_parse_fd(int fd, struct vulndb_tracker **ret_t, struct img_err *err);

/* The same for a buffer. */
int vulndb_tracker_parse_buf(const char *buf, size_t len, struct vulndb_tracker **ret_t,
                             struct img_err *err);

void vulndb_tracker_set_meta(struct vulndb_tracker *t, const struct vulndb_meta *meta);
void vulndb_tracker_get_meta(const struct vulndb_tracker *t, struct vulndb_meta *ret);

/*
 * Write t as name in dirfd: a temporary file in dirfd, fsync, rename over
 * name, fsync of dirfd. Returns 0 or -errno; on failure name is untouched
 * and the temporary file removed.
 */
int vulndb_tracker_write_at(const struct vulndb_tracker *t, int dirfd, const char *name,
                            struct img_err *err);

/*
 * Load and fully check the index file name in dirfd. Returns 0 with
 * *ret_t the caller's; -ENOENT when there is none; -EBADMSG when it is
 * corrupt (hash, offsets, enums, order); -ENOMEM or a read error.
 */
int vulndb_tracker_load_at(int dirfd, const char *name, struct vulndb_tracker **ret_t,
                           struct img_err *err);

/* Number of records. */
size_t vulndb_tracker_count(const struct vulndb_tracker *t);

/* Record i (< count), in (release, source, issue) order. */
void vulndb_tracker_get(const struct vulndb_tracker *t, size_t i, struct vulndb_entry *ret);

/*
 * The records of source in release: [*ret_first, *ret_first + count). Returns
 * the count (0 if none).
 */
size_t vulndb_tracker_find(const struct vulndb_tracker *t, const char *release,
                           const char *source, size_t *ret_first);

/* Whether release appears in the index at all. */
int vulndb_tracker_has_release(const struct vulndb_tracker *t, const char *release);

void vulndb_tracker_free(struct vulndb_tracker *t);

/* Whether t holds any record from origin. */
int vulndb_tracker_has_origin(const struct vulndb_tracker *t, enum vulndb_origin origin);

/*
 * One index of the records of parts[i] whose origin bit (1u << origin) is in
 * masks[i], for each i < n (an import replaces one source and keeps the
 * other). Returns 0 with *ret_t (meta zero), -EBADMSG for a duplicate
 * (release, source, issue, origin) or nothing at all, -ENOMEM.
 */
int vulndb_merge(struct vulndb_tracker *const *parts, const unsigned *masks, size_t n,
                 struct vulndb_tracker **ret_t, struct img_err *err);

const char *vulndb_origin_name(enum vulndb_origin o);

const char *vulndb_status_name(enum vulndb_status s);
const char *vulndb_urgency_name(enum vulndb_urgency u);
