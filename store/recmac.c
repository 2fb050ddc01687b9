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
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "store/internal.h"

#define REC_DOMAIN "sdrec1"

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

static void rec_tag(const struct store *s, enum store_dbi t, const MDB_val *k, const void *p,
                    size_t n, uint8_t tag[STORE_TAG_LEN]) {
  crypto_generichash_blake2b_state st;
  uint8_t hdr[1 + 4];
  hdr[0] = (uint8_t)t;
  store_be32_put(hdr + 1, (uint32_t)k->mv_size);
  const uint8_t *kb = sd_key_acquire(s->rec_key);
  crypto_generichash_blake2b_init(&st, kb, SD_KEY_LEN, STORE_TAG_LEN);
  sd_key_release(s->rec_key);
  crypto_generichash_blake2b_update(&st, (const uint8_t *)REC_DOMAIN, sizeof(REC_DOMAIN) - 1);
  crypto_generichash_blake2b_update(&st, hdr, sizeof(hdr));
  crypto_generichash_blake2b_update(&st, k->mv_data, k->mv_size);
  crypto_generichash_blake2b_update(&st, p, n);
  crypto_generichash_blake2b_final(&st, tag, STORE_TAG_LEN);
  sodium_memzero(&st, sizeof(st));
}

int store_rec_seal(const struct store *s, enum store_dbi t, const MDB_val *k, const void *p,
                   size_t n, uint8_t **ret, size_t *ret_len) {
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

int store_rec_open(struct store *s, enum store_dbi t, const MDB_val *k, const MDB_val *v,
                   MDB_val *ret_payload) {
  uint8_t want[STORE_TAG_LEN];
  if (v->mv_size < STORE_TAG_LEN) {
    store_tamper_report(s, t, k, "too short to carry a tag");
    return -EBADMSG;
  }
  size_t n = v->mv_size - STORE_TAG_LEN;
  rec_tag(s, t, k, v->mv_data, n, want);
  if (sodium_memcmp(want, (const uint8_t *)v->mv_data + n, STORE_TAG_LEN) != 0) {
    store_tamper_report(s, t, k, "failed authentication");
    return -EBADMSG;
  }
  *ret_payload = (MDB_val){n, v->mv_data};
  return 0;
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
