/* Installed packages against the tracker index (see scan_match.h). */
#include "image/scan_match.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "image/dpkg_version.h"

int scan_severity_rank(enum vulndb_urgency u) {
  switch (u) {
  case VULNDB_URG_HIGH:
    return 4;
  case VULNDB_URG_MEDIUM:
    return 3;
  case VULNDB_URG_LOW:
    return 2;
  case VULNDB_URG_UNIMPORTANT:
    return 1;
  default:
    return 0;
  }
}

const char *scan_category_name(enum scan_category c) {
  switch (c) {
  case SCAN_FIXABLE:
    return "fixable";
  case SCAN_NO_FIX:
    return "no-fix-yet";
  case SCAN_MINOR:
    return "no-dsa-or-minor";
  case SCAN_EOL:
    return "end-of-life";
  default:
    return "unknown";
  }
}

static int finding_cmp(const void *a, const void *b) {
  const struct scan_finding *x = a, *y = b;
  int c = scan_severity_rank(y->entry.urgency) - scan_severity_rank(x->entry.urgency);
  if (!c)
    c = strcmp(x->entry.issue, y->entry.issue);
  if (!c)
    c = strcmp(x->pkg->name, y->pkg->name);
  if (!c)
    c = strcmp(x->pkg->arch, y->pkg->arch);
  return c;
}

/* Is pkg affected by e, and in which category? Returns 1 (affected) or 0. */
static int judge(const struct dpkg_version *installed, const struct vulndb_entry *e,
                 enum scan_category *ret) {
  if (e->status == VULNDB_RESOLVED) {
    struct dpkg_version fixed;
    if (!e->fixed_version || dpkg_version_parse_str(e->fixed_version, &fixed, NULL) < 0)
      return 0; /* the index refuses both at import; never reached */
    if (!strcmp(e->fixed_version, "0") || dpkg_version_cmp(&fixed, installed) <= 0)
      return 0;
    *ret = SCAN_FIXABLE;
    return 1;
  }
  if (e->urgency == VULNDB_URG_END_OF_LIFE)
    *ret = SCAN_EOL;
  else if (e->nodsa != VULNDB_NODSA_NONE || e->urgency == VULNDB_URG_UNIMPORTANT)
    *ret = SCAN_MINOR;
  else
    *ret = SCAN_NO_FIX;
  return 1;
}

int scan_match(const struct dpkg_db *db, const struct vulndb_tracker *t, const char *release,
               struct scan_result *ret, struct img_err *err) {
  struct scan_result res = {0};
  if (!release || !*release) {
    if (db->has_os && db->os.id[0] && strcmp(db->os.id, "debian"))
      return img_fail(err, -EPROTONOSUPPORT,
                      "os-release ID is \"%s\": the Debian Security Tracker only covers Debian",
                      db->os.id);
    release = db->os.codename;
  }
  if (!release[0])
    return img_fail(err, -ENODATA, "the release is unknown (no VERSION_CODENAME in os-release)");
  snprintf(res.release, sizeof res.release, "%s", release);
  res.release_in_data = vulndb_tracker_has_release(t, release);

  size_t cap = 0;
  for (size_t i = 0; i < db->n; i++) {
    const struct dpkg_pkg *p = &db->pkgs[i];
    struct dpkg_version installed;
    if (dpkg_version_parse_str(p->source_version, &installed, NULL) < 0)
      continue; /* the db refuses it at load; never reached */
    size_t first, n = vulndb_tracker_find(t, release, p->source, &first);
    for (size_t k = first; k < first + n; k++) {
      struct scan_finding f = {.pkg = p};
      vulndb_tracker_get(t, k, &f.entry);
      if (!judge(&installed, &f.entry, &f.category))
        continue;
      if (res.n == cap) {
        size_t nc = cap ? cap * 2 : 64;
        struct scan_finding *nf = realloc(res.findings, nc * sizeof *nf);
        if (!nf) {
          scan_result_clear(&res);
          return img_fail(err, -ENOMEM, "out of memory");
        }
        res.findings = nf;
        cap = nc;
      }
      res.findings[res.n++] = f;
      res.count[f.category]++;
    }
  }
  if (res.n > 1)
    qsort(res.findings, res.n, sizeof *res.findings, finding_cmp);
  *ret = res;
  return 0;
}

void scan_result_clear(struct scan_result *r) {
  if (!r)
    return;
  free(r->findings);
  memset(r, 0, sizeof *r);
}

const char *scan_severity_name(enum vulndb_urgency u) {
  static const char *const names[] = {"unknown", "unimportant", "low", "medium", "high"};
  return names[scan_severity_rank(u)];
}

int scan_severity_parse(const char *list, unsigned *ret_mask, struct img_err *err) {
  static const char *const names[] = {"unknown", "unimportant", "low", "medium", "high"};
  unsigned mask = 0;
  const char *p = list;
  for (;;) {
    size_t n = strcspn(p, ",");
    unsigned bit = 0;
    for (unsigned i = 0; i < 5; i++)
      if (strlen(names[i]) == n && !strncasecmp(p, names[i], n))
        bit = 1u << i;
    if (!bit)
      return img_fail(err, -EINVAL,
                      "unknown severity \"%.*s\" (high, medium, low, unimportant, unknown)",
                      (int)(n > 32 ? 32 : n), p);
    mask |= bit;
    if (!p[n])
      break;
    p += n + 1;
  }
  *ret_mask = mask;
  return 0;
}

void scan_result_filter(struct scan_result *r, unsigned mask, int fixable_only) {
  size_t o = 0;
  memset(r->count, 0, sizeof r->count);
  for (size_t i = 0; i < r->n; i++) {
    const struct scan_finding *f = &r->findings[i];
    if (!(mask & (1u << scan_severity_rank(f->entry.urgency))))
      continue;
    if (fixable_only && f->category != SCAN_FIXABLE)
      continue;
    r->findings[o++] = *f;
    r->count[f->category]++;
  }
  r->n = o;
}
