/* The launch decision of content trust (see trust_check.h). */
#include "image/trust_check.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "image/trust_log.h"
#include "image/trust_store.h"

const char *trust_reason_name(enum trust_reason r) {
  switch (r) {
  case TRUST_ALLOWED: return "trusted";
  case TRUST_OFF: return "not-enforced";
  case TRUST_GRACE: return "grace";
  case TRUST_STALE_ALLOWED: return "stale-allowed";
  case TRUST_NO_CHANNEL: return "no-required-channel";
  case TRUST_ROOTFS: return "rootfs-directory";
  case TRUST_UNSIGNED: return "unsigned";
  case TRUST_BAD_SIGNATURE: return "bad-signature";
  case TRUST_WRONG_CHANNEL: return "wrong-channel";
  case TRUST_UNTRUSTED_KEY: return "untrusted-key";
  case TRUST_THRESHOLD: return "threshold-not-met";
  case TRUST_EXPIRED: return "expired";
  case TRUST_ROLLBACK: return "rollback";
  case TRUST_SUPERSEDED: return "superseded";
  }
  return "?";
}

static void fmt_time(int64_t t, char out[32]) {
  time_t tt = (time_t)t;
  struct tm tm;
  if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
    snprintf(out, 32, "%" PRId64, t);
}

