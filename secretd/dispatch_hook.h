/*
 * Change tracking in secretd's commit path (docs/delivery-manager.md): each
 * admin write that can change a node's assignment set (secret.rotate,
 * secret.rm --force, grant.add, grant.rm, service.create, service.rm) takes
 * the candidate nodes before its batch (loop thread), and once it committed a
 * follow-up item in the group-commit queue takes them again, diffs every
 * candidate's set against the tracker, advances the changed nodes'
 * generations in its batch and hands the changed nodes (revocations first) to
 * the server's on_nodes_changed callback on the loop thread (the session
 * layer's push; none set: the generations are kept current and agents get the
 * change when they ask with node.assignments).
 *
 * The tracker is touched only inside queue items, which run one batch at a
 * time: no lock.
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

/* After rq's batch (loop thread, in its done callback) with its result r: on
 * success queue the follow-up item; in every case release what before() took. */
void dispatch_hook_after(struct admin_req *rq, int r);

/* Release what before() took (a request that never ran). NULL-tolerant. */
void dispatch_hook_release(struct admin_req *rq);
