#include "wire/msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>


#include "base/error.h"
#include "base/secbuf.h"
#include "wire/frame.h"

/* ---- encoding: a buffer that never leaves old copies of its bytes ---- */

static int buf_write(void *data, const char *p, size_t n) {
  struct wire_buf *b = data;
  if (b->failed)
    return -1;
  if (n > WIRE_MAX_FRAME * 2 || b->len + n > WIRE_MAX_FRAME * 2) {
    b->failed = true;
    return -1;
  }
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
      cap *= 2;
    /* Grow by copy into a new secret buffer; freeing the old one wipes it
     * (never realloc: it may leave the old bytes behind). */
    struct secbuf *nm;
    if (secbuf_new(cap, &nm) < 0) {
      b->failed = true;
      return -1;
    }
    if (b->mem)
      memcpy(secbuf_data(nm), b->data, b->len);
    secbuf_free(b->mem);
    b->mem = nm;
    b->data = secbuf_data(nm);
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

void wire_buf_init(struct wire_buf *buf, msgpack_packer *pk) {
  static const char zero[WIRE_HEADER_BYTES];
  *buf = (struct wire_buf){0};
  buf_write(buf, zero, sizeof(zero));
  msgpack_packer_init(pk, buf, buf_write);
}

int wire_buf_finish(struct wire_buf *buf) {
  if (buf->failed || buf->len < WIRE_HEADER_BYTES)
    return -ENOMEM;
  size_t payload = buf->len - WIRE_HEADER_BYTES;
  if (payload == 0)
    return SD_E_PROTO;
  if (payload > WIRE_MAX_FRAME)
    return -EMSGSIZE;
  wire_frame_header((uint32_t)payload, buf->data);
  return (int)buf->len;
}

void wire_buf_release(struct wire_buf *buf) {
  secbuf_free(buf->mem); /* wipes */
  *buf = (struct wire_buf){0};
}

void wire_pack_str(msgpack_packer *pk, const char *s) {
  size_t n = strlen(s);
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, s, n);
}

void wire_pack_kv_str(msgpack_packer *pk, const char *key, const char *val) {
  wire_pack_str(pk, key);
  wire_pack_str(pk, val);
}

void wire_pack_kv_uint(msgpack_packer *pk, const char *key, uint64_t val) {
  wire_pack_str(pk, key);
  msgpack_pack_uint64(pk, val);
}

void wire_pack_kv_bool(msgpack_packer *pk, const char *key, bool val) {
  wire_pack_str(pk, key);
  if (val)
    msgpack_pack_true(pk);
  else
    msgpack_pack_false(pk);
}

/* ---- decoding: validate the bytes before msgpack-c allocates anything ---- */

static _Thread_local const char *decode_reason = "";

const char *wire_decode_reason(void) { return decode_reason; }

struct scan {
  const uint8_t *p;
  size_t len, pos;
  size_t nodes;
};

static int fail(const char *why) {
  decode_reason = why;
  return SD_E_PROTO;
}

static int need(struct scan *s, size_t n) {
  if (n > s->len - s->pos)
    return fail("truncated value");
  return 0;
}

