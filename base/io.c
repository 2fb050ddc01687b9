#include "io.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int sd_write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

long sd_read_full(int fd, void *p, size_t n) {
  char *c = p;
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, c + got, n - got);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (r == 0)
      break;
    got += (size_t)r;
  }
  return (long)got;
}

int sd_read_all_alloc(int fd, size_t max, char **ret, size_t *ret_len) {
  char *buf = malloc(max + 1);
  if (!buf)
    return -ENOMEM;
  /* Ask for one byte more than allowed: getting it means the file is too big. */
  long n = sd_read_full(fd, buf, max + 1);
  if (n < 0 || (size_t)n > max) {
    free(buf);
    return n < 0 ? (int)n : -EFBIG;
  }
  buf[n] = '\0';
  *ret = buf;
  if (ret_len)
    *ret_len = (size_t)n;
  return 0;
}
