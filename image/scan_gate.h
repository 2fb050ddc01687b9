/*
 * Stored scan results and the launch policy's "scan" section (issue 14).
 *
 * A scan of a stored image keeps its full result (before any display filter
 * or ignore file) as STORE/scans/<hex>.json: the report's JSON plus
 * "digest" ("sha256:<hex>"), "scanned_at" (seconds since the epoch) and the
 * data's time and age at the scan. It is replaced atomically by each scan.
 *
 * The trust policy file (JSON; /etc/secretd/trust.json, --policy FILE or
 * $SECRET_TRUST_POLICY) may hold a top-level "scan" object, which this module
 * alone reads and checks:
 *   {"scan": {"refuse_fixable_at": "high", "max_scan_age": "7d"}}
 * refuse_fixable_at: high | medium | low | unimportant (or absent / null):
 * launching is refused while the image's last stored scan has a fixable
 * finding of that severity or above; max_scan_age: a duration ("90s", "30m",
 * "12h", "7d", or a number of seconds; absent / null: no limit): launching is
 * refused when the last stored scan is older. With either set, an image that
 * was never scanned is refused too. Other keys of "scan" are refused (a typo
 * must not silently allow). The rest of the file belongs to other modules.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "image/err.h"
#include "image/json_stream.h"
#include "image/store.h"

#define SCAN_POLICY_DEFAULT "/etc/secretd/trust.json"
#define SCAN_POLICY_ENV "SECRET_TRUST_POLICY"
#define SCAN_POLICY_MAX (1u << 20) /* bytes of a policy file */
#define SCAN_STORED_MAX (64u << 20) /* bytes of a stored scan */

struct scan_gate {
  int refuse_rank;     /* severity rank (scan_severity_rank): 0 = no severity rule */
  int64_t max_age;     /* seconds; 0 = no age rule */
};

/* Parse a duration: digits with an optional unit s, m, h, d (none: seconds).
 * Returns 0 or -EINVAL. */
int scan_gate_parse_duration(const char *s, int64_t *ret);

/* Parse the "scan" object (NULL: no rules). Returns 0 or -EINVAL (err says
 * which key and why). */
int scan_gate_parse(json_object *scan, struct scan_gate *ret, struct img_err *err);

/* Whether g has any rule. */
bool scan_gate_active(const struct scan_gate *g);

/*
 * The policy file path to use: opt if not NULL, else $SECRET_TRUST_POLICY,
 * else SCAN_POLICY_DEFAULT; *ret_explicit tells whether it was named (then
 * its absence is an error rather than "no policy").
 */
const char *scan_policy_path(const char *opt, bool *ret_explicit);

/*
 * Read the policy file at path (at most SCAN_POLICY_MAX bytes, a JSON
 * object, owned by root or the caller, not writable by group or others) into
 * *ret_root (the caller's, json_object_put). Returns 0, -ENOENT, -EPERM
 * (ownership or mode), -EINVAL (not JSON or not an object: err says), -errno.
 */
int scan_policy_read(const char *path, json_object **ret_root, struct img_err *err);

/* Store the scan report of image hex: write_members(w, ctx) writes the
 * report's members into an open JSON object (json_stream.h); this adds
 * digest and scanned_at. Returns 0 or -errno (-ENOMEM, a write error). */
int scan_store_save(struct img_store *s, const char *hex,
                    void (*write_members)(struct jstream *w, const void *ctx), const void *ctx,
                    int64_t now, struct img_err *err);

/* Remove the stored scans of images no longer in the store (call with the
 * store's lock held, shared or exclusive). Returns how many went, or -errno. */
int scan_store_prune(struct img_store *s);

/* Load image hex's stored scan (checked: an object with the fields above).
 * Returns 0, -ENOENT (never scanned), -EBADMSG, -errno. */
int scan_store_load(struct img_store *s, const char *hex, json_object **ret, struct img_err *err);

/*
 * Check image hex against g and its stored scan at time now. Returns 0
 * (allowed), -EACCES (refused: err names the rule and the findings, up to a
 * few, with their fixed versions), or another error (err says).
 */
int scan_gate_check(const struct scan_gate *g, struct img_store *s, const char *hex, int64_t now,
                    struct img_err *err);

/*
 * The launch-time check from an already parsed policy document (its "scan"
 * member, if any): parse the section and check image hex at time now.
 * Returns as scan_gate_check(), or -EINVAL for a malformed section.
 */
int scan_gate_check_root(json_object *policy_root, struct img_store *s, const char *hex,
                         int64_t now, struct img_err *err);

/*
 * The whole launch-time check: the policy file (scan_policy_path(opt)) read,
 * its "scan" section parsed and checked for image hex. No file at the default
 * path, or no "scan" section: allowed. Returns as scan_gate_check().
 */
int scan_gate_check_policy(const char *opt, struct img_store *s, const char *hex,
                           struct img_err *err);

/* Write data to name in dirfd atomically: a temporary file, fsync, rename,
 * fsync of the directory. Returns 0 or -errno. */
int scan_write_file_at(int dirfd, const char *name, const char *data, size_t len, int mode,
                       struct img_err *err);
