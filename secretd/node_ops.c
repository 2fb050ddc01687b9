/*
 * The worker ops (issue 11): node.assignments, node.deliver, task.report.
 * Each takes the node from the request context (rq->node_id: the verified
 * caller, filled by the session/identity layers), never from its arguments,
 * and refuses a request that has none (the admin socket). Each writes its own
 * audit records in the batch: a delivery or refusal per secret, a task
 * update, a refused report. docs/delivery-manager.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/error.h"
#include "secretd/admin.h"
#include "secretd/authorizer.h"
#include "secretd/dispatch.h"
#include "secretd/serve.h"
#include "store/validate.h"
#include "wire/msg.h"

struct node_req {
  /* node.assignments */
  struct wire_assignments set;
  bool stale, has_theirs;
  uint64_t their_gen;
  uint8_t their_digest[STORE_DIGEST_LEN];
  /* node.deliver */
  struct authz_request authz;
  int hard; /* a hard error of the check */
  /* task.report */
  char state[STORE_TASK_STATE_MAX + 1];
  bool has_exit;
  int32_t exit_code;
  uint32_t restarts;
  const char *why; /* a refused report */
};

void node_req_clear(struct admin_req *rq) {
  if (!rq || !rq->nodereq)
    return;
  wire_assignments_clear(&rq->nodereq->set);
  authz_release(&rq->nodereq->authz);
  free(rq->nodereq);
  rq->nodereq = NULL;
}

/* Common start: a caller node, the actor, the audit object, the state. */
static int node_begin(struct admin_req *rq) {
  if (!rq->node_id[0] || store_validate_node(rq->node_id) < 0) {
    rq->errmsg = "a worker operation needs a node's verified certificate";
    return SD_E_DENIED;
  }
  rq->actor = (struct store_actor){.node = rq->node_id};
  snprintf(rq->ref, sizeof(rq->ref), "%.120s", rq->node_id);
  if (!(rq->nodereq = calloc(1, sizeof(*rq->nodereq))))
    return -ENOMEM;
  return 0;
}

static void copy_str(const msgpack_object *args, const char *key, char *buf, size_t cap) {
  const msgpack_object *o = wire_map_get(args, key);
  size_t n = o && o->via.str.size < cap ? o->via.str.size : 0; /* the schema bounded it */
  if (n)
    memcpy(buf, o->via.str.ptr, n);
  buf[n] = 0;
}

/* ---- node.assignments ---- */

static int count_bytes(void *data, const char *buf, size_t len) {
  (void)buf;
  *(size_t *)data += len;
  return 0;
}

/* 0, or -E2BIG when set's reply would not fit one frame. Writes keep every set
 * within DISPATCH_SET_MAX (dispatch_write_bounded); only a store written before
 * that can hold a larger one: its reply is refused here with a message that says
 * so, instead of the session's "too large for one frame". */
static int set_fits_a_reply(const struct wire_assignments *a) {
  msgpack_packer pk;
  size_t n = 0;
  msgpack_packer_init(&pk, &n, count_bytes);
  int r = wire_assignments_pack(&pk, a);
  return r < 0 ? r : n > DISPATCH_SET_MAX ? -E2BIG : 0;
}

int node_prep_assignments(struct admin_req *rq, const msgpack_object *args) {
  int r = node_begin(rq);
  if (r < 0)
    return r;
  struct node_req *nr = rq->nodereq;
  const msgpack_object *g = wire_map_get(args, "generation"), *d = wire_map_get(args, "digest");
  if (!g != !d) {
    rq->errmsg = "generation and digest go together";
    return SD_E_PROTO;
  }
  if (g) {
    nr->has_theirs = true;
    nr->their_gen = g->via.u64;
    sodium_hex2bin(nr->their_digest, sizeof(nr->their_digest), d->via.str.ptr, 64, NULL, NULL,
                   NULL);
  }
  if ((r = dispatch_build(rq->server->store, rq->node_id, &nr->set, &nr->stale)) == -E2BIG)
    rq->errmsg = "this node's assignments exceed the protocol's bounds (tasks or grants)";
  if (r == 0 && (r = set_fits_a_reply(&nr->set)) < 0)
    rq->errmsg = "this node's assignments are larger than one frame (a store written before "
                 "secretd bounded them): remove services or grants from this node";
  return r;
}

int node_run_assignments(struct store_batch *b, struct admin_req *rq) {
  struct node_req *nr = rq->nodereq;
  char object[120];
  int r = nr->stale ? dispatch_gen_advance(b, &nr->set) : 0;
  snprintf(object, sizeof(object), "node:%.60s generation:%llu tasks:%zu", rq->node_id,
           (unsigned long long)nr->set.generation, nr->set.n_tasks);
  int ra = store_audit_note(b, &rq->actor, "node.assignments", object, r);
  return ra < 0 ? ra : r;
}

void node_pack_assignments(msgpack_packer *pk, const struct admin_req *rq) {
  const struct node_req *nr = rq->nodereq;
  bool current = nr->has_theirs && nr->their_gen == nr->set.generation &&
                 memcmp(nr->their_digest, nr->set.digest, STORE_DIGEST_LEN) == 0;
  char hex[2 * STORE_DIGEST_LEN + 1];
  sodium_bin2hex(hex, sizeof(hex), nr->set.digest, STORE_DIGEST_LEN);
  msgpack_pack_map(pk, current ? 3 : 4);
  wire_pack_kv_bool(pk, "current", current);
  wire_pack_kv_uint(pk, "generation", nr->set.generation);
  wire_pack_kv_str(pk, "digest", hex);
  if (!current) {
    wire_pack_str(pk, "assignments");
    wire_assignments_pack(pk, &nr->set);
  }
}

