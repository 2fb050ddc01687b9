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

static const struct wire_arg_spec args_none[] = {ARGS_END};
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
    ARGS_END,
};
static const struct wire_arg_spec args_grant_rm[] = {
    {"ref", WIRE_T_STR, true, STR_MAX},
    {"service", WIRE_T_STR, true, STR_MAX},
    ARGS_END,
};
static const struct wire_arg_spec args_audit_ls[] = {
    {"after_seq", WIRE_T_UINT, false, UINT64_MAX},
    {"since_ns", WIRE_T_UINT, false, UINT64_MAX},
    {"limit", WIRE_T_UINT, false, WIRE_AUDIT_LS_MAX},
    ARGS_END,
};
static const struct wire_arg_spec args_audit_verify[] = {
    {"expect_seq", WIRE_T_UINT, false, UINT64_MAX},
    {"expect_hash", WIRE_T_HEX32, false, 64},
    ARGS_END,
};

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

static const struct {
  const char *name;
  const struct wire_arg_spec *args;
} ops[WIRE_OP__COUNT] = {
    [WIRE_OP_PING] = {"ping", args_none},
    [WIRE_OP_SECRET_CREATE] = {"secret.create", args_create},
    [WIRE_OP_SECRET_ROTATE] = {"secret.rotate", args_rotate},
    [WIRE_OP_SECRET_RM] = {"secret.rm", args_rm},
    [WIRE_OP_SECRET_LS] = {"secret.ls", args_none},
    [WIRE_OP_SECRET_INSPECT] = {"secret.inspect", args_ref},
    [WIRE_OP_GRANT_ADD] = {"grant.add", args_grant_add},
    [WIRE_OP_GRANT_RM] = {"grant.rm", args_grant_rm},
    [WIRE_OP_AUDIT_LS] = {"audit.ls", args_audit_ls},
    [WIRE_OP_AUDIT_VERIFY] = {"audit.verify", args_audit_verify},
    [WIRE_OP_JOIN_TOKEN] = {"join_token", args_join_token},
    [WIRE_OP_NODE_LS] = {"node.ls", args_none},
    [WIRE_OP_NODE_INSPECT] = {"node.inspect", args_ref},
    [WIRE_OP_NODE_RM] = {"node.rm", args_rm},
    [WIRE_OP_CLUSTER_UPDATE] = {"cluster.update", args_cluster_update},
    [WIRE_OP_NODE_JOIN] = {"node.join", args_node_join},
    [WIRE_OP_NODE_RENEW] = {"node.renew", args_node_renew},
};

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

static bool key_is(const msgpack_object *k, const char *s) {
  size_t n = strlen(s);
  return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && memcmp(k->via.str.ptr, s, n) == 0;
}

/* Keys are strings (the decoder checked). Duplicates would let two readers of
 * one frame disagree on its meaning. Maps here are small (checked before). */
static bool has_duplicate_keys(const msgpack_object *map) {
  const msgpack_object_kv *kv = map->via.map.ptr;
  for (uint32_t i = 0; i < map->via.map.size; i++)
    for (uint32_t j = i + 1; j < map->via.map.size; j++)
      if (kv[i].key.via.str.size == kv[j].key.via.str.size &&
          memcmp(kv[i].key.via.str.ptr, kv[j].key.via.str.ptr, kv[i].key.via.str.size) == 0)
        return true;
  return false;
}

static bool str_ok(const msgpack_object *o, uint64_t max) {
  return o->type == MSGPACK_OBJECT_STR && o->via.str.size <= max &&
         !memchr(o->via.str.ptr, 0, o->via.str.size);
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
    else if (memchr(v->via.str.ptr, 0, v->via.str.size))
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
    if (has_duplicate_keys(v)) {
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
  }
  if (!why)
    return 0;
  snprintf(err->msg, sizeof(err->msg), "%s: argument '%s' %s", op, a->key, why);
  return SD_E_PROTO;
}

static int check_args(enum wire_op opc, const msgpack_object *args, struct wire_error *err) {
  const char *op = ops[opc].name;
  const struct wire_arg_spec *a;
  int r;

  if (args->via.map.size > 16 || has_duplicate_keys(args)) {
    snprintf(err->msg, sizeof(err->msg), "%s: too many or duplicate arguments", op);
    return SD_E_PROTO;
  }
  for (uint32_t i = 0; i < args->via.map.size; i++) {
    const msgpack_object *k = &args->via.map.ptr[i].key;
    for (a = ops[opc].args; a->key; a++)
      if (key_is(k, a->key))
        break;
    if (!a->key) {
      /* The key is attacker-chosen: show only a printable prefix. */
      char shown[33];
      size_t n = 0;
      for (; n < k->via.str.size && n < sizeof(shown) - 1; n++) {
        char c = k->via.str.ptr[n];
        shown[n] = (c >= 0x20 && c < 0x7f && c != '\'') ? c : '?';
      }
      shown[n] = 0;
      snprintf(err->msg, sizeof(err->msg), "%s: unknown argument '%s'", op, shown);
      return SD_E_PROTO;
    }
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

/* Top-level keys must all be in `allowed` and unique. */
static int check_top_keys(const msgpack_object *root, const char *const *allowed, size_t n,
                          struct wire_error *err) {
  if (root->via.map.size > n || has_duplicate_keys(root))
    return fail(err, "too many or duplicate keys in message");
  for (uint32_t i = 0; i < root->via.map.size; i++) {
    const msgpack_object *k = &root->via.map.ptr[i].key;
    size_t j = 0;
    while (j < n && !key_is(k, allowed[j]))
      j++;
    if (j == n)
      return fail(err, "unknown key in message");
  }
  return 0;
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
  static const char *const keys[] = {"v", "id", "op", "args"};
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
  if ((r = check_top_keys(root, keys, ARRAY_SIZE(keys), err)) < 0 ||
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
    r = fail(err, "unknown op");
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
  static const char *const keys[] = {"v", "id", "ok", "code", "error", "result"};
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
  if ((r = check_top_keys(root, keys, ARRAY_SIZE(keys), err)) < 0 ||
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
