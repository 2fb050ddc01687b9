/*
 * The service ops of the admin API: service.create, service.ls, service.inspect,
 * service.rm. A create's launch spec is decoded strictly and validated with the
 * launcher's own rules and messages (runtime/launch_spec.h) before it is stored,
 * re-encoded in its canonical form; the node is kept as given (an id or a host name),
 * checked for its format only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "runtime/launch_spec.h"
#include "secretd/admin.h"
#include "secretd/dispatch.h"
#include "secretd/serve.h"
#include "wire/msg.h"

/* A stored spec travels back whole in service.inspect (and to agents): it must leave
 * room in a frame (WIRE_MAX_FRAME) for the rest of the reply. */
#define ADMIN_SPEC_MAX ((size_t)1 << 20)

int admin_prep_service_create(struct admin_req *rq, const msgpack_object *args) {
  struct launch_spec spec;
  msgpack_sbuffer sb;
  int r = admin_arg_str(args, "name", rq->name, sizeof(rq->name), SD_E_NAME);
  if (r < 0)
    return r;
  if ((r = admin_arg_str(args, "node", rq->node, sizeof(rq->node), -EINVAL)) < 0 ||
      store_validate_node(rq->node) < 0) {
    rq->errmsg = "invalid node: an id or a host name (1..253 of A-Z a-z 0-9 . _ -, not "
                 "starting with . or -)";
    return -EINVAL;
  }
  const msgpack_object *o = wire_map_get(args, "spec");
  launch_spec_init(&spec);
  r = launch_spec_decode(o->via.bin.ptr, o->via.bin.size, &spec, rq->errbuf);
  if (r == -EBADMSG || r == -E2BIG || r == -EINVAL) {
    rq->errmsg = rq->errbuf; /* the launcher's words (or the field that is malformed) */
    return -EINVAL;
  }
  if (r < 0)
    return r;
  /* Stored in the canonical form: what was validated is exactly what nodes get. */
  msgpack_sbuffer_init(&sb);
  if ((r = launch_spec_encode(&spec, &sb)) == 0 && sb.size > ADMIN_SPEC_MAX) {
    rq->errmsg = "the launch spec is larger than 1 MiB";
    r = -E2BIG;
  } else if (r == 0) {
    rq->spec = (uint8_t *)sb.data;
    rq->spec_len = sb.size;
    sb.data = NULL;
  }
  msgpack_sbuffer_destroy(&sb);
  launch_spec_clear(&spec);
  return r;
}

int admin_refuse_unfit(struct store_batch *b, struct admin_req *rq, const struct dispatch_fit *f,
                       int r) {
  char object[300], what[200];
  if (!f->rolled_back)
    return r; /* the write itself failed: its own record says so */
  admin_req_object(rq, what, sizeof(what));
  if (r == -E2BIG && f->counts) {
    snprintf(rq->errbuf, sizeof(rq->errbuf),
             "refused: node %.64s would hold more than %d tasks, or a task more than %d grants "
             "(the protocol's bounds on one node's assignments)",
             f->node, WIRE_ASSIGN_TASKS_MAX, WIRE_ASSIGN_GRANTS_MAX);
    snprintf(object, sizeof(object), "%s node:%.64s over:counts", what, f->node);
  } else if (r == -E2BIG) {
    bool create = rq->action && strcmp(rq->action, "service.create") == 0;
    snprintf(rq->errbuf, sizeof(rq->errbuf),
             "refused: node %.64s's assignments (%zu tasks) would reach %zu bytes, over the "
             "limit of %zu bytes (one frame); %s",
             f->node, f->tasks, f->bytes, DISPATCH_SET_MAX,
             create ? "place the service on another node, or remove services or grants from "
                      "this one"
                    : "remove services or grants from this node first");
    snprintf(object, sizeof(object), "%s node:%.64s bytes:%zu limit:%zu", what, f->node, f->bytes,
             DISPATCH_SET_MAX);
  } else {
    snprintf(object, sizeof(object), "%s (node's assignments not measured)", what);
  }
  int ra = store_audit_note(b, &rq->actor, rq->action, object, r);
  if (ra < 0)
    return ra;
  if (r == -E2BIG) {
    rq->code = r;
    rq->errmsg = rq->errbuf;
  }
  return r;
}

static int create_write(struct store_batch *b, void *ud) {
  struct admin_req *rq = ud;
  return store_service_create(b, &rq->actor, rq->name, rq->node, rq->spec, rq->spec_len);
}

/* The service's task adds its spec and its service's grants (granted before
 * it was created) to the node's set: refused when that would not fit. */
int admin_run_service_create(struct store_batch *b, struct admin_req *rq) {
  struct dispatch_fit fit;
  int r = dispatch_write_bounded(b, rq->node, NULL, create_write, rq, &fit);
  return r < 0 ? admin_refuse_unfit(b, rq, &fit, r) : r;
}

