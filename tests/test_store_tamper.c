/*
 * The authenticated store (issue 7 §2): with write access to the LMDB files
 * an attacker changes, swaps or deletes records with the raw LMDB API while
 * the store is closed. Every such change to a record that is read, or that
 * another record refers to, is refused with -EBADMSG (never the wrong
 * value), and the next batch writes a "store.tamper" audit record.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <lmdb.h>

#include "store/internal.h" /* store_be32_put */
#include "test_store_util.h"

struct raw {
  MDB_env *env;
  MDB_txn *txn;
};

static MDB_dbi raw_dbi(struct raw *w, const char *table) {
  MDB_dbi d;
  assert_int_equal(mdb_dbi_open(w->txn, table, 0, &d), 0);
  return d;
}

/* Close the store and open its environment raw for writing. */
static void raw_begin(struct sfx *f, struct raw *w) {
  store_close(f->s);
  f->s = NULL;
  assert_int_equal(mdb_env_create(&w->env), 0);
  mdb_env_set_maxdbs(w->env, 16);
  assert_int_equal(mdb_env_open(w->env, f->dir, 0, 0600), 0);
  assert_int_equal(mdb_txn_begin(w->env, NULL, 0, &w->txn), 0);
}

static void raw_end(struct sfx *f, struct raw *w) {
  assert_int_equal(mdb_txn_commit(w->txn), 0);
  mdb_env_close(w->env);
  sfx_reopen(f);
}

static void raw_copy(struct raw *w, const char *table, const void *from, size_t flen,
                     const void *to, size_t tlen) {
  MDB_dbi d = raw_dbi(w, table);
  MDB_val kf = {flen, (void *)from}, kt = {tlen, (void *)to}, v;
  assert_int_equal(mdb_get(w->txn, d, &kf, &v), 0);
  void *copy = malloc(v.mv_size);
  memcpy(copy, v.mv_data, v.mv_size);
  MDB_val nv = {v.mv_size, copy};
  assert_int_equal(mdb_put(w->txn, d, &kt, &nv, 0), 0);
  free(copy);
}

static void raw_del(struct raw *w, const char *table, const void *key, size_t klen) {
  MDB_val k = {klen, (void *)key};
  assert_int_equal(mdb_del(w->txn, raw_dbi(w, table), &k, NULL), 0);
}

/* Flip one byte of a record's value at offset off (from the start). */
static void raw_flip(struct raw *w, const char *table, const void *key, size_t klen, size_t off) {
  MDB_dbi d = raw_dbi(w, table);
  MDB_val k = {klen, (void *)key}, v;
  assert_int_equal(mdb_get(w->txn, d, &k, &v), 0);
  assert_true(off < v.mv_size);
  uint8_t *copy = malloc(v.mv_size);
  memcpy(copy, v.mv_data, v.mv_size);
  copy[off] ^= 0x01;
  MDB_val nv = {v.mv_size, copy};
  assert_int_equal(mdb_put(w->txn, d, &k, &nv, 0), 0);
  free(copy);
}

static void hex_to_id(const char *hex, uint8_t id[16]) {
  for (int i = 0; i < 16; i++)
    sscanf(hex + 2 * i, "%2hhx", &id[i]);
}

static int read_raw(struct sfx *f, const char *ref, uint32_t ver) {
  struct secbuf *out = NULL;
  int r = store_secret_read(f->s, ref, ver, &out);
  if (r == 0) { /* must never happen here: print what leaked */
    print_error("read of %s returned a value of %zu bytes\n", ref, secbuf_len(out));
    secbuf_free(out);
  }
  return r;
}

static int grant1(struct sfx *f, const char *ref, const char *service, uint32_t mode) {
  struct store_batch *b;
  struct store_grant g;
  store_grant_defaults(&g);
  g.service = service;
  g.mode = mode;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  int r = store_grant_add(b, &f->actor, ref, &g);
  assert_int_equal(store_batch_commit(b), 0);
  return r;
}

