/* Judging an OSV record's affected spec (see vulndb_affected.h). */
#include "image/vulndb_affected.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* The next token of *p: kind (its first byte) and the version after it. */
static bool next_token(const char **p, char *ret_kind, const char **ret_v, size_t *ret_len) {
  const char *s = *p;
  while (*s == ' ')
    s++;
  if (!*s)
    return false;
  size_t n = strcspn(s, " ");
  *ret_kind = s[0];
  *ret_v = s + 1;
  *ret_len = n - 1;
  *p = s + n;
  return true;
}

/* installed compared with version v[0..len): <0, 0, >0; -2 for a bad version. */
static int cmp_with(const struct dpkg_version *installed, const char *v, size_t len, bool *bad) {
  struct dpkg_version x;
  if (dpkg_version_parse(v, len, &x, NULL) < 0) {
    *bad = true;
    return 0;
  }
  return dpkg_version_cmp(installed, &x);
}

/* The range state: what its events so far say about installed. */
struct range {
  bool open;           /* a range is being read */
  bool affected;       /* OSV's "affected" after the events at or below installed */
  bool limits, below;  /* any limit event; installed below one of them */
  const char *close;   /* the first event after the last applied one that would close it */
  size_t close_len;
  char close_kind;
};

/* Fold a finished range r into the verdict. */
static void end_range(const struct range *r, bool *affected, bool *nofix, const char **fixed,
                      size_t *fixed_len, bool *bad) {
  if (!r->open || !r->affected || (r->limits && !r->below))
    return;
  *affected = true;
  if (!r->close || r->close_kind != 'f') {
    *nofix = true;
    return;
  }
  if (!*fixed) {
    *fixed = r->close;
    *fixed_len = r->close_len;
    return;
  }
  struct dpkg_version a;
  if (dpkg_version_parse(r->close, r->close_len, &a, NULL) < 0) {
    *bad = true;
    return;
  }
  if (cmp_with(&a, *fixed, *fixed_len, bad) > 0) { /* the highest fix clears every range */
    *fixed = r->close;
    *fixed_len = r->close_len;
  }
}

int vulndb_affected_judge(const char *spec, const struct dpkg_version *installed,
                          const char **ret_fixed, size_t *ret_fixed_len) {
  struct range r = {0};
  bool affected = false, nofix = false, exact = false, bad = false;
  const char *fixed = NULL, *p = spec, *v;
  size_t fixed_len = 0, len;
  char kind;
  while (next_token(&p, &kind, &v, &len)) {
    if (kind == '|') {
      if (len)
        return -EBADMSG;
      end_range(&r, &affected, &nofix, &fixed, &fixed_len, &bad);
      r = (struct range){.open = true};
      continue;
    }
    if (kind == '=') {
      if (!len)
        return -EBADMSG;
      exact |= cmp_with(installed, v, len, &bad) == 0;
      continue;
    }
    if (!r.open || !len)
      return -EBADMSG;
    bool zero = len == 1 && v[0] == '0';
    switch (kind) {
    case 'i':
      if (zero || cmp_with(installed, v, len, &bad) >= 0) {
        r.affected = true;
        r.close = NULL;
      }
      break;
    case 'f':
    case 'l': {
      int c = cmp_with(installed, v, len, &bad);
      if (kind == 'f' ? c >= 0 : c > 0) {
        r.affected = false;
      } else if (r.affected && !r.close) {
        r.close = v;
        r.close_len = len;
        r.close_kind = kind;
      }
      break;
    }
    case 'x':
      r.limits = true;
      r.below |= (len == 1 && v[0] == '*') || cmp_with(installed, v, len, &bad) < 0;
      break;
    default:
      return -EBADMSG;
    }
  }
  end_range(&r, &affected, &nofix, &fixed, &fixed_len, &bad);
  if (bad)
    return -EBADMSG;
  if (!affected && exact) {
    affected = true;
    nofix = true;
  }
  if (!affected)
    return 0;
  *ret_fixed = nofix ? NULL : fixed;
  *ret_fixed_len = nofix ? 0 : fixed_len;
  return 1;
}

int vulndb_affected_valid(const char *spec) {
  struct dpkg_version zero;
  const char *f;
  size_t n;
  if (strlen(spec) > VULNDB_AFFECTED_MAX || dpkg_version_parse_str("0", &zero, NULL) < 0)
    return 0;
  return vulndb_affected_judge(spec, &zero, &f, &n) >= 0;
}
