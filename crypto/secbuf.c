#include "crypto/secbuf.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <pthread.h>

#include "crypto/internal.h"

struct secbuf {
  size_t len;
  uint8_t *data; /* sodium_malloc()ed, at least 1 byte */
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;

static void do_init(void) { init_result = sodium_init() < 0 ? -EIO : 0; }

int sd_crypto_init(void) {
  pthread_once(&init_once, do_init);
  return init_result;
}

int secbuf_new(size_t len, struct secbuf **ret) {
  int r = sd_crypto_init();
  if (r < 0)
    return r;
  struct secbuf *b = calloc(1, sizeof(*b));
  if (!b)
    return -ENOMEM;
  b->data = sodium_malloc(len ? len : 1);
  if (!b->data) {
    free(b);
    return -ENOMEM;
  }
  sodium_memzero(b->data, len ? len : 1);
  b->len = len;
  *ret = b;
  return 0;
}

int secbuf_from(const void *data, size_t len, struct secbuf **ret) {
  struct secbuf *b;
  int r = secbuf_new(len, &b);
  if (r < 0)
    return r;
  if (len)
    memcpy(b->data, data, len);
  *ret = b;
  return 0;
}

/* Move the first `used` bytes of *b into a new buffer of cap bytes. */
static int secbuf_grow(struct secbuf **b, size_t used, size_t cap) {
  struct secbuf *n;
  int r = secbuf_new(cap, &n);
  if (r < 0)
    return r;
  memcpy(n->data, (*b)->data, used);
  secbuf_free(*b);
  *b = n;
  return 0;
}

int secbuf_read_fd(int fd, size_t max, struct secbuf **ret) {
  _cleanup_(secbuf_freep) struct secbuf *b = NULL;
  size_t cap = 4096, used = 0;
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
      if ((r = secbuf_grow(&b, used, ncap)) < 0)
        return r;
      cap = ncap;
    }
    ssize_t n = read(fd, b->data + used, cap - used);
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
  /* Exact-size copy so secbuf_len() is the value length. */
  struct secbuf *out;
  if ((r = secbuf_from(b->data, used, &out)) < 0)
    return r;
  *ret = out;
  return 0;
}

uint8_t *secbuf_data(struct secbuf *b) { return b->data; }
const uint8_t *secbuf_cdata(const struct secbuf *b) { return b->data; }
size_t secbuf_len(const struct secbuf *b) { return b->len; }

int secbuf_equal(const struct secbuf *a, const struct secbuf *b) {
  if (a->len != b->len)
    return 0;
  return a->len == 0 || sodium_memcmp(a->data, b->data, a->len) == 0;
}

void secbuf_free(struct secbuf *b) {
  if (!b)
    return;
  sodium_free(b->data); /* wipes */
  free(b);
}
