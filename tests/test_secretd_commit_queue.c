/* secretd group commit over a real store and a real libuv loop. */
#include <errno.h>
#include <time.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/error.h"
#include "crypto/keys.h"
#include "crypto/secbuf.h"
#include "secretd/commit_queue.h"
#include "store/store.h"

struct fx {
  char dir[64];
  struct store *store;
  uv_loop_t loop;
  struct commit_queue *q;
  int idle_calls;
};

struct op {
  struct cq_item item;
  char name[32];
  int result;
  bool done;
  struct store *store; /* after_commit reads it */
  int after_calls, after_saw; /* after_saw: store_secret_inspect's result there */
  bool after_before_done;
};

static int create_run(struct store_batch *b, struct cq_item *it) {
  struct op *o = (struct op *)it;
  struct store_actor a = {.uid = 0};
  struct secbuf *v = NULL;
  int r = secbuf_from("value", 5, &v);
  if (r < 0)
    return r;
  r = store_secret_create(b, &a, o->name, v, NULL, 0, NULL);
  secbuf_free(v);
  return r;
}

static void op_done(struct cq_item *it, int r) {
  struct op *o = (struct op *)it;
  o->result = r;
  o->done = true;
}

static struct op *ops_new(size_t n, const char *prefix) {
  struct op *ops = calloc(n, sizeof(*ops));
  assert_non_null(ops);
  for (size_t i = 0; i < n; i++) {
    snprintf(ops[i].name, sizeof(ops[i].name), "%s%zu", prefix, i);
    ops[i].item.run = create_run;
    ops[i].item.done = op_done;
    ops[i].result = 1;
  }
  return ops;
}

static int setup(void **state) {
  struct fx *f = calloc(1, sizeof(*f));
  struct sd_key *k = NULL;
  strcpy(f->dir, "/tmp/test_secretd_cq.XXXXXX");
  if (!mkdtemp(f->dir) || sd_key_generate(&k) < 0 || store_init(f->dir, k, NULL) < 0 ||
      store_open(f->dir, k, NULL, &f->store) < 0 || uv_loop_init(&f->loop) < 0 ||
      cq_new(&f->loop, f->store, 4, &f->q) < 0)
    return -1;
  sd_key_free(k);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fx *f = *state;
  char cmd[128];
  cq_free(f->q);
  uv_loop_close(&f->loop);
  store_close(f->store);
  snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
  if (system(cmd) != 0)
    return -1;
  free(f);
  return 0;
}

static void test_single_write_is_committed_before_done(void **state) {
  struct fx *f = *state;
  struct op *o = ops_new(1, "one");
  struct store_secret_info *info = NULL;
  cq_submit(f->q, &o->item);
  assert_false(o->done); /* never answered synchronously */
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_true(o->done);
  assert_int_equal(o->result, 0);
  assert_int_equal(store_secret_inspect(f->store, "one0", &info), 0);
  store_secret_info_free(info, 1);
  free(o);
}

static void test_writes_arriving_during_a_batch_share_the_next_and_respect_the_cap(void **state) {
  struct fx *f = *state;
  struct op *o = ops_new(11, "g");
  struct cq_stats st;
  for (int i = 0; i < 11; i++)
    cq_submit(f->q, &o[i].item); /* the first starts a batch at once; 10 wait */
  uv_run(&f->loop, UV_RUN_DEFAULT);
  for (int i = 0; i < 11; i++)
    assert_int_equal(o[i].result, 0);
  cq_get_stats(f->q, &st);
  assert_int_equal(st.items, 11);
  assert_int_equal(st.batches, 4); /* 1, then 4, 4, 2 with max_batch 4 */
  assert_int_equal(st.max_batch_seen, 4);
  free(o);
}

static void test_a_failed_op_does_not_fail_its_batch(void **state) {
  struct fx *f = *state;
  struct op *o = ops_new(3, "dup");
  size_t n = 0;
  struct store_secret_info *list = NULL;
  strcpy(o[1].name, "dup0"); /* second create of the same name in the batch */
  for (int i = 0; i < 3; i++)
    cq_submit(f->q, &o[i].item);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(o[0].result, 0);
  assert_int_equal(o[1].result, -EEXIST);
  assert_int_equal(o[2].result, 0);
  assert_int_equal(store_secret_list(f->store, &list, &n), 0);
  assert_int_equal(n, 2);
  store_secret_info_free(list, n);
  free(o);
}

