/* Frame reader: split feeds, bad lengths, exact maximum, several frames per feed. */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/error.h"
#include "wire/frame.h"

static void hdr(uint8_t *p, uint32_t len) { wire_frame_header(len, p); }

/* Feed everything, collecting complete frames' lengths; returns the last status. */
static int feed_all(struct wire_reader *r, const uint8_t *p, size_t n, size_t chunk,
                    size_t *lens, size_t *n_frames) {
  int ret = 0;
  *n_frames = 0;
  while (n) {
    size_t k = n < chunk ? n : chunk, used;
    while (k) {
      ret = wire_reader_feed(r, p, k, &used);
      if (ret < 0)
        return ret;
      p += used;
      n -= used;
      k -= used;
      if (ret == 1) {
        const uint8_t *f;
        size_t fl;
        wire_reader_frame(r, &f, &fl);
        lens[(*n_frames)++] = fl;
        wire_reader_consume(r);
      }
    }
  }
  return ret;
}

static void test_split_feeds_byte_by_byte_yield_the_frame(void **state) {
  uint8_t in[4 + 5] = {0};
  hdr(in, 5);
  memcpy(in + 4, "hello", 5);
  struct wire_reader *r;
  assert_int_equal(wire_reader_new(0, &r), 0);
  size_t used;
  for (size_t i = 0; i < sizeof(in) - 1; i++) {
    assert_int_equal(wire_reader_feed(r, in + i, 1, &used), 0);
    assert_int_equal(used, 1);
  }
  assert_int_equal(wire_reader_feed(r, in + 8, 1, &used), 1);
  const uint8_t *f;
  size_t fl;
  wire_reader_frame(r, &f, &fl);
  assert_int_equal(fl, 5);
  assert_memory_equal(f, "hello", 5);
  wire_reader_consume(r);
  wire_reader_free(r);
}

static void test_several_frames_in_one_feed(void **state) {
  uint8_t in[3 * 7];
  for (int i = 0; i < 3; i++) {
    hdr(in + 7 * i, 3);
    memcpy(in + 7 * i + 4, "abc", 3);
  }
  struct wire_reader *r;
  size_t lens[8], n;
  assert_int_equal(wire_reader_new(0, &r), 0);
  assert_true(feed_all(r, in, sizeof(in), sizeof(in), lens, &n) >= 0);
  assert_int_equal(n, 3);
  /* and in odd chunk sizes */
  for (size_t chunk = 1; chunk < 9; chunk++) {
    assert_true(feed_all(r, in, sizeof(in), chunk, lens, &n) >= 0);
    assert_int_equal(n, 3);
  }
  wire_reader_free(r);
}

static void test_zero_length_is_refused(void **state) {
  uint8_t in[4] = {0, 0, 0, 0};
  struct wire_reader *r;
  size_t used;
  assert_int_equal(wire_reader_new(0, &r), 0);
  assert_int_equal(wire_reader_feed(r, in, 4, &used), SD_E_PROTO);
  wire_reader_free(r);
}

static void test_length_ffffffff_is_refused_before_allocating(void **state) {
  uint8_t in[4] = {0xff, 0xff, 0xff, 0xff};
  struct wire_reader *r;
  size_t used;
  assert_int_equal(wire_reader_new(0, &r), 0);
  assert_int_equal(wire_reader_feed(r, in, 4, &used), SD_E_PROTO);
  assert_int_equal(wire_reader_pending(r), 0);
  wire_reader_free(r);
}

static void test_over_max_is_refused_and_exactly_max_accepted(void **state) {
  struct wire_reader *r;
  size_t used, lens[2], n;
  uint8_t h[4];
  hdr(h, WIRE_MAX_FRAME + 1);
  assert_int_equal(wire_reader_new(0, &r), 0);
  assert_int_equal(wire_reader_feed(r, h, 4, &used), SD_E_PROTO);
  wire_reader_free(r);

  size_t total = 4 + WIRE_MAX_FRAME;
  uint8_t *in = calloc(1, total);
  assert_non_null(in);
  hdr(in, WIRE_MAX_FRAME);
  assert_int_equal(wire_reader_new(0, &r), 0);
  assert_int_equal(feed_all(r, in, total, 65536, lens, &n), 1);
  assert_int_equal(n, 1);
  assert_int_equal(lens[0], WIRE_MAX_FRAME);
  wire_reader_free(r);
  free(in);
}

static void test_smaller_reader_maximum_is_enforced(void **state) {
  struct wire_reader *r;
  size_t used;
  uint8_t h[4];
  hdr(h, 101);
  assert_int_equal(wire_reader_new(100, &r), 0);
  assert_int_equal(wire_reader_feed(r, h, 4, &used), SD_E_PROTO);
  wire_reader_free(r);
}

