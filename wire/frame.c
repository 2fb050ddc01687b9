#include "wire/frame.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/error.h"

struct wire_reader {
  size_t max_frame;
  uint8_t hdr[WIRE_HEADER_BYTES];
  size_t hdr_have;
  uint8_t *payload; /* allocated for the declared length once the header is in */
  size_t want, have;
};

int wire_reader_new(size_t max_frame, struct wire_reader **ret) {
  struct wire_reader *r = calloc(1, sizeof(*r));
  if (!r)
    return -ENOMEM;
  r->max_frame = max_frame ? max_frame : WIRE_MAX_FRAME;
  *ret = r;
  return 0;
}

static void drop_payload(struct wire_reader *r) {
  if (r->payload) {
    sodium_memzero(r->payload, r->want);
    free(r->payload);
  }
  r->payload = NULL;
  r->want = r->have = 0;
  r->hdr_have = 0;
}

void wire_reader_free(struct wire_reader *r) {
  if (!r)
    return;
  drop_payload(r);
  free(r);
}

int wire_reader_feed(struct wire_reader *r, const uint8_t *p, size_t n, size_t *ret_used) {
  size_t used = 0;
  int ret = 0;

  if (r->payload && r->have == r->want) {
    ret = 1; /* a complete frame is still waiting to be consumed */
    goto out;
  }
  while (r->hdr_have < WIRE_HEADER_BYTES && used < n)
    r->hdr[r->hdr_have++] = p[used++];
  if (r->hdr_have < WIRE_HEADER_BYTES)
    goto out;
  if (!r->payload) {
    size_t len = (size_t)r->hdr[0] << 24 | (size_t)r->hdr[1] << 16 | (size_t)r->hdr[2] << 8 |
                 (size_t)r->hdr[3];
    if (len == 0 || len > r->max_frame) {
      ret = SD_E_PROTO;
      goto out;
    }
    r->payload = malloc(len);
    if (!r->payload) {
      ret = -ENOMEM;
      goto out;
    }
    r->want = len;
    r->have = 0;
  }
  size_t take = n - used;
  if (take > r->want - r->have)
    take = r->want - r->have;
  memcpy(r->payload + r->have, p + used, take);
  r->have += take;
  used += take;
  ret = r->have == r->want ? 1 : 0;
out:
  *ret_used = used;
  return ret;
}

void wire_reader_frame(const struct wire_reader *r, const uint8_t **ret_p, size_t *ret_len) {
  *ret_p = r->payload;
  *ret_len = r->payload && r->have == r->want ? r->want : 0;
}

void wire_reader_consume(struct wire_reader *r) { drop_payload(r); }

size_t wire_reader_pending(const struct wire_reader *r) { return r->payload ? r->want : 0; }
