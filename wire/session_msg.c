/* Session messages (hello, push, ack, heartbeat): see session_msg.h. */
#include "wire/session_msg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"

static const struct {
  const char *name;
  uint32_t bit;
} feature_names[] = {
    {"push", WIRE_FEAT_PUSH},
    {"heartbeat", WIRE_FEAT_HEARTBEAT},
};

static int fail(struct wire_error *err, int code, const char *msg) {
  err->code = code;
  snprintf(err->msg, sizeof(err->msg), "%s", msg);
  return code;
}

/* An optional uint: 0 (absent leaves *ret), SD_E_PROTO when of another type. */
static int opt_uint(const msgpack_object *map, const char *key, uint64_t *ret,
                    struct wire_error *err) {
  int r = wire_get_uint(map, key, ret);
  if (r == -ENOENT)
    return 0;
  if (r < 0) {
    err->code = SD_E_PROTO;
    snprintf(err->msg, sizeof(err->msg), "session message: \"%s\" must be an unsigned integer",
             key);
    return SD_E_PROTO;
  }
  return 0;
}

/* "versions": 0 (absent: *ret 0), or SD_E_PROTO. Versions outside 1..31 are ignored. */
static int decode_versions(const msgpack_object *root, uint32_t *ret, struct wire_error *err) {
  const msgpack_object *list;
  int r = wire_get_array(root, "versions", &list);
  *ret = 0;
  if (r == -ENOENT)
    return 0;
  if (r < 0)
    return fail(err, SD_E_PROTO, "hello: \"versions\" must be an array");
  for (uint32_t i = 0; i < list->via.array.size && i < WIRE_HELLO_MAX_LIST; i++) {
    const msgpack_object *v = &list->via.array.ptr[i];
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
      return fail(err, SD_E_PROTO, "hello: \"versions\" must hold unsigned integers");
    if (v->via.u64 >= 1 && v->via.u64 <= 31)
      *ret |= WIRE_VERSION_BIT(v->via.u64);
  }
  return 0;
}

static int decode_hello(const msgpack_object *root, struct wire_smsg *m, struct wire_error *err) {
  const msgpack_object *list;
  uint64_t u = 0;
  int r;

  m->reply = wire_map_get(root, "version") != NULL;
  if (m->reply) {
    if ((r = opt_uint(root, "version", &u, err)) < 0)
      return r;
    if (u < 1 || u > 31)
      return fail(err, SD_E_PROTO, "hello: \"version\" must be between 1 and 31");
    m->hello.version = (uint32_t)u;
    u = 0;
    if ((r = opt_uint(root, "hb_ms", &u, err)) < 0)
      return r;
    m->hello.hb_ms = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
    u = 0;
    if ((r = opt_uint(root, "hb_missed", &u, err)) < 0)
      return r;
    m->hello.hb_missed = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
    if ((r = decode_versions(root, &m->hello.versions, err)) < 0)
      return r;
  } else {
    if (!wire_map_get(root, "versions"))
      return fail(err, SD_E_PROTO, "hello: required field \"versions\" is missing");
    if ((r = decode_versions(root, &m->hello.versions, err)) < 0)
      return r;
    if (!m->hello.versions)
      return fail(err, SD_E_PROTO, "hello: \"versions\" names no version between 1 and 31");
    if ((r = opt_uint(root, "resume", &m->hello.resume, err)) < 0)
      return r;
  }
  r = wire_get_array(root, "features", &list);
  if (r == SD_E_PROTO)
    return fail(err, SD_E_PROTO, "hello: \"features\" must be an array");
  if (r == 0)
    for (uint32_t i = 0; i < list->via.array.size && i < WIRE_HELLO_MAX_LIST; i++) {
      const msgpack_object *f = &list->via.array.ptr[i];
      if (f->type != MSGPACK_OBJECT_STR)
        return fail(err, SD_E_PROTO, "hello: \"features\" must hold strings");
      for (size_t k = 0; k < sizeof(feature_names) / sizeof(feature_names[0]); k++)
        if (wire_str_is(f, feature_names[k].name))
          m->hello.features |= feature_names[k].bit;
    }
  return 0;
}

static int decode_push(const msgpack_object *root, struct wire_smsg *m, struct wire_error *err) {
  int r = wire_get_uint(root, "seq", &m->push.seq);
  if (r < 0 || m->push.seq == 0)
    return fail(err, SD_E_PROTO, r == -ENOENT ? "push: required field \"seq\" is missing"
                                              : "push: \"seq\" must be an integer of at least 1");
  r = wire_get_str(root, "topic", m->push.topic, sizeof(m->push.topic));
  if (r < 0)
    return fail(err, SD_E_PROTO, r == -ENOENT ? "push: required field \"topic\" is missing"
                                              : "push: \"topic\" must be a string of at most 64 bytes");
  r = wire_get_map(root, "body", &m->push.body);
  if (r < 0)
    return fail(err, SD_E_PROTO, r == -ENOENT ? "push: required field \"body\" is missing"
                                              : "push: \"body\" must be a map");
  return 0;
}

