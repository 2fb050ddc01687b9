/* Frame reader: split feeds, bad lengths, exact maximum, several frames per feed. */
#include <setjmp.h>
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
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
