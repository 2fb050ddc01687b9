/*
 * Unlock-key input for secretd. The key never comes from argv or the
 * environment: it is read from a 0600 key file or as one token line on stdin
 * (terminal echo off). The token text lives only in guarded memory.
 */
#include "secretd/secretd.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "base/error.h"
#include "base/macro.h"
#include "crypto/keys.h"
#include "crypto/secbuf.h"
#include "secretd/log.h"
#include "store/store.h"

#define TOKEN_MAX 512


int unlock_key_default_path(const char *dir, char *buf, size_t len) {
  int n = snprintf(buf, len, "%s/%s", dir, SECRETD_KEY_FILE_NAME);
  return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int unlock_key_pending_path(const char *path, char *buf, size_t len) {
  int n = snprintf(buf, len, "%s.new", path);
  return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int fsync_parent(const char *path) {
  char copy[4096];
  if (strlen(path) >= sizeof(copy))
    return -ENAMETOOLONG;
  strcpy(copy, path);
  _cleanup_close_ int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  return fsync(fd) < 0 ? -errno : 0;
}

int unlock_key_commit_pending(const char *path) {
  char pending[4096];
  int r = unlock_key_pending_path(path, pending, sizeof(pending));
  if (r < 0)
    return r;
  if (rename(pending, path) < 0)
    return -errno;
  return fsync_parent(path);
}

/* Read one line (the token) from fd into guarded memory; echo off on a tty. */
static int read_token_line(int fd, struct secbuf **ret) {
  _cleanup_(secbuf_freep) struct secbuf *buf = NULL;
  struct termios old, quiet;
  bool tty = isatty(fd) && tcgetattr(fd, &old) == 0;
  size_t n = 0;
  int r = secbuf_new(TOKEN_MAX + 1, &buf);
  if (r < 0)
    return r;
  uint8_t *p = secbuf_data(buf);
  memset(p, 0, TOKEN_MAX + 1);
  if (tty) {
    fputs("secretd: unlock key: ", stderr);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  for (;;) {
    char c;
    ssize_t k = read(fd, &c, 1);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0) {
      r = -errno;
      break;
    }
    if (k == 0 || c == '\n') {
      r = 0;
      break;
    }
    if (n >= TOKEN_MAX) {
      r = -EINVAL;
      break;
    }
    p[n++] = (uint8_t)c;
    c = 0;
  }
  if (tty) {
    tcsetattr(fd, TCSAFLUSH, &old);
    fputc('\n', stderr);
  }
  if (r < 0)
    return r;
  while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
    p[--n] = 0;
  if (n == 0)
    return -ENODATA;
  *ret = TAKE_PTR(buf);
  return 0;
}

/*
 * Open a key file the way ssh accepts a private key: not through a symbolic
 * link (O_NOFOLLOW: whoever can change the link would choose the key), a
 * regular file, owned by the user secretd runs as, no access for group or
 * others. The checks are on the opened file (fstat), so the file read is the
 * file checked. A refusal logs how to fix it and returns -EPERM.
 */
static int key_file_open(const char *path, int *ret_fd) {
  struct stat st;
  _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0 && errno == ELOOP) {
    log_err("unlock key file %s is a symbolic link; refusing it (whoever can change the link "
            "chooses the key): give the path of the file itself", path);
    return -EPERM;
  }
  if (fd < 0)
    return -errno;
  if (fstat(fd, &st) < 0)
    return -errno;
  if (!S_ISREG(st.st_mode)) {
    log_err("unlock key file %s is not a regular file; refusing it", path);
    return -EPERM;
  }
  if (st.st_uid != geteuid()) {
    log_err("unlock key file %s is owned by uid %u, not by uid %u that runs secretd; refusing it "
            "(its owner can replace the key): run `chown %u %s` if the file is yours", path,
            (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(), path);
    return -EPERM;
  }
  if (st.st_mode & 0077) {
    log_err("unlock key file %s is accessible by group or others (mode %04o): anyone who can "
            "read it can open the store; refusing it: run `chmod 600 %s` (and consider the key "
            "exposed: rotate it with `secretd rotate-unlock-key`)", path,
            (unsigned)(st.st_mode & 07777), path);
    return -EPERM;
  }
  *ret_fd = TAKE_FD(fd);
  return 0;
}

int unlock_key_load(const char *dir, const char *key_file, struct sd_key **ret, const char **ret_from) {
  char def[4096];
  const char *path = key_file;
  int r;
  if (!path) {
    if ((r = unlock_key_default_path(dir, def, sizeof(def))) < 0)
      return r;
    if (access(def, F_OK) == 0)
      path = def;
  }
  if (path) {
    _cleanup_close_ int fd = -1;
    _cleanup_(secbuf_freep) struct secbuf *tok = NULL;
    if ((r = key_file_open(path, &fd)) < 0 || (r = read_token_line(fd, &tok)) < 0)
      return r == -ENODATA ? -EINVAL : r;
    r = sd_key_from_token((const char *)secbuf_cdata(tok), ret);
    if (r == 0 && ret_from)
      *ret_from = "file";
    return r;
  }
  _cleanup_(secbuf_freep) struct secbuf *line = NULL;
  if ((r = read_token_line(STDIN_FILENO, &line)) < 0)
    return r;
  r = sd_key_from_token((const char *)secbuf_cdata(line), ret);
  if (r == 0 && ret_from)
    *ret_from = "stdin";
  return r;
}

int unlock_open_store(const char *dir, const char *key_file, const struct store_opts *o,
                      struct store **ret) {
  _cleanup_(sd_key_freep) struct sd_key *key = NULL;
  int r = unlock_key_load(dir, key_file, &key, NULL);
  if (r < 0)
    return r;
  return store_open(dir, key, o, ret);
}
