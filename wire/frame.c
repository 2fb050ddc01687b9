/*
 * The frame reader (see frame.h). Each budget keeps the readers that hold a
 * payload buffer in a list ordered by their last progress: a reader moves to
 * the tail whenever bytes of its frame arrive, so the head is the one that
 * has stalled longest, the first to evict.
 */
#include "wire/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/secbuf.h"

struct wire_budget {
  size_t cap, used;
  uint64_t evictions;
  struct wire_reader *head, *tail; /* readers holding a buffer, longest stalled first */
};

struct wire_reader {
  size_t max_frame;
  uint8_t hdr[WIRE_HEADER_BYTES];
  size_t hdr_have;
  size_t want, have;     /* declared length (0: header incomplete), bytes received */
  struct secbuf *buf;    /* payload so far; grows as bytes arrive */
  bool evicted;
  struct wire_budget *budget;
  wire_evict_fn on_evict;
  void *ud;
  struct wire_reader *prev, *next; /* in budget's list while buf != NULL */
};

int wire_budget_new(size_t cap, struct wire_budget **ret) {
  struct wire_budget *b = calloc(1, sizeof(*b));
  if (!b)
    return -ENOMEM;
  b->cap = cap ? cap : WIRE_BUDGET_DEFAULT;
  *ret = b;
  return 0;
}

void wire_budget_free(struct wire_budget *b) { free(b); }
size_t wire_budget_used(const struct wire_budget *b) { return b->used; }
uint64_t wire_budget_evictions(const struct wire_budget *b) { return b->evictions; }

static void list_unlink(struct wire_reader *r) {
  struct wire_budget *b = r->budget;
  if (r->prev)
    r->prev->next = r->next;
  else if (b->head == r)
    b->head = r->next;
  if (r->next)
    r->next->prev = r->prev;
  else if (b->tail == r)
    b->tail = r->prev;
  r->prev = r->next = NULL;
}

static void list_append(struct wire_reader *r) {
  struct wire_budget *b = r->budget;
  r->prev = b->tail;
  r->next = NULL;
  if (b->tail)
    b->tail->next = r;
  else
    b->head = r;
  b->tail = r;
}

/* Wipe and release the payload buffer and give its bytes back. */
static void drop_buf(struct wire_reader *r) {
  if (!r->buf)
    return;
  if (r->budget) {
    list_unlink(r);
    r->budget->used -= secbuf_len(r->buf);
  }
  secbuf_free(r->buf);
  r->buf = NULL;
}

static void reset(struct wire_reader *r) {
  drop_buf(r);
  r->want = r->have = 0;
  r->hdr_have = 0;
  explicit_bzero(r->hdr, sizeof(r->hdr));
}

int wire_reader_new(size_t max_frame, struct wire_reader **ret) {
  struct wire_reader *r = calloc(1, sizeof(*r));
  if (!r)
    return -ENOMEM;
  r->max_frame = max_frame ? max_frame : WIRE_MAX_FRAME;
  *ret = r;
  return 0;
}

void wire_reader_free(struct wire_reader *r) {
  if (!r)
    return;
  reset(r);
  free(r);
}

void wire_reader_set_budget(struct wire_reader *r, struct wire_budget *b, wire_evict_fn on_evict,
                            void *ud) {
  struct secbuf *keep = r->buf;
  if (keep && r->budget) { /* move the held bytes from the old budget */
    list_unlink(r);
    r->budget->used -= secbuf_len(keep);
  }
  r->budget = b;
  r->on_evict = on_evict;
  r->ud = ud;
  if (keep && b) {
    b->used += secbuf_len(keep);
    list_append(r);
  }
}

/* Make room for `more` bytes in r's budget by evicting the longest-stalled
 * other readers. Returns 0 or -ENOBUFS. */
static int reserve(struct wire_reader *r, size_t more) {
  struct wire_budget *b = r->budget;
  if (!b)
    return 0;
  while (b->used + more > b->cap) {
    struct wire_reader *v = b->head;
    if (v == r)
      v = r->next;
    if (!v)
      return -ENOBUFS;
    reset(v);
    v->evicted = true;
    b->evictions++;
    if (v->on_evict)
      v->on_evict(v, v->ud); /* may free v */
  }
  return 0;
}

/* Grow the buffer to hold at least `need` bytes (need <= want). */
static int grow(struct wire_reader *r, size_t need) {
  size_t cur = r->buf ? secbuf_len(r->buf) : 0;
  if (need <= cur)
    return 0;
  size_t cap = cur ? cur : WIRE_READER_CHUNK;
  while (cap < need)
    cap *= 2;
  if (cap > r->want)
    cap = r->want;
  int e = reserve(r, cap - cur);
  if (e < 0)
    return e;
  struct secbuf *n;
  if ((e = secbuf_new(cap, &n)) < 0)
    return e;
  if (r->buf)
    memcpy(secbuf_data(n), secbuf_data(r->buf), r->have);
  drop_buf(r);
  r->buf = n;
  if (r->budget) {
    r->budget->used += cap;
    list_append(r);
  }
  return 0;
}

int wire_reader_feed(struct wire_reader *r, const uint8_t *p, size_t n, size_t *ret_used) {
  size_t used = 0;
  int ret = 0;

  if (r->evicted) {
    ret = -ENOBUFS;
    goto out;
  }
  if (r->want && r->have == r->want) {
    ret = 1; /* a complete frame is still waiting to be consumed */
    goto out;
  }
  while (r->hdr_have < WIRE_HEADER_BYTES && used < n)
    r->hdr[r->hdr_have++] = p[used++];
  if (r->hdr_have < WIRE_HEADER_BYTES)
    goto out;
  if (!r->want) {
    size_t len = (size_t)r->hdr[0] << 24 | (size_t)r->hdr[1] << 16 | (size_t)r->hdr[2] << 8 |
                 (size_t)r->hdr[3];
    if (len == 0 || len > r->max_frame) {
      ret = SD_E_PROTO;
      goto out;
    }
    r->want = len; /* nothing allocated yet: a header alone costs nothing */
    r->have = 0;
  }
  size_t take = n - used;
  if (take > r->want - r->have)
    take = r->want - r->have;
  if (take == 0)
    goto out;
  if ((ret = grow(r, r->have + take)) < 0)
    goto out;
  if (r->budget && r->budget->tail != r) { /* progress: no longer the most stalled */
    list_unlink(r);
    list_append(r);
  }
  memcpy(secbuf_data(r->buf) + r->have, p + used, take);
  r->have += take;
  used += take;
  ret = r->have == r->want ? 1 : 0;
out:
  *ret_used = used;
  return ret;
}

void wire_reader_frame(const struct wire_reader *r, const uint8_t **ret_p, size_t *ret_len) {
  bool done = r->buf && r->want && r->have == r->want;
  *ret_p = done ? secbuf_cdata(r->buf) : NULL;
  *ret_len = done ? r->want : 0;
}

void wire_reader_consume(struct wire_reader *r) { reset(r); }

size_t wire_reader_pending(const struct wire_reader *r) { return r->want; }
size_t wire_reader_received(const struct wire_reader *r) { return r->have; }
size_t wire_reader_held(const struct wire_reader *r) { return r->buf ? secbuf_len(r->buf) : 0; }
bool wire_reader_in_frame(const struct wire_reader *r) { return r->hdr_have > 0; }
