/*
 * Cluster identity records of the store (issue 9, DESIGN.md section 4):
 * the cluster (root CA and manager certificates, settings), the worker join
 * token (only a keyed hash of its secret), the nodes and the deny list.
 *
 * Layout (docs/architecture-store.md), every record authenticated like the
 * others (payload || tag, recmac.c):
 *   nodes   "cluster"       -> [cluster_id, key_type, ca_cert, manager_id,
 *                               manager_cert, cert_lifetime_s, created_ns]
 *   nodes   "node/<id>"     -> [role, serial(16), not_after_s, created_ns,
 *                               updated_ns, last_seen_ns, hostname, address]
 *   nodes   "deny/<id>"     -> [until_s, created_ns]
 *   tokens  "worker"        -> [hash(32), created_ns, expires_s, uses_max, uses_done]
 *   versions STORE_IDENTITY_KEY_ID || 1 -> the CA private key (DER), and
 *            STORE_IDENTITY_KEY_ID || 2 -> the manager private key (DER),
 *            sealed exactly as secret values (envelope encryption under the
 *            master key, AD bound to id and version), so that a master-key
 *            rotation rewraps them with every other data key.
 * Private keys leave the store only in struct secbuf (locked, wiped).
 *
 * Errors: 0 or a negative errno / SD_E_* / STORE_ID_E_* (below), as store.h.
 * Every write is one store op with its audit record (store_op_finish); a
 * refused op writes a failure record instead.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "crypto/secbuf.h"
#include "store/store.h"

/* Own error band (join tokens use +200, the CA +220). */
#define STORE_ID_ERR_BASE (SD_ERR_BASE + 240)
enum store_id_error {
  STORE_ID_E_NOCLUSTER = -(STORE_ID_ERR_BASE + 1),   /* store has no cluster identity yet */
  STORE_ID_E_NOTOKEN = -(STORE_ID_ERR_BASE + 2),     /* no join token was ever issued */
  STORE_ID_E_TOKEN = -(STORE_ID_ERR_BASE + 3),       /* wrong token secret (or rotated) */
  STORE_ID_E_EXPIRED = -(STORE_ID_ERR_BASE + 4),     /* the join token has expired */
  STORE_ID_E_USED_UP = -(STORE_ID_ERR_BASE + 5),     /* the join token has no uses left */
  STORE_ID_E_DENIED = -(STORE_ID_ERR_BASE + 6),      /* node id on the deny list */
  STORE_ID_E_UNKNOWN = -(STORE_ID_ERR_BASE + 7),     /* no such node */
  STORE_ID_E_STALE = -(STORE_ID_ERR_BASE + 8),       /* not the node's latest certificate */
  STORE_ID_E_CERT_EXPIRED = -(STORE_ID_ERR_BASE + 9),/* certificate expired / not yet valid */
  STORE_ID_E_ROLE = -(STORE_ID_ERR_BASE + 10),       /* role not allowed / changed */
  STORE_ID_E_LAST = -(STORE_ID_ERR_BASE + 11),
};
/* A static string for r: STORE_ID_E_* here, else sd_strerror(). */
const char *store_identity_strerror(int r);
/* A stable audit word for r ("token_expired", ...) or NULL when r is not ours. */
const char *store_identity_audit_code(int r);

#define STORE_NODE_ID_LEN 26 /* crypto/ca.h CA_ID_LEN */
#define STORE_HOSTNAME_MAX 64
#define STORE_ADDRESS_MAX 63
#define STORE_TOKEN_HASH_LEN 32
#define STORE_SERIAL_LEN 16

/* Reserved secret id of the sealed identity keys (in the versions table). */
extern const uint8_t STORE_IDENTITY_KEY_ID[16];
enum { STORE_KEY_CA = 1, STORE_KEY_MANAGER = 2 };

struct store_cluster {
  char cluster_id[STORE_NODE_ID_LEN + 1];
  char manager_id[STORE_NODE_ID_LEN + 1];
  uint32_t key_type;        /* crypto/ca.h enum ca_key_type */
  uint32_t cert_lifetime_s; /* node certificates */
  uint64_t created_ns;
  uint8_t *ca_cert;         /* DER, malloc()ed (public) */
  size_t ca_cert_len;
  uint8_t *manager_cert;    /* DER, malloc()ed (public) */
  size_t manager_cert_len;
};
void store_cluster_free(struct store_cluster *c); /* NULL ok; frees c too */

/* Create the cluster identity: the record plus both sealed keys, audited
 * "cluster.init". Returns 0, -EEXIST (the store has one), -EINVAL,
 * SD_E_MAPFULL, -ENOSPC. */
int store_cluster_create(struct store_batch *b, const struct store_actor *a,
                         const struct store_cluster *c, const struct secbuf *ca_key,
                         const struct secbuf *manager_key);
/* Load it (own read txn). ret_ca_key / ret_manager_key may be NULL; when
 * given they receive the decrypted keys (caller secbuf_free()s). Returns 0,
 * STORE_ID_E_NOCLUSTER, -EBADMSG (tampered), SD_E_DECRYPT, -ENOMEM. */
