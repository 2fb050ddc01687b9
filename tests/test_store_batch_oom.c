/*
 * A batch whose copy of its audit records for the file cannot grow (realloc
 * fails, injected with -Wl,--wrap=realloc) still chains every record to the one
 * before: the head advances with the chain, not with the copy, and the audit
 * file catches up from the chain so that it holds every record.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "base/secbuf.h"
#include "test_store_util.h"

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);

/* Armed: the next realloc of the batch's first record block (16 records) fails. */
static bool g_fail_records;

void *__wrap_realloc(void *p, size_t n) {
  if (g_fail_records && !p && n == 16 * sizeof(struct store_audit_rec)) {
    g_fail_records = false;
    return NULL;
  }
  return __real_realloc(p, n);
}

static size_t file_lines(const char *path) {
  FILE *fh = fopen(path, "r");
  size_t n = 0;
  int c;
  assert_non_null(fh);
  while ((c = fgetc(fh)) != EOF)
    n += c == '\n';
  fclose(fh);
  return n;
}

static void create_in(struct store_batch *b, struct sfx *f, const char *name) {
  struct secbuf *v;
  char id[33];
  assert_int_equal(secbuf_from("value", 5, &v), 0);
  assert_int_equal(store_secret_create(b, &f->actor, name, v, NULL, 0, id), 0);
  secbuf_free(v);
}

static void test_lost_record_copy_keeps_the_chain_and_the_file_whole(void **state) {
  (void)state;
  char fdir[] = "/tmp/sdauditXXXXXX", path[64];
  assert_non_null(mkdtemp(fdir));
  snprintf(path, sizeof(path), "%s/audit.jsonl", fdir);
  struct store_opts o = {.audit_file = path};
  struct sfx *f = sfx_new(&o);
  struct store_batch *b;

  assert_int_equal(store_batch_begin(f->s, &b), 0);
  g_fail_records = true;
  create_in(b, f, "a"); /* its record's copy is lost */
  assert_false(g_fail_records);
  create_in(b, f, "b");
  create_in(b, f, "c");
  assert_int_equal(store_batch_commit(b), 0);
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  create_in(b, f, "d");
  assert_int_equal(store_batch_commit(b), 0);

  struct store_audit_verdict vd;
  assert_int_equal(store_audit_verify(f->s, NULL, NULL, &vd), 0);
  assert_true(vd.ok);
  struct store_audit_rec *recs;
  size_t n;
  assert_int_equal(store_audit_list(f->s, 0, 0, 0, &recs, &n), 0);
  free(recs);
  assert_int_equal(store_audit_file_error(f->s), 0);
  assert_int_equal(file_lines(path), n); /* every record of the chain, none twice */
  sfx_free(f);
  rm_rf(fdir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lost_record_copy_keeps_the_chain_and_the_file_whole),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
