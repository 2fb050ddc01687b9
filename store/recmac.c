/*
 * Record authentication: every record of the data tables (secrets, names,
 * versions, grants, and services, tasks, nodes, tokens when they get
 * records) is stored as payload || tag, where
 *
 *   tag = BLAKE2b-256(key = record key, "sdrec1" || table || len(key) || key || payload)
 *
 * The record key is derived from the audit key (which the master key wraps)
 * with crypto_kdf context "sdrecmac": part of the store's key hierarchy, and
 * stable across master-key rotation. The tag binds a record to its table and
 * key, so a record changed, moved to another key or copied from another
 * table is refused (-EBADMSG) and reported as a tamper signal; the references
 * between records (name -> id -> name, latest -> version) are checked by the
 * readers in secrets.c.
 *
 * Version records (schema 3) leave the body of the value's ciphertext out
 * of the tag: it covers everything else of the payload (created_ns, the
 * wrapped data key, the nonce, the ciphertext's length) and the AEAD's own
 * 16-byte tag, which authenticates the body under the data key:
 *
 *   tag = BLAKE2b-256(key = record key, "sdrec1" || (table | 0x80) || len(key) || key ||
 *                     payload[0 .. ct) || len(skipped) || AEAD tag)
 *
 * A changed body is then refused when the read decrypts it (-EBADMSG and a
 * tamper signal, secrets.c), not when a listing checks the record; one
 * BLAKE2b pass over every value per read is saved (docs/architecture-store.md,
 * "Record authentication", says what this gives up: someone who already has
 * the data key of a version, and so its value, can change that version's
 * value undetected).
 */
#include <errno.h>
#include <stdbool.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "base/secbuf.h"
#include "store/internal.h"

#define REC_DOMAIN "sdrec1"

/* Tags are compared with crypto_verify_32: constant time like sodium_memcmp,
 * which reads byte by byte through volatile pointers (4% of a read). */
_Static_assert(STORE_TAG_LEN == crypto_verify_32_BYTES, "tag length");

int store_rec_key_derive(const struct sd_key *audit_key, struct sd_key **ret) {
  uint8_t sub[SD_KEY_LEN];
  const uint8_t *kb = sd_key_acquire(audit_key);
  int r = crypto_kdf_derive_from_key(sub, sizeof(sub), 1, "sdrecmac", kb);
  sd_key_release(audit_key);
  if (r == 0)
    r = sd_key_from_bytes(sub, sizeof(sub), ret);
  else
    r = -EIO;
  sodium_memzero(sub, sizeof(sub));
  return r;
}

/*
 * The key block's compression, done once. A keyed BLAKE2b absorbs the key as
 * a first 128-byte block, but libsodium compresses a block only when more
 * input follows it, so a state copied after keying still compresses the key
 * block in every tag (about 850 instructions, a third of a small record's
 * tag). Feeding 129 more bytes makes libsodium compress the key block (h
 * then holds it, counter 128); setting the buffered length back to 0 leaves
 * exactly the state a keyed hash has after its first block. Only that length
 * is written, at its place in libsodium's blake2b_state (h[8], t[2], f[2],
 * buf[256], buflen): checked before (128 after keying, 129 after the fill)
 * and after (tags of probe inputs equal those of the plain keyed state);
 * another layout keeps the plain state, the same tags at the old cost.
 */
#define B2B_BUFLEN_OFF (8 * 8 + 2 * 8 + 2 * 8 + 2 * 128)
#define B2B_BLOCK 128

static size_t b2b_buflen(const crypto_generichash_blake2b_state *st) {
  size_t n;
  memcpy(&n, (const uint8_t *)st + B2B_BUFLEN_OFF, sizeof(n));
  return n;
}

static void b2b_tag(const crypto_generichash_blake2b_state *from, const uint8_t *m, size_t n,
                    uint8_t tag[STORE_TAG_LEN]) {
  crypto_generichash_blake2b_state st;
  memcpy(&st, from, sizeof(st));
  crypto_generichash_blake2b_update(&st, m, n);
  crypto_generichash_blake2b_final(&st, tag, STORE_TAG_LEN);
  sodium_memzero(&st, sizeof(st));
}

/* plain: keyed, nothing else absorbed. On true, *ret is plain with its key
 * block compressed and both have absorbed REC_DOMAIN, and they give the same
 * tags (checked). A message must follow the key block for this to hold
 * (with an empty one, the key block is BLAKE2b's last block): the domain
 * string is that message's start. */
