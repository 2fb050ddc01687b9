/* OSV records of the Debian ecosystem into the index (see vulndb_osv.h). */
#include "image/vulndb_osv.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "base/macro.h"
#include "image/dpkg_version.h"
#include "image/vulndb_affected.h"
#include "image/vulndb_internal.h"

#define ALIASES_MAX 4096 /* bytes of one record's alias list; further ids are dropped */

static const struct {
  const char *number, *codename;
} releases[] = {{"7", "wheezy"}, {"8", "jessie"},   {"9", "stretch"}, {"10", "buster"},
                {"11", "bullseye"}, {"12", "bookworm"}, {"13", "trixie"}, {"14", "forky"},
                {"15", "duke"}};

const char *vulndb_debian_codename(const char *number) {
  size_t n = strcspn(number, "."); /* "12.5" is release 12 */
  for (size_t i = 0; i < ARRAY_SIZE(releases); i++)
    if (strlen(releases[i].number) == n && !strncmp(releases[i].number, number, n))
      return releases[i].codename;
  return NULL;
}

/* --- CVSS v3.x base score (FIRST's specification, section 7.1) --- */

static const char *metric(const char *vector, const char *name) {
  size_t n = strlen(name);
  for (const char *p = vector; (p = strstr(p, name)); p++)
    if ((p == vector || p[-1] == '/') && p[n] == ':')
      return p + n + 1;
  return NULL;
}

/* The value letter of metric name, checked against allowed; 0 if absent or invalid. */
static char letter(const char *vector, const char *name, const char *allowed) {
  const char *v = metric(vector, name);
  if (!v || !v[0] || (v[1] && v[1] != '/') || !strchr(allowed, v[0]))
    return 0;
  return v[0];
}

/* CVSS's Roundup: the smallest number with one decimal >= x, in tenths. */
static int roundup_tenths(double x) {
  long i = lround(x * 100000.0);
  return i % 10000 == 0 ? (int)(i / 10000) : (int)(i / 10000) + 1;
}

int vulndb_cvss3_base_score(const char *vector) {
  if (strncmp(vector, "CVSS:3.0/", 9) && strncmp(vector, "CVSS:3.1/", 9))
    return -EINVAL;
  for (const char *p = vector; *p; p++)
    if (!isalnum((unsigned char)*p) && !strchr(":/.", *p))
      return -EINVAL;
  char av = letter(vector, "AV", "NALP"), ac = letter(vector, "AC", "LH"),
       pr = letter(vector, "PR", "NLH"), ui = letter(vector, "UI", "NR"),
       s = letter(vector, "S", "UC"), c = letter(vector, "C", "HLN"), i = letter(vector, "I", "HLN"),
       a = letter(vector, "A", "HLN");
  if (!av || !ac || !pr || !ui || !s || !c || !i || !a)
    return -EINVAL;
  double AV = av == 'N' ? 0.85 : av == 'A' ? 0.62 : av == 'L' ? 0.55 : 0.2;
  double AC = ac == 'L' ? 0.77 : 0.44;
  double PR = pr == 'N' ? 0.85 : pr == 'L' ? (s == 'C' ? 0.68 : 0.62) : (s == 'C' ? 0.5 : 0.27);
  double UI = ui == 'N' ? 0.85 : 0.62;
#define CIA(x) ((x) == 'H' ? 0.56 : (x) == 'L' ? 0.22 : 0.0)
  double iss = 1.0 - (1.0 - CIA(c)) * (1.0 - CIA(i)) * (1.0 - CIA(a));
#undef CIA
  double impact = s == 'U' ? 6.42 * iss : 7.52 * (iss - 0.029) - 3.25 * pow(iss - 0.02, 15);
  double expl = 8.22 * AV * AC * PR * UI;
  if (impact <= 0)
    return 0;
  double base = s == 'U' ? fmin(impact + expl, 10.0) : fmin(1.08 * (impact + expl), 10.0);
  return roundup_tenths(base);
}

/* --- one record --- */

