/*
 * The cluster identity inside secretd (issue 9, DESIGN.md section 4):
 * creating the cluster, node certificate issuance (join, renewal, a
 * returning node), peer authorization, and the per-address limiter of
 * failed joins. Transport-neutral: callers hand in bytes, a peer address and
 * a verified certificate; nothing here knows sockets or frames.
 *
 * Every decision is taken against the store (store/identity.h), never
 * against what a certificate says alone. Private keys (CA, manager) live in
 * struct secbuf and in OpenSSL's secure heap once loaded (secretd calls
 * CRYPTO_secure_malloc_init at start).
 *
 * Errors: negative errno, SD_E_*, STORE_ID_E_*, CA_E_* or JT_E_*; use
 * identity_strerror() for any of them. Thread-safe: the CA is behind a mutex.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/types.h>

#include "crypto/ca.h"
#include "store/identity.h"
#include "store/store.h"

/* A node is `down` when not seen for this long: the default heartbeat
 * settings (3 missed heartbeats of 10 s); secretd passes the listener's own
 * (listen_down_after_ms) to identity_node_status. */
#define IDENTITY_DOWN_AFTER_S 30
/* Failed joins an address may make before it is slowed down, and the cap of
 * the delay that doubles with each further failure. */
#define IDENTITY_FREE_FAILURES 3
#define IDENTITY_MAX_DELAY_MS 60000u
#define IDENTITY_LIMITER_SLOTS 256
/* A limiter entry whose wait is over and whose last failure is this old is
 * purged (its address starts afresh); expired entries are swept at most once
 * per IDENTITY_LIMITER_SWEEP_MS, and a lookup drops its own at once. */
#define IDENTITY_LIMITER_FORGET_MS (10u * 60u * 1000u)
#define IDENTITY_LIMITER_SWEEP_MS (60u * 1000u)
/* The manager's own certificate lifetime (renewed by secretd serve when a
 * third of it is left: identity_manager_renew). */
#define IDENTITY_MANAGER_LIFETIME_S CA_LIFETIME_MAX

struct identity;

/* A static message for any error these functions return. */
const char *identity_strerror(int r);

/*
 * Create the cluster identity in an open store that has none: a cluster id,
 * a root CA of key type `type`, the manager's key and certificate (role
 * manager), all in one audited op ("cluster.init"). Returns 0, -EEXIST (the
 * store has a cluster), -EINVAL, CA_E_OPENSSL, -ENOMEM, store errors.
 */
int identity_cluster_create(struct store *s, const struct store_actor *a, enum ca_key_type type);

/* Load the identity of an open store (which must outlive it). Returns 0,
 * STORE_ID_E_NOCLUSTER, CA_E_* (stored CA does not load), store errors. */
int identity_open(struct store *s, struct identity **ret);
void identity_free(struct identity *id); /* NULL ok */

const struct store_cluster *identity_cluster(const struct identity *id);
/* The manager's private key as DER (borrowed secbuf). */
const struct secbuf *identity_manager_key(const struct identity *id);
/* Re-read the cluster record (after cluster.update). */
int identity_reload(struct identity *id);

/* ---- the manager's own certificate ---- */

/*
 * Whether the manager certificate is due for renewal at now_s: when less
 * than a third of its lifetime is left (lifetime: from notBefore plus the
 * skew allowance to notAfter), or when it has expired. Returns 1 (due), 0
 * (not yet), or -EBADMSG (the stored certificate does not parse). When
 * ret_not_after is not NULL it gets the certificate's notAfter.
 */
int identity_manager_renew_due(struct identity *id, int64_t now_s, int64_t *ret_not_after);
/*
 * Renew the manager certificate inside batch b: a new key of the cluster's
 * key type, a certificate from the cluster CA for the same manager id and
 * role with IDENTITY_MANAGER_LIFETIME_S, both stored in one audited op
 * ("cluster.manager_renew", store_cluster_set_manager). The identity in
 * memory is unchanged: after the batch commits, call identity_reload_manager().
 * Callable from the commit thread (the CA is behind the mutex). Returns 0,
 * CA_E_*, -ENOMEM, store errors; *ret_not_after (may be NULL) the new expiry.
 */
int identity_manager_renew(struct identity *id, struct store_batch *b,
                           const struct store_actor *a, int64_t *ret_not_after);
/* Re-read the manager's certificate and key from the store (after a
 * renewal committed): identity_cluster()->manager_cert and
 * identity_manager_key() change, nothing else of the cluster record. Loop
 * thread (their readers). Returns 0 or store errors (nothing changed). */
int identity_reload_manager(struct identity *id);

/* ---- the limiter of failed joins (per address) ---- */

/* 0 when addr may try now; -EAGAIN while it is slowed down, with
 * *ret_retry_ms (may be NULL) the wait. now_ms: a monotonic clock. */
