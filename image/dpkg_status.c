/* Parsers of dpkg's status format and of os-release (see dpkg_status.h). */
#include "image/dpkg_status.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "image/dpkg_version.h"

enum { F_PACKAGE, F_VERSION, F_ARCH, F_SOURCE, F_STATUS, F_COUNT };
static const char *const field_names[F_COUNT] = {"Package", "Version", "Architecture", "Source",
                                                 "Status"};

struct stanza {
  const char *v[F_COUNT];
  size_t len[F_COUNT];
  size_t first_line;
  bool any; /* has at least one field */
};

static bool name_ok(const char *s, size_t n) {
  if (n == 0 || n > DPKG_NAME_MAX)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '+' && c != '-' && c != '.')))
      return false;
  }
  return true;
}

static bool arch_ok(const char *s, size_t n) {
  if (n == 0 || n > DPKG_ARCH_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
      return false;
  return true;
}

/* "want ok installed" (exactly three words, single spaces). */
static bool status_installed(const char *s, size_t n, bool *ret_valid) {
  const char *w[3];
  size_t wl[3], k = 0, i = 0;
  while (i < n && k < 3) {
    size_t st = i;
    while (i < n && s[i] != ' ')
      i++;
    w[k] = s + st;
    wl[k++] = i - st;
    if (i < n)
      i++; /* the space */
  }
  *ret_valid = k == 3 && i == n && wl[0] && wl[1] && wl[2];
  if (!*ret_valid)
    return false;
  return wl[1] == 2 && !memcmp(w[1], "ok", 2) && wl[2] == 9 && !memcmp(w[2], "installed", 9);
}

static int grow(struct dpkg_db *db) {
  if (db->n < db->cap)
    return 0;
  if (db->n >= DPKG_MAX_PACKAGES)
    return -E2BIG;
  size_t cap = db->cap ? db->cap * 2 : 256;
  if (cap > DPKG_MAX_PACKAGES)
    cap = DPKG_MAX_PACKAGES;
  struct dpkg_pkg *p = realloc(db->pkgs, cap * sizeof *p);
  if (!p)
    return -ENOMEM;
  db->pkgs = p;
  db->cap = cap;
  return 0;
}

/* Check one finished stanza and add it when installed. Returns 1 if added. */
static int finish(struct dpkg_db *db, struct stanza *st, unsigned flags, struct img_err *err) {
  size_t line = st->first_line;
  if (!st->any)
    return 0;
  if (st->v[F_STATUS]) {
    bool valid;
    bool inst = status_installed(st->v[F_STATUS], st->len[F_STATUS], &valid);
    if (!valid)
      return img_fail(err, -EBADMSG, "stanza at line %zu: malformed Status", line);
    if (!inst)
      return 0;
  } else if (!(flags & DPKG_PARSE_NO_STATUS_IS_INSTALLED)) {
    return 0; /* dpkg's own status file: no Status, not installed */
  }
  if (!st->v[F_PACKAGE])
    return img_fail(err, -EBADMSG, "stanza at line %zu: installed package without Package", line);
  if (!name_ok(st->v[F_PACKAGE], st->len[F_PACKAGE]))
    return img_fail(err, -EBADMSG, "stanza at line %zu: invalid package name", line);
  if (!st->v[F_VERSION])
    return img_fail(err, -EBADMSG, "stanza at line %zu: installed package without Version", line);
  struct dpkg_version v;
  struct img_err verr = {0};
  if (dpkg_version_parse(st->v[F_VERSION], st->len[F_VERSION], &v, &verr) < 0)
    return img_fail(err, -EBADMSG, "stanza at line %zu: Version: %s", line, verr.msg);
  if (st->v[F_ARCH] && !arch_ok(st->v[F_ARCH], st->len[F_ARCH]))
    return img_fail(err, -EBADMSG, "stanza at line %zu: invalid Architecture", line);

  /* Source: name [(version)] */
  const char *src = st->v[F_PACKAGE], *srcv = st->v[F_VERSION];
  size_t srcl = st->len[F_PACKAGE], srcvl = st->len[F_VERSION];
  if (st->v[F_SOURCE]) {
    const char *s = st->v[F_SOURCE], *e = s + st->len[F_SOURCE];
    const char *sp = memchr(s, ' ', st->len[F_SOURCE]);
    src = s;
    srcl = (size_t)((sp ? sp : e) - s);
    if (!name_ok(src, srcl))
      return img_fail(err, -EBADMSG, "stanza at line %zu: invalid Source name", line);
    if (sp) {
      const char *q = sp;
      while (q < e && *q == ' ')
        q++;
      if (q >= e || *q != '(' || e[-1] != ')' || e - q < 3)
        return img_fail(err, -EBADMSG, "stanza at line %zu: Source is not \"name (version)\"",
                        line);
      srcv = q + 1;
      srcvl = (size_t)(e - 1 - srcv);
      if (dpkg_version_parse(srcv, srcvl, &v, &verr) < 0)
        return img_fail(err, -EBADMSG, "stanza at line %zu: Source version: %s", line, verr.msg);
    }
  }

  int r = grow(db);
  if (r == -E2BIG)
    return img_fail(err, r, "more than %u installed packages", DPKG_MAX_PACKAGES);
  if (r < 0)
    return img_fail(err, r, "out of memory");
  size_t al = st->v[F_ARCH] ? st->len[F_ARCH] : 0;
  size_t total = st->len[F_PACKAGE] + st->len[F_VERSION] + al + srcl + srcvl + 5;
  char *m = malloc(total);
  if (!m)
    return img_fail(err, -ENOMEM, "out of memory");
  struct dpkg_pkg *p = &db->pkgs[db->n];
  char *w = m;
#define PUT(dst, s, l)                                                                         \
  do {                                                                                         \
    memcpy(w, (s), (l));                                                                       \
    w[(l)] = '\0';                                                                             \
    (dst) = w;                                                                                 \
    w += (l) + 1;                                                                              \
  } while (0)
  PUT(p->name, st->v[F_PACKAGE], st->len[F_PACKAGE]);
  PUT(p->version, st->v[F_VERSION], st->len[F_VERSION]);
  PUT(p->arch, al ? st->v[F_ARCH] : "", al);
  PUT(p->source, src, srcl);
  PUT(p->source_version, srcv, srcvl);
#undef PUT
  db->n++;
  return 1;
}

int dpkg_status_parse(struct dpkg_db *db, const char *buf, size_t len, unsigned flags,
                      struct img_err *err) {
  size_t n0 = db->n, line = 0;
  struct stanza st = {0};
  int kept = -1; /* the kept field the previous line belonged to, for continuations */
  int r;
  if (len && memchr(buf, '\0', len)) {
    r = img_fail(err, -EBADMSG, "NUL byte in status data");
    goto fail;
  }
  const char *p = buf, *end = buf + len;
  while (p <= end) {
    const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    const char *le = nl ? nl : end;
    line++;
    bool blank = true;
    for (const char *q = p; q < le; q++)
      if (*q != ' ' && *q != '\t' && *q != '\r') {
        blank = false;
        break;
      }
    if (blank) {
      if ((r = finish(db, &st, flags, err)) < 0)
        goto fail;
      memset(&st, 0, sizeof st);
      kept = -1;
    } else if (*p == ' ' || *p == '\t') {
      if (!st.any) {
        r = img_fail(err, -EBADMSG, "line %zu: continuation line without a field", line);
        goto fail;
      }
      if (kept >= 0) {
        r = img_fail(err, -EBADMSG, "line %zu: %s continues on a second line", line,
                     field_names[kept]);
        goto fail;
      }
    } else {
      const char *colon = memchr(p, ':', (size_t)(le - p));
      if (!colon || colon == p) {
        r = img_fail(err, -EBADMSG, "line %zu: no \"Field:\"", line);
        goto fail;
      }
      if (!st.any)
        st.first_line = line;
      st.any = true;
      kept = -1;
      size_t fl = (size_t)(colon - p);
      for (int f = 0; f < F_COUNT; f++)
        if (strlen(field_names[f]) == fl && !strncasecmp(p, field_names[f], fl)) {
          kept = f;
          break;
        }
      if (kept >= 0) {
        if (st.v[kept]) {
          r = img_fail(err, -EBADMSG, "line %zu: %s repeated", line, field_names[kept]);
          goto fail;
        }
        const char *v = colon + 1, *ve = le;
        while (v < ve && (*v == ' ' || *v == '\t'))
          v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r'))
          ve--;
        size_t max = kept == F_VERSION ? DPKG_VERSION_MAX
                     : kept == F_SOURCE ? DPKG_NAME_MAX + DPKG_VERSION_MAX + 3
                                        : DPKG_NAME_MAX;
        if ((size_t)(ve - v) > max) {
          r = img_fail(err, -E2BIG, "line %zu: %s longer than %zu bytes", line,
                       field_names[kept], max);
          goto fail;
        }
        st.v[kept] = v;
        st.len[kept] = (size_t)(ve - v);
      }
    }
    if (!nl)
      break;
    p = nl + 1;
  }
  if ((r = finish(db, &st, flags, err)) < 0)
    goto fail;
  return (int)(db->n - n0);
fail:
  while (db->n > n0)
    free((void *)db->pkgs[--db->n].name);
  return r;
}

static int pkg_cmp(const void *a, const void *b) {
  const struct dpkg_pkg *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : strcmp(x->arch, y->arch);
}

void dpkg_db_sort(struct dpkg_db *db) {
  if (db->n > 1)
    qsort(db->pkgs, db->n, sizeof *db->pkgs, pkg_cmp);
}

const struct dpkg_pkg *dpkg_db_find(const struct dpkg_db *db, const char *name) {
  size_t lo = 0, hi = db->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(db->pkgs[mid].name, name) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < db->n && !strcmp(db->pkgs[lo].name, name) ? &db->pkgs[lo] : NULL;
}

void dpkg_db_clear(struct dpkg_db *db) {
  if (!db)
    return;
  for (size_t i = 0; i < db->n; i++)
    free((void *)db->pkgs[i].name); /* the one allocation of each package */
  free(db->pkgs);
  db->pkgs = NULL;
  db->n = db->cap = 0;
}

void dpkg_db_free(struct dpkg_db *db) {
  dpkg_db_clear(db);
  free(db);
}

/* os-release */

static void os_value(const char *v, const char *ve, char out[DPKG_OS_FIELD_MAX + 1]) {
  size_t o = 0;
  char quote = 0;
  if (v < ve && (*v == '"' || *v == '\'')) {
    quote = *v++;
    if (ve > v && ve[-1] == quote)
      ve--;
  }
  for (; v < ve && o < DPKG_OS_FIELD_MAX; v++) {
    char c = *v;
    if (quote == '"' && c == '\\' && v + 1 < ve)
      c = *++v;
    if ((unsigned char)c < 0x20 || c == 0x7f)
      continue; /* no control bytes in what reports print */
    out[o++] = c;
  }
  out[o] = '\0';
}

void dpkg_os_release_parse(const char *buf, size_t len, struct dpkg_os *ret) {
  static const struct {
    const char *key;
    size_t off;
  } keys[] = {{"ID", offsetof(struct dpkg_os, id)},
              {"VERSION_ID", offsetof(struct dpkg_os, version_id)},
              {"VERSION_CODENAME", offsetof(struct dpkg_os, codename)},
              {"PRETTY_NAME", offsetof(struct dpkg_os, pretty_name)}};
  memset(ret, 0, sizeof *ret);
  const char *p = buf, *end = buf + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    const char *eq = memchr(p, '=', (size_t)(le - p));
    if (eq && *p != '#') {
      size_t kl = (size_t)(eq - p);
      for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        if (strlen(keys[k].key) == kl && !memcmp(p, keys[k].key, kl)) {
          const char *ve = le;
          while (ve > eq + 1 && (ve[-1] == '\r' || ve[-1] == ' '))
            ve--;
          os_value(eq + 1, ve, (char *)ret + keys[k].off);
        }
    }
    if (!nl)
      break;
    p = nl + 1;
  }
}
