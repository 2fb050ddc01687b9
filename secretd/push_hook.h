/*
 * The push of assignment changes to agents (issue 11): the server's
 * on_nodes_changed callback (secretd/dispatch_hook.h) sends each changed
 * node one "assign" push over its live sessions (secretd/listen.h:
 * acknowledged, resumed after a reconnection), in the order the tracker gave
 * (revocations first): {generation, revokes, assignments} with the
 * node's new assignment set (wire/assign.h: tasks, specs, grant lists with
 * versions; never a value) when the node has a live session, is at most
 * PUSH_SET_BACKLOG pushes behind and the set is at most about PUSH_SET_MAX
 * bytes; otherwise {generation, revokes} only, and the agent asks with
 * node.assignments. Values are only ever fetched with node.deliver (the
 * node authorizer, each delivery audited before its reply).
 *
 * The node's liveness also changes its tasks' shown state (dispatch_mark_node,
 * in a batch of the group commit): a removed node's tasks are marked
 * `node_removed`; a node without a live session for the down window
 * (listen_down_after_ms: the heartbeats missed) gets its tasks marked
 * `node_down`, until its agent reconnects and reports them again. Loop
 * thread only.
 */
#pragma once

#include <stdint.h>

struct server;

#define PUSH_TOPIC_ASSIGN "assign"
#define PUSH_SET_MAX (64u * 1024) /* bytes of a set that travels in a push */
#define PUSH_SET_BACKLOG 8        /* unacknowledged pushes, at most, before one with a set */

/* Set s->on_nodes_changed to the push (needs s->tls_listener; without one
 * nothing is set and agents converge when they ask). Returns 0 or -ENOMEM. */
int push_hook_install(struct server *s);
/* Free what install set up, after the loop closed every handle. */
void push_hook_free(struct server *s);

/* listen.c: node's last live session ended (it is down after the window
 * unless a session comes back), or a session of node said hello. */
void push_hook_node_gone(struct server *s, const char *node);
void push_hook_node_back(struct server *s, const char *node);

/* Mark node's tasks with state ("node_removed" or "node_down") through the
 * commit queue, each change audited (task.update, actor secretd); node_down
 * is not written over a node on the deny list. Failures are logged. */
void push_hook_mark_node(struct server *s, const char *node, const char *state);
