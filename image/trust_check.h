/*
 * The launch decision of content trust. With enforcement off (policy and
 * $SECRET_CONTENT_TRUST) every launch is allowed at the cost of loading the
 * policy. With it on, the image must carry, for the name it is launched by
 * (any name when launched by digest) and the host's required channel, a
 * version whose signatures by keys the deciding rule lists (not revoked)
 * meet its threshold and have not expired (or expired within the policy's
 * grace period: allowed, warned and logged); its version must not be below
 * the host's rollback mark, nor (without allow_stale) below the highest
 * version verified on this host for that name and channel. The check reads
 * the stored verdict (trust_store.h), recomputed only when the policy's
 * digest changed: no signature verification and no hashing of the image.
 * Every allow and refusal is logged (trust_log.h); an allowed launch raises
 * the rollback mark.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "image/store.h"
#include "image/trust_policy.h"

enum trust_reason {
  TRUST_ALLOWED,         /* trusted and fresh */
  TRUST_OFF,             /* enforcement off: not checked */
  TRUST_GRACE,           /* expired, within the grace period: allowed */
  TRUST_STALE_ALLOWED,   /* superseded, allowed by allow_stale */
  TRUST_REFUSED_FIRST,   /* reasons from here on refuse the launch */
  TRUST_NO_CHANNEL = TRUST_REFUSED_FIRST, /* the policy names no required channel */
  TRUST_ROOTFS,          /* a directory, not a stored image */
  TRUST_UNSIGNED,
  TRUST_BAD_SIGNATURE,   /* signatures exist but none verifies for this image */
  TRUST_WRONG_CHANNEL,
  TRUST_UNTRUSTED_KEY,
  TRUST_THRESHOLD,
  TRUST_EXPIRED,
  TRUST_ROLLBACK,
  TRUST_SUPERSEDED,
};

/* Short name of a reason ("expired", "rollback", ...), as logged. */
const char *trust_reason_name(enum trust_reason r);

struct trust_decision {
  enum trust_reason reason;
  bool allowed;
  char message[640]; /* why, for the one line on stderr */
  char warning[384]; /* "" or an expiry warning to print */
  char name[IMG_MAX_NAME + 1];
  uint64_t version;
  char channel[TRUST_MAX_CHANNEL + 1];
  int64_t expires; /* when the deciding signatures stop meeting the threshold */
};

/* Decide whether image hex, launched by name (NULL: by digest), may run at
 * time now. env is $SECRET_CONTENT_TRUST (may be NULL). Returns 0 with *ret
 * filled (allowed or refused), or -errno when the store cannot be read
 * (err filled; the caller refuses). */
int trust_check_image(struct img_store *s, const struct trust_policy *p, const char *env,
                      const char *hex, const char *name, int64_t now, bool allow_stale,
                      struct trust_decision *ret, struct img_err *err);

/* A --rootfs launch: refused when enforcement is on (logged to the store at
 * store_path if it exists). Returns 0 with *ret filled. */
int trust_check_rootfs(const struct trust_policy *p, const char *env, const char *store_path,
                       const char *rootfs, struct trust_decision *ret);
