/* Reading a secret value from a file or stdin into secret memory (struct
 * secbuf). The value never passes through argv, the environment or an
 * unguarded heap buffer. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/secbuf.h"
#include "cli/cli.h"

int cli_value_read_fd(int fd, size_t max, struct secbuf **ret) {
  struct secbuf *v;
  int r = secbuf_read_fd(fd, max, &v);
  if (r < 0)
    return r;
  if (secbuf_len(v) == 0) {
    secbuf_free(v);
    return -ENODATA;
  }
  *ret = v;
  return 0;
}

int cli_value_read(const char *file, size_t max, struct secbuf **ret) {
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