struct octx {
  struct vt_builder *b;
  struct vulndb_osv_stats st;
  struct img_err *err;
  char id[VULNDB_NAME_MAX + 1];
  size_t index; /* of the record in the input, from 0 */
};

static int rfail(struct octx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int rfail(struct octx *c, const char *fmt, ...) {
  char m[320];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m, sizeof m, fmt, ap);
  va_end(ap);
  return img_fail(c->err, -EBADMSG, "OSV record %zu%s%s: %s", c->index + 1, c->id[0] ? " " : "",
                  c->id, m);
}

static bool name_ok(const char *s, size_t n) {
  if (n == 0 || n > VULNDB_NAME_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] == 0x7f)
      return false;
  return true;
}

/* obj's member key when it is a string (*ret, NULL if absent); -1 on another type. */
static int get_str(json_object *obj, const char *key, const char **ret) {
  json_object *v;
  *ret = NULL;
  if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
    return 0;
  if (!json_object_is_type(v, json_type_string))
    return -1;
  *ret = json_object_get_string(v);
  return 0;
}

/* obj's member key when it is of type t (*ret, NULL if absent); -1 on another type. */
static int get_typed(json_object *obj, const char *key, json_type t, json_object **ret) {
  json_object *v;
  *ret = NULL;
  if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
    return 0;
  if (!json_object_is_type(v, t))
    return -1;
  *ret = v;
  return 0;
}

static int urgency_rank(enum vulndb_urgency u) {
  switch (u) {
  case VULNDB_URG_HIGH: return 4;
  case VULNDB_URG_MEDIUM: return 3;
  case VULNDB_URG_LOW: return 2;
  case VULNDB_URG_UNIMPORTANT: return 1;
  default: return 0;
  }
}

static enum vulndb_urgency severity_word(const char *s) {
  size_t n = strlen(s);
  while (n && s[n - 1] == '*')
    n--;
#define W(lit) (n == sizeof(lit) - 1 && !strncasecmp(s, lit, n))
  if (W("critical") || W("high"))
    return VULNDB_URG_HIGH;
  if (W("moderate") || W("medium"))
    return VULNDB_URG_MEDIUM;
  if (W("low"))
    return VULNDB_URG_LOW;
  if (W("unimportant") || W("negligible") || W("none"))
    return VULNDB_URG_UNIMPORTANT;
  if (W("not yet assigned"))
    return VULNDB_URG_NOT_YET_ASSIGNED;
  if (W("end-of-life"))
    return VULNDB_URG_END_OF_LIFE;
#undef W
  return VULNDB_URG_UNKNOWN;
}

/* Severity from an OSV severity[] array: the first CVSS_V3 entry. */
static int severity_array(struct octx *c, json_object *arr, enum vulndb_urgency *ret) {
  if (!arr)
    return 0;
  for (size_t i = 0; i < json_object_array_length(arr); i++) {
    json_object *e = json_object_array_get_idx(arr, i);
    const char *type, *score;
    if (!json_object_is_type(e, json_type_object) || get_str(e, "type", &type) < 0 ||
        get_str(e, "score", &score) < 0 || !type || !score)
      return rfail(c, "a \"severity\" entry without string \"type\" and \"score\"");
    if (strcmp(type, "CVSS_V3"))
      continue; /* CVSS_V2, CVSS_V4, Ubuntu: not ours to compute */
    int s = vulndb_cvss3_base_score(score);
    if (s < 0)
      return rfail(c, "a malformed CVSS_V3 vector");
    *ret = s >= 70 ? VULNDB_URG_HIGH : s >= 40 ? VULNDB_URG_MEDIUM : s > 0 ? VULNDB_URG_LOW
                                                                         : VULNDB_URG_UNIMPORTANT;
    return 0;
  }
  return 0;
}

