/* Installed packages against the tracker index (see scan_match.h). */
#include "image/scan_match.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "image/dpkg_version.h"
#include "image/vulndb_affected.h"

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

/*
 * An OSV record judged by its affected spec: whether installed is affected and
 * by which fix, made e's status and fixed version (the summary's may name
 * another range's fix). A fixed version not in the index as a string of its
 * own is copied into res. Returns 1 (affected), 0 (not), -ENOMEM.
 */
static int judge_osv(const struct dpkg_version *installed, struct vulndb_entry *e,
                     struct scan_result *res) {
  const char *fixed;
  size_t len;
  int r = vulndb_affected_judge(e->affected, installed, &fixed, &len);
  if (r <= 0)
    return 0; /* malformed: the index refuses it at load; never reached */
  e->status = fixed ? VULNDB_RESOLVED : VULNDB_OPEN;
  if (!fixed)
    e->fixed_version = NULL;
  else if (!e->fixed_version || strncmp(e->fixed_version, fixed, len) || e->fixed_version[len]) {
    if (res->nstrings % 16 == 0) {
      char **ns = realloc(res->strings, (res->nstrings + 16) * sizeof *ns);
      if (!ns)
        return -ENOMEM;
      res->strings = ns;
    }
    if (!(res->strings[res->nstrings] = strndup(fixed, len)))
      return -ENOMEM;
    e->fixed_version = res->strings[res->nstrings++];
  }
  return 1;
}

/* Is pkg affected by e (an OSV record: after judge_osv), and in which
 * category? Returns 1 (affected) or 0. */
static int judge(const struct dpkg_version *installed, const struct vulndb_entry *e,
                 enum scan_category *ret) {
  if (e->introduced && !e->affected) { /* affected from this version on */
    struct dpkg_version intro;
    if (dpkg_version_parse_str(e->introduced, &intro, NULL) < 0 ||
        dpkg_version_cmp(installed, &intro) < 0)
      return 0;
  }
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

struct verdict {
  struct vulndb_entry e;
  enum scan_category cat;
  int affected;
  int shadowed;        /* OSV: the tracker has the same issue */
  ssize_t overridden;  /* tracker: index of a disagreeing OSV record, or -1 */
};

/* The tracker record in v[0..n) (sorted by issue, then origin) for issue, or -1. */
static ssize_t tracker_issue(const struct verdict *v, size_t n, const char *issue, size_t len) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strncmp(v[mid].e.issue, issue, len);
    if (!c && v[mid].e.issue[len])
      c = 1;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && !strncmp(v[lo].e.issue, issue, len) && !v[lo].e.issue[len] &&
                 v[lo].e.origin == VULNDB_FROM_TRACKER
             ? (ssize_t)lo
             : -1;
}

static int disagree(const struct verdict *a, const struct verdict *b) {
  if (a->affected != b->affected)
    return 1;
  if (!a->affected)
    return 0;
  const char *x = a->e.fixed_version, *y = b->e.fixed_version;
  return (!x != !y) || (x && strcmp(x, y));
}

/* Compare OSV records with the tracker's in v[0..n) (see scan_match.h). */
static int tracker_wins(struct verdict *v, size_t n, const struct dpkg_pkg *p,
                        struct scan_result *res, size_t *ovcap) {
  for (size_t k = 0; k < n; k++) {
    if (v[k].e.origin != VULNDB_FROM_OSV)
      continue;
    /* the id itself, then each alias */
    const char *ids = v[k].e.issue;
    for (int pass = 0; pass < 2; pass++, ids = v[k].e.aliases) {
      for (const char *q = ids; q && *q;) {
        size_t len = pass ? strcspn(q, " ") : strlen(q);
        ssize_t j = tracker_issue(v, n, q, len);
        q += len + (q[len] == ' ');
        if (j < 0)
          continue;
        v[k].shadowed = 1;
        if (!disagree(&v[j], &v[k]))
          continue;
        if (v[j].affected) {
          v[j].overridden = (ssize_t)k;
          continue;
        }
        if (res->n_overrides == *ovcap) {
          size_t nc = *ovcap ? *ovcap * 2 : 16;
          struct scan_override *no = realloc(res->overrides, nc * sizeof *no);
          if (!no)
            return -ENOMEM;
          res->overrides = no;
          *ovcap = nc;
        }
        res->overrides[res->n_overrides++] =
            (struct scan_override){.pkg = p, .osv = v[k].e, .tracker = v[j].e,
                                   .osv_category = v[k].cat};
      }
    }
    if (v[k].shadowed)
      res->shadowed++;
  }
  return 0;
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

  size_t cap = 0, ovcap = 0, vcap = 0;
  struct verdict *v = NULL;
  for (size_t i = 0; i < db->n; i++) {
    const struct dpkg_pkg *p = &db->pkgs[i];
    struct dpkg_version installed;
    if (dpkg_version_parse_str(p->source_version, &installed, NULL) < 0)
      continue; /* the db refuses it at load; never reached */
    size_t first, n = vulndb_tracker_find(t, release, p->source, &first);
    if (n > vcap) {
      struct verdict *nv = realloc(v, n * sizeof *nv);
      if (!nv)
        goto oom;
      v = nv;
      vcap = n;
    }
    int has_osv = 0;
    for (size_t k = 0; k < n; k++) {
      v[k] = (struct verdict){.overridden = -1};
      vulndb_tracker_get(t, first + k, &v[k].e);
      if (v[k].e.affected) {
        int a = judge_osv(&installed, &v[k].e, &res);
        if (a < 0)
          goto oom;
        v[k].affected = a && judge(&installed, &v[k].e, &v[k].cat);
      } else {
        v[k].affected = judge(&installed, &v[k].e, &v[k].cat);
      }
      has_osv |= v[k].e.origin == VULNDB_FROM_OSV;
    }
    if (has_osv && tracker_wins(v, n, p, &res, &ovcap) < 0)
      goto oom;
    for (size_t k = 0; k < n; k++) {
      if (!v[k].affected || v[k].shadowed)
        continue;
      struct scan_finding f = {.pkg = p, .entry = v[k].e, .category = v[k].cat};
      if (v[k].overridden >= 0) {
        f.osv_overridden = v[v[k].overridden].e.issue;
        f.osv_fixed = v[v[k].overridden].e.fixed_version;
      }
      if (res.n == cap) {
        size_t nc = cap ? cap * 2 : 64;
        struct scan_finding *nf = realloc(res.findings, nc * sizeof *nf);
        if (!nf)
          goto oom;
        res.findings = nf;
        cap = nc;
      }
      res.findings[res.n++] = f;
      res.count[f.category]++;
    }
  }
  free(v);
  if (res.n > 1)
    qsort(res.findings, res.n, sizeof *res.findings, finding_cmp);
  *ret = res;
  return 0;
oom:
  free(v);
  scan_result_clear(&res);
  return img_fail(err, -ENOMEM, "out of memory");
}

void scan_result_clear(struct scan_result *r) {
  if (!r)
    return;
  free(r->findings);
  free(r->overrides);
  for (size_t i = 0; i < r->nstrings; i++)
    free(r->strings[i]);
  free(r->strings);
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
