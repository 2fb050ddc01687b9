/*
 * The content-trust log: one JSON object per line, appended to
 * STORE/trust.log (mode 0600, in the image store, root's), e.g.
 *   {"time":"2026-12-02T09:00:00Z","event":"refuse","image":"sha256:...",
 *    "name":"app","version":3,"channel":"prod","reason":"expired","detail":"..."}
 * Events: "check" (one signature verified against the policy: result
 * "ok|unknown-key|revoked|bad-signature|other-digest|malformed"), "sign",
 * "allow", "refuse", "grace" (an expired image allowed in the grace period),
 * "stale" (a superseded image allowed by --allow-stale), "policy" (an edit).
 * Each line is one write(2) with O_APPEND, so concurrent writers do not
 * interleave. Keys and passphrases never appear; key ids do.
 */
#pragma once

#include <json-c/json.h>

struct img_store;

#define TRUST_LOG_FILE "trust.log"

/* Append event with the fields of fields (may be NULL; consumed in every
 * case) and "time". Returns 0 or -errno (the caller decides whether a
 * failed log write stops the operation: refusals and checks do not). */
int trust_log(struct img_store *s, const char *event, json_object *fields);
