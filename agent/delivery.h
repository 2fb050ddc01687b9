/*
 * secret-agent run's delivery: the glue between the agent's session to the
 * manager (wire/async_client.h) and the reconciler (agent/core/agentcore.h).
 *
 * - At each connection and on each "assign" push it asks node.assignments
 *   with the (generation, digest) it holds; a changed set is converted and
 *   applied whole (agentcore_assign), tasks whose desired state is not
 *   running left out.
 * - The core's fetches become node.deliver calls: values go straight from
 *   the reply into secret memory (secbuf), which the core wipes once written.
 * - The core's state reports become task.report calls; the latest state of
 *   each task is reported again at each connection (after a down spell).
 * - The core runs on the agent's libuv loop (a uv_poll_t on agentcore_fd and
 *   a uv_timer_t for agentcore_timeout_ms).
 * - agent_delivery_node_removed(): the manager said the node was removed:
 *   every task is stopped and the core's state wiped. A mere disconnect
 *   changes nothing: delivered secrets stay.
 * Loop thread only.
 */
#pragma once

#include <uv.h>

struct wire_aclient;
struct wire_push;
struct agent_delivery;

/* Open the core on dir (created 0700; root-owned), taking back running
 * containers. Returns 0 or a negative errno (the agent then runs without
 * delivery). */
int agent_delivery_open(uv_loop_t *loop, const char *dir, struct agent_delivery **ret);
/* The client the calls go through (set before the first connection). */
void agent_delivery_set_client(struct agent_delivery *d, struct wire_aclient *c);
/* A session is up: converge (node.assignments) and report every task's state. */
void agent_delivery_on_up(struct agent_delivery *d);
/* A push; "assign" makes it converge. Others are ignored. */
void agent_delivery_on_push(struct agent_delivery *d, const struct wire_push *p);
/* The node was removed (the manager said so): stop every task, wipe state. */
void agent_delivery_node_removed(struct agent_delivery *d);
/* Close the loop handles (the core is freed once they closed; containers keep
 * running). Call after the client is freed. NULL ok. */
void agent_delivery_close(struct agent_delivery *d);
