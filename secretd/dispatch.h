/*
 * Dispatch, manager side (issue 11): what each node must run and which
 * secret versions each of its tasks may ask for, and which nodes a committed
 * write changed. Transport-independent: the session layer pushes what these
 * functions compute (docs/delivery-manager.md).
 *
 * Generations: the store keeps per node the (generation, digest) of the set
 * the node was last given (store/dispatch.h). A set whose digest differs from
 * the stored one gets generation + 1 (store_node_gen_advance, in a batch). An
 * agent reports the pair it holds; it is current only when both are equal:
 * any other pair (older, or newer after a restore from backup) is resent.
 *
 * Change tracking, in the commit path:
 *   1. before a write, dispatch_candidates(store, change, set): the nodes the
 *      change can touch as the store is now (e.g. the nodes running services
 *      granted a secret that `rm --force` is about to remove);
 *   2. after its batch committed, dispatch_candidates() again (e.g. the node
 *      of a service just created), then dispatch_tracker_diff(): rebuild the
 *      set of each candidate and keep those whose digest changed, nodes that
 *      lost something (a revoke, an older version, a removed task) first;
 *   3. dispatch_gen_commit() in a batch, then push those nodes.
 * Library-style: never logs. Loop thread (or any one thread) per tracker.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/dispatch.h"
#include "store/services.h"
#include "store/store.h"
#include "wire/assign.h"
#include "wire/frame.h"

/* States dispatch writes for tasks whose node is gone (shown by service ps). */
#define DISPATCH_STATE_NODE_DOWN "node_down"
#define DISPATCH_STATE_NODE_REMOVED "node_removed"

/*
 * Build node's assignment set from the store: its tasks (sorted by service),
 * each with its spec, restart policy, desired and reported state, and its
 * grants resolved to versions (pin or latest); never a value. ret->digest is
 * computed; ret->generation is the stored one, and *ret_stale (may be NULL)
 * tells that the stored digest differs (advance it before sending).
 * *ret must be zeroed; on success it owns the set (wire_assignments_clear).
 * Returns 0, -EINVAL (node format), -E2BIG (more tasks or grants than
 * wire/assign.h allows), -EBADMSG, -ENOMEM, -errno.
 */
int dispatch_build(struct store *s, const char *node, struct wire_assignments *ret,
                   bool *ret_stale);

/* The same for nodes[0..n) (no node twice) from ONE read snapshot that reads
 * the tasks and grants tables once for all: ret[i] (zeroed on entry) gets
 * nodes[i]'s set, ret_stale[i] (ret_stale may be NULL) its staleness. On
 * failure nothing is left in ret. Errors as dispatch_build. */
int dispatch_build_many(struct store *s, const char *const *nodes, size_t n,
                        struct wire_assignments *ret, bool *ret_stale);

/* ---- the bound on a node's set ----
 *
 * A node's whole set travels in one frame (the node.assignments reply), so
 * secretd refuses, inside the write's own batch, any write that would make a
 * node's set larger than DISPATCH_SET_MAX bytes, or break the wire/assign.h
 * counts (1,024 tasks, 256 grants per task): without that the node's agent
 * could not fetch its set at all, and not even a revoke would reach it.
 * The size measured is a bound that later writes which never go through
 * this check cannot raise: every task's reported state counted at its
 * longest (15 bytes), every version and pin at 5 bytes (any uint32), the
 * generation at 9 (any uint64). DISPATCH_SET_RESERVE is what the reply adds
 * around the set (envelope, "current", "generation", "digest": under 200
 * bytes). docs/delivery-manager.md, "The bound on a node's set". */
#define DISPATCH_SET_RESERVE 1024u
#define DISPATCH_SET_MAX ((size_t)WIRE_MAX_FRAME - DISPATCH_SET_RESERVE)

/* The encoded size of a's message at its largest (above) into *ret. a is
 * changed (states, versions, pins and generation set to their longest
 * encodings): pass a set built for this. Returns 0 or -EINVAL (a breaks a
 * count bound). */
int dispatch_set_bound(struct wire_assignments *a, size_t *ret);

/* Why a write was refused by dispatch_write_bounded(). */
struct dispatch_fit {
  char node[STORE_NODE_MAX + 1]; /* the node whose set would not fit */
  bool counts;  /* over the task or grant counts (bytes is then 0) */
  size_t bytes; /* the bound its set would reach (> DISPATCH_SET_MAX) */
  size_t tasks; /* its tasks, with the write */
  bool rolled_back; /* the write succeeded and was rolled back: no audit record of it left */
};

/* One write inside a batch (store_service_create, store_grant_add, ...). */
typedef int (*dispatch_write_fn)(struct store_batch *b, void *ud);

