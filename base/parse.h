/* Parsing of numbers from command lines and files, shared by every tool. */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* A whole string as an unsigned number (decimal, 0x hex or 0 octal, as
 * strtoull) of at most max. No sign, no trailing characters, no empty string.
 * Returns 0 or -EINVAL. */
static inline int sd_parse_u64(const char *s, uint64_t max, uint64_t *ret) {
  char *end;
  if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
    return -EINVAL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno || end == s || *end || v > max)
    return -EINVAL;
  *ret = v;
  return 0;
}
