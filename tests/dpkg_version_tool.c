/*
 * Helper of tests/scan_dpkg_compare.sh (not a test by itself):
 *   dpkg_version_tool gen N SEED   print N pairs "a b" of valid versions, many
 *                                  of them near-misses of each other
 *   dpkg_version_tool cmp          read pairs "a b" and print "a OP b" with OP
 *                                  lt, eq or gt as image/dpkg_version compares them
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/dpkg_version.h"

static unsigned long long rng_state;
static unsigned rnd(unsigned n) {
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (unsigned)((rng_state >> 33) % n);
}

static const char *const pieces[] = {"0", "1", "2", "9", "10", "01", "00", "99", "123", ".",
                                     ".",  "+", "~", "~", "a", "b", "z", "A", "Z", "rc",
                                     "deb12u", "+b", "~deb", "bpo", "dfsg", "+ds"};
#define NPIECES (sizeof pieces / sizeof pieces[0])

static void append(char *buf, size_t size, const char *s) {
  size_t l = strlen(buf);
  snprintf(buf + l, size - l, "%s", s);
}

static void gen_part(char *buf, size_t size, int upstream) {
  static const char *const digits[] = {"0", "1", "2", "9", "10", "00", "3"};
  if (upstream)
    append(buf, size, digits[rnd(7)]);
  unsigned n = rnd(6) + (upstream ? 0 : 1);
  for (unsigned i = 0; i < n; i++) {
    const char *p = pieces[rnd(NPIECES)];
    if (upstream && rnd(12) == 0)
      p = "-"; /* a '-' inside upstream: the revision then must exist */
    append(buf, size, p);
  }
}

static void gen(char *buf, size_t size) {
  buf[0] = '\0';
  unsigned e = rnd(8);
  if (e == 0)
    append(buf, size, "1:");
  else if (e == 1)
    append(buf, size, "0:");
  else if (e == 2)
    append(buf, size, "01:");
  gen_part(buf, size, 1);
  if (strchr(buf, '-') || rnd(3)) {
    append(buf, size, "-");
    gen_part(buf, size, 0);
  }
}

/* b as a small change of a: one byte changed, one appended or dropped. */
static void mutate(const char *a, char *b, size_t size) {
  static const char alphabet[] = "0123456789.+~abzAZ";
  snprintf(b, size, "%s", a);
  size_t l = strlen(b);
  switch (rnd(4)) {
  case 0:
    b[rnd((unsigned)l)] = alphabet[rnd(sizeof alphabet - 1)];
    break;
  case 1:
    if (l + 1 < size) {
      b[l] = alphabet[rnd(sizeof alphabet - 1)];
      b[l + 1] = '\0';
    }
    break;
  case 2:
    if (l > 1)
      b[l - 1] = '\0';
    break;
  default:
    append(b, size, rnd(2) ? "~" : "0");
  }
}

static int valid(const char *s) {
  struct dpkg_version v;
  return dpkg_version_parse_str(s, &v, NULL) == 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "gen")) {
    long n = atol(argv[2]);
    rng_state = strtoull(argv[3], NULL, 10);
    char a[128], b[128];
    for (long i = 0; i < n;) {
      gen(a, sizeof a);
      if (rnd(5) < 3)
        mutate(a, b, sizeof b);
      else
        gen(b, sizeof b);
      if (!valid(a) || !valid(b))
        continue;
      printf("%s %s\n", a, b);
      i++;
    }
    return 0;
  }
  if (argc == 2 && !strcmp(argv[1], "cmp")) {
    char a[512], b[512];
    while (scanf("%511s %511s", a, b) == 2) {
      int c;
      struct img_err err = {0};
      if (dpkg_version_cmp_str(a, b, &c, &err) < 0) {
        fprintf(stderr, "%s %s: %s\n", a, b, err.msg);
        return 1;
      }
      printf("%s %s %s\n", a, c < 0 ? "lt" : c > 0 ? "gt" : "eq", b);
    }
    return 0;
  }
  fprintf(stderr, "usage: dpkg_version_tool gen N SEED | cmp\n");
  return 2;
}
