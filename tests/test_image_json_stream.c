/* image/json_stream: the streaming writer lays out and escapes exactly as
 * json-c does (the scan reports moved from json-c documents to it and their
 * bytes must not change): random documents written both ways compare equal,
 * in the pretty and the plain layout, with every byte value in strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "image/json_stream.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (uint32_t)(rng % n);
}

/* a string of 0-12 bytes 1..255, biased to the ones that need escaping */
static void rnd_string(char *s) {
  static const char special[] = "\"\\/\b\f\n\r\t\x01\x1f\x7f ";
  int n = (int)rnd(13);
  for (int i = 0; i < n; i++)
    s[i] = rnd(3) ? special[rnd(sizeof special - 1)] : (char)(1 + rnd(255));
  s[n] = '\0';
}

/* The same random value built as a json-c object and streamed to w. */
static json_object *rnd_value(struct jstream *w, int depth) {
  char s[16];
  switch (depth >= 4 ? rnd(4) : rnd(6)) {
  case 0:
    rnd_string(s);
    jstream_string(w, s);
    return json_object_new_string(s);
  case 1: {
    int64_t v = (int64_t)rnd(1u << 31) * (rnd(2) ? 1 : -1000003);
    jstream_int(w, v);
    return json_object_new_int64(v);
  }
  case 2: {
    bool b = rnd(2);
    jstream_bool(w, b);
    return json_object_new_boolean(b);
  }
  case 3:
    jstream_null(w);
    return NULL;
  case 4: {
    json_object *a = json_object_new_array();
    jstream_begin_array(w);
    for (int n = (int)rnd(4); n > 0; n--)
      json_object_array_add(a, rnd_value(w, depth + 1));
    jstream_end_array(w);
    return a;
  }
  default: {
    json_object *o = json_object_new_object();
    jstream_begin_object(w);
    for (int n = (int)rnd(4); n > 0; n--) {
      char k[32];
      snprintf(k, sizeof k, "k%d", n); /* distinct: json-c keeps one value per key */
      if (rnd(4) == 0) {
        rnd_string(s);
        snprintf(k, sizeof k, "%d%s", n, s);
      }
      jstream_key(w, k);
      json_object_object_add(o, k, rnd_value(w, depth + 1));
    }
    jstream_end_object(w);
    return o;
  }
  }
}

static void compare(unsigned jflags, int cflags) {
  for (int i = 0; i < 3000; i++) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    struct jstream w;
    jstream_init(&w, f, jflags);
    json_object *o = json_object_new_object();
    jstream_begin_object(&w);
    jstream_key(&w, "v");
    json_object_object_add(o, "v", rnd_value(&w, 0));
    jstream_end_object(&w);
    assert_int_equal(fclose(f), 0);
    const char *want = json_object_to_json_string_ext(o, cflags);
    if (strcmp(buf, want))
      fail_msg("document %d differs:\njson-c: %s\nstream: %s", i, want, buf);
    assert_int_equal(w.depth, 0);
    json_object_put(o);
    free(buf);
  }
}

static void test_pretty_layout_matches_json_c(void **state) {
  (void)state;
  compare(JSTREAM_PRETTY, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
}

static void test_plain_layout_matches_json_c(void **state) {
  (void)state;
  compare(JSTREAM_ESCAPE_SLASH, JSON_C_TO_STRING_PLAIN);
}

static void test_output_parses_back(void **state) {
  (void)state;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  struct jstream w;
  jstream_init(&w, f, JSTREAM_PRETTY);
  jstream_begin_object(&w);
  jstream_kv_string(&w, "a\"b", "x\n\x01/\\y");
  jstream_kv_int(&w, "n", INT64_MIN);
  jstream_kv_bool(&w, "t", true);
  jstream_kv_string(&w, "z", NULL);
  jstream_key(&w, "e");
  jstream_begin_array(&w);
  jstream_end_array(&w);
  jstream_end_object(&w);
  assert_int_equal(fclose(f), 0);
  json_object *o = json_tokener_parse(buf), *v;
  assert_non_null(o);
  assert_true(json_object_object_get_ex(o, "a\"b", &v));
  assert_string_equal(json_object_get_string(v), "x\n\x01/\\y");
  assert_true(json_object_object_get_ex(o, "n", &v));
  assert_true(json_object_get_int64(v) == INT64_MIN);
  assert_true(json_object_object_get_ex(o, "z", &v) && v == NULL);
  assert_true(json_object_object_get_ex(o, "e", &v));
  assert_int_equal(json_object_array_length(v), 0);
  json_object_put(o);
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pretty_layout_matches_json_c),
      cmocka_unit_test(test_plain_layout_matches_json_c),
      cmocka_unit_test(test_output_parses_back),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