int store_cluster_load(struct store *s, struct store_cluster **ret, struct secbuf **ret_ca_key,
                       struct secbuf **ret_manager_key);
/* Replace the manager's certificate (DER) and private key (sealed as at
 * creation) in one op, audited "cluster.manager_renew" with the object
 * naming the manager id and the new expiry not_after_s. Returns 0,
 * STORE_ID_E_NOCLUSTER, -EINVAL, SD_E_MAPFULL, -ENOSPC, -EBADMSG. */
int store_cluster_set_manager(struct store_batch *b, const struct store_actor *a,
                              const uint8_t *cert, size_t cert_len, int64_t not_after_s,
                              const struct secbuf *manager_key);
/* Change the node certificate lifetime; -ERANGE outside [min, max]
 * (refused, never clamped). Audited "cluster.update". */
int store_cluster_set_cert_lifetime(struct store_batch *b, const struct store_actor *a,
                                    uint32_t lifetime_s, uint32_t min_s, uint32_t max_s);

/* ---- the worker join token ---- */

struct store_token_info {
  bool present;
  uint64_t created_ns;
  int64_t expires_s; /* 0: never */
  uint32_t uses_max; /* 0: unlimited */
  uint32_t uses_done;
};
/* The keyed hash under which token secrets are stored: BLAKE2b-256 keyed
 * with a key derived from the store's record key (never stored). */
int store_token_hash(struct store *s, const struct secbuf *secret,
                     uint8_t ret[STORE_TOKEN_HASH_LEN]);
/* Replace the worker token by one whose secret hashes to hash. Audited
 * "join_token.rotate" (or ".create" for the first), the object naming the
 * TTL ("no-expiry" for 0) and the use limit. -EINVAL. */
int store_token_set(struct store_batch *b, const struct store_actor *a,
                    const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t expires_s,
                    uint32_t uses_max);
int store_token_info(struct store *s, struct store_token_info *ret);
/* Check a presented secret (read only, constant-time compare) at now_s.
 * Returns 0, STORE_ID_E_NOTOKEN, STORE_ID_E_TOKEN, STORE_ID_E_EXPIRED,
 * STORE_ID_E_USED_UP, -EBADMSG. */
int store_token_check(struct store *s, const struct secbuf *secret, int64_t now_s);

/* ---- nodes ---- */

struct store_node {
  char id[STORE_NODE_ID_LEN + 1];
  uint32_t role; /* crypto/ca.h enum ca_role */
  uint8_t serial[STORE_SERIAL_LEN]; /* of the latest certificate: the only one accepted */
  int64_t not_after_s;
  uint64_t created_ns, updated_ns, last_seen_ns;
  char hostname[STORE_HOSTNAME_MAX + 1];
  char address[STORE_ADDRESS_MAX + 1];
};

/*
 * A join: in one op check the token secret again (as store_token_check),
 * refuse a denied id, consume one use and write node n (new, or the same id
 * kept by a returning node when keep_id). Audited "node.join" with the node
 * id, role and address. Returns 0, the token errors, STORE_ID_E_DENIED,
 * -EEXIST (id taken and !keep_id), STORE_ID_E_ROLE (keep_id with another
 * role), -EINVAL.
 */
int store_node_join(struct store_batch *b, const struct store_actor *a,
                    const struct secbuf *secret, int64_t now_s, const struct store_node *n,
                    bool keep_id);
/* A renewal: the node exists and is not denied; its serial and expiry are
 * replaced (the old certificate stops being accepted). Audited
 * "node.renew". STORE_ID_E_UNKNOWN, STORE_ID_E_DENIED. */
int store_node_renew(struct store_batch *b, const struct store_actor *a, const char *id,
                     const uint8_t serial[STORE_SERIAL_LEN], int64_t not_after_s, int64_t now_s);
/* Remove node id and deny it until deny_until_s. Audited "node.rm".
 * STORE_ID_E_UNKNOWN. *ret_node (may be NULL) gets what was removed. */
int store_node_remove(struct store_batch *b, const struct store_actor *a, const char *id,
                      int64_t deny_until_s, struct store_node *ret_node);
/* Record a sign of life (hostname/address may be NULL: unchanged). No audit
 * record of its own (a heartbeat must not grow the chain): the caller batches
 * it with an audited op or accepts that. STORE_ID_E_UNKNOWN. */
int store_node_seen(struct store_batch *b, const char *id, uint64_t now_ns, const char *hostname,
                    const char *address);
/* Reads (own txn). -ENOENT when no such node. */
int store_node_get(struct store *s, const char *id, struct store_node *ret);
/* All nodes sorted by id; *ret malloc()ed (free()). */
int store_node_list(struct store *s, struct store_node **ret, size_t *ret_n);
/* 1 when id is on the deny list at now_s, 0 when not, or a negative errno. */
int store_node_denied(struct store *s, const char *id, int64_t now_s);
