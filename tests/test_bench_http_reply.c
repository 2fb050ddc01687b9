/* bench/http_reply.c: etcd_bench's HTTP/1.1 response reader. Every prefix of a
 * valid response is "incomplete", the whole is parsed, malformed framing is
 * refused, and nothing is read past the given length (the buffers are exact
 * heap copies, so ASan catches over-reads). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench/http_reply.h"

/* Parse s[0..n) from an exact-size heap copy. */
static int parse_n(const char *s, size_t n, char *body, size_t cap, struct http_reply *r) {
  char *copy = malloc(n ? n : 1);
  assert_non_null(copy);
  memcpy(copy, s, n);
  int k = http_reply_parse(copy, n, body, cap, r);
  free(copy);
  return k;
}

static int parse(const char *s, char *body, size_t cap, struct http_reply *r) {
  return parse_n(s, strlen(s), body, cap, r);
}

static void assert_every_prefix_incomplete(const char *s) {
  char body[64];
  struct http_reply r;
  for (size_t n = 0; n < strlen(s); n++)
    assert_int_equal(parse_n(s, n, body, sizeof(body), &r), 0);
}

static const char etcd_reply[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nGrpc-Metadata-Content-Type: "
    "application/grpc\r\nDate: Wed, 02 Dec 2026 06:00:00 GMT\r\nContent-Length: 30\r\n\r\n"
    "{\"header\":{\"revision\":\"1234\"}}";

static void test_content_length_reply_is_parsed(void **state) {
  char body[64];
  struct http_reply r;
  assert_int_equal(parse(etcd_reply, body, sizeof(body), &r), 1);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.msg_len, strlen(etcd_reply));
  assert_string_equal(body, "{\"header\":{\"revision\":\"1234\"}}");
  assert_true(r.keep_alive);
  assert_false(r.truncated);
  assert_every_prefix_incomplete(etcd_reply);
}

static void test_chunked_reply_with_extension_and_trailer_is_parsed(void **state) {
  static const char s[] = "HTTP/1.1 400 Bad Request\r\ntransfer-encoding:  Chunked \r\n\r\n"
                          "5;ext=1\r\nhello\r\n0007\r\n, world\r\n0\r\nX-T: 1\r\n\r\n";
  char body[64];
  struct http_reply r;
  assert_int_equal(parse(s, body, sizeof(body), &r), 1);
  assert_int_equal(r.status, 400);
  assert_string_equal(body, "hello, world");
  assert_int_equal(r.msg_len, strlen(s));
  assert_every_prefix_incomplete(s);
}

static void test_message_length_excludes_following_bytes(void **state) {
  char buf[512], body[64];
  struct http_reply r;
  snprintf(buf, sizeof(buf), "%sHTTP/1.1 200", etcd_reply);
  assert_int_equal(parse(buf, body, sizeof(body), &r), 1);
  assert_int_equal(r.msg_len, strlen(etcd_reply));
}

static void test_long_body_is_truncated_and_flagged(void **state) {
  char body[8];
  struct http_reply r;
  assert_int_equal(parse(etcd_reply, body, sizeof(body), &r), 1);
  assert_true(r.truncated);
  assert_int_equal(r.body_len, 7);
  assert_string_equal(body, "{\"heade");
}

static void test_connection_close_is_reported(void **state) {
  char body[8];
  struct http_reply r;
  assert_int_equal(
      parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", body, 8, &r), 1);
  assert_false(r.keep_alive);
  assert_string_equal(body, "");
}

static void test_malformed_replies_are_refused(void **state) {
  static const char *const bad[] = {
      "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",         /* not 1.1 */
      "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",          /* 2-digit status */
      "HTTP/1.1 2000\r\nContent-Length: 0\r\n\r\n",           /* 4-digit status */
      "HTTP/1.1 099\r\nContent-Length: 0\r\n\r\n",            /* below 100 */
      "HTTP/1.1 200 OK\r\n\r\n",                              /* no length */
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",        /* not a number */
      "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",          /* empty */
      "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",       /* two numbers */
      "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", /* above the cap */
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
      "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
      "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",   /* bad size */
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",     /* empty size */
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd", /* no CRLF after data */
      "GET / HTTP/1.1\r\n\r\n",
  };
  char body[64];
  struct http_reply r;
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    print_message("case %zu\n", i);
    assert_int_equal(parse(bad[i], body, sizeof(body), &r), -EPROTO);
  }
  assert_int_equal(parse(etcd_reply, body, 0, &r), -EPROTO); /* no room for the NUL */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_content_length_reply_is_parsed),
      cmocka_unit_test(test_chunked_reply_with_extension_and_trailer_is_parsed),
      cmocka_unit_test(test_message_length_excludes_following_bytes),
      cmocka_unit_test(test_long_body_is_truncated_and_flagged),
      cmocka_unit_test(test_connection_close_is_reported),
      cmocka_unit_test(test_malformed_replies_are_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
