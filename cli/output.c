/* Parsing of times, durations, modes and ids given on the command line, and
 * output helpers: RFC 3339 times, JSON strings, text tables. No I/O except
 * to the FILE given; no daemon. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/audit_json.h"
#include "cli/cli.h"

#define NS_PER_S 1000000000ull

/* ---- parsing ---- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Exactly n decimal digits. */
static int fixed_digits(const char **p, int n, int *ret) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!is_digit((*p)[i]))
      return -EINVAL;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *ret = v;
  return 0;
}

static int expect_char(const char **p, char c) {
  if (**p != c)
    return -EINVAL;
  (*p)++;
  return 0;
}

static int days_in_month(int y, int m) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : d[m - 1];
}

/* "Z", "z" or "+HH:MM" / "-HH:MM": seconds east of UTC. */
static int parse_zone(const char **p, long *ret_off) {
  int oh, om, sign;
  if (**p == 'Z' || **p == 'z') {
    (*p)++;
    *ret_off = 0;
    return 0;
  }
  if (**p != '+' && **p != '-')
    return -EINVAL;
  sign = **p == '-' ? -1 : 1;
  (*p)++;
  if (fixed_digits(p, 2, &oh) < 0 || expect_char(p, ':') < 0 || fixed_digits(p, 2, &om) < 0 ||
      oh > 23 || om > 59)
    return -EINVAL;
  *ret_off = sign * (oh * 3600L + om * 60L);
  return 0;
}

/* "HH:MM:SS[.frac]" then the zone. */
static int parse_clock(const char **p, int *h, int *mi, int *s, uint64_t *frac_ns, long *off) {
  if (fixed_digits(p, 2, h) < 0 || expect_char(p, ':') < 0 || fixed_digits(p, 2, mi) < 0 ||
      expect_char(p, ':') < 0 || fixed_digits(p, 2, s) < 0)
    return -EINVAL;
  if (*h > 23 || *mi > 59 || *s > 60)
    return -EINVAL;
  *frac_ns = 0;
  if (**p == '.') {
    uint64_t scale = NS_PER_S / 10;
    (*p)++;
    if (!is_digit(**p))
      return -EINVAL;
    for (; is_digit(**p); (*p)++, scale /= 10) /* digits past ns are dropped */
      *frac_ns += (uint64_t)(**p - '0') * scale;
  }
  return parse_zone(p, off);
}

int cli_parse_rfc3339(const char *s, uint64_t *ret_ns) {
  int y, mo, d, h = 0, mi = 0, sec = 0;
  uint64_t frac = 0;
  long off = 0;
  const char *p = s;

  if (!s || fixed_digits(&p, 4, &y) < 0 || expect_char(&p, '-') < 0 ||
      fixed_digits(&p, 2, &mo) < 0 || expect_char(&p, '-') < 0 || fixed_digits(&p, 2, &d) < 0)
    return -EINVAL;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
    return -EINVAL;
  if (*p == 'T' || *p == 't' || *p == ' ') {
    p++;
    if (parse_clock(&p, &h, &mi, &sec, &frac, &off) < 0)
      return -EINVAL;
  }
  if (*p)
    return -EINVAL;
  struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                  .tm_hour = h, .tm_min = mi, .tm_sec = sec};
  time_t t = timegm(&tm);
  if (t == (time_t)-1 && y != 1969)
    return -EINVAL;
  int64_t secs = (int64_t)t - off;
  if (secs < 0 || (uint64_t)secs > UINT64_MAX / NS_PER_S - 1)
    return -EINVAL;
  *ret_ns = (uint64_t)secs * NS_PER_S + frac;
  return 0;
}

static uint64_t unit_ns(char u) {
  switch (u) {
  case 's': return NS_PER_S;
  case 'm': return 60 * NS_PER_S;
  case 'h': return 3600 * NS_PER_S;
  case 'd': return 86400 * NS_PER_S;
  case 'w': return 7 * 86400 * NS_PER_S;
  default: return 0;
  }
}

