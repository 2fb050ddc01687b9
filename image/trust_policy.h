/*
 * The host's trust policy: a JSON file owned by root (or by the caller) and
 * writable by nobody else, as ssh demands of its files; every directory
 * above it must be owned by root or the caller and not group/world-writable
 * (a root-owned sticky directory such as /tmp is allowed).
 *
 *   {"enforce": true,                 launches must be of trusted images
 *    "require": "prod",               the channel this host runs
 *    "warn": 1209600,                 warn this many seconds before expiry (14d)
 *    "grace": 0,                      allow this many seconds after expiry, logged
 *    "keys": {KEYID: B64(pk), ...},   public keys the rules name
 *    "rules": [{"pattern": "app*", "channel": "prod", "threshold": 2,
 *               "keys": [KEYID, ...]}, ...],
 *    "revoked": [KEYID, ...],         never counted, whatever the rules say
 *    ...}                             other top-level keys (e.g. "scan") are kept as they are
 *
 * Pattern: fnmatch(3) over the image name, without FNM_PATHNAME. When several
 * rules match a name and channel, the one with the longest pattern decides.
 * Location: --policy FILE, else $SECRET_TRUST_POLICY, else /etc/secretd/trust.json.
 * A missing file is an empty policy (enforcement off). The parsed document is
 * exposed (trust_policy_json) so that other gates (the scan policy) read
 * their own section from the same file.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "image/err.h"
#include "image/trust_util.h"

#define TRUST_DEFAULT_POLICY "/etc/secretd/trust.json"
#define TRUST_POLICY_ENV "SECRET_TRUST_POLICY"
#define TRUST_ENFORCE_ENV "SECRET_CONTENT_TRUST"
#define TRUST_POLICY_MAX 1048576
#define TRUST_DEFAULT_WARN (14 * 86400)
#define TRUST_MAX_THRESHOLD 16

struct trust_policy;

/* The policy path: opt if not NULL, else $SECRET_TRUST_POLICY, else the default. */
const char *trust_policy_path(const char *opt);

/* Load the policy at path (absent: an empty policy, *ret exists() false).
 * Refuses (-EPERM) a file or ancestor directory owned by someone else than
 * root or the caller, or writable by group/others; -EINVAL for a document
 * that is not a valid policy (err says which field); -errno otherwise. */
int trust_policy_load(const char *path, struct trust_policy **ret, struct img_err *err);
void trust_policy_free(struct trust_policy *p);
static inline void trust_policy_freep(struct trust_policy **p) {
  if (*p)
    trust_policy_free(*p);
}

/* Parse a policy from text (no file checks): for tests and the fuzzer.
 * Returns 0 or -EINVAL with err saying why. */
int trust_policy_parse(const char *text, size_t len, struct trust_policy **ret, struct img_err *err);

/* Write the policy to its path atomically (temporary file, fsync, rename),
 * keeping the file's mode without group/other write (0644 for a new file), creating the parent directory (0755) if missing; the digest is
 * updated. Returns 0 or -errno with err filled. */
int trust_policy_save(struct trust_policy *p, struct img_err *err);

/* Accessors. The json object is owned by the policy (do not modify it unless
 * saving afterwards; unknown keys are written back as they are). */
json_object *trust_policy_json(const struct trust_policy *p);
const char *trust_policy_file(const struct trust_policy *p);
bool trust_policy_exists(const struct trust_policy *p);
/* sha256 hex of the file's bytes ("" hashed when there is no file). */
const char *trust_policy_digest(const struct trust_policy *p);
/* The policy's "enforce", or true when env (the value of $SECRET_CONTENT_TRUST,
 * may be NULL) is "1": the environment can only turn enforcement on. */
bool trust_policy_enforced(const struct trust_policy *p, const char *env);
const char *trust_policy_required(const struct trust_policy *p); /* NULL: none */
int64_t trust_policy_warn(const struct trust_policy *p);
int64_t trust_policy_grace(const struct trust_policy *p);

/* The rule for name and channel: *ret_threshold and whether keyid counts
 * (listed in the rule, known in "keys", not revoked). Returns true if a rule
 * matches (false: nothing counts, *ret_threshold untouched). */
bool trust_policy_rule(const struct trust_policy *p, const char *name, const char *channel,
                       int *ret_threshold);
bool trust_policy_counts(const struct trust_policy *p, const char *name, const char *channel,
                         const char *keyid);
/* The public key of keyid if the policy knows it and has not revoked it. */
bool trust_policy_key(const struct trust_policy *p, const char *keyid, uint8_t pk[32]);
bool trust_policy_revoked(const struct trust_policy *p, const char *keyid);

/* Edits (in memory; trust_policy_save writes them). Each returns 0 or
 * -EINVAL with err saying why. */
/* Trust pk (id keyid) for images matching pattern on channel; threshold 0
 * keeps the rule's threshold (1 for a new rule). A revoked key is refused. */
int trust_policy_trust(struct trust_policy *p, const char *pattern, const char *channel,
                       const uint8_t pk[32], const char *keyid, int threshold, struct img_err *err);
/* Remove keyid from every rule and "keys" and add it to "revoked". -ENOENT if
 * the policy never knew it (it is revoked all the same). */
int trust_policy_untrust(struct trust_policy *p, const char *keyid, struct img_err *err);
int trust_policy_require(struct trust_policy *p, const char *channel, struct img_err *err);
int trust_policy_set_enforce(struct trust_policy *p, bool on, struct img_err *err);
/* field "warn" or "grace" */
int trust_policy_set_seconds(struct trust_policy *p, const char *field, int64_t secs, struct img_err *err);
