/*
 * The admin/agent protocol: one schema for both ends.
 *
 *   Request  = {"v":1, "id":uint, "op":str, "args":map}
 *   Response = {"v":1, "id":uint, "ok":bool, "code":int, "error":str (when !ok), "result":map}
 *
 * Each op has an argument table in proto.c (key, type, required, limits);
 * wire_request_decode() refuses unknown top-level keys, unknown ops, unknown
 * or duplicate args, missing required args and wrong types, with SD_E_PROTO
 * and a message naming the field. docs/protocol.md describes the format.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "wire/frame.h"
#include "wire/msg.h"

#define WIRE_VERSION 1
#define WIRE_AUDIT_LS_MAX 1000 /* largest "limit" of audit.ls */
#define WIRE_OP_NAME_MAX 32    /* longest op name accepted on the wire */

enum wire_op {
  WIRE_OP_PING,
  WIRE_OP_SECRET_CREATE,
  WIRE_OP_SECRET_ROTATE,
  WIRE_OP_SECRET_RM,
  WIRE_OP_SECRET_LS,
  WIRE_OP_SECRET_INSPECT,
  WIRE_OP_GRANT_ADD,
  WIRE_OP_GRANT_RM,
  WIRE_OP_AUDIT_LS,
  WIRE_OP_AUDIT_VERIFY,
  /* cluster identity (issue 9) */
  WIRE_OP_JOIN_TOKEN,
  WIRE_OP_NODE_LS,
  WIRE_OP_NODE_INSPECT,
  WIRE_OP_NODE_RM,
  WIRE_OP_CLUSTER_UPDATE,
  WIRE_OP_NODE_JOIN,
  WIRE_OP_NODE_RENEW,
  WIRE_OP__COUNT,
};

/* Who may call an op (a mask per op, checked by the server). */
enum wire_role {
  WIRE_ROLE_ADMIN = 1u << 0,
  WIRE_ROLE_WORKER = 1u << 1,
  WIRE_ROLE_MANAGER = 1u << 2,
  WIRE_ROLE_ANON = 1u << 3 /* TLS peer without client cert: may only join */
};

#define WIRE_TOKEN_MAX 128   /* bytes of a join token as sent (the parser refuses the rest) */
#define WIRE_CSR_MAX 16384   /* the schema's cap; the CA refuses above CA_CSR_MAX itself */
#define WIRE_CERT_MAX 8192

/* "secret.create" for WIRE_OP_SECRET_CREATE; NULL when out of range. */
const char *wire_op_name(enum wire_op op);
/* The op named by s[0..len); -ENOENT if none. */
int wire_op_lookup(const char *s, size_t len);

/* Argument types of the schema. */
enum wire_type {
  WIRE_T_STR,     /* str without NUL, at most max bytes */
  WIRE_T_BIN,     /* bin, at most max bytes */
  WIRE_T_UINT,    /* positive int, at most max */
  WIRE_T_BOOL,
  WIRE_T_STRMAP,  /* map str->str, at most max entries (keys <= SD_NAME_MAX, values <= SD_LABEL_VALUE_MAX bytes: base/limits.h) */
  WIRE_T_HEX32,   /* str of exactly 64 hex digits (a 32-byte hash) */
};

struct wire_arg_spec {
  const char *key;
  enum wire_type type;
  bool required;
  uint64_t max; /* length/entries/value limit, see enum wire_type */
};

/* The argument table of op (terminated by key == NULL); NULL when out of range. */
const struct wire_arg_spec *wire_op_args(enum wire_op op);

/* Why a message was refused: code (SD_E_PROTO or -ENOMEM), a message naming
 * the field (static or in this struct), the request id if it could be read (else
 * 0), and the op name if it was a well-formed op string (else "malformed"), for
 * the error reply and the audit record. */
struct wire_error {
  int code;
  uint64_t id;
  char op[WIRE_OP_NAME_MAX + 8];
  char msg[160];
};

/* A decoded request. Pointers reference the frame bytes and the decoded tree. */
struct wire_request {
  uint64_t id;
  enum wire_op opcode;
  const char *op;               /* static name of opcode */
  const msgpack_object *args;   /* always a map (possibly empty), already checked against the table */
};

/*
 * Decode and validate one request frame (payload without the length prefix).
 * On success *ret_val owns the tree (free with wire_value_free; it points into
 * frame, which must outlive it) and *ret is filled. Returns 0, SD_E_PROTO or
 * -ENOMEM with *err filled (nothing to free then).
 */
int wire_request_decode(const uint8_t *frame, size_t len, struct wire_value **ret_val,
                        struct wire_request *ret, struct wire_error *err);

/* A decoded response. */
struct wire_response {
  uint64_t id;
  bool ok;
  int code;                     /* 0 when ok; negative errno or SD_E_* otherwise */
  char error[256];              /* message when !ok ("" when ok) */
  const msgpack_object *result; /* a map (possibly empty); valid while the tree lives */
};

/* Decode one response frame; like wire_request_decode. A response with ok
 * false must carry a negative code. */
int wire_response_decode(const uint8_t *frame, size_t len, struct wire_value **ret_val,
                         struct wire_response *ret, struct wire_error *err);

/* Packs exactly one msgpack value (a map) with pk; errors go to the buffer. */
typedef void (*wire_pack_fn)(msgpack_packer *pk, void *ud);

/*
 * Encoding. Each initialises b (which must be empty: zeroed or released) with
 * one complete frame, length prefix included, and returns its length in
 * bytes, or -ENOMEM, or -EMSGSIZE when it would exceed WIRE_MAX_FRAME. The
 * caller releases b (wire_buf_release wipes it) in every case.
 */
/* {"v":1,"id":id,"op":name,"args":<pack_args or {}>} */
int wire_request_encode(struct wire_buf *b, uint64_t id, enum wire_op op, wire_pack_fn pack_args,
                        void *ud);
/* {"v":1,"id":id,"ok":true,"code":0,"result":<pack_result or {}>} */
int wire_response_encode_ok(struct wire_buf *b, uint64_t id, wire_pack_fn pack_result, void *ud);
/* {"v":1,"id":id,"ok":false,"code":code,"error":msg,"result":{}}; msg NULL: sd_strerror(code).
 * A code >= 0 is sent as -EIO. Messages are cut at 255 bytes. */
int wire_response_encode_error(struct wire_buf *b, uint64_t id, int code, const char *msg);
