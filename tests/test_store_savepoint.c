/*
 * Savepoints in a batch (store/store.h): an op inside a rolled-back savepoint
 * leaves neither its data nor its audit record, the chain stays whole (the next
 * record links to the one before the savepoint); a released one keeps both;
 * savepoints nest; the batch's reads see what the savepoint holds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "store/dispatch.h"
#include "test_store_util.h"

static int create(struct store_batch *b, struct sfx *f, const char *name) {
  static const uint8_t spec[] = {0x81, 0xa1, 'v', 0x01}; /* {"v":1} */
  return store_service_create(b, &f->actor, name, "n1", spec, sizeof(spec));
}

static bool exists(struct sfx *f, const char *name) {
  struct store_service_info *i = NULL;
  int r = store_service_inspect(f->s, name, &i);
  store_service_info_free(i, 1);
  return r == 0;
}

static void test_rollback_drops_ops_and_records_release_keeps_them(void **state) {
  (void)state;
  struct sfx *f = sfx_new(NULL);
  struct store_batch *b;
  struct store_savepoint *outer, *inner;
  char node[STORE_NODE_MAX + 1];
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  assert_int_equal(create(b, f, "before"), 0);
  size_t n0 = store_batch_size(b);
  assert_int_equal(store_savepoint_begin(b, &outer), 0);
  assert_int_equal(create(b, f, "kept"), 0);
  assert_int_equal(store_savepoint_begin(b, &inner), 0);
  assert_int_equal(create(b, f, "dropped"), 0);
  /* reads through the batch see the savepoint's writes */
  assert_int_equal(store_batch_service_node(b, "dropped", node), 0);
  assert_string_equal(node, "n1");
  store_savepoint_rollback(inner);
  assert_int_equal(store_batch_service_node(b, "dropped", node), -ENOENT);
  assert_int_equal(store_batch_service_node(b, "kept", node), 0);
  assert_int_equal(store_batch_size(b), n0 + 1);
  assert_int_equal(store_savepoint_release(outer), 0);
  assert_int_equal(create(b, f, "after"), 0);
  assert_int_equal(store_batch_commit(b), 0);
  assert_true(exists(f, "before") && exists(f, "kept") && exists(f, "after"));
  assert_false(exists(f, "dropped"));
  struct store_audit_rec *recs;
  size_t n;
  assert_int_equal(store_audit_list(f->s, 0, 0, 0, &recs, &n), 0);
  for (size_t i = 0; i < n; i++)
    assert_null(strstr(recs[i].object, "dropped"));
  free(recs);
  struct store_audit_verdict vd;
  assert_int_equal(store_audit_verify(f->s, NULL, NULL, &vd), 0);
  assert_true(vd.ok);
  store_savepoint_rollback(NULL);
  assert_int_equal(store_savepoint_release(NULL), -EINVAL);
  assert_int_equal(store_savepoint_begin(NULL, &outer), -EINVAL);
  sfx_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rollback_drops_ops_and_records_release_keeps_them),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
