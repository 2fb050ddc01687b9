/*
 * The protocol schema (one op table for both ends) and the request and
 * response encoders/decoders built on it.
 */
#include "wire/proto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "base/limits.h"
#include "base/macro.h"

/* ---- the op tables ---- */

#define STR_MAX 1024u      /* names, refs, services, targets: the store checks the real rules */
/* label limits: base/limits.h, the one definition shared with the store */
#define LABELS_MAX SD_LABELS_MAX
#define LABEL_KEY_MAX SD_NAME_MAX
#define LABEL_VALUE_MAX SD_LABEL_VALUE_MAX
#define ARGS_END {NULL, 0, false, 0}

/* Every listing pages the same way (see "paging" in proto.h). */
#define WIRE_PAGE_ARGS                                                                         \
  {"limit", WIRE_T_UINT, false, WIRE_PAGE_MAX}, {"cursor", WIRE_T_STR, false, WIRE_CURSOR_MAX}

static const struct wire_arg_spec args_none[] = {ARGS_END};
static const struct wire_arg_spec args_page[] = {WIRE_PAGE_ARGS, ARGS_END};
static const struct wire_arg_spec args_create[] = {
    {"name", WIRE_T_STR, true, STR_MAX},
    {"value", WIRE_T_BIN, true, WIRE_MAX_FRAME},
    {"labels", WIRE_T_STRMAP, false, LABELS_MAX},
    ARGS_END,
};
static const struct wire_arg_spec args_rotate[] = {
    {"ref", WIRE_T_STR, true, STR_MAX},
    {"value", WIRE_T_BIN, true, WIRE_MAX_FRAME},
    ARGS_END,
};
static const struct wire_arg_spec args_rm[] = {
    {"ref", WIRE_T_STR, true, STR_MAX},
    {"force", WIRE_T_BOOL, false, 0},
    ARGS_END,
};
static const struct wire_arg_spec args_ref[] = {
    {"ref", WIRE_T_STR, true, STR_MAX},
    ARGS_END,
};
static const struct wire_arg_spec args_grant_add[] = {
    {"ref", WIRE_T_STR, true, STR_MAX},
    {"service", WIRE_T_STR, true, STR_MAX},
    {"target", WIRE_T_STR, false, STR_MAX},
    {"uid", WIRE_T_UINT, false, UINT32_MAX},
    {"gid", WIRE_T_UINT, false, UINT32_MAX},
    {"mode", WIRE_T_UINT, false, UINT32_MAX},
    {"version", WIRE_T_UINT, false, UINT32_MAX}, /* pin; absent or 0: follow the latest */
    ARGS_END,
};
static const struct wire_arg_spec args_grant_rm[] = {
    {"ref", WIRE_T_STR, true, STR_MAX},
    {"service", WIRE_T_STR, true, STR_MAX},
    ARGS_END,
};
static const struct wire_arg_spec args_grant_ls[] = {
    {"ref", WIRE_T_STR, true, STR_MAX},
    WIRE_PAGE_ARGS,
    ARGS_END,
};
static const struct wire_arg_spec args_audit_ls[] = {
    {"after_seq", WIRE_T_UINT, false, UINT64_MAX},
    {"since_ns", WIRE_T_UINT, false, UINT64_MAX},
    WIRE_PAGE_ARGS,
    ARGS_END,
};
static const struct wire_arg_spec args_audit_verify[] = {
    {"expect_seq", WIRE_T_UINT, false, UINT64_MAX},
    {"expect_hash", WIRE_T_HEX32, false, 64},
    ARGS_END,
};

/* services: the spec is the launch spec's msgpack form (runtime/launch_spec.h),
 * decoded strictly by secretd; node is an id or a host name, as given. */
static const struct wire_arg_spec args_service_create[] = {
    {"name", WIRE_T_STR, true, STR_MAX},
    {"node", WIRE_T_STR, true, STR_MAX},
    {"spec", WIRE_T_BIN, true, WIRE_MAX_FRAME},
    ARGS_END,
};
static const struct wire_arg_spec args_service_name[] = {
    {"name", WIRE_T_STR, true, STR_MAX},
    ARGS_END,
};

