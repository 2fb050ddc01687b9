/*
 * Services and their tasks in the store (tables "services" and "tasks"), each
 * record authenticated like every other (recmac.c) and each write atomic with
 * its audit record.
 *
 *   services: name -> [created_ns, updated_ns, node, spec(bin)]
 *   tasks:    name || 0x00 || slot(4 BE) -> [task id(16), node, desired, state,
 *             since_ns, exit_code (int or nil), restarts]
 *
 * The spec is the launch spec's msgpack form (runtime/launch_spec.h), opaque here:
 * the store does not link the runtime; secretd decodes and validates a spec before
 * it is stored. A service has one task (slot 0) today: replicas come later.
 * Errors as in store/store.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "store/store.h"

#define STORE_NODE_MAX 253                       /* a node id or a host name */
#define STORE_SERVICE_SPEC_MAX ((size_t)2 << 20) /* bytes of one encoded spec */
#define STORE_TASK_STATE_MAX 15

/* A node reference as given by the operator (an id or a host name): 1..253 of
 * [A-Za-z0-9._-], not starting with '.' or '-'. Returns 0 or -EINVAL. */
int store_validate_node(const char *node);

/*
 * Create service name placed on node with its encoded launch spec, and its task
 * (slot 0, desired "running", state "pending" until an agent reports). Audited
 * "service.create". Returns 0, SD_E_NAME, -EINVAL (node, or spec empty or larger
 * than STORE_SERVICE_SPEC_MAX), -EEXIST, SD_E_MAPFULL, -ENOSPC.
 */
int store_service_create(struct store_batch *b, const struct store_actor *a, const char *name,
                         const char *node, const void *spec, size_t spec_len);

/* Remove service name and its tasks (its grants stay: a grant may name a service
 * before it exists and after it is gone). Audited "service.rm". -ENOENT, SD_E_NAME. */
int store_service_remove(struct store_batch *b, const struct store_actor *a, const char *name);

/*
 * A task's state as an agent reports it: state is a word of at most
 * STORE_TASK_STATE_MAX of [a-z_] ("running", "exited", "failed", ...); exit_code
 * NULL = none; restarts is the count so far. since_ns is set to now when the state
 * changes. Audited "task.update". -ENOENT (no such service or task), -EINVAL.
 */
int store_task_update(struct store_batch *b, const struct store_actor *a, const char *service,
                      uint32_t slot, const char *state, const int32_t *exit_code,
                      uint32_t restarts);

struct store_task_info {
  char id[33];
  uint32_t slot;
  char node[STORE_NODE_MAX + 1];
  char desired[STORE_TASK_STATE_MAX + 1];
  char state[STORE_TASK_STATE_MAX + 1];
  uint64_t since_ns;
  bool has_exit_code;
  int32_t exit_code;
  uint32_t restarts;
};

struct store_service_info {
  char name[65];
  char node[STORE_NODE_MAX + 1];
  uint64_t created_ns, updated_ns;
  uint8_t *spec; /* the encoded launch spec (malloc) */
  size_t spec_len;
  struct store_task_info *tasks; /* by slot */
  size_t n_tasks;
};

/*
 * Services sorted by name, those strictly after `after` (NULL or "" = from the
 * first), at most limit (0 = all). *ret_more (may be NULL) tells whether more
 * follow. *ret is owned by the caller (store_service_info_free(*ret, *ret_n)).
 * Returns 0, -EBADMSG (tampered record), -ENOMEM, -errno.
 */
int store_service_list(struct store *s, const char *after, size_t limit,
                       struct store_service_info **ret, size_t *ret_n, bool *ret_more);
/* One service with its tasks. -ENOENT, SD_E_NAME, -EBADMSG, -ENOMEM. */
int store_service_inspect(struct store *s, const char *name, struct store_service_info **ret);
void store_service_info_free(struct store_service_info *v, size_t n); /* NULL ok */

/* ---- what dispatch and the node authorizer read ---- */

/* One grant to a service, resolved to the version it gives now. */
struct store_service_grant {
  char secret_id[33], secret_name[65];
  char target[SD_TARGET_MAX + 1];
  bool uid_unset, gid_unset; /* unset: the service's user */
  uint32_t uid, gid, mode;
  uint32_t pinned;  /* 0: follows the latest */
  uint32_t version; /* the pin, or the secret's latest version */
};
/*
 * Every grant to service (existing or not), sorted by secret id, in one read
 * snapshot. *ret is malloc()ed (free(); NULL when n == 0). Returns 0, SD_E_NAME,
 * -EBADMSG (a tampered grant or secret record), -ENOMEM, -errno.
 */
int store_service_grants(struct store *s, const char *service, struct store_service_grant **ret,
                         size_t *ret_n);

/* One task placed on a node, with its service's name. */
struct store_node_task {
  char service[65];
  struct store_task_info task;
};
/*
 * The tasks placed on node (compared as given: an id or a host name), sorted by
 * service. *ret is malloc()ed (free(); NULL when n == 0). Returns 0, -EINVAL (node
 * format), -EBADMSG, -ENOMEM, -errno.
 */
int store_node_tasks(struct store *s, const char *node, struct store_node_task **ret,
                     size_t *ret_n);
