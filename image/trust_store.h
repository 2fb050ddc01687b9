/*
 * Content trust in the image store:
 *   STORE/images/<hex>/signatures/<id>.dsse  one DSSE envelope per signer and
 *        statement, id = sha256("keyid\nname\nchannel\nversion"): a signer
 *        re-signing the same version (a new expiry) replaces its envelope;
 *        other signers' envelopes sit side by side. Removed with the image.
 *   STORE/images/<hex>/trust.verdict  the outcome of verifying every envelope
 *        against the policy with digest "policy" (JSON; see trust_verdict_*).
 *        Recomputed when the policy's digest differs or a signature was
 *        added (trust_store_add removes it): a launch never re-verifies or
 *        re-hashes otherwise.
 *   STORE/trust/marks/<sha256("kind\0name\0channel")>  "N\n": for kind "run",
 *        the highest version launched on this host (rollback mark); for kind
 *        "latest", the highest version whose signatures met the policy's
 *        threshold when verified on this host (superseded mark). Marks only go
 *        up, under STORE/trust/marks.lock.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/err.h"
#include "image/store.h"
#include "image/trust_dsse.h"
#include "image/trust_statement.h"

struct trust_policy;

/* Store the envelope text (already signed) for statement st of image hex.
 * Returns 0 or -errno with err filled. */
int trust_store_add(struct img_store *s, const char *hex, const struct trust_statement *st,
                    const char *envelope, struct img_err *err);

/* Call fn for every envelope of image hex, in file name order. st is NULL when
 * the file or its statement does not decode (why says what is wrong); env is
 * NULL when the envelope does not decode. A non-zero return from fn stops the
 * walk and is returned. Returns 0 (also for an image without signatures),
 * fn's value, or -errno. */
typedef int (*trust_sig_fn)(void *ctx, const struct trust_dsse *env,
                            const struct trust_statement *st, const char *why);
int trust_store_each(struct img_store *s, const char *hex, trust_sig_fn fn, void *ctx);

/* Marks. kind is "run" or "latest". get: *ret is 0 when there is no mark. */
int trust_mark_get(struct img_store *s, const char *kind, const char *name, const char *channel,
                   uint64_t *ret);
/* Raise the mark to v if it is lower. Returns 0 or -errno. */
int trust_mark_raise(struct img_store *s, const char *kind, const char *name, const char *channel,
                     uint64_t v);

enum trust_sig_status {
  TRUST_SIG_OK,          /* verified with a key the policy knows and has not revoked */
  TRUST_SIG_UNKNOWN_KEY, /* the policy does not know the signer's key */
  TRUST_SIG_REVOKED,     /* the signer's key was untrusted */
  TRUST_SIG_BAD,         /* the signature does not verify */
  TRUST_SIG_OTHER_DIGEST /* the statement is about another image */
};
const char *trust_sig_status_name(enum trust_sig_status st);

#define TRUST_MAX_SIGNERS 16
#define TRUST_MAX_CLAIMS 64

struct trust_signer {
  char keyid[TRUST_KEYID_LEN + 1];
  int64_t issued, expires;
  enum trust_sig_status status;
  bool counts; /* status OK and the rule for name+channel lists the key */
};

/* Every signature of one (name, version, channel). */
struct trust_claim {
  char name[IMG_MAX_NAME + 1];
  uint64_t version;
  char channel[TRUST_MAX_CHANNEL + 1];
  int threshold; /* of the deciding rule; 0: no rule for name+channel */
  struct trust_signer signers[TRUST_MAX_SIGNERS];
  size_t n_signers;
};

/* About 100 KB: allocate it on the heap. Signatures beyond the limits (per
 * image TRUST_MAX_CLAIMS (name, version, channel), per claim TRUST_MAX_SIGNERS
 * signers) are checked and logged but not kept. */
struct trust_verdict {
  char policy[IMG_HEX_LEN + 1]; /* digest of the policy it was computed with */
  struct trust_claim claims[TRUST_MAX_CLAIMS];
  size_t n_claims;
  size_t n_malformed; /* envelopes that did not decode */
  size_t n_other_digest;
};

/* Verify every envelope of image hex against policy p (Ed25519 over the
 * PAE), log each check, raise the "latest" marks of claims that meet their
 * threshold, and store the verdict. *ret (may be NULL) gets it. Returns 0 or
 * -errno (err filled). */
int trust_verdict_compute(struct img_store *s, const struct trust_policy *p, const char *hex,
                          struct trust_verdict *ret, struct img_err *err);

/* The stored verdict of image hex if it was computed with policy p, else
 * compute it (trust_verdict_compute). Returns 0 or -errno. */
int trust_verdict_get(struct img_store *s, const struct trust_policy *p, const char *hex,
                      struct trust_verdict *ret, struct img_err *err);

/* Recompute the verdict of every image in the store (after a policy edit).
 * Returns the number of images, or -errno. */
int trust_verdict_all(struct img_store *s, const struct trust_policy *p, struct img_err *err);
