/* A message slot that image/ functions fill on failure, for the tool to print:
 * library code never logs. The message never holds file contents. */
#pragma once

#include <stdarg.h>

struct img_err {
  char msg[512];
};

/* Format into err (NULL is fine) and return r, for "return img_fail(err, r, ...)". */
int img_fail(struct img_err *err, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Put a formatted prefix before err's message (truncating its end). */
void img_err_prefix(struct img_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