/* Severity from a string member of ecosystem_specific / database_specific. */
static int severity_member(struct octx *c, json_object *holder, const char *holder_name,
                           const char *key, enum vulndb_urgency *ret) {
  json_object *o;
  const char *s;
  if (get_typed(holder, holder_name, json_type_object, &o) < 0)
    return rfail(c, "\"%s\" is not an object", holder_name);
  if (!o || *ret != VULNDB_URG_UNKNOWN)
    return 0;
  if (get_str(o, key, &s) < 0)
    return 0; /* a free-form field of another shape: not a severity */
  if (s)
    *ret = severity_word(s);
  return 0;
}

static int check_version(struct octx *c, const char *v, const char *what) {
  struct dpkg_version dv;
  struct img_err verr = {0};
  if (dpkg_version_parse(v, strlen(v), &dv, &verr) < 0)
    return rfail(c, "%s \"%.64s\": %s", what, v, verr.msg);
  return 0;
}

static int vcmp(const char *a, const char *b) {
  struct dpkg_version x, y;
  dpkg_version_parse_str(a, &x, NULL);
  dpkg_version_parse_str(b, &y, NULL);
  return dpkg_version_cmp(&x, &y);
}

/* The spec being built for one (record, package, release): vulndb_affected.h. */
struct spec {
  char s[VULNDB_AFFECTED_MAX + 1];
  size_t len;
};

static int spec_add(struct octx *c, struct spec *sp, char kind, const char *v) {
  size_t n = strlen(v);
  if (sp->len + n + 2 > VULNDB_AFFECTED_MAX)
    return rfail(c, "more than %u bytes of affected versions for one package", VULNDB_AFFECTED_MAX);
  if (sp->len)
    sp->s[sp->len++] = ' ';
  sp->s[sp->len++] = kind;
  memcpy(sp->s + sp->len, v, n + 1);
  sp->len += n;
  return 0;
}

struct event {
  char kind; /* i f l x, as in the spec */
  const char *v;
};

/* Event order for the spec: by version, an introduced "0" first and a limit
 * "*" last. */
static int event_cmp(const struct event *a, const struct event *b) {
  bool amin = a->kind == 'i' && !strcmp(a->v, "0"), bmin = b->kind == 'i' && !strcmp(b->v, "0");
  bool amax = a->kind == 'x' && !strcmp(a->v, "*"), bmax = b->kind == 'x' && !strcmp(b->v, "*");
  if (amin || bmax)
    return (amin && bmin) || (amax && bmax) ? 0 : -1;
  if (bmin || amax)
    return 1;
  return vcmp(a->v, b->v);
}

#define RANGE_EVENTS_MAX 512

/* The ECOSYSTEM ranges of one affected entry: lowest introduced ("" = from the
 * start), highest fixed (NULL = none) for the record's summary, and each
 * range, its events sorted, appended to sp for the matcher. */