static void test_truncated_frame_stays_pending(void **state) {
  uint8_t in[4 + 2];
  hdr(in, 10);
  in[4] = in[5] = 'x';
  struct wire_reader *r;
  size_t used;
  assert_int_equal(wire_reader_new(0, &r), 0);
  assert_int_equal(wire_reader_feed(r, in, sizeof(in), &used), 0);
  assert_int_equal(used, sizeof(in));
  assert_int_equal(wire_reader_pending(r), 10);
  wire_reader_free(r); /* frees (and wipes) the partial frame */
}

static void test_free_null_is_ok(void **state) { wire_reader_free(NULL); }


/* ---- memory spent as bytes arrive, and the shared budget ---- */

static size_t feed_n(struct wire_reader *r, const uint8_t *p, size_t n) {
  size_t used = 0;
  int st = wire_reader_feed(r, p, n, &used);
  assert_true(st >= 0);
  return used;
}

static uint8_t zeros[300 * 1024];

static void test_a_header_alone_allocates_nothing(void **state) {
  struct wire_reader *r;
  uint8_t h[4];
  hdr(h, WIRE_MAX_FRAME);
  assert_int_equal(wire_reader_new(0, &r), 0);
  assert_false(wire_reader_in_frame(r));
  assert_int_equal(feed_n(r, h, 2), 2);
  assert_true(wire_reader_in_frame(r));
  assert_int_equal(feed_n(r, h + 2, 2), 2);
  assert_int_equal(wire_reader_pending(r), WIRE_MAX_FRAME);
  assert_int_equal(wire_reader_held(r), 0);
  wire_reader_free(r);
}

static void test_buffer_grows_with_the_bytes_received(void **state) {
  struct wire_reader *r;
  uint8_t h[4];
  hdr(h, 1u << 20);
  assert_int_equal(wire_reader_new(0, &r), 0);
  feed_n(r, h, 4);
  feed_n(r, zeros, 10);
  assert_int_equal(wire_reader_held(r), WIRE_READER_CHUNK);
  size_t got = 10;
  while (got < 300 * 1024) {
    size_t k = 7919;
    if (k > 300 * 1024 - got)
      k = 300 * 1024 - got;
    got += feed_n(r, zeros, k);
    assert_int_equal(wire_reader_received(r), got);
    /* never more than twice what was sent */
    size_t held = wire_reader_held(r);
    assert_true(held >= got);
    assert_true(held <= 2 * got || held == WIRE_READER_CHUNK);
  }
  wire_reader_free(r);

  /* A small frame gets exactly its length. */
  hdr(h, 100);
  assert_int_equal(wire_reader_new(0, &r), 0);
  feed_n(r, h, 4);
  feed_n(r, zeros, 1);
  assert_int_equal(wire_reader_held(r), 100);
  wire_reader_free(r);
}

static void test_frame_content_survives_growth(void **state) {
  enum { LEN = 70000 };
  static uint8_t in[4 + LEN];
  hdr(in, LEN);
  for (size_t i = 0; i < LEN; i++)
    in[4 + i] = (uint8_t)(i * 7 + i / 251);
  struct wire_reader *r;
  assert_int_equal(wire_reader_new(0, &r), 0);
  size_t off = 0, used;
  int st = 0;
  while (off < sizeof(in)) {
    size_t k = sizeof(in) - off < 1000 ? sizeof(in) - off : 1000;
    st = wire_reader_feed(r, in + off, k, &used);
    assert_true(st >= 0);
    off += used;
  }
  assert_int_equal(st, 1);
  const uint8_t *f;
  size_t fl;
  wire_reader_frame(r, &f, &fl);
  assert_int_equal(fl, LEN);
  assert_memory_equal(f, in + 4, LEN);
  wire_reader_consume(r);
  assert_int_equal(wire_reader_held(r), 0);
  wire_reader_free(r);
}

struct evict_log {
  struct wire_reader *victims[8];
  int n;
  bool free_victim;
};

static void log_evict(struct wire_reader *r, void *ud) {
  struct evict_log *l = ud;
  l->victims[l->n++] = r;
  if (l->free_victim)
    wire_reader_free(r); /* allowed: the owner closes at once */
}

static struct wire_reader *budget_reader(struct wire_budget *b, struct evict_log *l, size_t sent) {
  struct wire_reader *r;
  uint8_t h[4];
  hdr(h, 1u << 20);
  assert_int_equal(wire_reader_new(0, &r), 0);
  wire_reader_set_budget(r, b, log_evict, l);
  feed_n(r, h, 4);
  size_t got = 0;
  while (got < sent)
    got += feed_n(r, zeros, sent - got < sizeof(zeros) ? sent - got : sizeof(zeros));
  return r;
}

