/*
 * The node's launch gate (issue 13's content trust, for services the manager
 * places here): with content trust enforced on this node (the policy file's
 * "enforce", or SECRET_CONTENT_TRUST=1 in the agent's environment, which can
 * only turn it on), only signed images may run, and a service's --rootfs is a
 * directory on the node: refused, as `secret-launch --rootfs` refuses it. The
 * policy is read at every start (it is small) so that `secret-image policy
 * enforce on|off` takes effect without restarting the agent. A policy that
 * cannot be read safely (not root's, writable by others, malformed), or one
 * named by SECRET_TRUST_POLICY that does not exist, refuses every launch:
 * fail closed.
 */
#pragma once

#include <stddef.h>

struct launch_spec;

/* agentcore_ops.admit: ud is unused (NULL). Returns 0 when ls may launch, or
 * -EPERM with why (at most cap bytes, one line) naming the reason and the policy
 * file. The decision is logged to the image store's trust log when one exists. */
int agent_launch_gate(void *ud, const struct launch_spec *ls, char *why, size_t cap);