static int ranges(struct octx *c, json_object *aff, const char **ret_intro, const char **ret_fixed,
                  bool *ret_any, struct spec *sp) {
  json_object *rs;
  if (get_typed(aff, "ranges", json_type_array, &rs) < 0)
    return rfail(c, "\"ranges\" is not an array");
  bool open = false;
  for (size_t i = 0; rs && i < json_object_array_length(rs); i++) {
    json_object *r = json_object_array_get_idx(rs, i), *evs;
    const char *type;
    if (!json_object_is_type(r, json_type_object) || get_str(r, "type", &type) < 0 || !type ||
        get_typed(r, "events", json_type_array, &evs) < 0 || !evs)
      return rfail(c, "a range without string \"type\" and array \"events\"");
    if (strcmp(type, "ECOSYSTEM"))
      continue; /* SEMVER, GIT: not dpkg versions */
    *ret_any = true;
    bool fixed_here = false;
    size_t nev = json_object_array_length(evs);
    if (nev > RANGE_EVENTS_MAX)
      return rfail(c, "a range of more than %d events", RANGE_EVENTS_MAX);
    struct event ev[RANGE_EVENTS_MAX];
    for (size_t k = 0; k < nev; k++) {
      json_object *e = json_object_array_get_idx(evs, k);
      if (!json_object_is_type(e, json_type_object) || json_object_object_length(e) != 1)
        return rfail(c, "an event that is not an object with one member");
      json_object_object_foreach(e, key, val) {
        if (strcmp(key, "introduced") && strcmp(key, "fixed") && strcmp(key, "last_affected") &&
            strcmp(key, "limit"))
          return rfail(c, "an unknown event \"%.32s\"", key);
        if (!json_object_is_type(val, json_type_string))
          return rfail(c, "the event \"%s\" is not a string", key);
        const char *v = json_object_get_string(val);
        bool star = !strcmp(key, "limit") && !strcmp(v, "*");
        if (strcmp(v, "0") && !star && check_version(c, v, key) < 0)
          return -EBADMSG;
        ev[k] = (struct event){.kind = !strcmp(key, "last_affected") ? 'l' : key[0] == 'l' ? 'x'
                                                                                       : key[0],
                               .v = v};
        if (!strcmp(key, "introduced")) {
          if (!strcmp(v, "0"))
            *ret_intro = "";
          else if (!*ret_intro || (**ret_intro && vcmp(v, *ret_intro) < 0))
            *ret_intro = v;
        } else if (!strcmp(key, "fixed")) {
          fixed_here = true;
          if (!*ret_fixed || vcmp(v, *ret_fixed) > 0)
            *ret_fixed = v;
        } /* last_affected, limit: the summary stays open (the spec is exact) */
      }
    }
    if (!fixed_here)
      open = true;
    for (size_t k = 1; k < nev; k++) { /* insertion sort: stable, ranges are short */
      struct event x = ev[k];
      size_t j = k;
      for (; j > 0 && event_cmp(&ev[j - 1], &x) > 0; j--)
        ev[j] = ev[j - 1];
      ev[j] = x;
    }
    if (spec_add(c, sp, '|', "") < 0)
      return -EBADMSG;
    for (size_t k = 0; k < nev; k++)
      if (spec_add(c, sp, ev[k].kind, ev[k].v) < 0)
        return -EBADMSG;
  }
  if (open)
    *ret_fixed = NULL; /* a range without a fix: still open */
  return 0;
}

/* OSV's versions[]: each listed version affected, kept in sp where no range
 * of it already includes that version (Debian's export lists hundreds). */
static int exact_versions(struct octx *c, json_object *aff, struct spec *sp, bool *ret_any) {
  json_object *vs;
  if (get_typed(aff, "versions", json_type_array, &vs) < 0)
    return rfail(c, "\"versions\" is not an array");
  size_t ranges_len = sp->len;
  for (size_t i = 0; vs && i < json_object_array_length(vs); i++) {
    json_object *x = json_object_array_get_idx(vs, i);
    if (!json_object_is_type(x, json_type_string))
      return rfail(c, "a \"versions\" entry that is not a string");
    const char *v = json_object_get_string(x), *f;
    struct dpkg_version dv;
    size_t fl;
    if (check_version(c, v, "a versions[] entry") < 0)
      return -EBADMSG;
    dpkg_version_parse_str(v, &dv, NULL);
    int in = 0;
    if (ranges_len) { /* judged by the ranges alone */
      char save = sp->s[ranges_len];
      sp->s[ranges_len] = '\0';
      in = vulndb_affected_judge(sp->s, &dv, &f, &fl);
      sp->s[ranges_len] = save;
    }
    *ret_any = true;
    if (in == 0 && spec_add(c, sp, '=', v) < 0)
      return -EBADMSG;
  }
  return 0;
}