static const struct wire_arg_spec args_echo[] = {
    {"data", WIRE_T_STR, false, STR_MAX},
    ARGS_END,
};

#define ADMIN WIRE_ROLE_ADMIN
#define WORKER WIRE_ROLE_WORKER

static const struct wire_arg_spec args_join_token[] = {
    {"role", WIRE_T_STR, true, 16},
    {"rotate", WIRE_T_BOOL, false, 0},
    {"ttl_s", WIRE_T_UINT, false, UINT32_MAX},
    {"uses", WIRE_T_UINT, false, UINT32_MAX},
    ARGS_END,
};
static const struct wire_arg_spec args_cluster_update[] = {
    {"cert_expiry_s", WIRE_T_UINT, true, UINT32_MAX},
    ARGS_END,
};
static const struct wire_arg_spec args_node_join[] = {
    {"token", WIRE_T_BIN, true, WIRE_TOKEN_MAX},
    {"csr", WIRE_T_BIN, true, WIRE_CSR_MAX},
    {"hostname", WIRE_T_STR, false, 255},
    {"old_cert", WIRE_T_BIN, false, WIRE_CERT_MAX},
    {"pop", WIRE_T_BIN, false, 1024},
    ARGS_END,
};

static const struct wire_arg_spec args_node_renew[] = {
    {"csr", WIRE_T_BIN, true, WIRE_CSR_MAX},
    ARGS_END,
};

/* node.assignments: the pair the agent holds; both or neither (current: a short answer). */
static const struct wire_arg_spec args_node_assignments[] = {
    {"generation", WIRE_T_UINT, false, UINT64_MAX},
    {"digest", WIRE_T_HEX32, false, 64},
    ARGS_END,
};
#define DELIVER_SECRETS_MAX 256 /* STORE_DELIVER_MAX: secrets of one request */
static const struct wire_arg_spec args_node_deliver[] = {
    {"service", WIRE_T_STR, true, SD_NAME_MAX},
    {"task", WIRE_T_ID, true, 32},
    {"secrets", WIRE_T_VERSIONS, true, DELIVER_SECRETS_MAX},
    ARGS_END,
};
static const struct wire_arg_spec args_task_report[] = {
    {"service", WIRE_T_STR, true, SD_NAME_MAX},
    {"task", WIRE_T_ID, true, 32},
    {"state", WIRE_T_STR, true, 15},
    {"exit_code", WIRE_T_UINT, false, 255}, /* 128 + n: killed by signal n */
    {"restarts", WIRE_T_UINT, false, UINT32_MAX},
    ARGS_END,
};
static const struct wire_arg_spec args_node_hello[] = {
    {"hostname", WIRE_T_STR, false, 255},
    ARGS_END,
};

