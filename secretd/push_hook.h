/*
 * The push of assignment changes to agents (issue 11): the server's
 * on_nodes_changed callback (secretd/dispatch_hook.h) sends each changed
 * node one "assign" push, {generation, revokes}, over its live sessions
 * (secretd/listen.h: acknowledged, resumed after a reconnection), in the
 * order the tracker gave (revocations first). The push carries no
 * assignment and no value: the agent answers it with node.assignments and
 * gets the set over its own request.
 *
 * The node's liveness also changes its tasks' shown state: push_hook_node()
 * marks a removed node's tasks `node_removed` (dispatch_mark_node) in a
 * batch of the group commit. Loop thread only.
 */
#pragma once

#include <stdint.h>

struct server;

#define PUSH_TOPIC_ASSIGN "assign"

/* Set s->on_nodes_changed to the push (needs s->tls_listener; without one
 * nothing is set and agents converge when they ask). */
void push_hook_install(struct server *s);

/* node was removed (its sessions were cut): mark its tasks with state
 * ("node_removed" or "node_down") through the commit queue, audited as the
 * actor given (node.rm's). Failures are logged. */
void push_hook_mark_node(struct server *s, const char *node, const char *state);
