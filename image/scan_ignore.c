/* The scan's ignore file (see scan_ignore.h). */
#include "image/scan_ignore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/macro.h"

static int is_sp(char c) { return c == ' ' || c == '\t'; }

/* YYYY-MM-DD, a real calendar date; *ret = first second of the next day (UTC). */
static int parse_date(const char *s, size_t n, int64_t *ret) {
  if (n != 10 || s[4] != '-' || s[7] != '-')
    return -EINVAL;
  for (size_t i = 0; i < 10; i++)
    if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
      return -EINVAL;
  /* the buffer is not NUL-terminated: no atoi */
  int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0'), m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
  if (y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
    return -EINVAL;
  struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
  time_t t = timegm(&tm);
  if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != m - 1) /* Feb 30 rolls over */
    return -EINVAL;
  *ret = (int64_t)t + 86400;
  return 0;
}

static int id_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

static int pkg_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

static int parse_line(const char *p, const char *e, struct scan_ignore_entry *en, size_t line,
                      struct img_err *err) {
  memset(en, 0, sizeof *en);
  en->line = line;
  const char *w = p;
  while (p < e && !is_sp(*p))
    p++;
  const char *slash = memchr(w, '/', (size_t)(p - w));
  const char *ie = slash ? slash : p;
  if (ie == w || (size_t)(ie - w) > VULNDB_NAME_MAX)
    return img_fail(err, -EINVAL, "line %zu: no issue id", line);
  for (const char *q = w; q < ie; q++)
    if (!id_char(*q))
      return img_fail(err, -EINVAL, "line %zu: invalid issue id", line);
  memcpy(en->issue, w, (size_t)(ie - w));
  if (slash) {
    size_t pl = (size_t)(p - slash - 1);
    if (pl == 0 || pl > DPKG_NAME_MAX)
      return img_fail(err, -EINVAL, "line %zu: empty or long package after '/'", line);
    for (const char *q = slash + 1; q < p; q++)
      if (!pkg_char(*q))
        return img_fail(err, -EINVAL, "line %zu: invalid package name", line);
    memcpy(en->package, slash + 1, pl);
  }
  while (p < e && is_sp(*p))
    p++;
  w = p;
  while (p < e && !is_sp(*p))
    p++;
  if (parse_date(w, (size_t)(p - w), &en->expires) < 0)
    return img_fail(err, -EINVAL, "line %zu: expected an expiry date YYYY-MM-DD", line);
  memcpy(en->date, w, 10);
  while (p < e && is_sp(*p))
    p++;
  while (e > p && (is_sp(e[-1]) || e[-1] == '\r'))
    e--;
  if (p == e)
    return img_fail(err, -EINVAL, "line %zu: an entry needs a reason", line);
  if ((size_t)(e - p) > SCAN_IGNORE_REASON_MAX)
    return img_fail(err, -EINVAL, "line %zu: reason longer than %d bytes", line,
                    SCAN_IGNORE_REASON_MAX);
  for (const char *q = p; q < e; q++)
    if ((unsigned char)*q < 0x20 || *q == 0x7f)
      return img_fail(err, -EINVAL, "line %zu: control byte in the reason", line);
  memcpy(en->reason, p, (size_t)(e - p));
  return 0;
}

int scan_ignore_parse(const char *buf, size_t len, struct scan_ignore *ret, struct img_err *err) {
  struct scan_ignore ig = {0};
  size_t cap = 0, line = 0;
  int r;
  if (len > SCAN_IGNORE_MAX_BYTES)
    return img_fail(err, -E2BIG, "ignore file larger than %u bytes", SCAN_IGNORE_MAX_BYTES);
  const char *p = buf, *end = buf + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    line++;
    const char *q = p;
    while (q < le && (is_sp(*q) || *q == '\r'))
      q++;
    if (q < le && *q != '#') {
      if (ig.n == SCAN_IGNORE_MAX_ENTRIES) {
        r = img_fail(err, -E2BIG, "more than %u entries", SCAN_IGNORE_MAX_ENTRIES);
        goto fail;
      }
      if (ig.n == cap) {
        size_t nc = cap ? cap * 2 : 16;
        struct scan_ignore_entry *ne = realloc(ig.entries, nc * sizeof *ne);
        if (!ne) {
          r = img_fail(err, -ENOMEM, "out of memory");
          goto fail;
        }
        ig.entries = ne;
        cap = nc;
      }
      if ((r = parse_line(q, le, &ig.entries[ig.n], line, err)) < 0)
        goto fail;
      ig.n++;
    }
    if (!nl)
      break;
    p = nl + 1;
  }
  *ret = ig;
  return 0;
fail:
  free(ig.entries);
  return r;
}

int scan_ignore_load(const char *path, struct scan_ignore *ret, struct img_err *err) {
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return img_fail(err, -errno, "%s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
    return img_fail(err, -EINVAL, "%s: not a regular file", path);
  if (st.st_size > SCAN_IGNORE_MAX_BYTES)
    return img_fail(err, -E2BIG, "%s: larger than %u bytes", path, SCAN_IGNORE_MAX_BYTES);
  _cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
  if (!buf)
    return img_fail(err, -ENOMEM, "out of memory");
  ssize_t n = read(fd, buf, (size_t)st.st_size + 1);
  if (n < 0)
    return img_fail(err, -errno, "%s: %s", path, strerror(errno));
  if (n > st.st_size)
    return img_fail(err, -EINVAL, "%s: grew while read", path);
  int r = scan_ignore_parse(buf, (size_t)n, ret, err);
  if (r < 0)
    img_err_prefix(err, "%s: ", path);
  return r;
}

size_t scan_ignore_apply(struct scan_ignore *ig, struct scan_result *r, int64_t now) {
  size_t o = 0, hidden = 0;
  for (size_t k = 0; k < ig->n; k++) {
    ig->entries[k].hidden = 0;
    ig->entries[k].expired = now >= ig->entries[k].expires;
  }
  memset(r->count, 0, sizeof r->count);
  for (size_t i = 0; i < r->n; i++) {
    const struct scan_finding *f = &r->findings[i];
    int hide = 0;
    for (size_t k = 0; k < ig->n && !hide; k++) {
      struct scan_ignore_entry *en = &ig->entries[k];
      if (en->expired || strcmp(en->issue, f->entry.issue) ||
          (en->package[0] && strcmp(en->package, f->pkg->name)))
        continue;
      en->hidden++;
      hide = 1;
    }
    if (hide) {
      hidden++;
      continue;
    }
    r->findings[o++] = *f;
    r->count[f->category]++;
  }
  r->n = o;
  return hidden;
}

void scan_ignore_clear(struct scan_ignore *ig) {
  if (!ig)
    return;
  free(ig->entries);
  ig->entries = NULL;
  ig->n = 0;
}
