/* Parsing of numbers from command lines and files, shared by every tool. */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A whole string as an unsigned decimal number of at most max: digits only (no sign,
 * space, "0x" or trailing characters; not empty); leading zeros are ignored, so "010"
 * is ten, never octal. Every tool parses its numeric options with it.
 * Returns 0 or -EINVAL. */
static inline int sd_parse_u64(const char *s, uint64_t max, uint64_t *ret) {
  char *end;
  if (!s || !*s || s[strspn(s, "0123456789")] != '\0')
    return -EINVAL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || v > max)
    return -EINVAL;
  *ret = v;
  return 0;
}
