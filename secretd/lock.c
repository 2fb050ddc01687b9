/*
 * The serve lock: one secretd per store directory. flock() on
 * <dir>/serve.lock (released by the kernel when the process dies, so a crash
 * never leaves a stale lock); the file holds the holder's pid for the error
 * message of a second instance.
 */
#include "secretd/secretd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/macro.h"

static pid_t read_holder(int fd) {
  char buf[32] = {0};
  ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0)
    return 0;
  long v = strtol(buf, NULL, 10);
  return v > 0 ? (pid_t)v : 0;
}

int serve_lock_acquire(const char *dir, int *ret_fd, pid_t *ret_holder) {
  char path[4096];
  struct stat st;
  int n = snprintf(path, sizeof(path), "%s/%s", dir, SECRETD_LOCK_FILE_NAME);
  if (n < 0 || (size_t)n >= sizeof(path))
    return -ENAMETOOLONG;
  if (stat(dir, &st) < 0)
    return errno == ENOENT ? SD_E_NOSTORE : -errno;
  _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return -errno;
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    int e = errno;
    if (e == EWOULDBLOCK) {
      if (ret_holder)
        *ret_holder = read_holder(fd);
      return SD_E_LOCKED;
    }
    return -e;
  }
  char pid[32];
  n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
  if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
    return -errno;
  *ret_fd = TAKE_FD(fd);
  return 0;
}
