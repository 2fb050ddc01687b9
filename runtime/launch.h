/*
 * secret-launch internals shared by launch_main.c (options, foreground and detached
 * run) and launch_verbs.c (list, state, kill, stop, delete, secret put/rm). Not part of
 * the runtime library.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define EXIT_LAUNCHER 125
#define MAX_SECRET_BYTES (1024 * 1024)

extern const char *prog;

/* Print "secret-launch: MSG" on stderr; returns -EINVAL. */
int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct secbuf;

/* Secret bytes in the one secret-memory type (base/secbuf.h): locked, never dumped,
 * zero-filled in any fork or clone child (MADV_WIPEONFORK), wiped on free. mem and
 * cap (the value's length) point into sb. */
struct secret_buf {
  struct secbuf *sb;
  void *mem;
  size_t cap;
};

/* Read all of fd (a regular file when regular is true) into *b, at most
 * MAX_SECRET_BYTES. Returns 0, -EFBIG, -EINVAL (not a regular file) or -errno. */
int secret_buf_read_fd(int fd, bool regular, struct secret_buf *b, size_t *ret_len);
void secret_buf_wipe(struct secret_buf *b);

/* Parse a non-negative decimal <= max. */
int parse_u64(const char *s, uint64_t max, uint64_t *ret);
/* "64m", "1g", "512k", "1048576". */
int parse_size(const char *s, int64_t *ret);

/* The verbs other than run. argv[0] is the verb. Returns the exit code. */
int verb_main(int argc, char **argv);
/* Whether name is one of the verbs verb_main handles. */
bool is_verb(const char *name);

/* Sweep what killed launchers left behind (empty cgroups). */
void sweep_stale(void);
