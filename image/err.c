/* The error message slot of image/. */
#include "image/err.h"

#include <stdio.h>
#include <string.h>

int img_fail(struct img_err *err, int r, const char *fmt, ...) {
  if (err && !err->msg[0]) { /* keep the innermost, most precise message */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return r;
}

void img_err_prefix(struct img_err *err, const char *fmt, ...) {
  char pre[128];
  va_list ap;
  if (!err)
    return;
  va_start(ap, fmt);
  int n = vsnprintf(pre, sizeof pre, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  size_t pl = strlen(pre), ml = strnlen(err->msg, sizeof err->msg - 1);
  if (pl + ml >= sizeof err->msg)
    ml = sizeof err->msg - 1 - pl;
  memmove(err->msg + pl, err->msg, ml);
  memcpy(err->msg, pre, pl);
  err->msg[pl + ml] = '\0';
}