int cli_parse_duration(const char *s, uint64_t *ret_ns) {
  uint64_t total = 0;
  const char *p = s;

  if (!s || !*s)
    return -EINVAL;
  while (*p) {
    uint64_t n = 0, u;
    if (!is_digit(*p))
      return -EINVAL;
    for (; is_digit(*p); p++) {
      if (n > (UINT64_MAX - 9) / 10)
        return -ERANGE;
      n = n * 10 + (uint64_t)(*p - '0');
    }
    if (!(u = unit_ns(*p)))
      return -EINVAL;
    p++;
    if (n > UINT64_MAX / u || total > UINT64_MAX - n * u)
      return -ERANGE;
    total += n * u;
  }
  *ret_ns = total;
  return 0;
}

int cli_parse_since(const char *s, uint64_t now_ns, uint64_t *ret_ns) {
  uint64_t v;
  int r;
  if (cli_parse_rfc3339(s, &v) == 0) {
    *ret_ns = v;
    return 0;
  }
  if ((r = cli_parse_duration(s, &v)) < 0)
    return r;
  *ret_ns = v >= now_ns ? 0 : now_ns - v;
  return 0;
}

int cli_parse_mode(const char *s, uint32_t *ret) {
  uint32_t v = 0;
  if (!s || !*s)
    return -EINVAL;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '7')
      return -EINVAL;
    v = v * 8 + (uint32_t)(*p - '0');
    if (v > 07777)
      return -EINVAL;
  }
  *ret = v;
  return 0;
}

int cli_parse_u32(const char *s, uint32_t *ret) {
  uint64_t v = 0;
  if (!s || !*s)
    return -EINVAL;
  for (const char *p = s; *p; p++) {
    if (!is_digit(*p))
      return -EINVAL;
    v = v * 10 + (uint64_t)(*p - '0');
    if (v > UINT32_MAX)
      return -ERANGE;
  }
  *ret = (uint32_t)v;
  return 0;
}

int cli_parse_page_size(const char *s, uint32_t *ret) {
  uint32_t v;
  if (cli_parse_u32(s, &v) < 0 || v == 0 || v > WIRE_PAGE_MAX)
    return -EINVAL;
  *ret = v;
  return 0;
}

int cli_parse_head(const char *s, uint64_t *ret_seq, char ret_hash[65]) {
  uint64_t seq = 0;
  const char *p = s;
  char hash[65];

  if (!s || !is_digit(*p))
    return -EINVAL;
  for (; is_digit(*p); p++) {
    if (seq > (UINT64_MAX - 9) / 10)
      return -EINVAL;
    seq = seq * 10 + (uint64_t)(*p - '0');
  }
  if (seq == 0 || *p++ != ':')
    return -EINVAL;
  for (int i = 0; i < 64; i++, p++) {
    char c = *p;
    if (c >= 'A' && c <= 'F')
      c = (char)(c - 'A' + 'a');
    if (!is_digit(c) && !(c >= 'a' && c <= 'f'))
      return -EINVAL;
    hash[i] = c;
  }
  if (*p)
    return -EINVAL;
  hash[64] = 0;
  *ret_seq = seq;
  memcpy(ret_hash, hash, sizeof(hash));
  return 0;
}

int cli_parse_label(const char *s, struct cli_label *ret) {
  const char *eq = s ? strchr(s, '=') : NULL;
  if (!eq || eq == s)
    return -EINVAL;
  *ret = (struct cli_label){.key = s, .key_len = (size_t)(eq - s), .value = eq + 1};
  return 0;
}

/* ---- times ---- */

uint64_t cli_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

int cli_time_short(uint64_t ns, char *buf, size_t len) {
  time_t secs = (time_t)(ns / NS_PER_S);
  struct tm tm;
  if (!gmtime_r(&secs, &tm))
    return -EINVAL;
  size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return n ? (int)n : -ENOBUFS;
}