static bool b2b_precompress(crypto_generichash_blake2b_state *plain,
                            crypto_generichash_blake2b_state *ret) {
  static const uint8_t fill[B2B_BLOCK + 1];
  static const size_t probe_len[] = {0, 1, 6, 121, 122, 123, 127, 128, 129, 200, 250, 251, 300};
  uint8_t probe[300], a[STORE_TAG_LEN], b[STORE_TAG_LEN];
  _Static_assert(sizeof(crypto_generichash_blake2b_state) >= B2B_BUFLEN_OFF + sizeof(size_t),
                 "blake2b state layout");
  bool same = b2b_buflen(plain) == B2B_BLOCK;
  memcpy(ret, plain, sizeof(*ret));
  crypto_generichash_blake2b_update(ret, fill, sizeof(fill));
  same = same && b2b_buflen(ret) == sizeof(fill);
  if (same) {
    size_t zero = 0;
    memcpy((uint8_t *)ret + B2B_BUFLEN_OFF, &zero, sizeof(zero));
  }
  crypto_generichash_blake2b_update(plain, (const uint8_t *)REC_DOMAIN, sizeof(REC_DOMAIN) - 1);
  crypto_generichash_blake2b_update(ret, (const uint8_t *)REC_DOMAIN, sizeof(REC_DOMAIN) - 1);
  for (size_t i = 0; i < sizeof(probe); i++)
    probe[i] = (uint8_t)(i * 7 + 1);
  for (size_t i = 0; same && i < sizeof(probe_len) / sizeof(probe_len[0]); i++) {
    b2b_tag(plain, probe, probe_len[i], a);
    b2b_tag(ret, probe, probe_len[i], b);
    same = crypto_verify_32(a, b) == 0;
  }
  return same;
}

int store_rec_state_init(const struct sd_key *rec_key, struct secbuf **ret, bool *ret_precompressed) {
  crypto_generichash_blake2b_state st, fast;
  struct secbuf *b;
  int r = secbuf_new(sizeof(st), &b);
  if (r < 0)
    return r;
  const uint8_t *kb = sd_key_acquire(rec_key);
  crypto_generichash_blake2b_init(&st, kb, SD_KEY_LEN, STORE_TAG_LEN);
  sd_key_release(rec_key);
  bool pre = b2b_precompress(&st, &fast); /* both absorb REC_DOMAIN */
  if (pre)
    memcpy(&st, &fast, sizeof(st));
  memcpy(secbuf_data(b), &st, sizeof(st));
  sodium_memzero(&st, sizeof(st));
  sodium_memzero(&fast, sizeof(fast));
  *ret = b;
  if (ret_precompressed)
    *ret_precompressed = pre;
  return 0;
}

/* Starts from the precomputed keyed state (key block compressed where
 * store_rec_state_init could); the result is the same as keying afresh. */
static void rec_tag(const struct store *s, enum store_dbi t, const MDB_val *k, const void *p,
                    size_t n, uint8_t tag[STORE_TAG_LEN]) {
  crypto_generichash_blake2b_state st;
  uint8_t hdr[1 + 4];
  hdr[0] = (uint8_t)t;
  store_be32_put(hdr + 1, (uint32_t)k->mv_size);
  memcpy(&st, secbuf_cdata(s->rec_state), sizeof(st));
  crypto_generichash_blake2b_update(&st, hdr, sizeof(hdr));
  crypto_generichash_blake2b_update(&st, k->mv_data, k->mv_size);
  crypto_generichash_blake2b_update(&st, p, n);
  crypto_generichash_blake2b_final(&st, tag, STORE_TAG_LEN);
  sodium_memzero(&st, sizeof(st));
}