static const struct {
  const char *name;
  const struct wire_arg_spec *args;
  uint32_t roles; /* enum wire_role: who may call it */
} ops[WIRE_OP__COUNT] = {
    [WIRE_OP_PING] = {"ping", args_none, ADMIN | WORKER},
    [WIRE_OP_SECRET_CREATE] = {"secret.create", args_create, ADMIN},
    [WIRE_OP_SECRET_ROTATE] = {"secret.rotate", args_rotate, ADMIN},
    [WIRE_OP_SECRET_RM] = {"secret.rm", args_rm, ADMIN},
    [WIRE_OP_SECRET_LS] = {"secret.ls", args_page, ADMIN},
    [WIRE_OP_SECRET_INSPECT] = {"secret.inspect", args_ref, ADMIN},
    [WIRE_OP_GRANT_ADD] = {"grant.add", args_grant_add, ADMIN},
    [WIRE_OP_GRANT_RM] = {"grant.rm", args_grant_rm, ADMIN},
    [WIRE_OP_AUDIT_LS] = {"audit.ls", args_audit_ls, ADMIN},
    [WIRE_OP_AUDIT_VERIFY] = {"audit.verify", args_audit_verify, ADMIN},
    [WIRE_OP_GRANT_LS] = {"grant.ls", args_grant_ls, ADMIN},
    [WIRE_OP_SERVICE_CREATE] = {"service.create", args_service_create, ADMIN},
    [WIRE_OP_SERVICE_LS] = {"service.ls", args_page, ADMIN},
    [WIRE_OP_SERVICE_INSPECT] = {"service.inspect", args_service_name, ADMIN},
    [WIRE_OP_SERVICE_RM] = {"service.rm", args_service_name, ADMIN},
    [WIRE_OP_SESSION_ECHO] = {"session.echo", args_echo, WORKER},
    [WIRE_OP_JOIN_TOKEN] = {"join_token", args_join_token, ADMIN},
    [WIRE_OP_NODE_LS] = {"node.ls", args_page, ADMIN},
    [WIRE_OP_NODE_INSPECT] = {"node.inspect", args_ref, ADMIN},
    [WIRE_OP_NODE_RM] = {"node.rm", args_rm, ADMIN},
    [WIRE_OP_CLUSTER_UPDATE] = {"cluster.update", args_cluster_update, ADMIN},
    [WIRE_OP_NODE_JOIN] = {"node.join", args_node_join, WIRE_ROLE_ANON},
    [WIRE_OP_NODE_RENEW] = {"node.renew", args_node_renew, WORKER | WIRE_ROLE_MANAGER},
    [WIRE_OP_NODE_ASSIGNMENTS] = {"node.assignments", args_node_assignments, WORKER},
    [WIRE_OP_NODE_DELIVER] = {"node.deliver", args_node_deliver, WORKER},
    [WIRE_OP_TASK_REPORT] = {"task.report", args_task_report, WORKER},
    [WIRE_OP_NODE_HELLO] = {"node.hello", args_node_hello, WORKER | WIRE_ROLE_MANAGER},
};

uint32_t wire_op_roles(enum wire_op op) {
  return (unsigned)op < WIRE_OP__COUNT ? ops[op].roles : 0;
}

const char *wire_role_name(uint32_t role) {
  switch (role) {
  case WIRE_ROLE_ADMIN: return "admin";
  case WIRE_ROLE_WORKER: return "worker";
  case WIRE_ROLE_MANAGER: return "manager";
  case WIRE_ROLE_ANON: return "anon";
  default: return "none";
  }
}

const char *wire_op_name(enum wire_op op) {
  return (unsigned)op < WIRE_OP__COUNT ? ops[op].name : NULL;
}

const struct wire_arg_spec *wire_op_args(enum wire_op op) {
  return (unsigned)op < WIRE_OP__COUNT ? ops[op].args : NULL;
}

int wire_op_lookup(const char *s, size_t len) {
  for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
    if (strlen(ops[i].name) == len && memcmp(ops[i].name, s, len) == 0)
      return (int)i;
  return -ENOENT;
}

/* ---- validation ---- */

static bool str_ok(const msgpack_object *o, uint64_t max) {
  return o->type == MSGPACK_OBJECT_STR && o->via.str.size <= max && !wire_str_has_nul(&o->via.str);
}