/*
 * Inside batch b (the commit queue's worker): run write(b, ud) in a
 * savepoint, then measure the set of node (NULL: of the node that service's
 * task is placed on, as the write left it; no such task: nothing to measure)
 * in the batch's own transaction, so that every write queued before it, in
 * this batch or committed, is counted and none can slip in between. When it
 * fits (or the write failed) the savepoint is kept and write's result
 * returned. When it does not, the write and its audit record are rolled back,
 * *ret says why and -E2BIG is returned. Other errors: the savepoint could
 * not be opened (nothing written), or the measuring failed (the write rolled
 * back). Whenever ret->rolled_back, the write's audit record went with it:
 * the caller writes the refusal's record (store_audit_note).
 */
int dispatch_write_bounded(struct store_batch *b, const char *node, const char *service,
                           dispatch_write_fn write, void *ud, struct dispatch_fit *ret);

/* Inside batch b: advance node's stored generation to a->digest and set
 * a->generation to the result. Returns as store_node_gen_advance. */
int dispatch_gen_advance(struct store_batch *b, struct wire_assignments *a);

/*
 * Inside batch b: set the reported state of every task placed on node to
 * state (DISPATCH_STATE_NODE_DOWN / _REMOVED), keeping exit codes and restart
 * counts; each is a "task.update" audit record. *ret_n (may be NULL): tasks
 * changed. Returns 0 or the first error.
 */
int dispatch_mark_node(struct store_batch *b, struct store *s, const struct store_actor *a,
                       const char *node, const char *state, size_t *ret_n);

/* ---- change tracking ---- */

enum dispatch_change_kind {
  DISPATCH_SECRET_ROTATE, /* secret */
  DISPATCH_SECRET_REMOVE, /* secret (rm --force: its grants go too) */
  DISPATCH_GRANT,         /* secret + service: grant add, rm, or a pin change */
  DISPATCH_SERVICE,       /* service (+ node when known): create or rm */
  DISPATCH_NODE,          /* node: removed, or down, or back */
};

struct dispatch_change {
  enum dispatch_change_kind kind;
  const char *secret;  /* a name or a 32-hex id */
  const char *service;
  const char *node;
};

/* A set of node ids (deduplicated). */
struct dispatch_nodeset {
  char (*ids)[STORE_NODE_MAX + 1];
  size_t n, cap;
};
void dispatch_nodeset_clear(struct dispatch_nodeset *ns);
/* Add node (no-op when present). 0, -EINVAL, -ENOMEM. */
int dispatch_nodeset_add(struct dispatch_nodeset *ns, const char *node);

/* Add to set the nodes that change c can touch, as the store is now (read
 * snapshot of its own). An unknown secret or service adds nothing. Returns 0,
 * -EINVAL, -EBADMSG, -ENOMEM, -errno. */
int dispatch_candidates(struct store *s, const struct dispatch_change *c,
                        struct dispatch_nodeset *set);

struct dispatch_tracker;

/* One node whose assignment set changed. */
struct dispatch_node_change {
  char node[STORE_NODE_MAX + 1];
  bool revokes; /* it lost a task, a grant, or was moved to another version */
  /* the new set; its generation the one dispatch_gen_commit() will store for it
   * (the stored one + 1 when the stored digest differs, past the generations this
   * tracker handed out before: their advances commit in order); gen_commit sets
   * the one it stored */
  struct wire_assignments set;
};

int dispatch_tracker_new(struct dispatch_tracker **ret); /* 0 or -ENOMEM */
void dispatch_tracker_free(struct dispatch_tracker *t);  /* NULL ok */

/*
 * Rebuild the set of every node in set and compare it with the last one this
 * tracker saw for that node (or, for a node not seen since start, with the
 * digest stored with its generation). *ret gets the changed nodes, those with
 * revokes first (then by node id), each owning its new set; free with
 * dispatch_changes_free(). Returns 0, -ENOMEM, or a build error.
 */
int dispatch_tracker_diff(struct dispatch_tracker *t, struct store *s,
                          const struct dispatch_nodeset *set, struct dispatch_node_change **ret,
                          size_t *ret_n);
void dispatch_changes_free(struct dispatch_node_change *c, size_t n);

/* Inside batch b: advance the generation of every changed node (sets each
 * change's set.generation). Returns 0 or the first error. */
int dispatch_gen_commit(struct store_batch *b, struct dispatch_node_change *c, size_t n);

/* Memory the tracker holds for one node with n_grants grants over all its
 * tasks (the per-agent record), in bytes. */
size_t dispatch_tracker_node_bytes(size_t n_tasks, size_t n_grants);