static int add_affected(struct octx *c, json_object *rec, json_object *aff, const char *aliases,
                        enum vulndb_urgency rec_sev, size_t first) {
  json_object *pkg;
  const char *eco, *name;
  if (!json_object_is_type(aff, json_type_object))
    return rfail(c, "an \"affected\" entry is not an object");
  if (get_typed(aff, "package", json_type_object, &pkg) < 0 || !pkg ||
      get_str(pkg, "ecosystem", &eco) < 0 || get_str(pkg, "name", &name) < 0 || !eco || !name)
    return rfail(c, "an \"affected\" entry without package.ecosystem and package.name");
  if (strncmp(eco, "Debian", 6) || (eco[6] && eco[6] != ':')) {
    c->st.other_ecosystems++;
    return 0;
  }
  const char *release = eco[6] ? vulndb_debian_codename(eco + 7) : NULL;
  if (!release) {
    c->st.unknown_releases++;
    return 0;
  }
  if (!name_ok(name, strlen(name)))
    return rfail(c, "an invalid package name");
  const char *intro = NULL, *fixed = NULL;
  bool any = false;
  struct spec sp;
  sp.len = 0;
  sp.s[0] = '\0';
  if (ranges(c, aff, &intro, &fixed, &any, &sp) < 0 || exact_versions(c, aff, &sp, &any) < 0)
    return -EBADMSG;
  if (!any) {
    c->st.no_ranges++; /* neither an ECOSYSTEM range nor versions[]: nothing dpkg can compare */
    return 0;
  }
  enum vulndb_urgency sev = VULNDB_URG_UNKNOWN;
  json_object *sarr;
  if (get_typed(aff, "severity", json_type_array, &sarr) < 0)
    return rfail(c, "\"affected[].severity\" is not an array");
  if (severity_array(c, sarr, &sev) < 0)
    return -EBADMSG;
  if (sev == VULNDB_URG_UNKNOWN)
    sev = rec_sev;
  if (severity_member(c, aff, "ecosystem_specific", "urgency", &sev) < 0 ||
      severity_member(c, aff, "ecosystem_specific", "severity", &sev) < 0 ||
      severity_member(c, aff, "database_specific", "severity", &sev) < 0 ||
      severity_member(c, rec, "database_specific", "severity", &sev) < 0)
    return -EBADMSG;

  struct vulndb_entry e = {.release = release,
                           .source = name,
                           .issue = c->id,
                           .fixed_version = fixed,
                           .status = fixed ? VULNDB_RESOLVED : VULNDB_OPEN,
                           .urgency = sev,
                           .origin = VULNDB_FROM_OSV,
                           .introduced = intro && *intro ? intro : NULL,
                           .affected = sp.s,
                           .aliases = aliases[0] ? aliases : NULL};
  /* a second entry for the same package and release in this record: merge,
   * keeping the lower introduced and the higher fixed (none wins both) for
   * the summary, and both specs (either one's versions are affected) */
  for (size_t i = first; i < c->b->n; i++) {
    struct vt_rec *r = &c->b->recs[i];
    uint32_t off;
    if (strcmp(c->b->in.blob + r->release, release) || strcmp(c->b->in.blob + r->source, name))
      continue;
    const char *old = c->b->in.blob + r->affected; /* OSV records always have one */
    size_t olen = strlen(old);
    if (olen + 1 + sp.len > VULNDB_AFFECTED_MAX)
      return rfail(c, "more than %u bytes of affected versions for one package",
                   VULNDB_AFFECTED_MAX);
    memmove(sp.s + olen + 1, sp.s, sp.len + 1);
    memcpy(sp.s, old, olen);
    sp.s[olen] = ' ';
    if (vt_intern(&c->b->in, sp.s, olen + 1 + sp.len, &off) < 0)
      return img_fail(c->err, -ENOMEM, "out of memory");
    r->affected = off;
    if (r->introduced != VT_NONE &&
        (!e.introduced || vcmp(e.introduced, c->b->in.blob + r->introduced) < 0)) {
      if (!e.introduced)
        r->introduced = VT_NONE;
      else if (vt_intern(&c->b->in, e.introduced, strlen(e.introduced), &off) < 0)
        return img_fail(c->err, -ENOMEM, "out of memory");
      else
        r->introduced = off;
    }
    if (r->fixed != VT_NONE && (!fixed || vcmp(fixed, c->b->in.blob + r->fixed) > 0)) {
      if (!fixed) {
        r->fixed = VT_NONE;
        r->status = VULNDB_OPEN;
      } else if (vt_intern(&c->b->in, fixed, strlen(fixed), &off) < 0) {
        return img_fail(c->err, -ENOMEM, "out of memory");
      } else {
        r->fixed = off;
      }
    }
    if (urgency_rank(sev) > urgency_rank((enum vulndb_urgency)r->urgency))
      r->urgency = (uint8_t)sev;
    return 0;
  }
  int r = vt_builder_add_entry(c->b, &e);
  if (r < 0)
    return img_fail(c->err, r, "OSV record %zu: %s", c->index + 1,
                    r == -E2BIG ? "too many records" : "out of memory");
  return 0;
}

