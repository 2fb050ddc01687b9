/* Debian version parsing and comparison (see dpkg_version.h). */
#include "image/dpkg_version.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static int upstream_char_ok(char c) {
  return is_digit(c) || is_alpha(c) || c == '.' || c == '+' || c == '~' || c == '-' || c == ':';
}

static int revision_char_ok(char c) {
  return is_digit(c) || is_alpha(c) || c == '.' || c == '+' || c == '~';
}

/* Printable rendering of a byte for messages (never echoes control bytes). */
static void show_char(char c, char out[8]) {
  unsigned char u = (unsigned char)c;
  if (u > 0x20 && u < 0x7f)
    snprintf(out, 8, "'%c'", c);
  else
    snprintf(out, 8, "0x%02x", u);
}

int dpkg_version_parse(const char *s, size_t len, struct dpkg_version *ret, struct img_err *err) {
  struct dpkg_version v = {0};
  char ch[8];

  if (!s || len == 0)
    return img_fail(err, -EINVAL, "version is empty");
  if (len > DPKG_VERSION_MAX)
    return img_fail(err, -E2BIG, "version is longer than %d bytes", DPKG_VERSION_MAX);
  if (memchr(s, '\0', len))
    return img_fail(err, -EINVAL, "version contains a NUL byte");

  const char *end = s + len;
  const char *colon = memchr(s, ':', len);
  const char *p = s;
  if (colon) {
    if (colon == s)
      return img_fail(err, -EINVAL, "epoch is empty");
    unsigned long long e = 0;
    for (const char *q = s; q < colon; q++) {
      if (!is_digit(*q)) {
        show_char(*q, ch);
        return img_fail(err, -EINVAL, "epoch is not a number (%s)", ch);
      }
      e = e * 10 + (unsigned)(*q - '0');
      if (e > INT_MAX)
        return img_fail(err, -EINVAL, "epoch is too big");
    }
    v.epoch = (unsigned)e;
    p = colon + 1;
  }

  const char *dash = NULL;
  for (const char *q = end; q > p; q--)
    if (q[-1] == '-') {
      dash = q - 1;
      break;
    }
  const char *up_end = dash ? dash : end;
  if (up_end == p)
    return img_fail(err, -EINVAL, "upstream version is empty");
  if (!is_digit(*p))
    return img_fail(err, -EINVAL, "upstream version does not start with a digit");
  for (const char *q = p; q < up_end; q++)
    if (!upstream_char_ok(*q)) {
      show_char(*q, ch);
      return img_fail(err, -EINVAL, "invalid character %s in upstream version", ch);
    }
  if (dash) {
    if (dash + 1 == end)
      return img_fail(err, -EINVAL, "revision is empty");
    for (const char *q = dash + 1; q < end; q++)
      if (!revision_char_ok(*q)) {
        show_char(*q, ch);
        return img_fail(err, -EINVAL, "invalid character %s in revision", ch);
      }
    memcpy(v.revision, dash + 1, (size_t)(end - dash - 1));
  }
  memcpy(v.upstream, p, (size_t)(up_end - p));
  *ret = v;
  return 0;
}

int dpkg_version_parse_str(const char *s, struct dpkg_version *ret, struct img_err *err) {
  if (!s)
    return img_fail(err, -EINVAL, "version is empty");
  return dpkg_version_parse(s, strnlen(s, DPKG_VERSION_MAX + 1), ret, err);
}

/* Weight of one character of a non-digit run; 0 stands for the run's end. */
static int weight(char c) {
  if (c == '~')
    return -1;
  if (c == '\0' || is_digit(c))
    return 0;
  if (is_alpha(c))
    return (unsigned char)c;
  return (unsigned char)c + 256;
}

/* Compare one part (upstream or revision), as dpkg does. */
static int part_cmp(const char *a, const char *b) {
  while (*a || *b) {
    /* the non-digit run */
    while ((*a && !is_digit(*a)) || (*b && !is_digit(*b))) {
      int wa = weight(*a), wb = weight(*b);
      if (wa != wb)
        return wa < wb ? -1 : 1;
      if (*a && !is_digit(*a))
        a++;
      if (*b && !is_digit(*b))
        b++;
    }
    /* the digit run: numerically, without converting (no overflow) */
    while (*a == '0')
      a++;
    while (*b == '0')
      b++;
    int first = 0;
    while (is_digit(*a) && is_digit(*b)) {
      if (!first && *a != *b)
        first = *a < *b ? -1 : 1;
      a++;
      b++;
    }
    if (is_digit(*a))
      return 1; /* a's run is longer */
    if (is_digit(*b))
      return -1;
    if (first)
      return first;
  }
  return 0;
}

int dpkg_version_cmp(const struct dpkg_version *a, const struct dpkg_version *b) {
  if (a->epoch != b->epoch)
    return a->epoch < b->epoch ? -1 : 1;
  int r = part_cmp(a->upstream, b->upstream);
  if (r)
    return r;
  return part_cmp(a->revision, b->revision);
}

int dpkg_version_cmp_str(const char *a, const char *b, int *ret_cmp, struct img_err *err) {
  struct dpkg_version va, vb;
  int r;
  if ((r = dpkg_version_parse_str(a, &va, err)) < 0)
    return r;
  if ((r = dpkg_version_parse_str(b, &vb, err)) < 0)
    return r;
  r = dpkg_version_cmp(&va, &vb);
  *ret_cmp = r < 0 ? -1 : r > 0;
  return 0;
}

void dpkg_version_format(const struct dpkg_version *v, char *buf, size_t size) {
  char ep[16] = "";
  if (v->epoch || strchr(v->upstream, ':'))
    snprintf(ep, sizeof ep, "%u:", v->epoch);
  snprintf(buf, size, "%s%s%s%s", ep, v->upstream, v->revision[0] ? "-" : "", v->revision);
}