static void op_after_commit(struct cq_item *it) {
  struct op *o = (struct op *)it;
  struct store_secret_info *info = NULL;
  o->after_calls++;
  o->after_before_done = !o->done;
  o->after_saw = store_secret_inspect(o->store, o->name, &info);
  store_secret_info_free(info, 1);
}

static void test_after_commit_sees_the_batch_before_done_and_only_for_ops_that_succeeded(
    void **state) {
  struct fx *f = *state;
  struct op *o = ops_new(3, "ac");
  strcpy(o[1].name, "ac0"); /* a second create of the same name fails */
  for (int i = 0; i < 3; i++) {
    o[i].store = f->store;
    o[i].item.after_commit = op_after_commit;
    cq_submit(f->q, &o[i].item);
  }
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(o[1].result, -EEXIST);
  assert_int_equal(o[1].after_calls, 0);
  for (int i = 0; i < 3; i += 2) {
    assert_int_equal(o[i].result, 0);
    assert_int_equal(o[i].after_calls, 1);
    assert_true(o[i].after_before_done);
    assert_int_equal(o[i].after_saw, 0); /* committed: a read of its own sees it */
  }
  free(o);
}

static void on_idle(void *ud) { ((struct fx *)ud)->idle_calls++; }

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_lazy_item_rides_the_next_batch_or_commits_after_its_delay(void **state) {
  struct fx *f = *state;
  struct op *o = ops_new(4, "lz");
  struct cq_stats st;
  /* alone: no batch until the delay is over, then one of its own */
  uint64_t t0 = now_ms();
  cq_submit_lazy(f->q, &o[0].item, 150);
  uv_run(&f->loop, UV_RUN_NOWAIT);
  cq_get_stats(f->q, &st);
  assert_int_equal(st.batches, 0);
  while (!o[0].done)
    uv_run(&f->loop, UV_RUN_ONCE);
  assert_int_equal(o[0].result, 0);
  assert_true(now_ms() - t0 >= 140);
  /* behind a running batch, with an eager item: both in the next batch, long
   * before the delay */
  t0 = now_ms();
  cq_submit(f->q, &o[1].item);             /* starts a batch */
  cq_submit_lazy(f->q, &o[2].item, 10000); /* waits */
  cq_submit(f->q, &o[3].item);             /* waits: the next batch takes both */
  while (!o[2].done || !o[3].done)
    uv_run(&f->loop, UV_RUN_ONCE);
  assert_true(now_ms() - t0 < 5000);
  for (int i = 1; i < 4; i++)
    assert_int_equal(o[i].result, 0);
  cq_get_stats(f->q, &st);
  assert_int_equal(st.batches, 3);
  assert_int_equal(st.items, 4);
  cq_shutdown(f->q, NULL, NULL); /* closes the timer */
  uv_run(&f->loop, UV_RUN_DEFAULT);
  free(o);
}

static void test_shutdown_finishes_the_running_batch_and_cancels_pending(void **state) {
  struct fx *f = *state;
  struct op *o = ops_new(4, "s");
  for (int i = 0; i < 4; i++)
    cq_submit(f->q, &o[i].item);
  cq_shutdown(f->q, on_idle, f);
  assert_int_equal(f->idle_calls, 0); /* the first batch still runs */
  for (int i = 1; i < 4; i++)
    assert_int_equal(o[i].result, -ECANCELED);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(o[0].result, 0);
  assert_int_equal(f->idle_calls, 1);
  struct op late = {.item = {.run = create_run, .done = op_done}};
  strcpy(late.name, "late");
  cq_submit(f->q, &late.item);
  assert_int_equal(late.result, -ECANCELED);
  free(o);
}

static void test_shutdown_when_idle_reports_idle_at_once(void **state) {
  struct fx *f = *state;
  cq_shutdown(f->q, on_idle, f);
  assert_int_equal(f->idle_calls, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_single_write_is_committed_before_done, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_writes_arriving_during_a_batch_share_the_next_and_respect_the_cap, setup, teardown),
      cmocka_unit_test_setup_teardown(test_a_failed_op_does_not_fail_its_batch, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_lazy_item_rides_the_next_batch_or_commits_after_its_delay, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_after_commit_sees_the_batch_before_done_and_only_for_ops_that_succeeded, setup,
          teardown),
      cmocka_unit_test_setup_teardown(test_shutdown_finishes_the_running_batch_and_cancels_pending,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_shutdown_when_idle_reports_idle_at_once, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
