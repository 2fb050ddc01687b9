/*
 * msgpack values for the wire: a packer over a buffer that wipes itself (it
 * may hold secret values), and a validating decoder with typed getters.
 *
 * The decoder checks, before anything is allocated, that the bytes hold
 * exactly one msgpack value, nested at most WIRE_MAX_DEPTH deep, with at most
 * WIRE_MAX_NODES values, every declared length within the bytes left, map keys
 * that are strings, and no ext types. Strings and bins of the decoded tree
 * point into the caller's bytes (zero copy): the bytes must outlive the tree,
 * and wiping them wipes the values.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#define WIRE_MAX_DEPTH 16
#define WIRE_MAX_NODES 65536

/* ---- encoding ---- */

struct secbuf;

/* A growable byte buffer in secret memory (base/secbuf.h: locked, never
 * dumped), whose old storage is wiped on growth and on free. The first
 * WIRE_HEADER_BYTES are reserved for the frame header. data points into mem;
 * treat every field as read-only. */
struct wire_buf {
  uint8_t *data;
  size_t len, cap;
  bool failed; /* an allocation failed: the content is incomplete */
  struct secbuf *mem;
};

/* Initialise buf (reserving the frame header) and a packer writing into it. */
void wire_buf_init(struct wire_buf *buf, msgpack_packer *pk);
/* Fill in the frame header; returns the whole frame's length, or -ENOMEM if
 * any write failed, or -EMSGSIZE over WIRE_MAX_FRAME. */
int wire_buf_finish(struct wire_buf *buf);
/* Wipe and free. Safe on a zeroed or already released buffer. */
void wire_buf_release(struct wire_buf *buf);

/* Helpers for the common cases. */
void wire_pack_str(msgpack_packer *pk, const char *s);
void wire_pack_kv_str(msgpack_packer *pk, const char *key, const char *val);
void wire_pack_kv_uint(msgpack_packer *pk, const char *key, uint64_t val);
void wire_pack_kv_bool(msgpack_packer *pk, const char *key, bool val);

/* ---- decoding ---- */

struct wire_value; /* a decoded tree; owns the msgpack zone, not the bytes */

/* Decode exactly one value from p[0..len). Returns 0, SD_E_PROTO (with a
 * static reason from wire_value_reason) or -ENOMEM. */
int wire_value_decode(const uint8_t *p, size_t len, struct wire_value **ret);
const msgpack_object *wire_value_root(const struct wire_value *v);
void wire_value_free(struct wire_value *v); /* NULL ok */
/* Why the last decode on this thread failed (static text). */
const char *wire_decode_reason(void);

/* True when s holds a NUL byte. An empty string holds none (msgpack-c gives
 * it a NULL pointer, which memchr must not see). */
bool wire_str_has_nul(const msgpack_object_str *s);
/* True when o is a string equal to s (o may be NULL: false). */
bool wire_str_is(const msgpack_object *o, const char *s);
/* True when two keys of map are the same string (the decoder checked that every
 * key is a string). Quadratic: for the small maps the schema bounds. */
bool wire_map_has_duplicate_keys(const msgpack_object *map);

/* Typed getters over a map. Each returns 0, -ENOENT when the key is absent,
 * or SD_E_PROTO when the value has the wrong type or does not fit. */
const msgpack_object *wire_map_get(const msgpack_object *map, const char *key);
/* Copy a string (no NUL inside) into buf of cap bytes (NUL-terminated). */
int wire_get_str(const msgpack_object *map, const char *key, char *buf, size_t cap);
int wire_get_uint(const msgpack_object *map, const char *key, uint64_t *ret);
int wire_get_int(const msgpack_object *map, const char *key, int64_t *ret);
int wire_get_bool(const msgpack_object *map, const char *key, bool *ret);
/* Points into the decoded bytes. */
int wire_get_bin(const msgpack_object *map, const char *key, const uint8_t **ret_p, size_t *ret_len);
int wire_get_map(const msgpack_object *map, const char *key, const msgpack_object **ret);
int wire_get_array(const msgpack_object *map, const char *key, const msgpack_object **ret);
/* A msgpack string object copied into buf; SD_E_PROTO if not a string, has a
 * NUL, or does not fit. */
int wire_obj_str(const msgpack_object *o, char *buf, size_t cap);
