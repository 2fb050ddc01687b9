/* Reading a secret value from a file or stdin into guarded memory. The value
 * never passes through argv, the environment or an unguarded heap buffer. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "base/macro.h"
#include "cli/cli.h"

void cli_value_free(struct cli_value *v) {
  if (!v)
    return;
  sodium_free(v->data); /* wipes */
  sodium_memzero(v, sizeof(*v));
  free(v);
}

int cli_value_read_fd(int fd, size_t max, struct cli_value **ret) {
  struct cli_value *v = calloc(1, sizeof(*v));
  int r;

  if (!v)
    return -ENOMEM;
  /* One byte more than allowed tells "too large" from "exactly max". */
  if (!(v->data = sodium_malloc(max + 1))) {
    free(v);
    return -ENOMEM;
  }
  for (;;) {
    ssize_t k = read(fd, v->data + v->len, max + 1 - v->len);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0) {
      r = -errno;
      goto fail;
    }
    if (k == 0)
      break;
    v->len += (size_t)k;
    if (v->len > max) {
      r = -EFBIG;
      goto fail;
    }
  }
  if (v->len == 0) {
    r = -ENODATA;
    goto fail;
  }
  *ret = v;
  return 0;
fail:
  cli_value_free(v);
  return r;
}

int cli_value_read(const char *file, size_t max, struct cli_value **ret) {
  _cleanup_close_ int fd = -1;

  if (!file || !strcmp(file, "-")) {
    if (isatty(STDIN_FILENO))
      return -ENOTTY;
    return cli_value_read_fd(STDIN_FILENO, max, ret);
  }
  fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return -errno;
  return cli_value_read_fd(fd, max, ret);
}