/* The tamper records written by the next batch. */
static size_t tamper_records(struct sfx *f, const char *needle) {
  struct store_batch *b;
  struct store_audit_rec *recs;
  size_t n, hits = 0;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  assert_int_equal(store_batch_commit(b), 0);
  assert_int_equal(store_audit_list(f->s, 0, 0, 0, &recs, &n), 0);
  for (size_t i = 0; i < n; i++)
    if (!strcmp(recs[i].action, "store.tamper") && strstr(recs[i].object, needle) &&
        !strcmp(recs[i].actor, "store") && !strncmp(recs[i].outcome, "error:tampered", 14))
      hits++;
  free(recs);
  return hits;
}

struct two {
  struct sfx *f;
  char ida[33], idb[33];
  uint8_t a[16], b[16];
};

static int setup(void **state) {
  struct two *t = calloc(1, sizeof(*t));
  t->f = sfx_new(NULL);
  assert_int_equal(put1(t->f, "sA", "value-of-A", t->ida), 0);
  assert_int_equal(put1(t->f, "sB", "value-of-B", t->idb), 0);
  assert_int_equal(grant1(t->f, "sA", "web", 0400), 0);
  assert_int_equal(grant1(t->f, "sB", "web", 0400), 0);
  hex_to_id(t->ida, t->a);
  hex_to_id(t->idb, t->b);
  *state = t;
  return 0;
}

static int teardown(void **state) {
  struct two *t = *state;
  sfx_free(t->f);
  free(t);
  return 0;
}

/* The finding of the issue: name sB pointed at A's id read A's value. */
static void test_name_pointed_at_another_id_is_refused(void **state) {
  struct two *t = *state;
  struct raw w;
  raw_begin(t->f, &w);
  raw_copy(&w, "names", "sA", 2, "sB", 2); /* names[sB] = names[sA] (with its tag) */
  raw_end(t->f, &w);
  assert_int_equal(read_raw(t->f, "sB", 0), -EBADMSG);
  struct secbuf *out = NULL; /* A itself is untouched */
  assert_int_equal(store_secret_read(t->f->s, "sA", 0, &out), 0);
  assert_memory_equal(secbuf_cdata(out), "value-of-A", 10);
  secbuf_free(out);
  struct store_secret_info *info = NULL;
  assert_int_equal(store_secret_inspect(t->f->s, "sB", &info), -EBADMSG);
  size_t n = 0;
  assert_int_equal(store_secret_list(t->f->s, &info, &n), -EBADMSG);
  assert_true(store_tamper_count(t->f->s) >= 3);
  assert_true(tamper_records(t->f, "table:names") >= 1);
}

/* A raw id without a tag (what the previous version stored) is refused too. */
static void test_forged_name_record_is_refused(void **state) {
  struct two *t = *state;
  struct raw w;
  raw_begin(t->f, &w);
  MDB_val k = {2, "sB"}, v = {16, t->a};
  assert_int_equal(mdb_put(w.txn, raw_dbi(&w, "names"), &k, &v, 0), 0);
  raw_end(t->f, &w);
  assert_int_equal(read_raw(t->f, "sB", 0), -EBADMSG);
  assert_int_equal(read_raw(t->f, t->idb, 0), -EBADMSG); /* B's record lost its name */
  assert_true(tamper_records(t->f, "table:names") >= 1);
}

static void test_edited_grant_is_refused(void **state) {
  struct two *t = *state;
  struct raw w;
  uint8_t key[16 + 3];
  memcpy(key, t->a, 16);
  memcpy(key + 16, "web", 3);
  raw_begin(t->f, &w);
  raw_flip(&w, "grants", key, sizeof(key), 2); /* inside the msgpack payload */
  raw_end(t->f, &w);
  struct store_secret_info *info = NULL;
  assert_int_equal(store_secret_inspect(t->f->s, "sA", &info), -EBADMSG);
  assert_int_equal(grant1(t->f, "sA", "web", 0440), -EBADMSG); /* no update built on it */
  assert_true(tamper_records(t->f, "table:grants") >= 1);
  /* B's grant is untouched and still reads */
  assert_int_equal(store_secret_inspect(t->f->s, "sB", &info), 0);
  assert_int_equal(info->n_grants, 1);
  store_secret_info_free(info, 1);
}

