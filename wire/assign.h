/*
 * A node's assignment set: what secretd wants running on one node (every task
 * placed there, with its launch spec, restart policy, desired and reported
 * state, and its grant list resolved to versions). Never a secret value: the
 * agent asks for values with node.deliver, version by version.
 *
 *   {"node":str, "generation":uint, "digest":bin(32),
 *    "tasks":[{"id":hex32, "service":str, "slot":uint, "spec":bin, "restart":str,
 *              "desired":str, "state":str,
 *              "grants":[{"secret_id":hex32, "secret":str, "target":str,
 *                         "uid":uint|nil, "gid":uint|nil, "mode":uint,
 *                         "version":uint, "pinned":uint}]}]}
 *
 * digest: BLAKE2b-256 over the canonical encoding of "tasks" without the
 * reported "state" of each task (wire_assign_digest): it covers what the agent
 * acts on, so a task's own state reports do not make a new generation;
 * generation: a per-node counter kept by secretd, advanced whenever the digest
 * changes. An agent is current when its (generation, digest) equals secretd's.
 * Tasks are sorted by service, grants by secret id: one set has one encoding.
 *
 * The decoder is strict (every bound below, types, hex, no key twice, known
 * keys required; unknown keys ignored for field evolution) and fuzzed
 * (tests/fuzz/fuzz_assign.c). Library code: never logs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#define WIRE_ASSIGN_TASKS_MAX 1024   /* tasks on one node */
#define WIRE_ASSIGN_GRANTS_MAX 256   /* grants of one task */
#define WIRE_ASSIGN_NODE_MAX 253
#define WIRE_ASSIGN_NAME_MAX 64      /* service and secret names */
#define WIRE_ASSIGN_TARGET_MAX 255
#define WIRE_ASSIGN_STATE_MAX 15
#define WIRE_ASSIGN_SPEC_MAX ((size_t)1 << 20)
#define WIRE_ASSIGN_DIGEST_LEN 32

struct wire_assign_grant {
  char secret_id[33];
  char secret[WIRE_ASSIGN_NAME_MAX + 1];
  char target[WIRE_ASSIGN_TARGET_MAX + 1];
  bool uid_unset, gid_unset; /* the service's user */
  uint32_t uid, gid, mode;
  uint32_t version; /* the version to ask for (>= 1) */
  uint32_t pinned;  /* 0: follows the latest */
};

struct wire_assign_task {
  char id[33];
  char service[WIRE_ASSIGN_NAME_MAX + 1];
  uint32_t slot;
  uint8_t *spec; /* the launch spec's msgpack form (malloc; runtime/launch_spec.h) */
  size_t spec_len;
  char restart[WIRE_ASSIGN_STATE_MAX + 1]; /* "no", "on-failure", "always" */
  char desired[WIRE_ASSIGN_STATE_MAX + 1]; /* "running" today */
  char state[WIRE_ASSIGN_STATE_MAX + 1];   /* as last reported, or node_down / node_removed */
  struct wire_assign_grant *grants;        /* malloc, sorted by secret id */
  size_t n_grants;
};

struct wire_assignments {
  char node[WIRE_ASSIGN_NODE_MAX + 1];
  uint64_t generation;
  uint8_t digest[WIRE_ASSIGN_DIGEST_LEN];
  struct wire_assign_task *tasks; /* malloc, sorted by service */
  size_t n_tasks;
};

/* Free what a holds (tasks, grants, specs) and zero it. NULL ok. */
void wire_assignments_clear(struct wire_assignments *a);

/* Pack the "tasks" array of a (canonical: the caller keeps the sort order).
 * Returns 0 or -ENOMEM. */
int wire_assign_pack_tasks(msgpack_packer *pk, const struct wire_assignments *a);
/* BLAKE2b-256 over the packed "tasks" array, each task without "state", into
 * out. Returns 0, -EINVAL (a bound) or -ENOMEM. */
int wire_assign_digest(const struct wire_assignments *a, uint8_t out[WIRE_ASSIGN_DIGEST_LEN]);
/* Pack the whole message (one map) with a->digest as it is. Returns 0 or -ENOMEM;
 * -EINVAL when a breaks a bound (more tasks or grants than allowed, ...). */
int wire_assignments_pack(msgpack_packer *pk, const struct wire_assignments *a);

/*
 * Decode a message from the object o (a map, e.g. a push's or a reply's
 * "result"), checking every bound. On success *ret (which must be zeroed or
 * cleared) owns copies of everything. Returns 0, SD_E_PROTO with *why (static)
 * naming what is wrong, or -ENOMEM; on failure *ret is left cleared.
 */
int wire_assignments_decode(const msgpack_object *o, struct wire_assignments *ret,
                            const char **why);
/* The same from raw bytes holding exactly one msgpack map. */
int wire_assignments_decode_bytes(const uint8_t *p, size_t len, struct wire_assignments *ret,
                                  const char **why);