/* The tag of a version record whose last ct_len bytes are the ciphertext. */
static void rec_tag_version(const struct store *s, const MDB_val *k, const uint8_t *p, size_t n,
                            size_t ct_len, uint8_t tag[STORE_TAG_LEN]) {
  crypto_generichash_blake2b_state st;
  uint8_t hdr[1 + 4], skip[4];
  size_t ct_off = n - ct_len, skip_len = ct_len - SD_TAG_LEN;
  hdr[0] = (uint8_t)(DBI_VERSIONS | 0x80);
  store_be32_put(hdr + 1, (uint32_t)k->mv_size);
  store_be32_put(skip, (uint32_t)skip_len);
  memcpy(&st, secbuf_cdata(s->rec_state), sizeof(st));
  crypto_generichash_blake2b_update(&st, hdr, sizeof(hdr));
  crypto_generichash_blake2b_update(&st, k->mv_data, k->mv_size);
  crypto_generichash_blake2b_update(&st, p, ct_off);
  crypto_generichash_blake2b_update(&st, skip, sizeof(skip));
  crypto_generichash_blake2b_update(&st, p + ct_off + skip_len, SD_TAG_LEN);
  crypto_generichash_blake2b_final(&st, tag, STORE_TAG_LEN);
  sodium_memzero(&st, sizeof(st));
}

int store_rec_seal(const struct store *s, enum store_dbi t, const MDB_val *k, const void *p,
                   size_t n, uint8_t **ret, size_t *ret_len) {
  if (t == DBI_VERSIONS) { /* the table decides the tag's form */
    struct version_rec vr;
    MDB_val sealed;
    int r = store_rec_version_parse(p, n, &vr);
    if (r < 0 || (r = store_rec_version_seal(s, k, p, n, vr.ct_len, &sealed)) < 0)
      return r < 0 ? -EINVAL : r;
    *ret = sealed.mv_data;
    *ret_len = sealed.mv_size;
    return 0;
  }
  uint8_t *buf = malloc(n + STORE_TAG_LEN);
  if (!buf)
    return -ENOMEM;
  memcpy(buf, p, n);
  rec_tag(s, t, k, p, n, buf + n);
  *ret = buf;
  *ret_len = n + STORE_TAG_LEN;
  return 0;
}

int store_rec_put(const struct store *s, MDB_txn *txn, enum store_dbi t, const MDB_val *k,
                  const void *p, size_t n, unsigned flags) {
  uint8_t *buf;
  size_t len;
  int r = store_rec_seal(s, t, k, p, n, &buf, &len);
  if (r < 0)
    return r;
  MDB_val kk = *k, v = {len, buf};
  r = store_mdb_err(mdb_put(txn, s->dbi[t], &kk, &v, flags));
  free(buf);
  return r;
}

int store_rec_version_seal(const struct store *s, const MDB_val *k, const void *p, size_t n,
                        size_t ct_len, MDB_val *ret) {
  struct version_rec vr; /* what we write must be what store_rec_version_open finds */
  if (ct_len < SD_TAG_LEN || ct_len > n || store_rec_version_parse(p, n, &vr) < 0 ||
      vr.ct_len != ct_len)
    return -EINVAL;
  uint8_t *buf = malloc(n + STORE_TAG_LEN);
  if (!buf)
    return -ENOMEM;
  memcpy(buf, p, n);
  rec_tag_version(s, k, buf, n, ct_len, buf + n);
  *ret = (MDB_val){n + STORE_TAG_LEN, buf};
  return 0;
}

int store_rec_version_put(const struct store *s, MDB_txn *txn, const MDB_val *k, const void *p,
                          size_t n, size_t ct_len, unsigned flags) {
  MDB_val kk = *k, v;
  int r = store_rec_version_seal(s, k, p, n, ct_len, &v);
  if (r < 0)
    return r;
  r = store_mdb_err(mdb_put(txn, s->dbi[DBI_VERSIONS], &kk, &v, flags));
  free(v.mv_data);
  return r;
}

void store_tamper_report(struct store *s, enum store_dbi t, const MDB_val *k, const char *what) {
  char hex[2 * 24 + 1], ev[STORE_TAMPER_EVENT_LEN];
  size_t n = k->mv_size < 24 ? k->mv_size : 24;
  sodium_bin2hex(hex, sizeof(hex), k->mv_data, n);
  snprintf(ev, sizeof(ev), "table:%s key:%s%s %s", store_db_names[t], hex,
           k->mv_size > n ? "..." : "", what);
  pthread_mutex_lock(&s->tamper_mu);
  if (s->n_tamper < STORE_TAMPER_MAX)
    memcpy(s->tamper[s->n_tamper++], ev, sizeof(ev));
  else
    s->tamper_dropped++;
  s->tamper_total++;
  pthread_mutex_unlock(&s->tamper_mu);
}