/* RFC 3339 ("2024-05-01T12:00:00Z", fractions and offsets allowed) to seconds. */
static int parse_time(const char *s, int64_t *ret) {
  struct tm tm = {0};
  const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (!p)
    return -EINVAL;
  if (*p == '.')
    for (p++; isdigit((unsigned char)*p); p++)
      ;
  long off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
             isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
             isdigit((unsigned char)p[5])) {
    off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 + ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
    if (*p == '+')
      off = -off;
    p += 6;
  } else {
    return -EINVAL;
  }
  if (*p)
    return -EINVAL;
  *ret = (int64_t)timegm(&tm) + off;
  return 0;
}

static int add_alias(char *al, size_t *len, const char *id, const char *a) {
  size_t n = strlen(a);
  if (!strcmp(a, id))
    return 0;
  for (const char *p = al; *p;) { /* already there? */
    size_t k = strcspn(p, " ");
    if (k == n && !strncmp(p, a, n))
      return 0;
    p += k + (p[k] == ' ');
  }
  if (*len + n + 2 > ALIASES_MAX)
    return 0; /* documented cap: further aliases are dropped */
  if (*len)
    al[(*len)++] = ' ';
  memcpy(al + *len, a, n + 1);
  *len += n;
  return 0;
}

static int add_record(struct octx *c, json_object *rec) {
  c->id[0] = '\0';
  if (!json_object_is_type(rec, json_type_object))
    return rfail(c, "not a JSON object");
  const char *id, *modified, *withdrawn;
  if (get_str(rec, "id", &id) < 0 || !id || !name_ok(id, strlen(id)))
    return rfail(c, "no valid \"id\"");
  snprintf(c->id, sizeof c->id, "%s", id);
  int64_t mt;
  if (get_str(rec, "modified", &modified) < 0 || !modified || parse_time(modified, &mt) < 0)
    return rfail(c, "no valid \"modified\" time (RFC 3339)");
  c->st.records++;
  if (mt > c->st.newest_modified)
    c->st.newest_modified = mt;
  if (get_str(rec, "withdrawn", &withdrawn) < 0)
    return rfail(c, "\"withdrawn\" is not a string");
  if (withdrawn) {
    c->st.withdrawn++;
    return 0;
  }
  char al[ALIASES_MAX] = "";
  size_t alen = 0;
  static const char *const alias_keys[] = {"aliases", "upstream"};
  for (size_t k = 0; k < ARRAY_SIZE(alias_keys); k++) {
    json_object *arr;
    if (get_typed(rec, alias_keys[k], json_type_array, &arr) < 0)
      return rfail(c, "\"%s\" is not an array", alias_keys[k]);
    for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
      json_object *a = json_object_array_get_idx(arr, i);
      if (!json_object_is_type(a, json_type_string) ||
          !name_ok(json_object_get_string(a), (size_t)json_object_get_string_len(a)))
        return rfail(c, "an invalid id in \"%s\"", alias_keys[k]);
      add_alias(al, &alen, id, json_object_get_string(a));
    }
  }
  enum vulndb_urgency rec_sev = VULNDB_URG_UNKNOWN;
  json_object *sarr, *affected;
  if (get_typed(rec, "severity", json_type_array, &sarr) < 0)
    return rfail(c, "\"severity\" is not an array");
  if (severity_array(c, sarr, &rec_sev) < 0)
    return -EBADMSG;
  if (get_typed(rec, "affected", json_type_array, &affected) < 0)
    return rfail(c, "\"affected\" is not an array");
  size_t first = c->b->n;
  for (size_t i = 0; affected && i < json_object_array_length(affected); i++) {
    int r = add_affected(c, rec, json_object_array_get_idx(affected, i), al, rec_sev, first);
    if (r < 0)
      return r;
  }
  return 0;
}

