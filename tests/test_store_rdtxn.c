/*
 * The pool of reset read txns (store/rdtxn.c): reads reuse at most
 * STORE_RDTXN_MAX of them, more at once still work, a reused txn sees the
 * latest commit (never an old snapshot), and a pooled txn holds no
 * snapshot (LMDB can reuse freed pages while the pool is full).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <lmdb.h>

#include "store/internal.h"
#include "test_store_util.h"

static int setup(void **state) {
  *state = sfx_new(NULL);
  return 0;
}

static int teardown(void **state) {
  sfx_free(*state);
  return 0;
}

static void test_more_txns_than_the_pool_and_fresh_snapshots(void **state) {
  struct sfx *f = *state;
  MDB_txn *t[3 * STORE_RDTXN_MAX];
  assert_int_equal(put1(f, "x", "v1", NULL), 0);
  for (size_t i = 0; i < ARRAY_SIZE(t); i++) /* all at once: beyond the pool */
    assert_int_equal(store_rdtxn_begin(f->s, &t[i]), 0);
  for (size_t i = 0; i < ARRAY_SIZE(t); i++)
    store_rdtxn_end(f->s, t[i]);
  assert_int_equal(f->s->n_rdtxn, STORE_RDTXN_MAX);
  for (int i = 2; i < 40; i++) { /* every read after a commit sees it */
    char v[8];
    snprintf(v, sizeof(v), "v%d", i);
    assert_int_equal(rot1(f, "x", v, NULL), 0);
    assert_int_equal(read_eq(f, "x", 0, v), 0);
  }
  assert_int_equal(f->s->n_rdtxn, STORE_RDTXN_MAX);
}

/* Pooled txns are reset: they pin no snapshot, so rewriting the same
 * secret many times does not grow the file as it would if old pages had to
 * be kept for a reader. */
static void test_pooled_txns_pin_no_snapshot(void **state) {
  struct sfx *f = *state;
  MDB_txn *t[STORE_RDTXN_MAX];
  MDB_envinfo before, after;
  assert_int_equal(put1(f, "x", "v1", NULL), 0);
  for (size_t i = 0; i < ARRAY_SIZE(t); i++)
    assert_int_equal(store_rdtxn_begin(f->s, &t[i]), 0);
  for (size_t i = 0; i < ARRAY_SIZE(t); i++)
    store_rdtxn_end(f->s, t[i]);
  for (int i = 0; i < 50; i++) /* warm up: the free list settles */
    assert_int_equal(rot1(f, "x", "warm", NULL), 0);
  assert_int_equal(mdb_env_info(f->s->env, &before), 0);
  for (int i = 0; i < 500; i++)
    assert_int_equal(rot1(f, "x", "again", NULL), 0);
  assert_int_equal(mdb_env_info(f->s->env, &after), 0);
  /* each rotation also appends an audit record (a few pages per 100) */
  assert_true(after.me_last_pgno - before.me_last_pgno < 100);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_more_txns_than_the_pool_and_fresh_snapshots),
      T(test_pooled_txns_pin_no_snapshot),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