static int cmp_desc(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* Rank of a per-claim outcome: the best claim decides (higher is better). */
static int rank(enum trust_reason r) {
  switch (r) {
  case TRUST_ALLOWED: return 10;
  case TRUST_GRACE: return 9;
  case TRUST_EXPIRED: return 8;
  case TRUST_THRESHOLD: return 7;
  case TRUST_UNTRUSTED_KEY: return 6;
  case TRUST_BAD_SIGNATURE: return 5;
  default: return 0;
  }
}

/* Judge one claim's signatures: reason and message into d. */
static enum trust_reason judge(const struct trust_claim *c, int64_t now, int64_t grace,
                               struct trust_decision *d) {
  int64_t exp[TRUST_MAX_SIGNERS];
  int counted = 0;
  const struct trust_signer *bad = NULL, *revoked = NULL, *unknown = NULL, *unlisted = NULL;
  for (size_t i = 0; i < c->n_signers; i++) {
    const struct trust_signer *g = &c->signers[i];
    if (g->counts)
      exp[counted++] = g->expires;
    else if (g->status == TRUST_SIG_BAD)
      bad = g;
    else if (g->status == TRUST_SIG_REVOKED)
      revoked = g;
    else if (g->status == TRUST_SIG_UNKNOWN_KEY)
      unknown = g;
    else
      unlisted = g;
  }
  if (c->threshold == 0) {
    snprintf(d->message, sizeof d->message, "untrusted key: no policy rule trusts any key for %s on channel %s",
             c->name, c->channel);
    return TRUST_UNTRUSTED_KEY;
  }
  if (counted == 0) {
    const struct trust_signer *g = revoked ? revoked : unknown ? unknown : unlisted;
    if (!g && bad) {
      snprintf(d->message, sizeof d->message, "bad signature: the signature by key %.16s over %s:%" PRIu64
               " does not verify", bad->keyid, c->name, c->version);
      return TRUST_BAD_SIGNATURE;
    }
    snprintf(d->message, sizeof d->message, "untrusted key: %s:%" PRIu64 " for %s is signed only by key %.16s, %s",
             c->name, c->version, c->channel, g ? g->keyid : "?",
             g == revoked ? "which the policy untrusted" : g == unknown ? "which the policy does not know"
                                                         : "which the rule for this name and channel does not list");
    return TRUST_UNTRUSTED_KEY;
  }
  if (counted < c->threshold) {
    snprintf(d->message, sizeof d->message, "threshold not met: %s:%" PRIu64 " for %s has %d trusted signature%s, "
             "the policy needs %d", c->name, c->version, c->channel, counted, counted == 1 ? "" : "s", c->threshold);
    return TRUST_THRESHOLD;
  }
  /* the claim holds while threshold signatures are unexpired: until the
   * threshold-th latest expiry */
  qsort(exp, (size_t)counted, sizeof exp[0], cmp_desc);
  d->expires = exp[c->threshold - 1];
  char t[32];
  fmt_time(d->expires, t);
  if (now < d->expires)
    return TRUST_ALLOWED;
  if (grace > 0 && now < d->expires + grace) {
    char left[32];
    trust_duration_format(d->expires + grace - now, left, sizeof left);
    snprintf(d->warning, sizeof d->warning, "warning: %s:%" PRIu64 " for %s expired at %s; allowed by the policy's "
             "grace period for %s more (logged)", c->name, c->version, c->channel, t, left);
    return TRUST_GRACE;
  }
  snprintf(d->message, sizeof d->message, "expired: the signatures on %s:%" PRIu64 " for %s expired at %s%s",
           c->name, c->version, c->channel, t, grace > 0 ? " (beyond the grace period)" : "");
  return TRUST_EXPIRED;
}

static void log_decision(struct img_store *s, const char *hex, const struct trust_decision *d,
                         const struct trust_policy *p) {
  json_object *f = json_object_new_object();
  char dg[80];
  if (hex) {
    snprintf(dg, sizeof dg, "sha256:%s", hex);
    json_object_object_add(f, "image", json_object_new_string(dg));
  }
  if (d->name[0]) {
    json_object_object_add(f, "name", json_object_new_string(d->name));
    json_object_object_add(f, "version", json_object_new_int64((int64_t)d->version));
  }
  if (d->channel[0])
    json_object_object_add(f, "channel", json_object_new_string(d->channel));
  json_object_object_add(f, "reason", json_object_new_string(trust_reason_name(d->reason)));
  if (d->message[0])
    json_object_object_add(f, "detail", json_object_new_string(d->message));
  else if (d->warning[0])
    json_object_object_add(f, "detail", json_object_new_string(d->warning));
  json_object_object_add(f, "policy", json_object_new_string(trust_policy_digest(p)));
  const char *ev = d->reason == TRUST_GRACE ? "grace" : d->reason == TRUST_STALE_ALLOWED ? "stale"
                   : d->allowed ? "allow" : "refuse";
  (void)trust_log(s, ev, f);
}

/* Judge every claim for name (any when NULL) and channel; the best decides.
 * With none: unsigned, wrong channel or bad signature, said in d. */
static enum trust_reason best_claim(const struct trust_verdict *v, const char *hex, const char *name,
                                    const char *channel, int64_t now, int64_t grace, struct trust_decision *d) {
  size_t n_named = 0;
  const char *other_channel = NULL, *other_name = NULL;
  enum trust_reason best = TRUST_UNSIGNED;
  struct trust_decision bd = *d;
  for (size_t i = 0; i < v->n_claims; i++) {
    const struct trust_claim *c = &v->claims[i];
    if (name && strcmp(c->name, name)) {
      other_name = c->name;
      continue;
    }
    n_named++;
    if (strcmp(c->channel, channel)) {
      other_channel = c->channel;
      continue;
    }
    struct trust_decision cd = *d;
    snprintf(cd.name, sizeof cd.name, "%s", c->name);
    cd.version = c->version;
    enum trust_reason cr = judge(c, now, grace, &cd);
    if (best == TRUST_UNSIGNED || rank(cr) > rank(best) || (rank(cr) == rank(best) && c->version > bd.version)) {
      best = cr;
      bd = cd;
    }
  }
  if (best == TRUST_UNSIGNED) {
    if (other_channel) {
      best = TRUST_WRONG_CHANNEL;
      snprintf(bd.message, sizeof bd.message, "wrong channel: the image is signed for %s, this host requires %s",
               other_channel, channel);
    } else if (n_named == 0 && other_name) {
      snprintf(bd.message, sizeof bd.message, "unsigned: no signature names %s (the image is signed as %s)",
               name, other_name);
    } else if (v->n_other_digest || v->n_malformed) {
      best = TRUST_BAD_SIGNATURE;
      snprintf(bd.message, sizeof bd.message, "bad signature: %zu signature%s over another image and %zu "
               "malformed, none for sha256:%.12s", v->n_other_digest, v->n_other_digest == 1 ? " is" : "s are",
               v->n_malformed, hex);
    } else {
      snprintf(bd.message, sizeof bd.message, "unsigned: the image sha256:%.12s carries no signature", hex);
    }
  }
  bd.reason = best;
  *d = bd;
  return best;
}

/* An image whose signatures pass: below the rollback mark, refused; below
 * the latest verified version, refused unless allow_stale. */
static int check_marks(struct img_store *s, bool allow_stale, struct trust_decision *d, struct img_err *err) {
  uint64_t run = 0, latest = 0;
  int r;
  if ((r = trust_mark_get(s, "run", d->name, d->channel, &run)) < 0 ||
      (r = trust_mark_get(s, "latest", d->name, d->channel, &latest)) < 0)
    return img_fail(err, r, "reading the rollback marks: %s", strerror(-r));
  if (d->version < run) {
    d->reason = TRUST_ROLLBACK;
    snprintf(d->message, sizeof d->message, "rollback: %s:%" PRIu64 " is older than version %" PRIu64
             " already run on this host for %s", d->name, d->version, run, d->channel);
    d->warning[0] = '\0';
  } else if (d->version < latest && !allow_stale) {
    d->reason = TRUST_SUPERSEDED;
    snprintf(d->message, sizeof d->message, "superseded: version %" PRIu64 " of %s is signed for %s and "
             "imported on this host (--allow-stale runs %" PRIu64 " anyway, logged)",
             latest, d->name, d->channel, d->version);
    d->warning[0] = '\0';
  } else if (d->version < latest) {
    d->reason = TRUST_STALE_ALLOWED;
    snprintf(d->warning, sizeof d->warning, "warning: running %s:%" PRIu64 " although version %" PRIu64
             " is signed for %s (--allow-stale, logged)", d->name, d->version, latest, d->channel);
  }
  return 0;
}

int trust_check_image(struct img_store *s, const struct trust_policy *p, const char *env,
                      const char *hex, const char *name, int64_t now, bool allow_stale,
                      struct trust_decision *ret, struct img_err *err) {
  struct trust_decision d = {0};
  if (!trust_policy_enforced(p, env)) {
    d.reason = TRUST_OFF;
    d.allowed = true;
    *ret = d;
    return 0;
  }
  const char *channel = trust_policy_required(p);
  if (!channel) {
    d.reason = TRUST_NO_CHANNEL;
    snprintf(d.message, sizeof d.message, "content trust is enforced but the policy %s names no required "
             "channel (secret-image policy require CHANNEL)", trust_policy_file(p));
    log_decision(s, hex, &d, p);
    *ret = d;
    return 0;
  }
  snprintf(d.channel, sizeof d.channel, "%s", channel);
  _cleanup_free_ struct trust_verdict *v = malloc(sizeof *v);
  if (!v)
    return -ENOMEM;
  int r = trust_verdict_get(s, p, hex, v, err);
  if (r < 0)
    return r;
  enum trust_reason best = best_claim(v, hex, name, channel, now, trust_policy_grace(p), &d);
  if ((best == TRUST_ALLOWED || best == TRUST_GRACE) && (r = check_marks(s, allow_stale, &d, err)) < 0)
    return r;
  d.allowed = d.reason < TRUST_REFUSED_FIRST;
  if (d.allowed && d.reason == TRUST_ALLOWED && d.expires - now < trust_policy_warn(p)) {
    char left[32], t[32];
    trust_duration_format(d.expires - now, left, sizeof left);
    fmt_time(d.expires, t);
    snprintf(d.warning, sizeof d.warning, "warning: the signatures on %s:%" PRIu64 " for %s expire in %s (%s): "
             "sign it again", d.name, d.version, channel, left, t);
  }
  if (d.allowed)
    (void)trust_mark_raise(s, "run", d.name, channel, d.version);
  log_decision(s, hex, &d, p);
  *ret = d;
  return 0;
}

int trust_check_rootfs(const struct trust_policy *p, const char *env, const char *store_path,
                       const char *rootfs, struct trust_decision *ret) {
  struct trust_decision d = {0};
  if (!trust_policy_enforced(p, env)) {
    d.reason = TRUST_OFF;
    d.allowed = true;
    *ret = d;
    return 0;
  }
  d.reason = TRUST_ROOTFS;
  snprintf(d.message, sizeof d.message, "rootfs directory: content trust is enforced (%s), so only signed "
           "images run (--image NAME), not the directory %.256s", trust_policy_file(p), rootfs ? rootfs : "?");
  struct img_store *s = NULL;
  if (store_path && img_store_open(store_path, false, &s, NULL) == 0) {
    log_decision(s, NULL, &d, p);
    img_store_free(s);
  }
  *ret = d;
  return 0;
}
