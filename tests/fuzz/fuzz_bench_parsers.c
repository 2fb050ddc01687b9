/*
 * libFuzzer harness for bench/'s parsers: etcd_bench's HTTP/1.1 reply reader
 * (bench/http_reply.c, input from the benchmarked server) and the mountinfo
 * line parser (bench/measure.c). The first byte picks the parser and, for
 * HTTP, the body buffer size; the rest is the input, given without a NUL
 * (HTTP) or NUL-terminated (mountinfo). Invariants are checked with abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/http_reply.h"
#include "bench/measure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  uint8_t sel = data[0];
  data++, size--;
  if ((sel & 1) == 0) {
    size_t cap = 1 + (sel >> 1); /* 1..128 */
    char *buf = malloc(size ? size : 1), *body = malloc(cap);
    struct http_reply r;
    if (!buf || !body)
      abort();
    memcpy(buf, data, size);
    int k = http_reply_parse(buf, size, body, cap, &r);
    if (k == 1 && (r.msg_len > size || r.body_len > cap - 1 || body[r.body_len] != '\0' ||
                   r.status < 100 || r.status > 999))
      abort();
    if (k != 1 && k != 0 && k != -71 /* -EPROTO */)
      abort();
    free(buf);
    free(body);
  } else {
    char *line = malloc(size + 1);
    unsigned maj, min;
    char mnt[1024], type[64], src[512];
    if (!line)
      abort();
    memcpy(line, data, size);
    line[size] = '\0';
    if (bench_mountinfo_line(line, &maj, &min, mnt, type, src) == 0 &&
        (strlen(mnt) > 1023 || strlen(type) > 63 || strlen(src) > 511))
      abort();
    free(line);
  }
  return 0;
}
