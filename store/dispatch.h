/*
 * What secret delivery reads and keeps in the store (issue 11, manager side):
 *
 * - the node authorizer's read: in ONE read snapshot, check that a task is
 *   placed on the asking node and desired running, that its service holds a
 *   grant of each secret asked for resolving to exactly the version asked for,
 *   and decrypt those versions into secret memory;
 * - per node, the generation and digest of the assignment set the node was
 *   last given (table "generations": node -> [generation, digest(32)]), so that
 *   after a secretd restart an agent that reports an older pair is resent.
 *
 * Errors as in store/store.h. Library code: never logs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/services.h"
#include "store/store.h"

#define STORE_DIGEST_LEN 32
#define STORE_DELIVER_MAX 256 /* secrets of one delivery request */

/* One secret version asked for by a task. */
struct store_delivery {
  /* in */
  char secret_id[33]; /* 32 hex digits */
  uint32_t version;   /* exactly the version the agent was assigned (never 0) */
  /* out */
  int result;             /* 0 or SD_E_DENIED */
  const char *why;        /* static reason when refused (for the audit), else NULL */
  char secret_name[65];   /* "" when the secret is unknown */
  struct secbuf *value;   /* result 0: the plaintext (caller frees: secbuf_free) */
};

/*
 * The authorizer's store read. node is the verified caller; service and
 * task_id (32 hex digits) name the task; items[0..n) the versions asked for
 * (n <= STORE_DELIVER_MAX). All checks and reads use one read snapshot.
 *
 * Returns SD_E_DENIED with *ret_why (static) when the task itself is refused
 * (unknown task, task of another node, task not desired running): no item is
 * touched. Returns 0 when the task is accepted: then each item has result 0
 * and its value, or SD_E_DENIED and why (unknown secret, no grant to the
 * service, or the grant resolves to another version: old, newer, or pinned).
 * Returns -EINVAL (bad arguments), -EBADMSG (a tampered record; reported for
 * the audit), SD_E_DECRYPT, -ENOMEM, -errno: then every item is released.
 */
int store_deliver_read(struct store *s, const char *node, const char *service,
                       const char *task_id, struct store_delivery *items, size_t n,
                       const char **ret_why);
/* Free the values of items[0..n) (wiped). NULL ok. */
void store_delivery_release(struct store_delivery *items, size_t n);

/* ---- a node's assignments, in one read snapshot ---- */

struct store_node_gen {
  uint64_t generation; /* 0: the node was never given an assignment set */
  uint8_t digest[STORE_DIGEST_LEN];
};

/* One task placed on a node: its service's spec and grants (no value). */
struct store_node_assignment {
  char service[65];
  struct store_task_info task;
  uint8_t *spec; /* malloc */
  size_t spec_len;
  struct store_service_grant *grants; /* malloc, sorted by secret id */
  size_t n_grants;
  size_t node; /* store_nodes_assignments: index of its node in the nodes asked for */
};

/*
 * Every task placed on node (sorted by service) with its service's spec and
 * grants resolved to versions, and the node's stored generation (*ret_gen, may
 * be NULL), all from ONE read snapshot, reading the tasks table once and the
 * grants table once (not once per task). At most max_tasks tasks and
 * max_grants grants per task, else -E2BIG. *ret is owned by the caller
 * (store_node_assignments_free). Returns 0, -EINVAL, -E2BIG, -EBADMSG,
 * -ENOMEM, -errno.
 */
int store_node_assignments(struct store *s, const char *node, size_t max_tasks,
                           size_t max_grants, struct store_node_assignment **ret, size_t *ret_n,
                           struct store_node_gen *ret_gen);
void store_node_assignments_free(struct store_node_assignment *a, size_t n); /* NULL ok */

/* One node's part of store_nodes_assignments(). */
struct store_node_set {
  struct store_node_assignment *tasks; /* sorted by service */
  size_t n_tasks;
  struct store_node_gen gen; /* stored generation (zero: none) */
};

/*
 * The same for nodes[0..n_nodes) (no node twice) in one read snapshot that
 * reads the tasks and grants tables once for all of them: what the change
 * tracker needs after a write that touches many nodes. (*ret)[i] is
 * nodes[i]'s set; free with store_node_sets_free(*ret, n_nodes). Returns 0,
 * -EINVAL (a node format, or a node twice), -E2BIG (a node over max_tasks, a
 * task over max_grants), -EBADMSG, -ENOMEM, -errno.
 */
int store_nodes_assignments(struct store *s, const char *const *nodes, size_t n_nodes,
                            size_t max_tasks, size_t max_grants, struct store_node_set **ret);
void store_node_sets_free(struct store_node_set *v, size_t n); /* NULL ok */

/* The same inside batch b (its current transaction, savepoint included): the
 * sets as they will be if the batch commits now, with the ops of b so far.
 * For checks that must see a write before it commits (secretd refuses a write
 * that makes a node's set too large). Worker thread of b. Errors as above. */
int store_batch_nodes_assignments(struct store_batch *b, const char *const *nodes,
                                  size_t n_nodes, size_t max_tasks, size_t max_grants,
                                  struct store_node_set **ret);

/* Inside batch b: the node service's task (slot 0) is placed on, into
 * ret_node. Returns 0, -ENOENT (no such service or task), -EINVAL, -EBADMSG,
 * -errno. */
int store_batch_service_node(struct store_batch *b, const char *service,
                             char ret_node[STORE_NODE_MAX + 1]);

/* ---- generations ---- */

/* The stored generation of node (a zeroed *ret when none). Returns 0,
 * -EINVAL (node format), -EBADMSG, -errno. */
int store_node_gen_get(struct store *s, const char *node, struct store_node_gen *ret);

/*
 * Inside batch b: if node's stored digest differs from digest, store
 * generation + 1 (or 1) with it; otherwise keep it. *ret (may be NULL) gets
 * the pair now stored. Bookkeeping, not an operator's action: no audit record
 * of its own (the write that caused it has one). Returns 0, -EINVAL,
 * -EBADMSG, SD_E_MAPFULL, -ENOSPC, -errno.
 */
int store_node_gen_advance(struct store_batch *b, const char *node,
                           const uint8_t digest[STORE_DIGEST_LEN], struct store_node_gen *ret);

/* Remove node's generation record (the node was removed). Returns 0 (also
 * when there was none), -EINVAL, -errno. */
int store_node_gen_forget(struct store_batch *b, const char *node);