int identity_limiter_admit(struct identity *id, const char *addr, uint64_t now_ms,
                           uint64_t *ret_retry_ms);
/* Record the outcome of an admitted attempt (failed: delay doubles). */
void identity_limiter_record(struct identity *id, const char *addr, uint64_t now_ms, bool failed);
/* The entries the limiter holds (at most IDENTITY_LIMITER_SLOTS: a fixed
 * table, entries purged once expired, see IDENTITY_LIMITER_FORGET_MS). */
size_t identity_limiter_entries(struct identity *id);

/* ---- issuance ---- */

struct identity_join_req {
  const uint8_t *token; /* the token text as sent (a secret: never logged) */
  size_t token_len;
  const uint8_t *csr; /* DER */
  size_t csr_len;
  const char *address;  /* peer address, "" if unknown */
  const char *hostname; /* reported by the node, may be NULL */
  /* a returning node: its previous certificate and the proof signature by
   * that certificate's key over csr (both or neither) */
  const uint8_t *old_cert;
  size_t old_cert_len;
  const uint8_t *pop;
  size_t pop_len;
};

struct identity_issued {
  char node_id[CA_ID_LEN + 1];
  enum ca_role role;
  bool kept_id;      /* a returning node kept its id */
  uint8_t serial[CA_SERIAL_LEN]; /* identity_renew: the new certificate's */
  uint8_t *cert;     /* DER, malloc()ed: caller frees */
  size_t cert_len;
  time_t not_after;
};
void identity_issued_clear(struct identity_issued *x);

/*
 * A join, inside batch b (one op, audited "node.join" whatever the outcome;
 * refusals before the store op are audited with a note). Order: token parse
 * (JT_E_*: malformed, truncated, case-changed, padded), CA digest of the
 * token against ours (JT_E_CA_MISMATCH), token secret, expiry and uses
 * (STORE_ID_E_*), CSR (size -EMSGSIZE, CA_E_CSR_*, CA_E_KEY_TYPE), and for a
 * returning node its proof (kept id only when valid, not denied and role
 * unchanged; else a new id). now_s is the wall clock. On success *ret is
 * filled (caller clears). Does not consult the limiter: the caller does.
 */
int identity_join(struct identity *id, struct store_batch *b, const struct store_actor *a,
                  const struct identity_join_req *req, int64_t now_s,
                  struct identity_issued *ret);

/* A renewal over an authenticated connection: a new certificate for the
 * peer's node with the role the store has; the new serial becomes the only
 * accepted one. Audited "node.renew". */
int identity_renew(struct identity *id, struct store_batch *b, const struct store_actor *a,
                   const char *node_id, const uint8_t *csr, size_t csr_len, int64_t now_s,
                   struct identity_issued *ret);

/* ---- authorization ---- */

struct identity_peer {
  char node_id[CA_ID_LEN + 1];
  enum ca_role role;  /* from the store */
  unsigned wire_role; /* WIRE_ROLE_WORKER / WIRE_ROLE_MANAGER; WIRE_ROLE_ANON without leaf */
  uint8_t serial[CA_SERIAL_LEN]; /* of the verified certificate */
  int64_t not_after_s;
};

/*
 * Authorize a verified TLS peer at now_s: leaf NULL (no client certificate)
 * is anonymous (may only join). Otherwise the certificate must verify to our
 * root with the node fields of this cluster (CA_E_VERIFY, CA_E_FIELDS), be
 * within its validity (STORE_ID_E_CERT_EXPIRED), name a node the store knows
 * (STORE_ID_E_UNKNOWN), not denied (STORE_ID_E_DENIED), whose latest serial
 * it carries (STORE_ID_E_STALE). The role comes from the store. Call at
 * handshake completion and on a resumed session; per request,
 * identity_recheck() repeats the store checks without the chain.
 */
int identity_authorize(struct identity *id, X509 *leaf, int64_t now_s, struct identity_peer *ret);

/*
 * The per-request check of a peer that identity_authorize() accepted on this
 * connection: the store checks again (known node, not denied, still the
 * latest serial, role from the store, which *p gets) and the validity at
 * now_s, without verifying the chain again (the TLS session did). An
 * anonymous peer passes. Same errors as identity_authorize.
 */
int identity_recheck(struct identity *id, struct identity_peer *p, int64_t now_s);

/* "ready" or "down" for a node at now_ns: down when not seen for
 * down_after_ms (0: IDENTITY_DOWN_AFTER_S). */
const char *identity_node_status(const struct store_node *n, uint64_t now_ns,
                                 uint64_t down_after_ms);
/* How long a removed node stays denied: its last certificate's expiry plus
 * the skew allowance (at least now + skew). */
int64_t identity_deny_until(const struct store_node *n, int64_t now_s);