static void test_budget_evicts_the_longest_stalled_first(void **state) {
  struct wire_budget *b;
  struct evict_log l = {0};
  assert_int_equal(wire_budget_new(256 * 1024, &b), 0);
  struct wire_reader *a = budget_reader(b, &l, 100 * 1024); /* holds 128 KiB */
  struct wire_reader *v = budget_reader(b, &l, 100 * 1024); /* holds 128 KiB */
  assert_int_equal(wire_budget_used(b), 256 * 1024);
  assert_int_equal(l.n, 0);
  feed_n(a, zeros, 1024); /* a makes progress: v is now the longest stalled */
  struct wire_reader *c = budget_reader(b, &l, 100 * 1024);
  assert_int_equal(l.n, 1);
  assert_ptr_equal(l.victims[0], v);
  assert_int_equal(wire_budget_evictions(b), 1);
  assert_int_equal(wire_reader_held(v), 0);
  assert_int_equal(wire_budget_used(b), wire_reader_held(a) + wire_reader_held(c));
  size_t used;
  assert_int_equal(wire_reader_feed(v, zeros, 10, &used), -ENOBUFS);
  /* a header-only reader holds nothing and is never the one evicted */
  struct wire_reader *h = budget_reader(b, &l, 0);
  assert_int_equal(wire_reader_held(h), 0);
  wire_reader_free(v);
  wire_reader_free(a);
  wire_reader_free(c);
  wire_reader_free(h);
  assert_int_equal(wire_budget_used(b), 0);
  wire_budget_free(b);
}

static void test_frame_larger_than_the_budget_fails_alone(void **state) {
  struct wire_budget *b;
  struct evict_log l = {.free_victim = true};
  assert_int_equal(wire_budget_new(64 * 1024, &b), 0);
  struct wire_reader *a = budget_reader(b, &l, 30 * 1024);
  struct wire_reader *r;
  uint8_t h[4];
  hdr(h, 1u << 20);
  assert_int_equal(wire_reader_new(0, &r), 0);
  wire_reader_set_budget(r, b, log_evict, &l);
  feed_n(r, h, 4);
  size_t got = 0, used;
  int st = 0;
  while (got < 200 * 1024 && st >= 0) {
    st = wire_reader_feed(r, zeros, 4096, &used);
    got += used;
  }
  assert_int_equal(st, -ENOBUFS);
  assert_int_equal(l.n, 1); /* a was evicted (and freed by its owner) trying */
  assert_ptr_equal(l.victims[0], a);
  assert_true(wire_budget_used(b) <= 64 * 1024);
  wire_reader_free(r);
  assert_int_equal(wire_budget_used(b), 0);
  wire_budget_free(b);
}

static void test_complete_frames_give_their_bytes_back(void **state) {
  struct wire_budget *b;
  assert_int_equal(wire_budget_new(0, &b), 0);
  struct wire_reader *r;
  assert_int_equal(wire_reader_new(0, &r), 0);
  wire_reader_set_budget(r, b, NULL, NULL);
  uint8_t in[4 + 3];
  hdr(in, 3);
  memcpy(in + 4, "abc", 3);
  for (int i = 0; i < 5; i++) {
    size_t used;
    assert_int_equal(wire_reader_feed(r, in, sizeof(in), &used), 1);
    assert_int_equal(wire_budget_used(b), 3);
    wire_reader_consume(r);
    assert_int_equal(wire_budget_used(b), 0);
  }
  wire_reader_free(r);
  wire_budget_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_split_feeds_byte_by_byte_yield_the_frame),
      cmocka_unit_test(test_several_frames_in_one_feed),
      cmocka_unit_test(test_zero_length_is_refused),
      cmocka_unit_test(test_length_ffffffff_is_refused_before_allocating),
      cmocka_unit_test(test_over_max_is_refused_and_exactly_max_accepted),
      cmocka_unit_test(test_smaller_reader_maximum_is_enforced),
      cmocka_unit_test(test_truncated_frame_stays_pending),
      cmocka_unit_test(test_free_null_is_ok),
      cmocka_unit_test(test_a_header_alone_allocates_nothing),
      cmocka_unit_test(test_buffer_grows_with_the_bytes_received),
      cmocka_unit_test(test_frame_content_survives_growth),
      cmocka_unit_test(test_budget_evicts_the_longest_stalled_first),
      cmocka_unit_test(test_frame_larger_than_the_budget_fails_alone),
      cmocka_unit_test(test_complete_frames_give_their_bytes_back),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