/* ---- node.deliver ---- */

int node_prep_deliver(struct admin_req *rq, const msgpack_object *args) {
  int r = node_begin(rq);
  if (r < 0)
    return r;
  struct authz_request *az = &rq->nodereq->authz;
  const msgpack_object *m = wire_map_get(args, "secrets");
  snprintf(az->node, sizeof(az->node), "%s", rq->node_id);
  copy_str(args, "service", az->service, sizeof(az->service));
  copy_str(args, "task", az->task, sizeof(az->task));
  snprintf(rq->service, sizeof(rq->service), "%s", az->service);
  /* the schema checked: 1..STORE_DELIVER_MAX entries of 32-hex id -> 1..2^32-1 */
  if (!(az->items = calloc(m->via.map.size, sizeof(*az->items))))
    return -ENOMEM;
  for (uint32_t i = 0; i < m->via.map.size; i++) {
    memcpy(az->items[i].secret_id, m->via.map.ptr[i].key.via.str.ptr, 32);
    az->items[i].secret_id[32] = 0;
    az->items[i].version = (uint32_t)m->via.map.ptr[i].val.via.u64;
  }
  az->n = m->via.map.size;
  if (store_validate_name(az->service) < 0) {
    az->code = SD_E_DENIED; /* no task can have it: refused and audited like any other */
    az->why = "unknown task (invalid service name)";
    return 0;
  }
  rq->nodereq->hard = authz_check(rq->server->store, az);
  return 0;
}

int node_run_deliver(struct store_batch *b, struct admin_req *rq) {
  struct node_req *nr = rq->nodereq;
  int r = authz_audit(b, &nr->authz, nr->hard);
  if (r < 0)
    return r;
  if (nr->hard)
    return nr->hard;
  if (nr->authz.code) {
    rq->code = nr->authz.code;
    rq->errmsg = nr->authz.why;
    return nr->authz.code;
  }
  return 0;
}

void node_pack_deliver(msgpack_packer *pk, const struct admin_req *rq) {
  authz_pack(pk, &rq->nodereq->authz);
}

/* ---- task.report ---- */

/* Is service's task task_id placed on node? NULL (and its slot) or why not. */
static const char *task_of_node(struct store *s, const char *service, const char *task_id,
                                const char *node, uint32_t *slot, int *hard) {
  struct store_service_info *svc = NULL;
  const char *why = NULL;
  *hard = 0;
  if (store_validate_name(service) < 0)
    return "unknown task";
  int r = store_service_inspect(s, service, &svc);
  if (r == -ENOENT)
    return "unknown task";
  if (r < 0) {
    *hard = r;
    return NULL;
  }
  why = "unknown task";
  for (size_t i = 0; i < svc->n_tasks; i++)
    if (strcmp(svc->tasks[i].id, task_id) == 0) {
      why = strcmp(svc->tasks[i].node, node) == 0 ? NULL : "task of another node";
      *slot = svc->tasks[i].slot;
    }
  store_service_info_free(svc, 1);
  return why;
}

int node_prep_task_report(struct admin_req *rq, const msgpack_object *args) {
  int r = node_begin(rq);
  if (r < 0)
    return r;
  struct node_req *nr = rq->nodereq;
  uint64_t u = 0;
  copy_str(args, "service", rq->service, sizeof(rq->service));
  copy_str(args, "task", rq->name, sizeof(rq->name)); /* 32 hex digits (schema) */
  copy_str(args, "state", nr->state, sizeof(nr->state));
  const msgpack_object *ec = wire_map_get(args, "exit_code");
  if (ec) {
    nr->has_exit = true;
    nr->exit_code = (int32_t)ec->via.u64; /* <= 255 (schema) */
  }
  if (wire_get_uint(args, "restarts", &u) == 0)
    nr->restarts = (uint32_t)u;
  return 0;
}

int node_run_task_report(struct store_batch *b, struct admin_req *rq) {
  struct node_req *nr = rq->nodereq;
  char object[300];
  uint32_t slot = 0;
  int hard;
  /* Checked in the worker, right before the write: a task moved or removed
   * since the request arrived is refused, not updated under another node. */
  nr->why = task_of_node(rq->server->store, rq->service, rq->name, rq->node_id, &slot, &hard);
  if (hard)
    return hard;
  if (nr->why) {
    snprintf(object, sizeof(object), "service:%.64s task:%s state:%s refused:%s", rq->service,
             rq->name, nr->state, nr->why);
    int ra = store_audit_note(b, &rq->actor, "task.report", object, SD_E_DENIED);
    if (ra < 0)
      return ra;
    rq->code = SD_E_DENIED;
    rq->errmsg = nr->why;
    return SD_E_DENIED;
  }
  int r = store_task_update(b, &rq->actor, rq->service, slot, nr->state,
                            nr->has_exit ? &nr->exit_code : NULL, nr->restarts);
  if (r == -EINVAL) {
    rq->code = r;
    rq->errmsg = "invalid task state: a word of at most 15 of a-z and _";
  }
  return r;
}

void node_pack_task_report(msgpack_packer *pk, const struct admin_req *rq) {
  msgpack_pack_map(pk, 2);
  wire_pack_kv_str(pk, "task", rq->name);
  wire_pack_kv_str(pk, "state", rq->nodereq->state);
}
