/*
 * The admin/agent protocol: one schema for both ends.
 *
 *   Request  = {"v":1, "id":uint, "op":str, "args":map}
 *   Response = {"v":1, "id":uint, "ok":bool, "code":int, "error":str (when !ok), "result":map}
 *
 * Each op has an argument table in proto.c (key, type, required, limits).
 * Field evolution (docs/protocol.md, "Field evolution"): keys this end does
 * not know, at the top level and in args, are ignored, so a newer peer can
 * add optional fields; every map stays bounded (WIRE_KEYS_MAX keys of at most
 * WIRE_KEY_MAX bytes, no key twice) whether its keys are known or not. An op
 * this end does not know is refused with SD_E_UNSUPPORTED naming it; a
 * missing required arg, a wrong type or a value out of its limits with
 * SD_E_PROTO and a message naming the field.
 *
 * Paging (docs/protocol.md, "Paging"): every listing takes the optional args
 * "limit" and "cursor" and answers one page plus "next" (a cursor) when more
 * remain; wire_page_* below is the one implementation of both ends.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "wire/frame.h"
#include "wire/msg.h"

#define WIRE_VERSION 1
#define WIRE_OP_NAME_MAX 32    /* longest op name accepted on the wire */
#define WIRE_KEYS_MAX 32       /* most keys of a message or of its args, known or ignored */
#define WIRE_KEY_MAX 64        /* longest key of a message or of its args, known or ignored */

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
  WIRE_OP_GRANT_LS,
  WIRE_OP_SERVICE_CREATE,
  WIRE_OP_SERVICE_LS,
  WIRE_OP_SERVICE_INSPECT,
  WIRE_OP_SERVICE_RM,
  WIRE_OP_SESSION_ECHO, /* a worker's echo of its args: liveness and tests of roles */
  /* cluster identity (issue 9) */
  WIRE_OP_JOIN_TOKEN,
  WIRE_OP_NODE_LS,
  WIRE_OP_NODE_INSPECT,
  WIRE_OP_NODE_RM,
  WIRE_OP_CLUSTER_UPDATE,
  WIRE_OP_NODE_JOIN,
  WIRE_OP_NODE_RENEW,
  /* Worker ops (role WORKER once per-op roles exist): the node is the verified
   * caller, never an argument (docs/delivery-manager.md). */
  WIRE_OP_NODE_ASSIGNMENTS,
  WIRE_OP_NODE_DELIVER,
  WIRE_OP_TASK_REPORT,
  WIRE_OP_NODE_HELLO, /* a node's report at each connection: hostname (issue 9) */
  WIRE_OP__COUNT,
};

/* Who may call an op: each op of the table declares a mask of these, and the
 * server checks the caller's role against it before any handler runs. */
enum wire_role {
  WIRE_ROLE_ADMIN = 1u << 0,   /* local admin over the Unix socket */
  WIRE_ROLE_WORKER = 1u << 1,  /* a worker node, TLS client cert */
  WIRE_ROLE_MANAGER = 1u << 2, /* later */
  WIRE_ROLE_ANON = 1u << 3,    /* TLS peer without a client certificate: may only join */
};

/* The roles (enum wire_role mask) that may call op; 0 when out of range. */
uint32_t wire_op_roles(enum wire_op op);
/* True when a caller holding any of the roles in `roles` may call op. */
static inline bool wire_role_allows(enum wire_op op, uint32_t roles) {
  return (wire_op_roles(op) & roles) != 0;
}
/* "admin", "worker", "manager", "anon" for one role bit; "none" otherwise. */
const char *wire_role_name(uint32_t role);

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
  WIRE_T_VERSIONS,/* map of 1..max entries: secret id (32 lowercase hex digits) -> version
                     (1 .. 2^32-1), no key twice */
  WIRE_T_ID,      /* str of exactly 32 lowercase hex digits (a task or secret id) */
};

struct wire_arg_spec {
  const char *key;
  enum wire_type type;
  bool required;
  uint64_t max; /* length/entries/value limit, see enum wire_type */
};

/* The argument table of op (terminated by key == NULL); NULL when out of range. */
const struct wire_arg_spec *wire_op_args(enum wire_op op);

