/*
 * The agent's own record of one task (STATE/tasks/NAME.json): what it has applied in
 * the task's container, so that a restarted agent knows what to change. Secret NAMES,
 * versions, targets, owners and modes only: never a value. Written atomically (temp +
 * rename); read with a size bound and strict types.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/core/plan.h"

#define AC_RECORD_MAX_BYTES (1u << 20)

struct ac_record {
  char *task_id, *service;
  uint8_t digest[AC_DIGEST_LEN];
  bool running;       /* a container was started (or is being started) for it */
  bool done;          /* ended and not to be started again */
  unsigned restarts;
  int exit_code;
  enum launch_restart restart;
  unsigned stop_timeout_ms; /* the spec's, for stopping it before the next assignment */
  struct ac_file *files; /* strings owned (ac_record_clear) */
  size_t n_files;
};

/* Write dir_fd/NAME.json atomically. Returns 0 or -errno. */
int ac_record_write(int dir_fd, const char *name, const struct ac_record *rec);
/* Read dir_fd/NAME.json into *ret (zeroed first; clear with ac_record_clear).
 * Returns 0, -ENOENT, -EBADMSG (malformed), -ENOMEM. */
int ac_record_read(int dir_fd, const char *name, struct ac_record *ret);
/* Parse len bytes (fuzzed). 0, -EBADMSG, -ENOMEM. */
int ac_record_parse(const char *buf, size_t len, struct ac_record *ret);
void ac_record_clear(struct ac_record *rec);
