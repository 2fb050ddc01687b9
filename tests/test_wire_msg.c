/* The validating decoder, typed getters and the wiping buffer of wire/msg.h. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/error.h"
#include "base/secmem.h"
#include "wire/frame.h"
#include "wire/msg.h"

/* The VmFlags of the /proc/self/smaps entry holding p. */
static void vmflags_of(const void *p, char *out, size_t cap) {
  FILE *f = fopen("/proc/self/smaps", "r");
  char line[512];
  bool in = false;
  out[0] = '\0';
  assert_non_null(f);
  while (fgets(line, sizeof(line), f)) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
      in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
      continue;
    }
    if (in && strncmp(line, "VmFlags:", 8) == 0) {
      size_t n = strnlen(line + 7, cap - 1);
      memcpy(out, line + 7, n);
      out[n] = '\0';
      break;
    }
  }
  fclose(f);
}

static int decode(const uint8_t *p, size_t n) {
  struct wire_value *v = NULL;
  int r = wire_value_decode(p, n, &v);
  wire_value_free(v);
  return r;
}

static void test_nesting_up_to_the_limit_decodes_and_beyond_is_refused(void **state) {
  uint8_t in[WIRE_MAX_DEPTH + 2];
  memset(in, 0x91, WIRE_MAX_DEPTH); /* WIRE_MAX_DEPTH nested one-element arrays */
  in[WIRE_MAX_DEPTH] = 0x01;
  assert_int_equal(decode(in, WIRE_MAX_DEPTH + 1), 0);
  memset(in, 0x91, WIRE_MAX_DEPTH + 1);
  in[WIRE_MAX_DEPTH + 1] = 0x01;
  assert_int_equal(decode(in, WIRE_MAX_DEPTH + 2), SD_E_PROTO);
  assert_string_equal(wire_decode_reason(), "nesting too deep");
}

static void test_very_deep_nesting_is_refused_without_recursing_far(void **state) {
  size_t n = 100000;
  uint8_t *in = malloc(n);
  assert_non_null(in);
  memset(in, 0x91, n);
  assert_int_equal(decode(in, n), SD_E_PROTO);
  free(in);
}