/* Why a message was refused: code (SD_E_PROTO, SD_E_UNSUPPORTED for an op this
 * end does not know, or -ENOMEM), a message naming
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
 * frame, which must outlive it) and *ret is filled; args may hold keys the
 * table does not name (ignored: read args only through the table's keys).
 * Returns 0, SD_E_PROTO, SD_E_UNSUPPORTED (unknown op, err->msg
 * "unsupported operation 'NAME'") or -ENOMEM with *err filled (nothing to
 * free then).
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

/* ---- paging: one pattern for every listing ----
 *
 * Request args (in the op's table through WIRE_PAGE_ARGS): "limit" (1 ..
 * WIRE_PAGE_MAX entries; absent or 0: WIRE_PAGE_DEFAULT) and "cursor" (the
 * "next" of the previous page). Result: the entries, and "next" (a cursor)
 * when more remain. A page also ends before its entries would pack to more
 * than WIRE_PAGE_BYTES, so a reply always fits a frame whatever the limit.
 *
 * A cursor is opaque to clients: hex of [format 1][listing kind][last key
 * returned]. The listing continues strictly after that key in the table's
 * key order, so entries added or removed between pages neither repeat nor
 * shift the rest. A cursor grants nothing: it is only a position inside the
 * one table of its kind (a hostile one can start the listing anywhere in that
 * table, never outside it); decoding checks its length, hex, format, kind and
 * key length.
 */
#define WIRE_PAGE_DEFAULT 500           /* entries of a page when "limit" is absent or 0 */
#define WIRE_PAGE_MAX 1000              /* largest "limit" */
#define WIRE_PAGE_BYTES (512u * 1024)   /* packed entries of one page, at most (about) */
#define WIRE_CURSOR_KEY_MAX 128         /* bytes of the key inside a cursor */
#define WIRE_CURSOR_MAX (2 * (2 + WIRE_CURSOR_KEY_MAX)) /* characters of a cursor */
#define WIRE_AUDIT_LS_MAX WIRE_PAGE_MAX /* largest "limit" of audit.ls */

/* Which table a cursor walks; a cursor of one kind is refused by another. */
enum wire_listing {
  WIRE_LIST_SECRETS = 1, /* key: the secret's name */
  WIRE_LIST_GRANTS = 2,  /* key: the service name (inside one secret) */
  WIRE_LIST_AUDIT = 3,   /* key: the record's seq, 8 bytes big-endian */
  WIRE_LIST_NODES = 4,   /* key: the node id */
  WIRE_LIST_SERVICES = 5,/* reserved for the service listing */
};

/* A page request, from wire_page_args(). */
struct wire_page {
  size_t limit;      /* 1 .. WIRE_PAGE_MAX */
  bool asked;        /* the request carried "limit" or "cursor" (the client pages) */
  bool has_after;    /* a cursor was given: continue strictly after `after` */
  uint8_t after[WIRE_CURSOR_KEY_MAX];
  size_t after_len;
};

/* Encode the cursor for `key` of a listing into buf (NUL-terminated).
 * Returns 0 or -EINVAL (key longer than WIRE_CURSOR_KEY_MAX, or kind 0). */
int wire_cursor_encode(enum wire_listing kind, const void *key, size_t len,
                       char buf[WIRE_CURSOR_MAX + 1]);
/* Decode cursor s[0..n) of a listing of `kind` whose keys are key_min ..
 * key_max bytes (key_max <= WIRE_CURSOR_KEY_MAX) into key / *ret_len.
 * Returns 0 or SD_E_PROTO with *why (static) saying what is wrong. Never
 * reads outside s[0..n) nor writes past key_max bytes of key. */
int wire_cursor_decode(const char *s, size_t n, enum wire_listing kind, size_t key_min,
                       size_t key_max, uint8_t *key, size_t *ret_len, const char **why);
/* The page request of args (already checked against a table holding
 * WIRE_PAGE_ARGS). Returns 0 or SD_E_PROTO with *why (static). */
int wire_page_args(const msgpack_object *args, enum wire_listing kind, size_t key_min,
                   size_t key_max, struct wire_page *ret, const char **why);
/* Whether a page holding n entries that pack to *used bytes takes one more
 * of entry_bytes: below pg->limit entries and, but for the first entry,
 * within WIRE_PAGE_BYTES. Adds entry_bytes to *used when it does. */
bool wire_page_take(const struct wire_page *pg, size_t n, size_t *used, size_t entry_bytes);
/* Pack the key "next" with the cursor after `key` (one map entry). */
void wire_pack_page_next(msgpack_packer *pk, enum wire_listing kind, const void *key, size_t len);

/* Client side: the "next" of a page result into buf; *more false when there
 * is none. Returns 0 or SD_E_PROTO ("next" not a string of at most
 * WIRE_CURSOR_MAX characters). */
int wire_page_next(const msgpack_object *result, char buf[WIRE_CURSOR_MAX + 1], bool *more);
/* The same for a cursor under another key (secret.inspect's "grants_next"). */
int wire_page_next_at(const msgpack_object *result, const char *key,
                      char buf[WIRE_CURSOR_MAX + 1], bool *more);
/* Pack {"limit": limit, "cursor": cursor} (cursor NULL or "": the first
 * page) plus `extra` more entries the caller packs after; for clients. */
void wire_pack_page_args(msgpack_packer *pk, size_t limit, const char *cursor, uint32_t extra);