int cli_time_long(uint64_t ns, char *buf, size_t len) { return audit_time_rfc3339(ns, buf, len); }

/* ---- JSON and terminal text ---- */

/* Length of the valid UTF-8 sequence at p[0..n), or 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n) {
  size_t len;
  uint32_t cp;
  if (p[0] < 0x80)
    return 1;
  if (p[0] >= 0xc2 && p[0] <= 0xdf)
    len = 2, cp = p[0] & 0x1f;
  else if (p[0] >= 0xe0 && p[0] <= 0xef)
    len = 3, cp = p[0] & 0x0f;
  else if (p[0] >= 0xf0 && p[0] <= 0xf4)
    len = 4, cp = p[0] & 0x07;
  else
    return 0;
  if (len > n)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
      (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return len;
}

void json_write_str(FILE *f, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)s;
  fputc('"', f);
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    size_t k;
    switch (c) {
    case '"': fputs("\\\"", f); i++; continue;
    case '\\': fputs("\\\\", f); i++; continue;
    case '\n': fputs("\\n", f); i++; continue;
    case '\r': fputs("\\r", f); i++; continue;
    case '\t': fputs("\\t", f); i++; continue;
    default: break;
    }
    if (c < 0x20 || c == 0x7f) {
      fprintf(f, "\\u00%c%c", hex[c >> 4], hex[c & 0xf]);
      i++;
    } else if ((k = utf8_len(p + i, n - i)) > 0) {
      fwrite(p + i, 1, k, f);
      i += k;
    } else {
      fputs("\\ufffd", f); /* not UTF-8: JSON text must be */
      i++;
    }
  }
  fputc('"', f);
}

void cli_printable(char *s) {
  for (unsigned char *p = (unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      *p = '?';
}

/* ---- tables ---- */

struct table {
  size_t ncols, nrows, cap; /* rows, including the header row */
  char **cells;             /* nrows * ncols */
  size_t *width;
};

int table_new(size_t ncols, const char *const *headers, struct table **ret) {
  struct table *t = calloc(1, sizeof(*t));
  if (!t || !(t->width = calloc(ncols, sizeof(*t->width)))) {
    free(t);
    return -ENOMEM;
  }
  t->ncols = ncols;
  if (table_add(t, headers) < 0) {
    table_free(t);
    return -ENOMEM;
  }
  *ret = t;
  return 0;
}

int table_add(struct table *t, const char *const *cells) {
  if (t->nrows == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    char **n = realloc(t->cells, cap * t->ncols * sizeof(*n));
    if (!n)
      return -ENOMEM;
    t->cells = n;
    t->cap = cap;
  }
  char **row = t->cells + t->nrows * t->ncols;
  for (size_t i = 0; i < t->ncols; i++) {
    if (!(row[i] = strdup(cells[i] ? cells[i] : ""))) {
      while (i--)
        free(row[i]);
      return -ENOMEM;
    }
    cli_printable(row[i]);
    size_t w = strlen(row[i]);
    if (w > t->width[i])
      t->width[i] = w;
  }
  t->nrows++;
  return 0;
}

void table_print(const struct table *t, FILE *f) {
  for (size_t r = 0; r < t->nrows; r++) {
    char **row = t->cells + r * t->ncols;
    size_t last = t->ncols; /* no padding after the last non-empty cell */
    while (last > 1 && !row[last - 1][0])
      last--;
    for (size_t i = 0; i < last; i++) {
      if (i + 1 == last)
        fprintf(f, "%s\n", row[i]);
      else
        fprintf(f, "%-*s  ", (int)t->width[i], row[i]);
    }
  }
}

void table_free(struct table *t) {
  if (!t)
    return;
  for (size_t i = 0; i < t->nrows * t->ncols; i++)
    free(t->cells[i]);
  free(t->cells);
  free(t->width);
  free(t);
}