/* The tag over the whole payload: every table's form but the versions' (and
 * the versions' in schema 2, store_rec_version_migrate). */
static int rec_open_whole(struct store *s, enum store_dbi t, const MDB_val *k, const MDB_val *v,
                          MDB_val *ret_payload) {
  uint8_t want[STORE_TAG_LEN];
  if (v->mv_size < STORE_TAG_LEN) {
    store_tamper_report(s, t, k, "too short to carry a tag");
    return -EBADMSG;
  }
  size_t n = v->mv_size - STORE_TAG_LEN;
  rec_tag(s, t, k, v->mv_data, n, want);
  if (crypto_verify_32(want, (const uint8_t *)v->mv_data + n) != 0) {
    store_tamper_report(s, t, k, "failed authentication");
    return -EBADMSG;
  }
  *ret_payload = (MDB_val){n, v->mv_data};
  return 0;
}

int store_rec_open(struct store *s, enum store_dbi t, const MDB_val *k, const MDB_val *v,
                   MDB_val *ret_payload) {
  if (t == DBI_VERSIONS) { /* the table decides the tag's form */
    struct version_rec vr;
    int r = store_rec_version_open(s, k, v, &vr);
    if (r == 0)
      *ret_payload = (MDB_val){v->mv_size - STORE_TAG_LEN, v->mv_data};
    return r;
  }
  return rec_open_whole(s, t, k, v, ret_payload);
}

int store_rec_version_open(struct store *s, const MDB_val *k, const MDB_val *v,
                           struct version_rec *out) {
  uint8_t want[STORE_TAG_LEN];
  if (v->mv_size < STORE_TAG_LEN) {
    store_tamper_report(s, DBI_VERSIONS, k, "too short to carry a tag");
    return -EBADMSG;
  }
  size_t n = v->mv_size - STORE_TAG_LEN;
  const uint8_t *p = v->mv_data;
  /* The tag's input depends on where the ciphertext starts: found by the
   * layout parser, which only reads bounded fixed fields (no msgpack before
   * the tag holds). */
  if (store_rec_version_parse(p, n, out) < 0) {
    store_tamper_report(s, DBI_VERSIONS, k, "failed authentication");
    return -EBADMSG;
  }
  rec_tag_version(s, k, p, n, out->ct_len, want);
  if (crypto_verify_32(want, p + n) != 0) {
    store_tamper_report(s, DBI_VERSIONS, k, "failed authentication");
    return -EBADMSG;
  }
  return 0;
}

int store_rec_version_get(struct store *s, MDB_txn *txn, const MDB_val *k, struct version_rec *out) {
  MDB_val kk = *k, v;
  int r = store_mdb_err(mdb_get(txn, s->dbi[DBI_VERSIONS], &kk, &v));
  if (r < 0)
    return r;
  return store_rec_version_open(s, k, &v, out);
}

int store_rec_version_migrate(struct store *s, MDB_cursor *c, const MDB_val *k, const MDB_val *v) {
  struct version_rec vr;
  MDB_val p, nv = {0, NULL};
  int r = rec_open_whole(s, DBI_VERSIONS, k, v, &p); /* the schema 2 tag: the whole payload */
  if (r < 0)
    return r;
  if (store_rec_version_parse(p.mv_data, p.mv_size, &vr) < 0) {
    store_tamper_report(s, DBI_VERSIONS, k, "authenticated but undecodable");
    return -EBADMSG;
  }
  if ((r = store_rec_version_seal(s, k, p.mv_data, p.mv_size, vr.ct_len, &nv)) == 0) {
    MDB_val kk = *k;
    r = store_mdb_err(mdb_cursor_put(c, &kk, &nv, MDB_CURRENT));
  }
  free(nv.mv_data);
  return r;
}

int store_rec_get(struct store *s, MDB_txn *txn, enum store_dbi t, const MDB_val *k,
                  MDB_val *ret_payload) {
  MDB_val kk = *k, v;
  int r = store_mdb_err(mdb_get(txn, s->dbi[t], &kk, &v));
  if (r < 0)
    return r;
  return store_rec_open(s, t, k, &v, ret_payload);
}

uint64_t store_tamper_count(struct store *s) {
  pthread_mutex_lock(&s->tamper_mu);
  uint64_t n = s->tamper_total;
  pthread_mutex_unlock(&s->tamper_mu);
  return n;
}
