/*
 * The agent-side core of secret delivery: a reconciler that converges this node to the
 * manager's assignments, independent of the network.
 *
 * Input: the FULL set of tasks assigned to this node (agentcore_assign), each with its
 * launch spec (msgpack, runtime/launch_spec.h), restart policy and the secret files its
 * service is granted (secret, version, target, owner, mode: never values). Values come
 * through the fetcher the caller provides (the network layer: it asks the manager,
 * which answers only for a task of this node): returned in secret memory
 * (base/secbuf.h), written into the container's secrets tmpfs, then wiped.
 *
 * It starts missing tasks (runtime/: detached, with a supervisor process that reaps PID 1
 * and keeps the secrets tmpfs; the tmpfs is filled BEFORE the task's command runs),
 * stops removed ones, restarts per policy with backoff, and applies secret changes to
 * running containers: revocations first (remove), then rotations, new grants and pin
 * changes (atomic replace: a reader sees the old or the new file whole). Every task
 * state change goes to the caller's report callback.
 *
 * State directory (0700, root): tasks/NAME.json (what each task has applied: secret,
 * version, target, owner, mode; restarts; never a value) and run/ (the runtime's state
 * root: runtime/state.h). After a restart of the agent, agentcore_open() takes back the
 * running containers (same PID 1; the secrets tmpfs handle from each supervisor) and the
 * next agentcore_assign() applies whatever changed meanwhile. Until the first
 * agentcore_assign() nothing is stopped or started (the desired set is unknown).
 *
 * Threading: one thread drives it (agentcore_process from an event loop polling
 * agentcore_fd). The fetcher may complete on another thread only through
 * agentcore_fetch_done(), which is thread-safe. Starting a container forks the
 * supervisor from the calling thread: call from a thread where fork is safe (the
 * agent's main loop). Library code: never logs, never exits; messages in reports hold
 * no secret data.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/launch_spec.h"

struct secbuf;
struct agentcore;

#define AGENTCORE_ID_UNSET UINT32_MAX /* grant owner unset: the service's user */
#define AGENTCORE_MSG_LEN 320
#define AGENTCORE_MAX_TASKS 4096
#define AGENTCORE_MAX_GRANTS 256       /* per task */
#define AGENTCORE_VALUE_MAX (1u << 20) /* one secret value */

struct agentcore_grant {
  const char *secret;  /* the secret's name or id as the manager names it (1..255 bytes) */
  uint64_t version;    /* the version to deliver (the manager resolves pins and "latest") */
  const char *target;  /* file under /run/secrets (rt_secret_target_valid) */
  uint32_t uid, gid;   /* AGENTCORE_ID_UNSET: the spec's --user (container ids) */
  uint32_t mode;       /* 0: 0400; else permission bits only (<= 0777) */
};

struct agentcore_task {
  const char *id;      /* the task's id (1..48 of [A-Za-z0-9_.-]: names its container) */
  const char *service; /* for reports and the hostname default */
  const void *spec;    /* launch_spec_encode()'s bytes */
  size_t spec_len;
  enum launch_restart restart;
  const struct agentcore_grant *grants;
  size_t n_grants;
};

enum agentcore_state {
  AGENTCORE_PENDING,  /* assigned; waiting for its values, its start, or its backoff */
  AGENTCORE_RUNNING,  /* its command runs with its secrets in place */
  AGENTCORE_EXITED,   /* exited 0 and the policy does not restart it */
  AGENTCORE_FAILED,   /* exited non-zero / killed / could not start (it may restart) */
  AGENTCORE_STOPPED,  /* stopped by the agent: no longer assigned, or the node removed */
};
const char *agentcore_state_name(enum agentcore_state s);

struct agentcore_report {
  const char *task_id;
  const char *service;
  enum agentcore_state state;
  uint64_t since_ms;  /* CLOCK_REALTIME, ms */
  int exit_code;      /* the last run's: its status, 128+N for signal N, -1 none */
  unsigned restarts;  /* times the agent started it again after it ended */
  const char *message; /* why, for FAILED/PENDING ("" otherwise); no secret data */
};

/* One value to fetch. The fetcher sets value (a secbuf it allocated; the core wipes and
 * frees it once written) for every item before agentcore_fetch_done(f, 0). */