static uint64_t be(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

/* Read an n-byte big-endian length that follows the type byte. */
static int read_len(struct scan *s, size_t n, uint64_t *ret) {
  int r = need(s, n);
  if (r < 0)
    return r;
  *ret = be(s->p + s->pos, n);
  s->pos += n;
  return 0;
}

static int scan_value(struct scan *s, unsigned depth, bool want_key);

static int scan_items(struct scan *s, uint64_t count, unsigned depth, bool is_map) {
  /* Every value takes at least one byte: a count larger than the bytes left
   * is a lie, refused before msgpack-c would allocate for it. */
  uint64_t per = is_map ? 2 : 1;
  if (count > (s->len - s->pos) / per)
    return fail("declared length exceeds the frame");
  if (depth + 1 > WIRE_MAX_DEPTH)
    return fail("nesting too deep");
  for (uint64_t i = 0; i < count; i++) {
    int r;
    if (is_map && (r = scan_value(s, depth + 1, true)) < 0)
      return r;
    if ((r = scan_value(s, depth + 1, false)) < 0)
      return r;
  }
  return 0;
}

static int skip(struct scan *s, uint64_t n) {
  if (n > s->len - s->pos)
    return fail("declared length exceeds the frame");
  s->pos += n;
  return 0;
}

static int scan_value(struct scan *s, unsigned depth, bool want_key) {
  uint64_t n;
  int r;

  if ((r = need(s, 1)) < 0)
    return r;
  if (++s->nodes > WIRE_MAX_NODES)
    return fail("too many values");
  uint8_t t = s->p[s->pos++];
  bool is_str = (t >= 0xa0 && t <= 0xbf) || (t >= 0xd9 && t <= 0xdb);
  if (want_key && !is_str)
    return fail("map key is not a string");

  if (t <= 0x7f || t >= 0xe0) /* fixint */
    return 0;
  if (t >= 0x80 && t <= 0x8f)
    return scan_items(s, t & 0x0f, depth, true);
  if (t >= 0x90 && t <= 0x9f)
    return scan_items(s, t & 0x0f, depth, false);
  if (t >= 0xa0 && t <= 0xbf)
    return skip(s, t & 0x1f);
  switch (t) {
  case 0xc0: case 0xc2: case 0xc3:
    return 0;
  case 0xc4: case 0xd9: /* bin8, str8 */
    return (r = read_len(s, 1, &n)) < 0 ? r : skip(s, n);
  case 0xc5: case 0xda:
    return (r = read_len(s, 2, &n)) < 0 ? r : skip(s, n);
  case 0xc6: case 0xdb:
    return (r = read_len(s, 4, &n)) < 0 ? r : skip(s, n);
  case 0xca: return skip(s, 4);
  case 0xcb: return skip(s, 8);
  case 0xcc: case 0xd0: return skip(s, 1);
  case 0xcd: case 0xd1: return skip(s, 2);
  case 0xce: case 0xd2: return skip(s, 4);
  case 0xcf: case 0xd3: return skip(s, 8);
  case 0xdc:
    return (r = read_len(s, 2, &n)) < 0 ? r : scan_items(s, n, depth, false);
  case 0xdd:
    return (r = read_len(s, 4, &n)) < 0 ? r : scan_items(s, n, depth, false);
  case 0xde:
    return (r = read_len(s, 2, &n)) < 0 ? r : scan_items(s, n, depth, true);
  case 0xdf:
    return (r = read_len(s, 4, &n)) < 0 ? r : scan_items(s, n, depth, true);
  default: /* 0xc1 (never used), ext and fixext */
    return fail("unsupported msgpack type");
  }
}

struct wire_value {
  msgpack_unpacked up;
};

int wire_value_decode(const uint8_t *p, size_t len, struct wire_value **ret) {
  struct scan s = {.p = p, .len = len};
  size_t off = 0;
  int r;

  if (!p || len == 0)
    return fail("empty frame");
  if ((r = scan_value(&s, 0, false)) < 0)
    return r;
  if (s.pos != len)
    return fail("trailing bytes after the value");

  struct wire_value *v = calloc(1, sizeof(*v));
  if (!v)
    return -ENOMEM;
  msgpack_unpacked_init(&v->up);
  msgpack_unpack_return ur = msgpack_unpack_next(&v->up, (const char *)p, len, &off);
  if (ur != MSGPACK_UNPACK_SUCCESS || off != len) {
    msgpack_unpacked_destroy(&v->up);
    free(v);
    return ur == MSGPACK_UNPACK_NOMEM_ERROR ? -ENOMEM : fail("malformed msgpack");
  }
  *ret = v;
  return 0;
}

const msgpack_object *wire_value_root(const struct wire_value *v) { return &v->up.data; }

void wire_value_free(struct wire_value *v) {
  if (!v)
    return;
  msgpack_unpacked_destroy(&v->up);
  free(v);
}

/* ---- typed getters ---- */

bool wire_str_has_nul(const msgpack_object_str *s) {
  return s->size && memchr(s->ptr, 0, s->size);
}

/* Keys of equal length; empty keys are equal without a look at their (NULL) bytes. */
static bool same_str(const msgpack_object_str *a, const msgpack_object_str *b) {
  return a->size == b->size && (!a->size || memcmp(a->ptr, b->ptr, a->size) == 0);
}

bool wire_str_is(const msgpack_object *o, const char *s) {
  size_t n = strlen(s);
  return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
         (!n || memcmp(o->via.str.ptr, s, n) == 0);
}

bool wire_map_has_duplicate_keys(const msgpack_object *map) {
  const msgpack_object_kv *kv = map->via.map.ptr;
  for (uint32_t i = 0; i < map->via.map.size; i++)
    for (uint32_t j = i + 1; j < map->via.map.size; j++)
      if (same_str(&kv[i].key.via.str, &kv[j].key.via.str))
        return true;
  return false;
}

const msgpack_object *wire_map_get(const msgpack_object *map, const char *key) {
  if (!map || map->type != MSGPACK_OBJECT_MAP)
    return NULL;
  size_t klen = strlen(key);
  for (uint32_t i = 0; i < map->via.map.size; i++) {
    const msgpack_object *k = &map->via.map.ptr[i].key;
    if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
        (!klen || memcmp(k->via.str.ptr, key, klen) == 0))
      return &map->via.map.ptr[i].val;
  }
  return NULL;
}

