/* msgpack codecs of the store's records. Records are arrays with a fixed
 * field order; the schema version in meta guards the layout. Only ciphertext
 * is ever encoded: no plaintext passes through these functions. */
#include <errno.h>
#include <string.h>

#include "store/internal.h"

void store_be32_put(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
uint32_t store_be32_get(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
void store_be64_put(uint8_t *p, uint64_t v) {
  store_be32_put(p, (uint32_t)(v >> 32));
  store_be32_put(p + 4, (uint32_t)v);
}
uint64_t store_be64_get(const uint8_t *p) { return (uint64_t)store_be32_get(p) << 32 | store_be32_get(p + 4); }

void store_id_to_hex(const uint8_t id[16], char out[33]) {
  static const char hx[] = "0123456789abcdef";
  for (int i = 0; i < 16; i++) {
    out[2 * i] = hx[id[i] >> 4];
    out[2 * i + 1] = hx[id[i] & 15];
  }
  out[32] = '\0';
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int store_id_from_hex(const char *hex, uint8_t out[16]) {
  if (!hex || strlen(hex) != 32)
    return -EINVAL;
  for (int i = 0; i < 16; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return -EINVAL;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

/* Records decode into a few hundred bytes of objects (strings and bins point
 * into the value): a small zone chunk stays in malloc's fast bins, where
 * msgpack_unpack_next's 8 KiB chunk cost a slow malloc/free pair per record. */
#define REC_ZONE_CHUNK 1024

/* Unpack one array of exactly n items filling the whole value. -EIO otherwise.
 * Like msgpack_unpack_next, a later call on the same u invalidates the
 * objects of the previous one. */
int store_rec_unpack(const MDB_val *v, msgpack_unpacked *u, msgpack_object **ret_items, uint32_t n) {
  size_t off = 0;
  if (u->zone)
    msgpack_zone_clear(u->zone);
  else if (!(u->zone = msgpack_zone_new(REC_ZONE_CHUNK)))
    return -ENOMEM;
  if (msgpack_unpack(v->mv_data, v->mv_size, &off, u->zone, &u->data) != MSGPACK_UNPACK_SUCCESS ||
      off != v->mv_size)
    return -EIO;
  if (u->data.type != MSGPACK_OBJECT_ARRAY || u->data.via.array.size != n)
    return -EIO;
  *ret_items = u->data.via.array.ptr;
  return 0;
}

static bool is_uint(const msgpack_object *o, uint64_t max) {
  return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= max;
}
static bool is_bin(const msgpack_object *o, size_t len) {
  return o->type == MSGPACK_OBJECT_BIN && (len == 0 || o->via.bin.size == len);
}

int store_rec_secret_decode(const MDB_val *v, msgpack_unpacked *u, struct secret_rec *out) {
  msgpack_object *it;
  int r = store_rec_unpack(v, u, &it, 5);
  if (r < 0)
    return r;
  if (it[0].type != MSGPACK_OBJECT_STR || it[0].via.str.size > 64 || !is_uint(&it[1], UINT64_MAX) ||
      !is_uint(&it[2], UINT64_MAX) || !is_uint(&it[3], UINT32_MAX) ||
      it[4].type != MSGPACK_OBJECT_MAP)
    return -EIO;
  for (uint32_t i = 0; i < it[4].via.map.size; i++)
    if (it[4].via.map.ptr[i].key.type != MSGPACK_OBJECT_STR ||
        it[4].via.map.ptr[i].val.type != MSGPACK_OBJECT_STR)
      return -EIO;
  out->name = it[0].via.str.ptr;
  out->name_len = it[0].via.str.size;
  out->created_ns = it[1].via.u64;
  out->updated_ns = it[2].via.u64;
  out->latest = (uint32_t)it[3].via.u64;
  out->labels = it[4];
  return 0;
}

int store_rec_secret_encode(msgpack_sbuffer *sb, const char *name, uint64_t created_ns,
                      uint64_t updated_ns, uint32_t latest, const struct store_label *labels,
                      size_t n_labels, const msgpack_object *labels_obj) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  int r = msgpack_pack_array(&pk, 5);
  r |= msgpack_pack_str_with_body(&pk, name, strlen(name));
  r |= msgpack_pack_uint64(&pk, created_ns);
  r |= msgpack_pack_uint64(&pk, updated_ns);
  r |= msgpack_pack_uint32(&pk, latest);
  if (labels_obj) {
    r |= msgpack_pack_object(&pk, *labels_obj);
  } else {
    r |= msgpack_pack_map(&pk, n_labels);
    for (size_t i = 0; i < n_labels; i++) {
      r |= msgpack_pack_str_with_body(&pk, labels[i].key, strlen(labels[i].key));
      r |= msgpack_pack_str_with_body(&pk, labels[i].value, strlen(labels[i].value));
    }
  }
  return r == 0 ? 0 : -ENOMEM;
}

int store_rec_version_decode(const MDB_val *v, msgpack_unpacked *u, struct version_rec *out) {
  msgpack_object *it;
  int r = store_rec_unpack(v, u, &it, 4);
  if (r < 0)
    return r;
  if (!is_uint(&it[0], UINT64_MAX) || !is_bin(&it[1], SD_WRAPPED_KEY_LEN) ||
      !is_bin(&it[2], SD_NONCE_LEN) || !is_bin(&it[3], 0) || it[3].via.bin.size < SD_TAG_LEN)
    return -EIO;
  out->created_ns = it[0].via.u64;
  out->wrapped_dk = (const uint8_t *)it[1].via.bin.ptr;
  out->nonce = (const uint8_t *)it[2].via.bin.ptr;
  out->ct = (const uint8_t *)it[3].via.bin.ptr;
  out->ct_len = it[3].via.bin.size;
  return 0;
}

int store_rec_version_parse(const uint8_t *p, size_t n, struct version_rec *out) {
  size_t off = 0, len;
  uint64_t created = 0;
  if (n < 2 || p[off++] != 0x94) /* fixarray of 4 */
    return -EIO;
  uint8_t t = p[off++]; /* created_ns: a positive fixint or uint 8/16/32/64 */
  if (t <= 0x7f) {
    created = t;
  } else if (t >= 0xcc && t <= 0xcf) {
    size_t w = (size_t)1 << (t - 0xcc);
    if (n - off < w)
      return -EIO;
    for (size_t i = 0; i < w; i++)
      created = created << 8 | p[off + i];
    off += w;
  } else {
    return -EIO;
  }
  /* the wrapped data key and the nonce: bin8 of their fixed lengths */
  static const uint8_t fixed[2] = {SD_WRAPPED_KEY_LEN, SD_NONCE_LEN};
  const uint8_t *at[2];
  for (int i = 0; i < 2; i++) {
    if (n - off < 2u + fixed[i] || p[off] != 0xc4 || p[off + 1] != fixed[i])
      return -EIO;
    at[i] = p + off + 2;
    off += 2u + fixed[i];
  }
  if (off >= n)
    return -EIO;
  switch (p[off]) { /* the ciphertext: bin8, bin16 or bin32, up to the end */
  case 0xc4:
    if (n - off < 2)
      return -EIO;
    len = p[off + 1];
    off += 2;
    break;
  case 0xc5:
    if (n - off < 3)
      return -EIO;
    len = (size_t)p[off + 1] << 8 | p[off + 2];
    off += 3;
    break;
  case 0xc6:
    if (n - off < 5)
      return -EIO;
    len = store_be32_get(p + off + 1);
    off += 5;
    break;
  default:
    return -EIO;
  }
  if (n - off != len || len < SD_TAG_LEN)
    return -EIO;
  *out = (struct version_rec){.created_ns = created, .wrapped_dk = at[0], .nonce = at[1],
                              .ct = p + off, .ct_len = len};
  return 0;
}

int store_rec_version_encode(msgpack_sbuffer *sb, uint64_t created_ns, const uint8_t *wrapped_dk,
                       const uint8_t *nonce, const uint8_t *ct, size_t ct_len) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  int r = msgpack_pack_array(&pk, 4);
  r |= msgpack_pack_uint64(&pk, created_ns);
  r |= msgpack_pack_bin_with_body(&pk, wrapped_dk, SD_WRAPPED_KEY_LEN);
  r |= msgpack_pack_bin_with_body(&pk, nonce, SD_NONCE_LEN);
  r |= msgpack_pack_bin_with_body(&pk, ct, ct_len);
  return r == 0 ? 0 : -ENOMEM;
}

/* An owner id, or nil (unset) where allowed. */
static bool is_owner(const msgpack_object *o, bool nil_ok) {
  return is_uint(o, UINT32_MAX) || (nil_ok && o->type == MSGPACK_OBJECT_NIL);
}

int store_rec_grant_decode(const MDB_val *v, msgpack_unpacked *u, struct grant_rec *out) {
  msgpack_object *it;
  /* Current records have 6 items; those written before pins and unset owners, 5. */
  bool old = false;
  int r = store_rec_unpack(v, u, &it, 6);
  if (r == -EIO) {
    old = true;
    r = store_rec_unpack(v, u, &it, 5);
  }
  if (r < 0)
    return r;
  if (it[0].type != MSGPACK_OBJECT_STR || !is_owner(&it[1], !old) || !is_owner(&it[2], !old) ||
      !is_uint(&it[3], 0777) || !is_uint(&it[4], UINT64_MAX) ||
      (!old && !is_uint(&it[5], UINT32_MAX)))
    return -EIO;
  out->target = it[0].via.str.ptr;
  out->target_len = it[0].via.str.size;
  out->uid_unset = it[1].type == MSGPACK_OBJECT_NIL;
  out->gid_unset = it[2].type == MSGPACK_OBJECT_NIL;
  out->uid = out->uid_unset ? 0 : (uint32_t)it[1].via.u64;
  out->gid = out->gid_unset ? 0 : (uint32_t)it[2].via.u64;
  out->mode = (uint32_t)it[3].via.u64;
  out->created_ns = it[4].via.u64;
  out->version = old ? 0 : (uint32_t)it[5].via.u64;
  return 0;
}

int store_rec_grant_encode(msgpack_sbuffer *sb, const char *target, const struct grant_rec *g) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  int r = msgpack_pack_array(&pk, 6);
  r |= msgpack_pack_str_with_body(&pk, target, strlen(target));
  r |= g->uid_unset ? msgpack_pack_nil(&pk) : msgpack_pack_uint32(&pk, g->uid);
  r |= g->gid_unset ? msgpack_pack_nil(&pk) : msgpack_pack_uint32(&pk, g->gid);
  r |= msgpack_pack_uint32(&pk, g->mode);
  r |= msgpack_pack_uint64(&pk, g->created_ns);
  r |= msgpack_pack_uint32(&pk, g->version);
  return r == 0 ? 0 : -ENOMEM;
}