/* --- the stream: one object, or an array of objects parsed one at a time --- */

enum ostate { S_START, S_ARRAY_FIRST, S_ELEM, S_AFTER_ELEM, S_AFTER_COMMA, S_DONE };

struct oparser {
  struct octx c;
  struct vt_builder b;
  json_tokener *tok;
  enum ostate state;
  bool single; /* the top level is one object */
  uint64_t total, elem_bytes;
  /* where we are in the element being read (to find its end) */
  bool in_string, escape;
  size_t depth;
};

static bool ws(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; }

static int syntax(struct oparser *p, uint64_t at, const char *what) {
  return img_fail(p->c.err, -EBADMSG, "malformed OSV JSON near byte %llu: %s",
                  (unsigned long long)at, what);
}

static int ofeed(struct oparser *p, const char *buf, size_t len) {
  size_t pos = 0;
  uint64_t base = p->total;
  p->total += len;
  if (p->total > VULNDB_INPUT_MAX)
    return img_fail(p->c.err, -E2BIG, "OSV data larger than %llu bytes",
                    (unsigned long long)VULNDB_INPUT_MAX);
  while (pos < len) {
    char ch = buf[pos];
    if (p->state != S_ELEM && ws(ch)) {
      pos++;
      continue;
    }
    switch (p->state) {
    case S_START:
      if (ch == '[') {
        p->state = S_ARRAY_FIRST;
        pos++;
      } else if (ch == '{') {
        p->single = true;
        p->state = S_ELEM;
      } else {
        return syntax(p, base + pos, "not a JSON object or array");
      }
      break;
    case S_ARRAY_FIRST:
    case S_AFTER_COMMA:
      if (ch == ']' && p->state == S_ARRAY_FIRST) {
        p->state = S_DONE;
        pos++;
      } else if (ch == '{') {
        p->state = S_ELEM;
      } else {
        return syntax(p, base + pos, "an array element that is not an object");
      }
      break;
    case S_ELEM: {
      /* json-c's strict mode refuses anything after a value, so find where
       * this element ends (depth back to 0 outside strings) and give the
       * tokener exactly that */
      size_t end = pos;
      bool complete = false;
      for (; end < len; end++) {
        char x = buf[end];
        if (p->in_string) {
          if (p->escape)
            p->escape = false;
          else if (x == '\\')
            p->escape = true;
          else if (x == '"')
            p->in_string = false;
        } else if (x == '"') {
          p->in_string = true;
        } else if (x == '{' || x == '[') {
          p->depth++;
        } else if ((x == '}' || x == ']') && --p->depth == 0) {
          complete = true;
          end++;
          break;
        }
      }
      p->elem_bytes += end - pos;
      if (p->elem_bytes > OSV_RECORD_MAX)
        return img_fail(p->c.err, -E2BIG, "OSV record %zu is larger than %u bytes",
                        p->c.index + 1, OSV_RECORD_MAX);
      json_object *o = json_tokener_parse_ex(p->tok, buf + pos, (int)(end - pos));
      enum json_tokener_error e = json_tokener_get_error(p->tok);
      if (!complete && e == json_tokener_continue) {
        pos = end;
        break;
      }
      if (!complete || e != json_tokener_success || !o ||
          json_tokener_get_parse_end(p->tok) != end - pos) {
        int r = syntax(p, base + pos + json_tokener_get_parse_end(p->tok),
                       e == json_tokener_success ? "unexpected character" : json_tokener_error_desc(e));
        json_object_put(o);
        return r;
      }
      pos = end;
      json_tokener_reset(p->tok);
      p->elem_bytes = 0;
      int r = add_record(&p->c, o);
      json_object_put(o);
      if (r < 0)
        return r;
      p->c.index++;
      p->state = p->single ? S_DONE : S_AFTER_ELEM;
      break;
    }
    case S_AFTER_ELEM:
      if (ch == ',')
        p->state = S_AFTER_COMMA;
      else if (ch == ']')
        p->state = S_DONE;
      else
        return syntax(p, base + pos, "expected ',' or ']' after an array element");
      pos++;
      break;
    case S_DONE:
      return syntax(p, base + pos, "data after the end of the JSON value");
    }
  }
  return 0;
}

