/*
 * struct secbuf over the pool of secmem.c. The handle is the block itself:
 * a 32-byte header (canary, length, pool class), the bytes, then an 8-byte
 * tail canary. One pool operation per buffer, no other heap.
 */
#include "base/secbuf.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/secmem.h"

struct secbuf {
  uint64_t canary; /* head_canary ^ address */
  size_t len;
  size_t req;      /* bytes asked of the pool */
  uint32_t cls;
  uint32_t reserved;
};
_Static_assert(sizeof(struct secbuf) == 32, "header keeps the bytes 16-byte aligned");

#define TAIL 8u

static uint64_t head_canary, tail_canary;
static pthread_once_t canary_once = PTHREAD_ONCE_INIT;

static void canary_init(void) {
  uint64_t v[2] = {0, 0};
  size_t got = 0;
  while (got < sizeof(v)) {
    ssize_t n = getrandom((uint8_t *)v + got, sizeof(v) - got, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  if (got < sizeof(v)) /* no entropy at all: still catch linear overflows */
    v[0] = 0x5ec0b0f5ec0b0f11ull, v[1] = 0xa11ce5ec7e7ca7a1ull;
  head_canary = v[0];
  tail_canary = v[1] | 1; /* never all zero: a zeroed tail is caught */
}

static uint64_t head_of(const struct secbuf *b) { return head_canary ^ (uint64_t)(uintptr_t)b; }
static uint64_t tail_of(const struct secbuf *b) { return tail_canary ^ (uint64_t)(uintptr_t)b; }

static uint8_t *bytes(const struct secbuf *b) { return (uint8_t *)(b + 1); }

static void put_tail(struct secbuf *b) {
  uint64_t t = tail_of(b);
  memcpy(bytes(b) + b->len, &t, TAIL);
}

static _Noreturn void corrupted(const char *what) {
  /* A heap overflow into secret memory: nothing can be trusted, stop now.
   * The message names the fault, never the bytes. */
  static const char pre[] = "secbuf: ";
  (void)!write(STDERR_FILENO, pre, sizeof(pre) - 1);
  (void)!write(STDERR_FILENO, what, strlen(what));
  (void)!write(STDERR_FILENO, "\n", 1);
  abort();
}

int secbuf_new(size_t len, struct secbuf **ret) {
  void *p;
  unsigned cls;
  int r;
  if (len > SECBUF_MAX_LEN)
    return -ENOMEM;
  pthread_once(&canary_once, canary_init);
  size_t req = sizeof(struct secbuf) + len + TAIL;
  if ((r = sd_secmem_alloc(req, &p, &cls)) < 0)
    return r;
  struct secbuf *b = p;
  b->canary = head_of(b);
  b->len = len;
  b->req = req;
  b->cls = cls;
  /* A mapping of its own is fresh from mmap (zero); pool blocks were wiped
   * on free, zeroing them again is cheap insurance. */
  if (cls != SD_SECMEM_OWN_MAP)
    memset(bytes(b), 0, len);
  put_tail(b);
  *ret = b;
  return 0;
}

int secbuf_from(const void *data, size_t len, struct secbuf **ret) {
  struct secbuf *b;
  int r = secbuf_new(len, &b);
  if (r < 0)
    return r;
  if (len)
    memcpy(bytes(b), data, len);
  *ret = b;
  return 0;
}

int secbuf_truncate(struct secbuf *b, size_t len) {
  if (len > b->len)
    return -EINVAL;
  explicit_bzero(bytes(b) + len, b->len - len + TAIL);
  b->len = len;
  put_tail(b);
  return 0;
}

/* Move the first `used` bytes of *b into a new buffer of cap bytes. */
static int grow(struct secbuf **b, size_t used, size_t cap) {
  struct secbuf *n;
  int r = secbuf_new(cap, &n);
  if (r < 0)
    return r;
  memcpy(bytes(n), bytes(*b), used);
  secbuf_free(*b);
  *b = n;
  return 0;
}

int secbuf_read_fd(int fd, size_t max, struct secbuf **ret) {
  _cleanup_(secbuf_freep) struct secbuf *b = NULL;
  size_t cap = 4096, used = 0;
  if (max < SECBUF_MAX_LEN && cap > max + 1)
    cap = max + 1;
  int r = secbuf_new(cap, &b);
  if (r < 0)
    return r;
  for (;;) {
    if (used == cap) {
      if (cap > max)
        return -EFBIG;
      size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
      if (ncap <= cap)
        ncap = cap + 1;
      if ((r = grow(&b, used, ncap)) < 0)
        return r;
      cap = ncap;
    }
    ssize_t n = read(fd, bytes(b) + used, cap - used);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (n == 0)
      break;
    used += (size_t)n;
    if (used > max)
      return -EFBIG;
  }
  secbuf_truncate(b, used); /* secbuf_len() is the value's length */
  *ret = TAKE_PTR(b);
  return 0;
}

uint8_t *secbuf_data(struct secbuf *b) { return bytes(b); }
const uint8_t *secbuf_cdata(const struct secbuf *b) { return bytes(b); }
size_t secbuf_len(const struct secbuf *b) { return b->len; }

int secbuf_equal(const struct secbuf *a, const struct secbuf *b) {
  if (a->len != b->len)
    return 0;
  const volatile uint8_t *x = bytes(a), *y = bytes(b);
  uint8_t d = 0;
  for (size_t i = 0; i < a->len; i++)
    d |= x[i] ^ y[i];
  return d == 0;
}

void secbuf_free(struct secbuf *b) {
  if (!b)
    return;
  if (b->canary != head_of(b)) {
    /* A child of fork() sees its parent's buffers zeroed (WIPEONFORK): they
     * hold nothing and are not ours to give back; leave them. */
    if (sd_secmem_forked() && b->canary == 0 && b->len == 0 && b->req == 0)
      return;
    corrupted("header overwritten (heap corruption or double free)");
  }
  uint64_t t;
  memcpy(&t, bytes(b) + b->len, TAIL);
  if (t != tail_of(b))
    corrupted("write past the end of a secret buffer");
  size_t used = sizeof(*b) + b->len + TAIL, req = b->req;
  unsigned cls = b->cls;
  sd_secmem_free(b, req, cls, used); /* wipes header, bytes and tail */
}
