/* String helpers shared by every module. */
#pragma once

#include <stdlib.h>
#include <string.h>

/* A NUL-terminated copy of exactly n bytes at p (which need not be
 * NUL-terminated, e.g. a msgpack string inside a frame). Unlike strndup it
 * never looks for a terminator in p. p may be NULL when n is 0 (msgpack-c
 * gives an empty string a NULL pointer). NULL on allocation failure. */
static inline char *sd_strdup_n(const char *p, size_t n) {
  char *s = malloc(n + 1);
  if (s) {
    if (n)
      memcpy(s, p, n);
    s[n] = '\0';
  }
  return s;
}
