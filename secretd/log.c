/* stderr logging for secretd. Messages never contain secret bytes. */
#include "secretd/log.h"

#include <stdarg.h>
#include <stdio.h>

#include "base/error.h"

static void vlog(const char *level, const char *fmt, va_list ap) {
  char line[1024];
  vsnprintf(line, sizeof(line), fmt, ap);
  /* One write per line so concurrent writers do not interleave mid-line. */
  fprintf(stderr, "secretd: %s%s\n", level, line);
}

void log_info(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog("", fmt, ap);
  va_end(ap);
}

void log_warn(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog("warning: ", fmt, ap);
  va_end(ap);
}

void log_err(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog("", fmt, ap);
  va_end(ap);
}

int log_errno(int r, const char *what) {
  log_err("%s: %s", what, sd_strerror(r));
  return r;
}
