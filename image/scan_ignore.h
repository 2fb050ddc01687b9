/*
 * The scan's ignore file: findings to hide, each with a reason and an expiry
 * date. One entry per line; '#' starts a comment line; blank lines are fine:
 *
 *   ISSUE[/PACKAGE]  YYYY-MM-DD  REASON...
 *
 * ISSUE is the tracker's id (CVE-2024-1234, TEMP-...); /PACKAGE limits the
 * entry to one binary package. The entry hides its findings through the end
 * of its date (UTC); from the next day on it is expired and hides nothing
 * (the tool says so). The reason is mandatory. Malformed lines are refused
 * with their number: an ignore file never hides more than it says.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "image/err.h"
#include "image/scan_match.h"

#define SCAN_IGNORE_MAX_BYTES (1u << 20)
#define SCAN_IGNORE_MAX_ENTRIES 10000u
#define SCAN_IGNORE_REASON_MAX 200

struct scan_ignore_entry {
  char issue[VULNDB_NAME_MAX + 1];
  char package[DPKG_NAME_MAX + 1]; /* "" for every package */
  char date[11];                   /* YYYY-MM-DD */
  int64_t expires;                 /* first second (UTC) at which it no longer hides */
  char reason[SCAN_IGNORE_REASON_MAX + 1];
  size_t line;
  size_t hidden; /* findings it hid in the last scan_ignore_apply() */
  int expired;   /* set by scan_ignore_apply() */
};

struct scan_ignore {
  struct scan_ignore_entry *entries;
  size_t n;
};

/*
 * Parse len bytes into *ret (free with scan_ignore_clear). Returns 0, or
 * -EINVAL naming the line (no reason, bad date, bad id, extra bytes...),
 * -E2BIG past the caps, -ENOMEM. *ret is untouched on failure.
 */
int scan_ignore_parse(const char *buf, size_t len, struct scan_ignore *ret, struct img_err *err);

/* Read and parse path (a regular file of at most SCAN_IGNORE_MAX_BYTES). */
int scan_ignore_load(const char *path, struct scan_ignore *ret, struct img_err *err);

/*
 * Remove from r the findings hidden by an unexpired entry at time now;
 * recount; mark each entry's hidden count and expired flag. Returns the
 * number of findings hidden.
 */
size_t scan_ignore_apply(struct scan_ignore *ig, struct scan_result *r, int64_t now);

void scan_ignore_clear(struct scan_ignore *ig);
