/*
 * The HTTP/1.1 response reader of etcd_bench: parses one response at the
 * start of a byte buffer that is not NUL-terminated and may hold only part of
 * it. Bodies are delimited by Content-Length or chunked transfer coding (any
 * chunk extensions and trailers are skipped); a response delimited by
 * neither cannot be followed on a keep-alive connection and is refused.
 * Pure code (no I/O, no allocation); fuzzed by tests/fuzz/fuzz_bench_parsers.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define HTTP_REPLY_MAX_BODY ((size_t)1 << 30)

struct http_reply {
  int status;       /* 100..999 */
  size_t msg_len;   /* bytes the whole response spans in buf */
  size_t body_len;  /* bytes of the body copied to body (<= body_cap - 1) */
  bool truncated;   /* the body was longer than body_cap - 1 */
  bool keep_alive;  /* false when the server sent "Connection: close" */
};

/*
 * Parse the response at buf[0..len). On 1 (complete) *ret is filled and the
 * first body_cap - 1 bytes of the de-chunked body are copied to body and
 * NUL-terminated (body_cap >= 1). Returns 0 when more bytes are needed (ret
 * and body unspecified), -EPROTO when the bytes cannot be a valid response:
 * bad status line, header line without ':', both or neither of
 * Content-Length and chunked, a length or chunk size that is not a number or
 * above HTTP_REPLY_MAX_BODY, chunk data not followed by CRLF.
 */
int http_reply_parse(const char *buf, size_t len, char *body, size_t body_cap,
                     struct http_reply *ret);
