/*
 * Change tracking in secretd's commit path (docs/delivery-manager.md): each
 * admin write that can change a node's assignment set (secret.rotate,
 * secret.rm --force, grant.add, grant.rm, service.create, service.rm) takes
 * the candidate nodes before its batch (loop thread); right after that batch
 * committed (the queue's after_commit, worker thread) it takes them again and
 * diffs every candidate's set against the tracker; in the write's done
 * callback (loop thread) it hands the changed nodes (revocations first, each
 * set with the generation it is about to get) to the server's on_nodes_changed
 * callback (the session layer's push; none set: agents get the change when
 * they ask with node.assignments) and queues the generations' advance. When
 * the diff could not run there, a follow-up item does diff, advance and
 * callback in a batch of its own (the former path).
 *
 * The tracker is touched only by the queue's worker, one batch at a time
 * (items' run and after_commit): no lock.
 */
#pragma once

#include "secretd/dispatch.h"

struct admin_req;
struct server;
struct dispatch_pending;

/* Called by the session layer (loop thread) with the nodes whose sets changed,
 * revocations first; c[i].set is the new set with its new generation. Owned by
 * the caller of the callback (freed after it returns). */
typedef void (*dispatch_nodes_changed_fn)(struct server *s, const struct dispatch_node_change *c,
                                          size_t n, void *ud);

/* Before a write is queued (loop thread): if rq's op can change assignment
 * sets, note its change and take the candidates as the store is now. Failures
 * are logged and only lose the "before" candidates. */
void dispatch_hook_before(struct admin_req *rq);

/* Set by before() as rq->item.after_commit (worker thread, right after rq's
 * batch committed and its op succeeded): the candidates again and the diff
 * against the tracker, so that the changed nodes are known when the batch's
 * done callbacks run, without a batch of their own. Callable directly by a
 * caller that submits another item for rq (tests). */
void dispatch_hook_after_commit(struct admin_req *rq);

/* After rq's batch (loop thread, in its done callback) with its result r: on
 * success, when after_commit worked out the changed nodes, hand them to
 * on_nodes_changed now and queue their generation advance (cq_submit_lazy:
 * it shares the next batch, usually the deliveries the push brings, within
 * 100 ms; nobody waits for it: agents compare generation and digest, so a
 * crash before it commits only makes them ask for the whole set); otherwise
 * queue the
 * follow-up item that does both in its own batch. In every case release what
 * before() took. */
void dispatch_hook_after(struct admin_req *rq, int r);

/* Release what before() took (a request that never ran). NULL-tolerant. */
void dispatch_hook_release(struct admin_req *rq);