int wire_obj_str(const msgpack_object *o, char *buf, size_t cap) {
  if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= cap || wire_str_has_nul(&o->via.str))
    return SD_E_PROTO;
  if (o->via.str.size)
    memcpy(buf, o->via.str.ptr, o->via.str.size);
  buf[o->via.str.size] = '\0';
  return 0;
}

int wire_get_str(const msgpack_object *map, const char *key, char *buf, size_t cap) {
  const msgpack_object *o = wire_map_get(map, key);
  return o ? wire_obj_str(o, buf, cap) : -ENOENT;
}

int wire_get_uint(const msgpack_object *map, const char *key, uint64_t *ret) {
  const msgpack_object *o = wire_map_get(map, key);
  if (!o)
    return -ENOENT;
  if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
    return SD_E_PROTO;
  *ret = o->via.u64;
  return 0;
}

int wire_get_int(const msgpack_object *map, const char *key, int64_t *ret) {
  const msgpack_object *o = wire_map_get(map, key);
  if (!o)
    return -ENOENT;
  if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
    *ret = o->via.i64;
  else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX)
    *ret = (int64_t)o->via.u64;
  else
    return SD_E_PROTO;
  return 0;
}

int wire_get_bool(const msgpack_object *map, const char *key, bool *ret) {
  const msgpack_object *o = wire_map_get(map, key);
  if (!o)
    return -ENOENT;
  if (o->type != MSGPACK_OBJECT_BOOLEAN)
    return SD_E_PROTO;
  *ret = o->via.boolean;
  return 0;
}

int wire_get_bin(const msgpack_object *map, const char *key, const uint8_t **ret_p,
                 size_t *ret_len) {
  const msgpack_object *o = wire_map_get(map, key);
  if (!o)
    return -ENOENT;
  if (o->type != MSGPACK_OBJECT_BIN)
    return SD_E_PROTO;
  *ret_p = (const uint8_t *)o->via.bin.ptr;
  *ret_len = o->via.bin.size;
  return 0;
}

int wire_get_map(const msgpack_object *map, const char *key, const msgpack_object **ret) {
  const msgpack_object *o = wire_map_get(map, key);
  if (!o)
    return -ENOENT;
  if (o->type != MSGPACK_OBJECT_MAP)
    return SD_E_PROTO;
  *ret = o;
  return 0;
}

int wire_get_array(const msgpack_object *map, const char *key, const msgpack_object **ret) {
  const msgpack_object *o = wire_map_get(map, key);
  if (!o)
    return -ENOENT;
  if (o->type != MSGPACK_OBJECT_ARRAY)
    return SD_E_PROTO;
  *ret = o;
  return 0;
}