static void test_declared_lengths_beyond_the_bytes_are_refused(void **state) {
  static const uint8_t arr32[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
  static const uint8_t map32[] = {0xdf, 0x7f, 0xff, 0xff, 0xff, 0xa1, 'a', 0x01};
  static const uint8_t str32[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'x'};
  static const uint8_t bin16[] = {0xc5, 0x01, 0x00, 'x', 'y'};
  static const uint8_t arr2[] = {0x92, 0x01}; /* two elements declared, one present */
  assert_int_equal(decode(arr32, sizeof(arr32)), SD_E_PROTO);
  assert_int_equal(decode(map32, sizeof(map32)), SD_E_PROTO);
  assert_int_equal(decode(str32, sizeof(str32)), SD_E_PROTO);
  assert_int_equal(decode(bin16, sizeof(bin16)), SD_E_PROTO);
  assert_int_equal(decode(arr2, sizeof(arr2)), SD_E_PROTO);
}

static void test_trailing_bytes_ext_and_non_string_keys_are_refused(void **state) {
  static const uint8_t trailing[] = {0x01, 0x02};
  static const uint8_t ext[] = {0xd4, 0x01, 0x00};
  static const uint8_t intkey[] = {0x81, 0x01, 0x02};
  static const uint8_t never[] = {0xc1};
  assert_int_equal(decode(trailing, sizeof(trailing)), SD_E_PROTO);
  assert_string_equal(wire_decode_reason(), "trailing bytes after the value");
  assert_int_equal(decode(ext, sizeof(ext)), SD_E_PROTO);
  assert_int_equal(decode(intkey, sizeof(intkey)), SD_E_PROTO);
  assert_int_equal(decode(never, sizeof(never)), SD_E_PROTO);
  assert_int_equal(decode(NULL, 0), SD_E_PROTO);
}

static void test_random_bytes_never_crash(void **state) {
  uint8_t buf[64];
  unsigned seed = 12345;
  int ok = 0;
  for (int i = 0; i < 200000; i++) {
    size_t n = 1 + (size_t)(rand_r(&seed) % sizeof(buf));
    for (size_t k = 0; k < n; k++)
      buf[k] = (uint8_t)rand_r(&seed);
    int r = decode(buf, n);
    assert_true(r == 0 || r == SD_E_PROTO);
    ok += r == 0;
  }
  assert_true(ok > 0); /* some random inputs are valid values */
}

/* {"s":"abc","u":7,"b":true,"n":-1,"bin":<2 bytes>,"m":{},"a":[],"z":"a\0b"} */
static struct wire_value *sample(struct wire_buf *buf) {
  msgpack_packer pk;
  struct wire_value *v = NULL;
  wire_buf_init(buf, &pk);
  msgpack_pack_map(&pk, 8);
  wire_pack_kv_str(&pk, "s", "abc");
  wire_pack_kv_uint(&pk, "u", 7);
  wire_pack_kv_bool(&pk, "b", true);
  wire_pack_str(&pk, "n");
  msgpack_pack_int64(&pk, -1);
  wire_pack_str(&pk, "bin");
  msgpack_pack_bin(&pk, 2);
  msgpack_pack_bin_body(&pk, "\x01\x02", 2);
  wire_pack_str(&pk, "m");
  msgpack_pack_map(&pk, 0);
  wire_pack_str(&pk, "a");
  msgpack_pack_array(&pk, 0);
  wire_pack_str(&pk, "z");
  msgpack_pack_str(&pk, 3);
  msgpack_pack_str_body(&pk, "a\0b", 3);
  int n = wire_buf_finish(buf);
  assert_true(n > 4);
  assert_int_equal(wire_value_decode(buf->data + 4, (size_t)n - 4, &v), 0);
  return v;
}

static void test_getters_check_types_presence_and_sizes(void **state) {
  struct wire_buf buf;
  struct wire_value *v = sample(&buf);
  const msgpack_object *root = wire_value_root(v), *o;
  char s[4];
  uint64_t u;
  int64_t i;
  bool b;
  const uint8_t *p;
  size_t n;

  assert_int_equal(wire_get_str(root, "s", s, sizeof(s)), 0);
  assert_string_equal(s, "abc");
  assert_int_equal(wire_get_str(root, "s", s, 3), SD_E_PROTO); /* does not fit */
  assert_int_equal(wire_get_str(root, "z", s, sizeof(s)), SD_E_PROTO); /* NUL inside */
  assert_int_equal(wire_get_str(root, "u", s, sizeof(s)), SD_E_PROTO);
  assert_int_equal(wire_get_str(root, "missing", s, sizeof(s)), -ENOENT);
  assert_int_equal(wire_get_uint(root, "u", &u), 0);
  assert_int_equal(u, 7);
  assert_int_equal(wire_get_uint(root, "n", &u), SD_E_PROTO);
  assert_int_equal(wire_get_uint(root, "s", &u), SD_E_PROTO);
  assert_int_equal(wire_get_int(root, "n", &i), 0);
  assert_int_equal(i, -1);
  assert_int_equal(wire_get_bool(root, "b", &b), 0);
  assert_true(b);
  assert_int_equal(wire_get_bool(root, "u", &b), SD_E_PROTO);
  assert_int_equal(wire_get_bin(root, "bin", &p, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(wire_get_bin(root, "s", &p, &n), SD_E_PROTO);
  assert_int_equal(wire_get_map(root, "m", &o), 0);
  assert_int_equal(wire_get_map(root, "a", &o), SD_E_PROTO);
  assert_int_equal(wire_get_array(root, "a", &o), 0);
  assert_int_equal(wire_get_array(root, "m", &o), SD_E_PROTO);
  assert_null(wire_map_get(NULL, "s"));
  assert_null(wire_map_get(o, "s")); /* not a map */
  wire_value_free(v);
  wire_buf_release(&buf);
}

/* The pool (base/secmem.h) hands back the most recently freed block of a
 * size class first: after a growth, the old block is the next one of its
 * class, and it must hold zeros only. */
/* msgpack-c gives an empty string a NULL pointer: the helpers must compare and
 * search it without handing NULL to memcmp/memchr (UBSan's nonnull check
 * caught that in the fuzzer with {"": "", "": ""}). */
static void test_empty_keys_and_strings_compare_without_null_pointers(void **state) {
  (void)state;
  static const uint8_t twice[] = {0x82, 0xa0, 0x2e, 0xa0, 0x2e};      /* {"": 46, "": 46} */
  static const uint8_t once[] = {0x82, 0xa0, 0x2e, 0xa1, 'k', 0xa0}; /* {"": 46, "k": ""} */
  struct wire_value *v;
  char buf[4];

  assert_int_equal(wire_value_decode(twice, sizeof(twice), &v), 0);
  assert_true(wire_map_has_duplicate_keys(wire_value_root(v)));
  assert_true(wire_str_is(&wire_value_root(v)->via.map.ptr[0].key, ""));
  assert_false(wire_str_is(&wire_value_root(v)->via.map.ptr[0].key, "x"));
  wire_value_free(v);

  assert_int_equal(wire_value_decode(once, sizeof(once), &v), 0);
  const msgpack_object *m = wire_value_root(v);
  assert_false(wire_map_has_duplicate_keys(m));
  assert_false(wire_str_has_nul(&m->via.map.ptr[1].val.via.str));
  assert_int_equal(wire_get_str(m, "k", buf, sizeof(buf)), 0);
  assert_string_equal(buf, "");
  assert_false(wire_str_is(NULL, ""));
  wire_value_free(v);
}

static void test_buffer_growth_wipes_the_old_block(void **state) {
  struct wire_buf buf;
  msgpack_packer pk;
  uint8_t secret[200];
  memset(secret, 0xAA, sizeof(secret));
  wire_buf_init(&buf, &pk);
  msgpack_pack_bin(&pk, sizeof(secret));
  msgpack_pack_bin_body(&pk, secret, sizeof(secret));
  size_t len1 = buf.len, cap1 = buf.cap;
  assert_true(len1 < buf.cap); /* still in the first block */
  const uint8_t *old = buf.data;

  char flags[256];
  vmflags_of(buf.data, flags, sizeof(flags));
  assert_non_null(strstr(flags, " dd")); /* secret memory: never dumped */

  uint8_t more[4096];
  memset(more, 0xBB, sizeof(more));
  msgpack_pack_bin(&pk, sizeof(more));
  msgpack_pack_bin_body(&pk, more, sizeof(more)); /* forces growth */
  assert_ptr_not_equal(buf.data, old);
  /* contents survived the move */
  assert_memory_equal(buf.data + 4 + 2, secret, sizeof(secret));

  /* The old block: header (32 bytes) + cap1 bytes + canary (8), wiped. */
  void *q;
  unsigned cls;
  size_t blk = 32 + cap1 + 8;
  assert_int_equal(sd_secmem_alloc(blk, &q, &cls), 0);
  assert_ptr_equal((uint8_t *)q + 32, old);
  for (size_t i = 0; i < blk; i++)
    assert_int_equal(((uint8_t *)q)[i], 0);
  sd_secmem_free(q, blk, cls, 0);

  wire_buf_release(&buf);
  assert_null(buf.data);
  assert_null(buf.mem);
  assert_int_equal(buf.len, 0);
  wire_buf_release(&buf); /* twice is fine */
}

static void test_finish_refuses_over_max_frames(void **state) {
  struct wire_buf buf;
  msgpack_packer pk;
  size_t n = WIRE_MAX_FRAME;
  uint8_t *big = calloc(1, n);
  assert_non_null(big);
  wire_buf_init(&buf, &pk);
  msgpack_pack_bin(&pk, n);
  msgpack_pack_bin_body(&pk, big, n);
  assert_int_equal(wire_buf_finish(&buf), -EMSGSIZE);
  wire_buf_release(&buf);
  free(big);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nesting_up_to_the_limit_decodes_and_beyond_is_refused),
      cmocka_unit_test(test_very_deep_nesting_is_refused_without_recursing_far),
      cmocka_unit_test(test_declared_lengths_beyond_the_bytes_are_refused),
      cmocka_unit_test(test_trailing_bytes_ext_and_non_string_keys_are_refused),
      cmocka_unit_test(test_random_bytes_never_crash),
      cmocka_unit_test(test_getters_check_types_presence_and_sizes),
      cmocka_unit_test(test_empty_keys_and_strings_compare_without_null_pointers),
      cmocka_unit_test(test_buffer_growth_wipes_the_old_block),
      cmocka_unit_test(test_finish_refuses_over_max_frames),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