void admin_pack_service_create(msgpack_packer *pk, const struct admin_req *rq) {
  msgpack_pack_map(pk, 2);
  wire_pack_kv_str(pk, "name", rq->name);
  wire_pack_kv_str(pk, "node", rq->node);
}

int admin_prep_service_rm(struct admin_req *rq, const msgpack_object *args) {
  return admin_arg_str(args, "name", rq->name, sizeof(rq->name), SD_E_NAME);
}

int admin_run_service_rm(struct store_batch *b, struct admin_req *rq) {
  return store_service_remove(b, &rq->actor, rq->name);
}

void admin_pack_service_name(msgpack_packer *pk, const struct admin_req *rq) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_str(pk, "name", rq->name);
}

int admin_prep_service_ls(struct admin_req *rq, const msgpack_object *args) {
  struct wire_page *pg = &rq->page;
  bool more = false;
  int r = wire_page_args(args, WIRE_LIST_SERVICES, 1, SD_NAME_MAX, pg, &rq->errmsg);
  if (r < 0)
    return r;
  /* The cursor's key is a service name: strictly after it in key order. */
  memcpy(rq->cursor, pg->after, pg->after_len);
  rq->cursor[pg->has_after ? pg->after_len : 0] = '\0';
  r = store_service_list(rq->server->store, rq->cursor, pg->limit, &rq->svcs, &rq->n_svcs, &more);
  rq->more = more;
  return r;
}

int admin_prep_service_inspect(struct admin_req *rq, const msgpack_object *args) {
  int r = admin_arg_str(args, "name", rq->name, sizeof(rq->name), SD_E_NAME);
  if (r < 0)
    return r;
  if ((r = store_service_inspect(rq->server->store, rq->name, &rq->svcs)) < 0)
    return r;
  rq->n_svcs = 1;
  return 0;
}

static void pack_tasks(msgpack_packer *pk, const struct store_service_info *s) {
  wire_pack_str(pk, "tasks");
  msgpack_pack_array(pk, s->n_tasks);
  for (size_t i = 0; i < s->n_tasks; i++) {
    const struct store_task_info *t = &s->tasks[i];
    msgpack_pack_map(pk, 8);
    wire_pack_kv_str(pk, "id", t->id);
    wire_pack_kv_uint(pk, "slot", t->slot);
    wire_pack_kv_str(pk, "node", t->node);
    wire_pack_kv_str(pk, "desired", t->desired);
    wire_pack_kv_str(pk, "state", t->state);
    wire_pack_kv_uint(pk, "since_ns", t->since_ns);
    wire_pack_str(pk, "exit_code"); /* nil until the task has exited */
    t->has_exit_code ? msgpack_pack_int32(pk, t->exit_code) : msgpack_pack_nil(pk);
    wire_pack_kv_uint(pk, "restarts", t->restarts);
  }
}

/* with_spec: the spec's map itself (its stored, canonical bytes) under "spec". */
static void pack_service(msgpack_packer *pk, const struct store_service_info *s, bool with_spec) {
  msgpack_pack_map(pk, 5 + with_spec);
  wire_pack_kv_str(pk, "name", s->name);
  wire_pack_kv_str(pk, "node", s->node);
  wire_pack_kv_uint(pk, "created_ns", s->created_ns);
  wire_pack_kv_uint(pk, "updated_ns", s->updated_ns);
  pack_tasks(pk, s);
  if (with_spec) {
    wire_pack_str(pk, "spec");
    pk->callback(pk->data, (const char *)s->spec, s->spec_len);
  }
}

void admin_pack_service_ls(msgpack_packer *pk, const struct admin_req *rq) {
  msgpack_pack_map(pk, 1 + rq->more);
  wire_pack_str(pk, "services");
  msgpack_pack_array(pk, rq->n_svcs);
  for (size_t i = 0; i < rq->n_svcs; i++)
    pack_service(pk, &rq->svcs[i], false);
  if (rq->more) /* the cursor of the next page: after the last name of this one */
    wire_pack_page_next(pk, WIRE_LIST_SERVICES, rq->svcs[rq->n_svcs - 1].name,
                        strlen(rq->svcs[rq->n_svcs - 1].name));
}

void admin_pack_service_inspect(msgpack_packer *pk, const struct admin_req *rq) {
  pack_service(pk, rq->svcs, true);
}

void admin_req_clear_services(struct admin_req *rq) {
  free(rq->spec);
  rq->spec = NULL;
  rq->spec_len = 0;
  store_service_info_free(rq->svcs, rq->n_svcs);
  rq->svcs = NULL;
  rq->n_svcs = 0;
}