struct agentcore_fetch_item {
  const char *secret;
  uint64_t version;
  struct secbuf *value;
};

/* A request for the values of one task (items are distinct (secret, version) pairs). */
struct agentcore_fetch {
  const char *task_id;
  const char *service;
  struct agentcore_fetch_item *items;
  size_t n_items;
};

struct agentcore_ops {
  /* Ask for f's values: later (any thread), or before returning, call
   * agentcore_fetch_done(ac, f, status) exactly once. f stays valid until then. */
  void (*fetch)(void *ud, struct agentcore *ac, struct agentcore_fetch *f);
  /* A task's state changed. Called from agentcore_process/_assign/_node_removed. */
  void (*report)(void *ud, const struct agentcore_report *r);
  /* Optional: may the node launch this spec? Asked before each start (and restart),
   * before any value is fetched. Returns 0 to go on, or a negative errno with why
   * filled (one line, no secret): the task is reported failed and tried again with
   * backoff, whatever its restart policy, so that a change of the node's policy
   * takes effect. NULL: every valid spec may launch. */
  int (*admit)(void *ud, const struct launch_spec *ls, char *why, size_t cap);
  void *ud;
};

/*
 * Open the state directory state_dir (created 0700 when missing; refused with -EPERM
 * when not root-owned 0700) and take back the tasks recorded there: each running
 * container is adopted (same PID 1, the checks of rt_container_adopt) with its secrets
 * tmpfs from its supervisor; one that ended meanwhile is reported as it ended.
 * Containers under run/ without a record (an agent killed mid-start) are stopped and
 * removed. *ret owns the core (agentcore_free). Returns 0, -EPERM, -ENOMEM or -errno.
 */
int agentcore_open(const char *state_dir, const struct agentcore_ops *ops,
                   struct agentcore **ret);

/* Free the core, leaving every container running (they are taken back by the next
 * agentcore_open). Pending fetches are forgotten (their done calls must not come). NULL ok. */
void agentcore_free(struct agentcore *ac);

/*
 * Replace the desired set by tasks[0..n) (copied) and converge (as agentcore_process).
 * The whole set is checked first: a duplicate task id, a bad id, target, mode or
 * secret name, duplicate targets in one task: -EINVAL with err (AGENTCORE_MSG_LEN)
 * saying which, and nothing changes. A task whose spec does not decode is accepted and
 * reported FAILED with the decoder's message. Returns 0, -EINVAL, -ENOMEM, -ESHUTDOWN
 * (the node was removed).
 */
int agentcore_assign(struct agentcore *ac, const struct agentcore_task *tasks, size_t n,
                     char *err);

/* An fd to poll for input (epoll: container exits, completed fetches). */
int agentcore_fd(const struct agentcore *ac);
/* Milliseconds until agentcore_process has timed work (backoff, stop timeouts; 0 while task
 * records are still to be written: a pass writes a few); -1 none. */
int agentcore_timeout_ms(const struct agentcore *ac);
/* Handle what is ready (never blocks on the network; a start waits for its container's
 * command to be exec'd, at most two starts per call: call again while agentcore_fd is
 * readable) and converge. Returns 0, -ENOMEM, or -ESHUTDOWN after node removal. */
int agentcore_process(struct agentcore *ac);

/* Complete a fetch (thread-safe): status 0 with every item's value set, or a negative
 * errno (values set are freed). The core applies it on its next agentcore_process. */
void agentcore_fetch_done(struct agentcore *ac, struct agentcore_fetch *f, int status);

/* Whether every assigned task is in its settled state: running with exactly its
 * granted files (or exited/failed for good), nothing pending, no task to stop. */
bool agentcore_converged(const struct agentcore *ac);

/*
 * The node was removed from the cluster: stop every task (SIGTERM, then SIGKILL after
 * its stop timeout), remove their containers' state and the state directory's
 * contents. Later calls but agentcore_free return -ESHUTDOWN. Returns 0 or -errno.
 */
int agentcore_node_removed(struct agentcore *ac);

/* The PID 1 of a running task (host pid namespace), 0 when not running. For tests. */
pid_t agentcore_task_pid(const struct agentcore *ac, const char *task_id);
