/*
 * The pure half of the node agent's reconciler: given the tasks this node should run
 * (what the manager assigned, with the secret files each needs) and what it has now,
 * say what to do, in the order it must be done. No system calls, no allocation but the
 * result, no time source (now is an argument): unit-tested in tests/test_agent_plan.c.
 *
 * Order of the actions returned (the contract the executor relies on):
 *   1. REMOVE: every secret file no longer granted, in every running task (revocations
 *      first: a revoke never waits behind a start, a stop or a fetch);
 *   2. STOP:   every task no longer assigned, or assigned with another spec;
 *   3. PUT:    every file new or changed (secret, version, owner or mode) in a running task;
 *   4. START:  every assigned task that is not there, or that waits and is due.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/launch_spec.h"

#define AC_DIGEST_LEN 32
#define AC_ID_UNSET UINT32_MAX  /* a grant's owner when unset: the service's user */
#define AC_MODE_DEFAULT 0400u

/* One secret file of a task, owners resolved. Strings are borrowed. */
struct ac_file {
  const char *secret;  /* the secret's name (or id) as the manager names it */
  uint64_t version;
  const char *target;  /* relative to /run/secrets */
  uint32_t uid, gid, mode;
};

/* A grant's owner and mode as they land on the file: an unset id is the service's user
 * (the spec's --user, a container id), mode 0 is 0400. */
void ac_file_resolve(struct ac_file *f, uint32_t spec_uid, uint32_t spec_gid);

/* Whether two resolved files differ in anything that needs a new write. */
bool ac_file_differs(const struct ac_file *a, const struct ac_file *b);

/* What the agent has of one task. */
enum ac_phase {
  AC_PHASE_RUNNING,  /* its container runs; files are applied */
  AC_PHASE_STARTING, /* a start waits for its secret values */
  AC_PHASE_STOPPING, /* asked to stop; waiting for PID 1 to exit */
  AC_PHASE_WAITING,  /* not running: start again at start_at_ms (UINT64_MAX: never) */
};

struct ac_plan_want {
  const char *task_id;
  const uint8_t *digest;       /* AC_DIGEST_LEN bytes: identifies the launch spec */
  const struct ac_file *files; /* resolved; targets distinct */
  size_t n_files;
};

struct ac_plan_have {
  const char *task_id;
  const uint8_t *digest;
  enum ac_phase phase;
  uint64_t start_at_ms;        /* AC_PHASE_WAITING */
  bool busy;                   /* a fetch for PUTs is pending: no new PUT until it ends */
  const struct ac_file *files; /* applied now (RUNNING) */
  size_t n_files;
};

enum ac_act { AC_ACT_REMOVE, AC_ACT_STOP, AC_ACT_PUT, AC_ACT_START };

struct ac_action {
  enum ac_act kind;
  size_t have; /* REMOVE, STOP, PUT: index into have; START: SIZE_MAX when there is none */
  size_t want; /* PUT, START: index into want; else SIZE_MAX */
  size_t file; /* REMOVE: index into have's files; PUT: into want's files; else SIZE_MAX */
};

/*
 * Plan one pass. Task ids are distinct within want and within have (the caller
 * checks). A have whose id is not wanted, or wanted with another digest, is stopped
 * (a STOPPING one is left to finish); the new spec starts once the old task is gone. A
 * STARTING task gets nothing; a busy RUNNING one gets REMOVEs but no PUT.
 * On success *ret (free()) holds *ret_n actions (NULL when none), and *ret_wake_ms the
 * earliest start_at_ms in the future (UINT64_MAX: none). Returns 0 or -ENOMEM.
 */
int ac_plan(const struct ac_plan_want *want, size_t n_want, const struct ac_plan_have *have,
            size_t n_have, uint64_t now_ms, struct ac_action **ret, size_t *ret_n,
            uint64_t *ret_wake_ms);

/* Restart backoff: 100 ms, doubled per consecutive failed run, at most 10 s. */
#define AC_BACKOFF_FIRST_MS 100u
#define AC_BACKOFF_MAX_MS 10000u
/* A run this long resets the consecutive count (as Docker does). */
#define AC_BACKOFF_RESET_MS 10000u

/*
 * After a task's container ended (failed: non-zero exit, a signal, or a start that
 * failed): whether the policy starts it again, and after how long (*ret_delay_ms) given
 * streak consecutive short runs before this one. no: never; on-failure: when failed;
 * always: always.
 */
bool ac_restart_due(enum launch_restart policy, bool failed, unsigned streak,
                    uint64_t *ret_delay_ms);