static int oparser_init(struct oparser *p, struct img_err *err) {
  memset(p, 0, sizeof *p);
  p->c.err = err;
  p->c.b = &p->b;
  p->tok = json_tokener_new_ex(64);
  if (!p->tok)
    return img_fail(err, -ENOMEM, "out of memory");
  json_tokener_set_flags(p->tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
  return 0;
}

static void oparser_free(struct oparser *p) {
  if (p->tok)
    json_tokener_free(p->tok);
  vt_builder_free(&p->b);
}

static int oparser_finish(struct oparser *p, struct vulndb_tracker **ret_t,
                          struct vulndb_osv_stats *stats) {
  if (p->state != S_DONE)
    return img_fail(p->c.err, -EBADMSG, "truncated or incomplete OSV JSON (%llu bytes)",
                    (unsigned long long)p->total);
  if (p->b.n == 0)
    return img_fail(p->c.err, -EBADMSG,
                    "no entries for the Debian ecosystem (%zu records, %zu other ecosystems, %zu "
                    "unknown Debian releases, %zu withdrawn)",
                    p->c.st.records, p->c.st.other_ecosystems, p->c.st.unknown_releases,
                    p->c.st.withdrawn);
  int r = vt_builder_finish(&p->b, ret_t, p->c.err);
  if (r == 0 && stats)
    *stats = p->c.st;
  return r;
}

int vulndb_osv_parse_buf(const char *buf, size_t len, struct vulndb_tracker **ret_t,
                         struct vulndb_osv_stats *stats, struct img_err *err) {
  struct oparser p;
  int r = oparser_init(&p, err);
  if (r == 0)
    r = ofeed(&p, buf, len);
  if (r == 0)
    r = oparser_finish(&p, ret_t, stats);
  oparser_free(&p);
  return r;
}

static int ofeed_chunk(void *p, const char *buf, size_t len) { return ofeed(p, buf, len); }

int vulndb_osv_parse_fd(int fd, struct vulndb_tracker **ret_t, struct vulndb_osv_stats *stats,
                        struct img_err *err) {
  struct oparser p;
  int r = oparser_init(&p, err);
  if (r == 0)
    r = vt_read_stream(fd, ofeed_chunk, &p, err);
  if (r == 0)
    r = oparser_finish(&p, ret_t, stats);
  oparser_free(&p);
  return r;
}

int vulndb_detect_format(const char *head, size_t len) {
  static const char *const osv_keys[] = {
      "schema_version", "id",         "modified", "published", "withdrawn",
      "aliases",        "related",    "upstream", "summary",   "details",
      "severity",       "affected",   "references", "credits", "database_specific"};
  size_t i = 0;
  while (i < len && ws(head[i]))
    i++;
  if (i < len && head[i] == '[')
    return VULNDB_FROM_OSV;
  if (i >= len || head[i] != '{')
    return -EBADMSG;
  for (i++; i < len && ws(head[i]); i++)
    ;
  if (i >= len || head[i] != '"')
    return VULNDB_FROM_TRACKER; /* "{}" and the like: the tracker parser says why */
  size_t k = ++i;
  while (i < len && head[i] != '"' && head[i] != '\\')
    i++;
  for (size_t j = 0; i < len && head[i] == '"' && j < ARRAY_SIZE(osv_keys); j++)
    if (strlen(osv_keys[j]) == i - k && !memcmp(head + k, osv_keys[j], i - k))
      return VULNDB_FROM_OSV;
  return VULNDB_FROM_TRACKER;
}