static void test_grant_moved_to_another_secret_is_refused(void **state) {
  struct two *t = *state;
  struct raw w;
  uint8_t ka[16 + 4], kb[16 + 4];
  memcpy(ka, t->a, 16);
  memcpy(ka + 16, "web", 3);
  memcpy(kb, t->b, 16);
  memcpy(kb + 16, "api", 4);
  raw_begin(t->f, &w);
  raw_copy(&w, "grants", ka, 19, kb, 20); /* A's grant for web -> B's grant for api */
  raw_end(t->f, &w);
  struct store_secret_info *info = NULL;
  assert_int_equal(store_secret_inspect(t->f->s, "sB", &info), -EBADMSG);
  assert_true(tamper_records(t->f, "table:grants") >= 1);
}

static void test_version_swapped_between_secrets_is_refused(void **state) {
  struct two *t = *state;
  struct raw w;
  uint8_t ka[20], kb[20];
  memcpy(ka, t->a, 16);
  memcpy(kb, t->b, 16);
  store_be32_put(ka + 16, 1);
  store_be32_put(kb + 16, 1);
  raw_begin(t->f, &w);
  raw_copy(&w, "versions", ka, 20, kb, 20);
  raw_end(t->f, &w);
  assert_int_equal(read_raw(t->f, "sB", 0), -EBADMSG);
  assert_int_equal(read_raw(t->f, "sB", 1), -EBADMSG);
  assert_true(tamper_records(t->f, "table:versions") >= 1);
}

/* Version records tag the AEAD tag of their ciphertext, not its body
 * (schema 3, store/recmac.c): a changed body fails the AEAD when a read
 * decrypts it, and is refused and audited all the same. */
static void test_version_ciphertext_body_edited_is_refused(void **state) {
  struct two *t = *state;
  struct raw w;
  uint8_t kv[20];
  memcpy(kv, t->a, 16);
  store_be32_put(kv + 16, 1);
  raw_begin(t->f, &w);
  MDB_val k = {20, kv}, v;
  assert_int_equal(mdb_get(w.txn, raw_dbi(&w, "versions"), &k, &v), 0);
  /* record = payload || tag(32); the payload ends with the ciphertext of
   * "value-of-A": 10 body bytes then the 16-byte AEAD tag */
  size_t body = v.mv_size - 32 - 16 - 10;
  raw_flip(&w, "versions", kv, 20, body + 3);
  raw_end(t->f, &w);
  assert_int_equal(read_raw(t->f, "sA", 0), -EBADMSG);
  assert_int_equal(read_raw(t->f, "sA", 1), -EBADMSG);
  assert_true(tamper_records(t->f, "ciphertext failed AEAD authentication") >= 1);
  assert_true(tamper_records(t->f, "table:versions") >= 1);
  struct secbuf *out = NULL; /* B is untouched */
  assert_int_equal(store_secret_read(t->f->s, "sB", 0, &out), 0);
  secbuf_free(out);
}

/* The AEAD tag and the fields before the ciphertext are under the record's
 * tag: a change is refused by every reader, inspect too. */
static void test_version_aead_tag_or_header_edited_is_refused(void **state) {
  struct two *t = *state;
  struct raw w;
  uint8_t ka[20], kb[20];
  memcpy(ka, t->a, 16);
  store_be32_put(ka + 16, 1);
  memcpy(kb, t->b, 16);
  store_be32_put(kb + 16, 1);
  raw_begin(t->f, &w);
  MDB_val k = {20, ka}, v;
  assert_int_equal(mdb_get(w.txn, raw_dbi(&w, "versions"), &k, &v), 0);
  raw_flip(&w, "versions", ka, 20, v.mv_size - 32 - 5); /* inside the AEAD tag */
  raw_flip(&w, "versions", kb, 20, 20);                  /* inside the wrapped data key */
  raw_end(t->f, &w);
  assert_int_equal(read_raw(t->f, "sA", 0), -EBADMSG);
  assert_int_equal(read_raw(t->f, "sB", 0), -EBADMSG);
  struct store_secret_info *info = NULL;
  assert_int_equal(store_secret_inspect(t->f->s, "sA", &info), -EBADMSG);
  assert_int_equal(store_secret_inspect(t->f->s, "sB", &info), -EBADMSG);
  assert_true(tamper_records(t->f, "failed authentication") >= 2);
  /* a master-key rotation rewraps nothing built on a refused record */
  assert_int_equal(store_rotate_master_key(t->f->s, &t->f->actor), -EBADMSG);
}