int wire_smsg_decode(const uint8_t *frame, size_t len, struct wire_value **ret_val,
                     struct wire_smsg *ret, struct wire_error *err) {
  struct wire_value *val = NULL;
  const msgpack_object *root, *t;
  struct wire_smsg m = {0};
  uint64_t v;
  int r;

  *err = (struct wire_error){0};
  snprintf(err->op, sizeof(err->op), "malformed");
  if ((r = wire_value_decode(frame, len, &val)) < 0)
    return fail(err, r, r == -ENOMEM ? "out of memory" : wire_decode_reason());
  root = wire_value_root(val);
  if (root->type != MSGPACK_OBJECT_MAP) {
    r = fail(err, SD_E_PROTO, "message is not a map");
    goto out;
  }
  if (!(t = wire_map_get(root, "t"))) {
    ret->kind = WIRE_SMSG_NONE; /* a request or a response */
    r = 0;
    goto out;
  }
  if (wire_get_uint(root, "v", &v) < 0 || v != 1) {
    r = fail(err, SD_E_PROTO, "session message: \"v\" must be 1");
    goto out;
  }
  snprintf(err->op, sizeof(err->op), "session");
  if (wire_str_is(t, "hello")) {
    m.kind = WIRE_SMSG_HELLO;
    r = decode_hello(root, &m, err);
  } else if (wire_str_is(t, "push")) {
    m.kind = WIRE_SMSG_PUSH;
    r = decode_push(root, &m, err);
  } else if (wire_str_is(t, "ack")) {
    m.kind = WIRE_SMSG_ACK;
    r = wire_get_uint(root, "seq", &m.ack);
    if (r < 0)
      r = fail(err, SD_E_PROTO, r == -ENOENT ? "ack: required field \"seq\" is missing"
                                             : "ack: \"seq\" must be an unsigned integer");
  } else if (wire_str_is(t, "hb")) {
    m.kind = WIRE_SMSG_HEARTBEAT;
    r = 0;
  } else {
    r = fail(err, SD_E_PROTO, "session message: unknown kind \"t\"");
  }
  if (r < 0)
    goto out;
  *ret = m;
  *ret_val = val;
  val = NULL;
  r = 0;
out:
  wire_value_free(val);
  return r;
}

/* ---- encoding ---- */

static void pack_key(msgpack_packer *pk, const char *k) { wire_pack_str(pk, k); }

static void pack_head(msgpack_packer *pk, size_t n, const char *kind) {
  msgpack_pack_map(pk, n);
  wire_pack_kv_uint(pk, "v", 1);
  wire_pack_kv_str(pk, "t", kind);
}

static void pack_versions(msgpack_packer *pk, uint32_t versions) {
  unsigned n = 0;
  for (unsigned v = 1; v < 32; v++)
    n += (versions & WIRE_VERSION_BIT(v)) != 0;
  pack_key(pk, "versions");
  msgpack_pack_array(pk, n);
  for (unsigned v = 1; v < 32; v++)
    if (versions & WIRE_VERSION_BIT(v))
      msgpack_pack_uint32(pk, v);
}

static void pack_features(msgpack_packer *pk, uint32_t features) {
  unsigned n = 0;
  for (size_t k = 0; k < sizeof(feature_names) / sizeof(feature_names[0]); k++)
    n += (features & feature_names[k].bit) != 0;
  pack_key(pk, "features");
  msgpack_pack_array(pk, n);
  for (size_t k = 0; k < sizeof(feature_names) / sizeof(feature_names[0]); k++)
    if (features & feature_names[k].bit)
      wire_pack_str(pk, feature_names[k].name);
}

int wire_hello_encode_client(struct wire_buf *b, uint32_t versions, uint32_t features,
                             uint64_t resume) {
  msgpack_packer pk;
  wire_buf_init(b, &pk);
  pack_head(&pk, 5, "hello");
  pack_versions(&pk, versions);
  pack_features(&pk, features);
  wire_pack_kv_uint(&pk, "resume", resume);
  return wire_buf_finish(b);
}

int wire_hello_encode_server(struct wire_buf *b, uint32_t version, uint32_t versions,
                             uint32_t features, uint32_t hb_ms, uint32_t hb_missed) {
  msgpack_packer pk;
  wire_buf_init(b, &pk);
  pack_head(&pk, 7, "hello");
  wire_pack_kv_uint(&pk, "version", version);
  pack_versions(&pk, versions);
  pack_features(&pk, features);
  wire_pack_kv_uint(&pk, "hb_ms", hb_ms);
  wire_pack_kv_uint(&pk, "hb_missed", hb_missed);
  return wire_buf_finish(b);
}

int wire_push_encode(struct wire_buf *b, uint64_t seq, const char *topic, wire_pack_fn pack_body,
                     void *ud) {
  msgpack_packer pk;
  if (!topic || strlen(topic) > WIRE_TOPIC_MAX || seq == 0)
    return -EINVAL;
  wire_buf_init(b, &pk);
  pack_head(&pk, 5, "push");
  wire_pack_kv_uint(&pk, "seq", seq);
  wire_pack_kv_str(&pk, "topic", topic);
  pack_key(&pk, "body");
  if (pack_body)
    pack_body(&pk, ud);
  else
    msgpack_pack_map(&pk, 0);
  return wire_buf_finish(b);
}

int wire_ack_encode(struct wire_buf *b, uint64_t seq) {
  msgpack_packer pk;
  wire_buf_init(b, &pk);
  pack_head(&pk, 3, "ack");
  wire_pack_kv_uint(&pk, "seq", seq);
  return wire_buf_finish(b);
}

int wire_heartbeat_encode(struct wire_buf *b) {
  msgpack_packer pk;
  wire_buf_init(b, &pk);
  pack_head(&pk, 2, "hb");
  return wire_buf_finish(b);
}

uint32_t wire_version_pick(uint32_t ours, uint32_t theirs) {
  uint32_t both = ours & theirs & ~1u;
  for (unsigned v = 31; v >= 1; v--)
    if (both & WIRE_VERSION_BIT(v))
      return v;
  return 0;
}

uint32_t wire_features_for_version(uint32_t v) { return v >= 2 ? WIRE_FEATS_ALL : 0; }