/* 32 lowercase hex digits: ids as the store prints them (one spelling per id). */
static bool is_id32(const msgpack_object *o) {
  if (o->type != MSGPACK_OBJECT_STR || o->via.str.size != 32)
    return false;
  for (uint32_t i = 0; i < 32; i++) {
    char c = o->via.str.ptr[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  }
  return true;
}

static bool is_hex64(const msgpack_object *o) {
  if (o->type != MSGPACK_OBJECT_STR || o->via.str.size != 64)
    return false;
  for (uint32_t i = 0; i < 64; i++) {
    char c = o->via.str.ptr[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
      return false;
  }
  return true;
}

/* 0, or SD_E_PROTO with err->msg naming the argument. */
static int check_arg(const char *op, const struct wire_arg_spec *a, const msgpack_object *v,
                     struct wire_error *err) {
  const char *why = NULL;
  switch (a->type) {
  case WIRE_T_STR:
    if (v->type != MSGPACK_OBJECT_STR)
      why = "must be a string";
    else if (v->via.str.size > a->max)
      why = "is too long";
    else if (wire_str_has_nul(&v->via.str))
      why = "contains a NUL byte";
    break;
  case WIRE_T_BIN:
    if (v->type != MSGPACK_OBJECT_BIN)
      why = "must be bin";
    else if (v->via.bin.size > a->max)
      why = "is too long";
    break;
  case WIRE_T_UINT:
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
      why = "must be an unsigned integer";
    else if (v->via.u64 > a->max)
      why = "is out of range";
    break;
  case WIRE_T_BOOL:
    if (v->type != MSGPACK_OBJECT_BOOLEAN)
      why = "must be a boolean";
    break;
  case WIRE_T_STRMAP:
    if (v->type != MSGPACK_OBJECT_MAP) {
      why = "must be a map";
      break;
    }
    if (v->via.map.size > a->max) {
      why = "has too many entries";
      break;
    }
    if (wire_map_has_duplicate_keys(v)) {
      why = "has duplicate keys";
      break;
    }
    for (uint32_t i = 0; i < v->via.map.size && !why; i++)
      if (!str_ok(&v->via.map.ptr[i].key, LABEL_KEY_MAX) ||
          !str_ok(&v->via.map.ptr[i].val, LABEL_VALUE_MAX))
        why = "must map strings (keys <= 256, values <= 1024 bytes, no NUL) to strings";
    break;
  case WIRE_T_HEX32:
    if (!is_hex64(v))
      why = "must be 64 hex digits";
    break;
  case WIRE_T_ID:
    if (!is_id32(v))
      why = "must be 32 lowercase hex digits";
    break;
  case WIRE_T_VERSIONS:
    if (v->type != MSGPACK_OBJECT_MAP || v->via.map.size == 0) {
      why = "must be a non-empty map";
      break;
    }
    if (v->via.map.size > a->max) {
      why = "has too many entries";
      break;
    }
    for (uint32_t i = 0; i < v->via.map.size && !why; i++)
      if (!is_id32(&v->via.map.ptr[i].key) ||
          v->via.map.ptr[i].val.type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
          v->via.map.ptr[i].val.via.u64 == 0 || v->via.map.ptr[i].val.via.u64 > UINT32_MAX)
        why = "must map secret ids (32 lowercase hex digits) to versions (1 .. 2^32-1)";
    if (!why && wire_map_has_duplicate_keys(v))
      why = "has duplicate keys";
    break;
  }
  if (!why)
    return 0;
  snprintf(err->msg, sizeof(err->msg), "%s: argument '%s' %s", op, a->key, why);
  return SD_E_PROTO;
}

/* An attacker-chosen key or name, cut and made printable for a message. */
static void show_str(const msgpack_object *k, char *shown, size_t cap) {
  size_t n = 0;
  for (; n < k->via.str.size && n < cap - 1; n++) {
    char c = k->via.str.ptr[n];
    shown[n] = (c >= 0x20 && c < 0x7f && c != '\'') ? c : '?';
  }
  shown[n] = 0;
}

/*
 * The bounds that hold for every map the schema reads (the top level and
 * args), whatever its keys: at most WIRE_KEYS_MAX entries, keys of at most
 * WIRE_KEY_MAX bytes, no key twice. They hold for keys this end ignores too,
 * so that ignored fields cannot be used to make a reader work harder or to
 * make two readers of one frame disagree. NULL or what is wrong.
 */
static const char *map_bounds(const msgpack_object *map) {
  if (map->via.map.size > WIRE_KEYS_MAX)
    return "too many keys";
  for (uint32_t i = 0; i < map->via.map.size; i++)
    if (map->via.map.ptr[i].key.via.str.size > WIRE_KEY_MAX)
      return "a key is too long";
  if (wire_map_has_duplicate_keys(map))
    return "a key appears twice";
  return NULL;
}

static int check_args(enum wire_op opc, const msgpack_object *args, struct wire_error *err) {
  const char *op = ops[opc].name;
  const struct wire_arg_spec *a;
  const char *why;
  int r;

  if ((why = map_bounds(args))) {
    snprintf(err->msg, sizeof(err->msg), "%s: arguments: %s (at most %d keys of %d bytes)", op,
             why, WIRE_KEYS_MAX, WIRE_KEY_MAX);
    return SD_E_PROTO;
  }
  for (uint32_t i = 0; i < args->via.map.size; i++) {
    const msgpack_object *k = &args->via.map.ptr[i].key;
    for (a = ops[opc].args; a->key; a++)
      if (wire_str_is(k, a->key))
        break;
    /* Field evolution: an argument a newer peer added is ignored (its value
     * was bounded by the frame decoder; map_bounds bounded the keys). */
    if (!a->key)
      continue;
    if ((r = check_arg(op, a, &args->via.map.ptr[i].val, err)) < 0)
      return r;
  }
  for (a = ops[opc].args; a->key; a++)
    if (a->required && !wire_map_get(args, a->key)) {
      snprintf(err->msg, sizeof(err->msg), "%s: missing argument '%s'", op, a->key);
      return SD_E_PROTO;
    }
  return 0;
}

/* Copy a well-formed op name (letters, digits, '.', '_', '-') for audit records. */
static void copy_op_name(const msgpack_object *o, struct wire_error *err) {
  if (o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 ||
      o->via.str.size > WIRE_OP_NAME_MAX)
    return;
  for (uint32_t i = 0; i < o->via.str.size; i++) {
    char c = o->via.str.ptr[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == '-'))
      return;
  }
  memcpy(err->op, o->via.str.ptr, o->via.str.size);
  err->op[o->via.str.size] = 0;
}

static int fail(struct wire_error *err, const char *msg) {
  snprintf(err->msg, sizeof(err->msg), "%s", msg);
  err->code = SD_E_PROTO;
  return SD_E_PROTO;
}

/* Top-level keys: unknown ones are ignored (field evolution), within the
 * bounds of map_bounds. */
static int check_top_keys(const msgpack_object *root, struct wire_error *err) {
  const char *why = map_bounds(root);
  if (!why)
    return 0;
  snprintf(err->msg, sizeof(err->msg), "message: %s (at most %d keys of %d bytes)", why,
           WIRE_KEYS_MAX, WIRE_KEY_MAX);
  err->code = SD_E_PROTO;
  return SD_E_PROTO;
}

static int check_version(const msgpack_object *root, struct wire_error *err) {
  uint64_t ver = 0;
  int r = wire_get_uint(root, "v", &ver);
  if (r == -ENOENT)
    return fail(err, "missing key 'v'");
  if (r < 0 || ver != WIRE_VERSION)
    return fail(err, "unsupported protocol version (expected v=1)");
  return 0;
}

int wire_request_decode(const uint8_t *frame, size_t len, struct wire_value **ret_val,
                        struct wire_request *ret, struct wire_error *err) {
  struct wire_value *v = NULL;
  const msgpack_object *root, *o, *args;
  int r;

  *err = (struct wire_error){.code = SD_E_PROTO};
  snprintf(err->op, sizeof(err->op), "malformed");
  if ((r = wire_value_decode(frame, len, &v)) < 0) {
    err->code = r;
    snprintf(err->msg, sizeof(err->msg), "%s",
             r == -ENOMEM ? "out of memory" : wire_decode_reason());
    return r;
  }
  root = wire_value_root(v);
  if (root->type != MSGPACK_OBJECT_MAP) {
    r = fail(err, "request is not a map");
    goto out;
  }
  /* Read id and op first so a refusal can name them. */
  if ((o = wire_map_get(root, "op")))
    copy_op_name(o, err);
  if ((r = wire_get_uint(root, "id", &err->id)) < 0) {
    err->id = 0;
    r = fail(err, r == -ENOENT ? "missing key 'id'" : "key 'id' must be an unsigned integer");
    goto out;
  }
  if ((r = check_top_keys(root, err)) < 0 ||
      (r = check_version(root, err)) < 0)
    goto out;
  if (!o) {
    r = fail(err, "missing key 'op'");
    goto out;
  }
  if (o->type != MSGPACK_OBJECT_STR) {
    r = fail(err, "key 'op' must be a string");
    goto out;
  }
  int opc = wire_op_lookup(o->via.str.ptr, o->via.str.size);
  if (opc < 0) {
    /* A newer peer's operation: a distinct code the caller can recognise. */
    char shown[WIRE_OP_NAME_MAX + 1];
    show_str(o, shown, sizeof(shown));
    snprintf(err->msg, sizeof(err->msg), "unsupported operation '%s%s'", shown,
             o->via.str.size > WIRE_OP_NAME_MAX ? "..." : "");
    r = err->code = SD_E_UNSUPPORTED;
    goto out;
  }
  if ((r = wire_get_map(root, "args", &args)) < 0) {
    r = fail(err, r == -ENOENT ? "missing key 'args'" : "key 'args' must be a map");
    goto out;
  }
  if ((r = check_args((enum wire_op)opc, args, err)) < 0) {
    err->code = r;
    goto out;
  }
  *ret = (struct wire_request){.id = err->id, .opcode = (enum wire_op)opc, .op = ops[opc].name,
                               .args = args};
  *ret_val = TAKE_PTR(v);
  r = 0;
out:
  wire_value_free(v);
  return r;
}

int wire_response_decode(const uint8_t *frame, size_t len, struct wire_value **ret_val,
                         struct wire_response *ret, struct wire_error *err) {
  struct wire_value *v = NULL;
  const msgpack_object *root;
  struct wire_response resp = {0};
  int64_t code = 0;
  int r;

  *err = (struct wire_error){.code = SD_E_PROTO};
  if ((r = wire_value_decode(frame, len, &v)) < 0) {
    err->code = r;
    snprintf(err->msg, sizeof(err->msg), "%s",
             r == -ENOMEM ? "out of memory" : wire_decode_reason());
    return r;
  }
  root = wire_value_root(v);
  if (root->type != MSGPACK_OBJECT_MAP) {
    r = fail(err, "response is not a map");
    goto out;
  }
  if ((r = check_top_keys(root, err)) < 0 ||
      (r = check_version(root, err)) < 0)
    goto out;
  if (wire_get_uint(root, "id", &resp.id) < 0 || wire_get_bool(root, "ok", &resp.ok) < 0 ||
      wire_get_int(root, "code", &code) < 0) {
    r = fail(err, "response lacks a valid 'id', 'ok' or 'code'");
    goto out;
  }
  err->id = resp.id;
  r = wire_get_map(root, "result", &resp.result);
  if (r == SD_E_PROTO) {
    r = fail(err, "key 'result' must be a map");
    goto out;
  }
  if (resp.ok) {
    if (code != 0 || wire_map_get(root, "error")) {
      r = fail(err, "ok response with an error code or message");
      goto out;
    }
  } else {
    if (code >= 0 || code < INT32_MIN) {
      r = fail(err, "error response without a negative code");
      goto out;
    }
    resp.code = (int)code;
    r = wire_get_str(root, "error", resp.error, sizeof(resp.error));
    if (r == -ENOENT)
      snprintf(resp.error, sizeof(resp.error), "%s", sd_strerror(resp.code));
    else if (r < 0) {
      r = fail(err, "key 'error' must be a string of at most 255 bytes");
      goto out;
    }
  }
  /* A missing result is an empty map for the reader's getters. */
  if (!resp.result) {
    static const msgpack_object empty = {.type = MSGPACK_OBJECT_MAP};
    resp.result = &empty;
  }
  *ret = resp;
  *ret_val = TAKE_PTR(v);
  r = 0;
out:
  wire_value_free(v);
  return r;
}

/* ---- encoding ---- */

int wire_request_encode(struct wire_buf *b, uint64_t id, enum wire_op op, wire_pack_fn pack_args,
                        void *ud) {
  msgpack_packer pk;
  const char *name = wire_op_name(op);
  if (!name)
    return -EINVAL;
  wire_buf_init(b, &pk);
  msgpack_pack_map(&pk, 4);
  wire_pack_kv_uint(&pk, "v", WIRE_VERSION);
  wire_pack_kv_uint(&pk, "id", id);
  wire_pack_kv_str(&pk, "op", name);
  wire_pack_str(&pk, "args");
  if (pack_args)
    pack_args(&pk, ud);
  else
    msgpack_pack_map(&pk, 0);
  return wire_buf_finish(b);
}

int wire_response_encode_ok(struct wire_buf *b, uint64_t id, wire_pack_fn pack_result, void *ud) {
  msgpack_packer pk;
  wire_buf_init(b, &pk);
  msgpack_pack_map(&pk, 5);
  wire_pack_kv_uint(&pk, "v", WIRE_VERSION);
  wire_pack_kv_uint(&pk, "id", id);
  wire_pack_kv_bool(&pk, "ok", true);
  wire_pack_str(&pk, "code");
  msgpack_pack_int64(&pk, 0);
  wire_pack_str(&pk, "result");
  if (pack_result)
    pack_result(&pk, ud);
  else
    msgpack_pack_map(&pk, 0);
  return wire_buf_finish(b);
}

int wire_response_encode_error(struct wire_buf *b, uint64_t id, int code, const char *msg) {
  msgpack_packer pk;
  char line[256];
  snprintf(line, sizeof(line), "%s", msg ? msg : sd_strerror(code < 0 ? code : -EIO));
  wire_buf_init(b, &pk);
  msgpack_pack_map(&pk, 6);
  wire_pack_kv_uint(&pk, "v", WIRE_VERSION);
  wire_pack_kv_uint(&pk, "id", id);
  wire_pack_kv_bool(&pk, "ok", false);
  wire_pack_str(&pk, "code");
  msgpack_pack_int64(&pk, code < 0 ? code : -EIO);
  wire_pack_kv_str(&pk, "error", line);
  wire_pack_str(&pk, "result");
  msgpack_pack_map(&pk, 0);
  return wire_buf_finish(b);
}

/* ---- paging ---- */

#define CURSOR_FORMAT 1

static int hex_nibble(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1; /* upper case is not what we emit: refused, one spelling per cursor */
}

int wire_cursor_encode(enum wire_listing kind, const void *key, size_t len,
                       char buf[WIRE_CURSOR_MAX + 1]) {
  static const char digits[] = "0123456789abcdef";
  if (len > WIRE_CURSOR_KEY_MAX || (int)kind <= 0 || (int)kind > 0xff)
    return -EINVAL;
  const uint8_t *k = key;
  size_t o = 0;
  uint8_t head[2] = {CURSOR_FORMAT, (uint8_t)kind};
  for (size_t i = 0; i < 2 + len; i++) {
    uint8_t b = i < 2 ? head[i] : k[i - 2];
    buf[o++] = digits[b >> 4];
    buf[o++] = digits[b & 15];
  }
  buf[o] = 0;
  return 0;
}

int wire_cursor_decode(const char *s, size_t n, enum wire_listing kind, size_t key_min,
                       size_t key_max, uint8_t *key, size_t *ret_len, const char **why) {
  uint8_t head[2];
  if (key_max > WIRE_CURSOR_KEY_MAX)
    key_max = WIRE_CURSOR_KEY_MAX;
  if (n < 4 || n % 2 != 0 || n > 2 * (2 + key_max) || n < 2 * (2 + key_min)) {
    *why = "cursor has the wrong length for this listing";
    return SD_E_PROTO;
  }
  for (size_t i = 0; i < n; i += 2) {
    int hi = hex_nibble(s[i]), lo = hex_nibble(s[i + 1]);
    if (hi < 0 || lo < 0) {
      *why = "cursor is not lower-case hex";
      return SD_E_PROTO;
    }
    uint8_t b = (uint8_t)(hi << 4 | lo);
    if (i < 4)
      head[i / 2] = b;
    else
      key[i / 2 - 2] = b;
  }
  if (head[0] != CURSOR_FORMAT) {
    *why = "cursor of an unknown format";
    return SD_E_PROTO;
  }
  if (head[1] != (uint8_t)kind) {
    *why = "cursor belongs to another listing";
    return SD_E_PROTO;
  }
  *ret_len = n / 2 - 2;
  return 0;
}

int wire_page_args(const msgpack_object *args, enum wire_listing kind, size_t key_min,
                   size_t key_max, struct wire_page *ret, const char **why) {
  const msgpack_object *lim = wire_map_get(args, "limit"), *cur = wire_map_get(args, "cursor");
  *ret = (struct wire_page){.limit = WIRE_PAGE_DEFAULT, .asked = lim || cur};
  /* The schema checked the types and bounds; checked again here because
   * this is the one place every listing reads them. */
  if (lim) {
    if (lim->type != MSGPACK_OBJECT_POSITIVE_INTEGER || lim->via.u64 > WIRE_PAGE_MAX) {
      *why = "limit is out of range";
      return SD_E_PROTO;
    }
    if (lim->via.u64 > 0)
      ret->limit = (size_t)lim->via.u64;
  }
  if (cur) {
    if (cur->type != MSGPACK_OBJECT_STR) {
      *why = "cursor must be a string";
      return SD_E_PROTO;
    }
    if (wire_cursor_decode(cur->via.str.ptr, cur->via.str.size, kind, key_min, key_max,
                           ret->after, &ret->after_len, why) < 0)
      return SD_E_PROTO;
    ret->has_after = true;
  }
  return 0;
}

bool wire_page_take(const struct wire_page *pg, size_t n, size_t *used, size_t entry_bytes) {
  if (n >= pg->limit)
    return false;
  if (n > 0 && (entry_bytes > WIRE_PAGE_BYTES || *used > WIRE_PAGE_BYTES - entry_bytes))
    return false;
  *used += entry_bytes;
  return true;
}

void wire_pack_page_next(msgpack_packer *pk, enum wire_listing kind, const void *key, size_t len) {
  char c[WIRE_CURSOR_MAX + 1];
  if (wire_cursor_encode(kind, key, len, c) < 0)
    c[0] = 0; /* keys are bounded by the listing; an empty cursor is refused */
  wire_pack_kv_str(pk, "next", c);
}

int wire_page_next(const msgpack_object *result, char buf[WIRE_CURSOR_MAX + 1], bool *more) {
  return wire_page_next_at(result, "next", buf, more);
}

int wire_page_next_at(const msgpack_object *result, const char *key,
                      char buf[WIRE_CURSOR_MAX + 1], bool *more) {
  const msgpack_object *o = wire_map_get(result, key);
  *more = false;
  buf[0] = 0;
  if (!o)
    return 0;
  if (o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 ||
      wire_obj_str(o, buf, WIRE_CURSOR_MAX + 1) < 0)
    return SD_E_PROTO;
  *more = true;
  return 0;
}

void wire_pack_page_args(msgpack_packer *pk, size_t limit, const char *cursor, uint32_t extra) {
  bool c = cursor && *cursor;
  msgpack_pack_map(pk, 1 + c + extra);
  wire_pack_kv_uint(pk, "limit", limit);
  if (c)
    wire_pack_kv_str(pk, "cursor", cursor);
}
