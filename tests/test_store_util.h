/* Shared fixture of the store unit tests: a fresh store in a mkdtemp dir. */
#pragma once

#include <ftw.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "store/store.h"

struct sfx {
  char dir[64];
  struct sd_key *unlock;
  struct store *s;
  struct store_opts opts;
  struct store_actor actor;
};

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
  (void)st; (void)flag; (void)f;
  return remove(p);
}

static inline void rm_rf(const char *dir) { nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static inline struct sfx *sfx_new(const struct store_opts *o) {
  struct sfx *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  strcpy(f->dir, "/tmp/sdstoreXXXXXX");
  assert_non_null(mkdtemp(f->dir));
  if (o)
    f->opts = *o;
  assert_int_equal(sd_key_generate(&f->unlock), 0);
  assert_int_equal(store_init(f->dir, f->unlock, &f->opts), 0);
  assert_int_equal(store_open(f->dir, f->unlock, &f->opts, &f->s), 0);
  f->actor.uid = 0;
  return f;
}

static inline void sfx_free(struct sfx *f) {
  store_close(f->s);
  sd_key_free(f->unlock);
  rm_rf(f->dir);
  free(f);
}

static inline void sfx_reopen(struct sfx *f) {
  store_close(f->s);
  f->s = NULL;
  assert_int_equal(store_open(f->dir, f->unlock, &f->opts, &f->s), 0);
}

/* One op in its own batch; returns the op's result (commit must succeed). */
static inline int put1(struct sfx *f, const char *name, const char *value, char id[33]) {
  struct store_batch *b;
  struct secbuf *v;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  assert_int_equal(secbuf_from(value, strlen(value), &v), 0);
  int r = store_secret_create(b, &f->actor, name, v, NULL, 0, id);
  secbuf_free(v);
  assert_int_equal(store_batch_commit(b), 0);
  return r;
}

static inline int rot1(struct sfx *f, const char *ref, const char *value, uint32_t *ver) {
  struct store_batch *b;
  struct secbuf *v;
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  assert_int_equal(secbuf_from(value, strlen(value), &v), 0);
  int r = store_secret_rotate(b, &f->actor, ref, v, ver);
  secbuf_free(v);
  assert_int_equal(store_batch_commit(b), 0);
  return r;
}

/* Read ref/version and compare with want (NULL: expect error r). */
static inline int read_eq(struct sfx *f, const char *ref, uint32_t ver, const char *want) {
  struct secbuf *out = NULL;
  int r = store_secret_read(f->s, ref, ver, &out);
  if (r < 0)
    return r;
  int eq = secbuf_len(out) == strlen(want) && memcmp(secbuf_cdata(out), want, strlen(want)) == 0;
  secbuf_free(out);
  return eq ? 0 : -EBADMSG;
}