static void test_secret_record_edited_or_swapped_is_refused(void **state) {
  struct two *t = *state;
  struct raw w;
  raw_begin(t->f, &w);
  raw_copy(&w, "secrets", t->a, 16, t->b, 16); /* B's record replaced by A's */
  raw_end(t->f, &w);
  assert_int_equal(read_raw(t->f, "sB", 0), -EBADMSG);
  struct store_secret_info *info = NULL;
  assert_int_equal(store_secret_inspect(t->f->s, t->idb, &info), -EBADMSG);
  assert_true(tamper_records(t->f, "table:secrets") >= 1);
}

static void test_deleted_records_that_others_refer_to_are_refused(void **state) {
  struct two *t = *state;
  struct raw w;
  uint8_t kv[20];
  memcpy(kv, t->b, 16);
  store_be32_put(kv + 16, 1);
  raw_begin(t->f, &w);
  raw_del(&w, "secrets", t->a, 16); /* names[sA] now refers to nothing */
  raw_del(&w, "versions", kv, 20);  /* B's latest version is gone */
  raw_end(t->f, &w);
  assert_int_equal(read_raw(t->f, "sA", 0), -EBADMSG);
  assert_int_equal(read_raw(t->f, "sB", 0), -EBADMSG);
  struct store_secret_info *info = NULL;
  assert_int_equal(store_secret_inspect(t->f->s, "sB", &info), -EBADMSG);
  assert_true(tamper_records(t->f, "refers to a missing secret") >= 1);
  assert_true(tamper_records(t->f, "latest version is missing") >= 1);
}

static void test_deleted_name_record_is_refused_by_id(void **state) {
  struct two *t = *state;
  struct raw w;
  raw_begin(t->f, &w);
  raw_del(&w, "names", "sA", 2);
  raw_end(t->f, &w);
  assert_int_equal(read_raw(t->f, t->ida, 0), -EBADMSG);
  assert_true(tamper_records(t->f, "table:secrets") >= 1);
}

/* A clean store: no tamper record, and writes, rotation and reads work. */
static void test_untouched_store_has_no_tamper_records(void **state) {
  struct two *t = *state;
  uint32_t ver = 0;
  assert_int_equal(rot1(t->f, "sA", "v2", &ver), 0);
  assert_int_equal(store_rotate_master_key(t->f->s, &t->f->actor), 0);
  sfx_reopen(t->f);
  struct secbuf *out = NULL;
  assert_int_equal(store_secret_read(t->f->s, "sA", 0, &out), 0);
  assert_int_equal(secbuf_len(out), 2);
  secbuf_free(out);
  assert_int_equal(store_tamper_count(t->f->s), 0);
  assert_int_equal(tamper_records(t->f, "table:"), 0);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_name_pointed_at_another_id_is_refused),
      T(test_forged_name_record_is_refused),
      T(test_edited_grant_is_refused),
      T(test_grant_moved_to_another_secret_is_refused),
      T(test_version_swapped_between_secrets_is_refused),
      T(test_version_ciphertext_body_edited_is_refused),
      T(test_version_aead_tag_or_header_edited_is_refused),
      T(test_secret_record_edited_or_swapped_is_refused),
      T(test_deleted_records_that_others_refer_to_are_refused),
      T(test_deleted_name_record_is_refused_by_id),
      T(test_untouched_store_has_no_tamper_records),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
