/*
 * secret-image's scanning verbs (issue 14):
 *   secret-image [--store DIR] db import [--format tracker|osv] FILE...
 *                                   Security Tracker JSON and/or OSV JSON -> index
 *   secret-image [--store DIR] db info            the index's sources, size and age
 *   secret-image policy scan ...                  (secret_image_policy.c)
 *   secret-image [--store DIR] scan (REF | --rootfs DIR) [--json | --sarif] [--release CODENAME]
 *                                   [--max-age DAYS] [--severity LIST] [--ignore-unfixed]
 *                                   [--exit-code N] [--ignore-file FILE]
 * The index lives in STORE/vulndb/tracker.idx. Every report names its data
 * sources (each finding its own; where tracker and OSV disagree on a Debian
 * package the tracker wins, and the report says so) and shows the data's
 * age (that of its oldest source: the tracker file's own mtime, the data
 * carries no date; OSV's newest "modified") and warns on stderr past
 * --max-age (default 7 days). A scan of a stored image keeps its whole
 * result in STORE/scans/<hex>.json for the launch policy (scan_gate.h).
 * --severity high,medium,... keeps those severities (Debian's urgency;
 * "unknown" for not yet assigned); --ignore-unfixed keeps fixable findings
 * only. Exit: --exit-code N (default 0) when findings remain after the
 * filters, else 0; --ignore-file hides findings until each entry's expiry
 * date (scan_ignore.h; expired entries are named on stderr); 1 error; 3 the root has no package database (nothing can
 * be said about it; no findings are invented).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <limits.h>
#include <sodium.h>
#include <stdarg.h>

#include "base/macro.h"
#include "image/dpkg_status.h"
#include "image/json_stream.h"
#include "image/scan_gate.h"
#include "image/scan_ignore.h"
#include "image/scan_match.h"
#include "image/store.h"
#include "image/vulndb_osv.h"
#include "image/vulndb_tracker.h"

#define INDEX_DIR "vulndb"
#define INDEX_NAME "tracker.idx"

int secret_image_scan_main(int argc, char **argv);
int secret_image_policy_scan_main(int argc, char **argv); /* secret_image_policy.c */

struct sopts {
  const char *store, *rootfs, *release, *ignore_file, *format;
  bool json, sarif, ignore_unfixed;
  long max_age_days;
  unsigned severities;
  int exit_code; /* exit status when findings remain after the filters */
};

static int sfail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sfail(const char *fmt, ...) {
  va_list ap;
  fputs("secret-image: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return 1;
}

static int open_index_dir(struct img_store *s, bool create) {
  int fd = img_store_fd(s);
  if (create && mkdirat(fd, INDEX_DIR, 0700) < 0 && errno != EEXIST)
    return -errno;
  int d = openat(fd, INDEX_DIR, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  return d < 0 ? -errno : d;
}

static void fmt_time(int64_t t, char out[32]) {
  time_t tt = (time_t)t;
  struct tm tm;
  if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
    snprintf(out, 32, "%" PRId64, t);
}

/* Which sources an index holds: "debian-security-tracker", "osv" or both. */
static const char *sources_name(const struct vulndb_tracker *t) {
  int tr = vulndb_tracker_has_origin(t, VULNDB_FROM_TRACKER),
      osv = vulndb_tracker_has_origin(t, VULNDB_FROM_OSV);
  return tr && osv ? "debian-security-tracker+osv" : osv ? "osv" : "debian-security-tracker";
}

/*
 * db import FILE...: each file is Security Tracker JSON or OSV JSON (detected
 * from its first bytes, or --format). The sources named by the files replace
 * those sources in the index; the other source's records are kept. Any file
 * refused: nothing changes.
 */
static int cmd_db_import(const struct sopts *o, char **files, int nfiles) {
  _cleanup_(img_store_freep) struct img_store *s = NULL;
  struct img_err err = {0};
  if (img_store_open(img_store_path(o->store), true, &s, &err) < 0)
    return sfail("%s", err.msg);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  struct vulndb_tracker *parts[nfiles + 1];
  unsigned masks[nfiles + 1];
  int nparts = 0, status = 1, ntracker = 0;
  _cleanup_close_ int dfd = -1;
  struct vulndb_meta m = {0};
  int64_t now = (int64_t)time(NULL);
  for (int i = 0; i < nfiles; i++) {
    const char *file = files[i];
    _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0) {
      sfail("%s: %s", file, strerror(errno));
      goto out;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
      sfail("%s: not a regular file", file);
      goto out;
    }
    int fmt;
    if (o->format) {
      fmt = !strcmp(o->format, "osv") ? VULNDB_FROM_OSV : VULNDB_FROM_TRACKER;
    } else {
      char head[4096];
      ssize_t n = pread(fd, head, sizeof head, 0);
      fmt = n < 0 ? -EBADMSG : vulndb_detect_format(head, (size_t)n);
      if (fmt < 0) {
        sfail("%s refused, the previous index stays: neither Security Tracker nor OSV JSON "
              "(not a JSON object or array)", file);
        goto out;
      }
    }
    int r;
    struct vulndb_osv_stats ost = {0};
    if (fmt == VULNDB_FROM_OSV) {
      r = vulndb_osv_parse_fd(fd, &parts[nparts], &ost, &err);
    } else {
      if (++ntracker > 1) {
        sfail("%s: one Security Tracker file per import", file);
        goto out;
      }
      r = vulndb_tracker_parse_fd(fd, &parts[nparts], &err);
    }
    if (r < 0) {
      sfail("%s refused, the previous index stays: %s", file, err.msg);
      goto out;
    }
    masks[nparts] = 1u << fmt;
    size_t n = vulndb_tracker_count(parts[nparts++]);
    if (fmt == VULNDB_FROM_OSV) {
      int64_t dt = ost.newest_modified ? ost.newest_modified : (int64_t)st.st_mtime;
      if (!m.osv_import_time || dt > m.osv_file_mtime)
        m.osv_file_mtime = dt;
      m.osv_import_time = now;
      m.osv_file_size += (uint64_t)st.st_size;
      printf("imported %zu OSV records from %s (%zu records read, %zu withdrawn, %zu entries of "
             "other ecosystems, %zu of unknown Debian releases, %zu without an ECOSYSTEM range)\n",
             n, file, ost.records, ost.withdrawn, ost.other_ecosystems, ost.unknown_releases,
             ost.no_ranges);
    } else {
      m.import_time = now;
      m.file_mtime = (int64_t)st.st_mtime;
      m.file_size = (uint64_t)st.st_size;
      char ft[32];
      fmt_time(m.file_mtime, ft);
      printf("imported %zu records from %s (data time %s)\n", n, file, ft);
    }
  }
  unsigned replaced = 0;
  for (int i = 0; i < nparts; i++)
    replaced |= masks[i];
  dfd = open_index_dir(s, true);
  if (dfd < 0) {
    sfail("%s/" INDEX_DIR ": %s", img_store_dir(s), strerror(-dfd));
    goto out;
  }
  /* keep the other source's records and meta from the current index */
  struct vulndb_tracker *old = NULL;
  struct img_err oerr = {0};
  int r = vulndb_tracker_load_at(dfd, INDEX_NAME, &old, &oerr);
  if (r == 0) {
    struct vulndb_meta om;
    vulndb_tracker_get_meta(old, &om);
    if (!(replaced & (1u << VULNDB_FROM_TRACKER)) && vulndb_tracker_has_origin(old, VULNDB_FROM_TRACKER)) {
      m.import_time = om.import_time;
      m.file_mtime = om.file_mtime;
      m.file_size = om.file_size;
    }
    if (!(replaced & (1u << VULNDB_FROM_OSV)) && vulndb_tracker_has_origin(old, VULNDB_FROM_OSV)) {
      m.osv_import_time = om.osv_import_time;
      m.osv_file_mtime = om.osv_file_mtime;
      m.osv_file_size = om.osv_file_size;
    }
    unsigned keep = ((1u << VULNDB_ORIGIN_COUNT) - 1) & ~replaced;
    bool any = false;
    for (int o2 = 0; o2 < VULNDB_ORIGIN_COUNT; o2++)
      any |= (keep & (1u << o2)) && vulndb_tracker_has_origin(old, (enum vulndb_origin)o2);
    if (any) {
      masks[nparts] = keep;
      parts[nparts++] = old;
    } else {
      vulndb_tracker_free(old); /* nothing of it is kept */
    }
  } else if (r != -ENOENT) {
    fprintf(stderr, "secret-image: warning: the current index is unreadable (%s): it is "
                    "replaced by this import alone\n", oerr.msg);
  }
  struct vulndb_tracker *t = NULL;
  if (nparts == 1) { /* one file, nothing kept: it is the index (no copy: half the memory) */
    t = parts[0];
    nparts = 0;
  } else if ((r = vulndb_merge(parts, masks, (size_t)nparts, &t, &err)) < 0) {
    sfail("refused, the previous index stays: %s", err.msg);
    goto out;
  }
  vulndb_tracker_set_meta(t, &m);
  r = vulndb_tracker_write_at(t, dfd, INDEX_NAME, &err);
  size_t total = vulndb_tracker_count(t);
  const char *srcs = sources_name(t);
  vulndb_tracker_free(t);
  if (r < 0) {
    sfail("writing the index: %s", err.msg);
    goto out;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("index: %zu records (%s), %.2f s\n", total, srcs,
         (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  status = 0;
out:
  for (int i = 0; i < nparts; i++)
    vulndb_tracker_free(parts[i]);
  return status;
}

static int load_index(struct img_store *s, struct vulndb_tracker **ret) {
  struct img_err err = {0};
  _cleanup_close_ int dfd = open_index_dir(s, false);
  int r = dfd < 0 ? dfd : vulndb_tracker_load_at(dfd, INDEX_NAME, ret, &err);
  if (r == -ENOENT)
    return sfail("no vulnerability data in %s: run secret-image db import FILE "
                 "(https://security-tracker.debian.org/tracker/data/json, fetched anywhere)",
                 img_store_dir(s)), -1;
  if (r < 0)
    return sfail("vulnerability index: %s", err.msg[0] ? err.msg : strerror(-r)), -1;
  return 0;
}

/* The data's age: that of its oldest source. */
static long age_days(const struct vulndb_meta *m) {
  int64_t now = (int64_t)time(NULL), t = vulndb_meta_data_time(m);
  return now > t ? (long)((now - t) / 86400) : 0;
}

static int cmd_db_info(const struct sopts *o) {
  _cleanup_(img_store_freep) struct img_store *s = NULL;
  struct img_err err = {0};
  if (img_store_open(img_store_path(o->store), false, &s, &err) < 0)
    return sfail("%s", err.msg);
  struct vulndb_tracker *t = NULL;
  if (load_index(s, &t) < 0)
    return 1;
  struct vulndb_meta m;
  vulndb_tracker_get_meta(t, &m);
  char ft[32], it[32];
  fmt_time(vulndb_meta_data_time(&m), ft);
  printf("source %s\nrecords %zu\ndata_time %s\nage_days %ld\n", sources_name(t),
         vulndb_tracker_count(t), ft, age_days(&m));
  if (m.import_time) {
    fmt_time(m.file_mtime, ft);
    fmt_time(m.import_time, it);
    printf("tracker_data_time %s\ntracker_imported %s\nfile_size %" PRIu64 "\n", ft, it,
           m.file_size);
  }
  if (m.osv_import_time) {
    fmt_time(m.osv_file_mtime, ft);
    fmt_time(m.osv_import_time, it);
    printf("osv_data_time %s\nosv_imported %s\nosv_size %" PRIu64 "\n", ft, it, m.osv_file_size);
  }
  vulndb_tracker_free(t);
  return 0;
}

/* The source of a verdict, saying so when the tracker overruled OSV. */
static const char *finding_source(const struct scan_finding *f) {
  static char buf[VULNDB_NAME_MAX + 96];
  if (!f->osv_overridden)
    return vulndb_origin_name(f->entry.origin);
  snprintf(buf, sizeof buf, "debian-security-tracker (wins over osv %s)", f->osv_overridden);
  return buf;
}

static void finding_json(struct jstream *w, const struct scan_finding *f) {
  const struct vulndb_entry *e = &f->entry;
  jstream_begin_object(w);
  jstream_kv_string(w, "issue", e->issue);
  jstream_kv_string(w, "package", f->pkg->name);
  jstream_kv_string(w, "architecture", f->pkg->arch);
  jstream_kv_string(w, "version", f->pkg->version);
  jstream_kv_string(w, "source", f->pkg->source);
  jstream_kv_string(w, "source_version", f->pkg->source_version);
  jstream_kv_string(w, "fixed_version", e->fixed_version);
  jstream_kv_string(w, "status", vulndb_status_name(e->status));
  jstream_kv_string(w, "urgency", vulndb_urgency_name(e->urgency));
  jstream_kv_string(w, "severity", scan_severity_name(e->urgency));
  jstream_kv_string(w, "category", scan_category_name(f->category));
  jstream_kv_bool(w, "nodsa", e->nodsa != VULNDB_NODSA_NONE);
  if (e->debianbug)
    jstream_kv_int(w, "debianbug", e->debianbug);
  jstream_kv_string(w, "data_source", finding_source(f));
  if (e->origin == VULNDB_FROM_OSV && e->aliases)
    jstream_kv_string(w, "aliases", e->aliases);
  if (f->osv_overridden) {
    jstream_key_object(w, "osv_disagreed");
    jstream_kv_string(w, "id", f->osv_overridden);
    jstream_kv_string(w, "fixed_version", f->osv_fixed);
    jstream_end_object(w);
  }
  jstream_end_object(w);
}

/* What the JSON report is made of (also stored for the launch policy). */
struct report_ctx {
  const char *target, *sources;
  const struct dpkg_db *db;
  const struct scan_result *r;
  const struct vulndb_meta *m;
};

/* The JSON report's members, into an open object: written as it goes (a
 * json-c document of ten thousand findings costs more than the scan). */
static void report_json_members(struct jstream *w, const void *ctx) {
  const struct report_ctx *c = ctx;
  const struct scan_result *r = c->r;
  char ft[32], it[32];
  fmt_time(vulndb_meta_data_time(c->m), ft);
  fmt_time(c->m->import_time > c->m->osv_import_time ? c->m->import_time : c->m->osv_import_time,
           it);
  jstream_kv_string(w, "target", c->target);
  jstream_key_object(w, "os");
  jstream_kv_string(w, "id", c->db->os.id);
  jstream_kv_string(w, "version_id", c->db->os.version_id);
  jstream_kv_string(w, "codename", c->db->os.codename);
  jstream_end_object(w);
  jstream_kv_string(w, "release", r->release);
  jstream_kv_bool(w, "release_in_data", r->release_in_data);
  jstream_kv_int(w, "packages", (int64_t)c->db->n);
  jstream_key_object(w, "data");
  jstream_kv_string(w, "source", c->sources);
  jstream_kv_string(w, "rule",
                    "where the Security Tracker and OSV disagree on a Debian package, the tracker wins");
  jstream_kv_string(w, "data_time", ft);
  jstream_kv_string(w, "imported", it);
  jstream_kv_int(w, "age_days", age_days(c->m));
  jstream_end_object(w);
  jstream_key_object(w, "counts");
  for (int k = 0; k < SCAN_CATEGORY_COUNT; k++)
    jstream_kv_int(w, scan_category_name(k), (int64_t)r->count[k]);
  jstream_end_object(w);
  jstream_key_array(w, "findings");
  for (size_t i = 0; i < r->n; i++)
    finding_json(w, &r->findings[i]);
  jstream_end_array(w);
  jstream_key_array(w, "overridden_by_tracker");
  for (size_t i = 0; i < r->n_overrides; i++) {
    const struct scan_override *x = &r->overrides[i];
    jstream_begin_object(w);
    jstream_kv_string(w, "osv_id", x->osv.issue);
    jstream_kv_string(w, "issue", x->tracker.issue);
    jstream_kv_string(w, "package", x->pkg->name);
    jstream_kv_string(w, "osv_category", scan_category_name(x->osv_category));
    jstream_kv_string(w, "osv_fixed_version", x->osv.fixed_version);
    jstream_kv_string(w, "tracker_fixed_version", x->tracker.fixed_version);
    jstream_kv_string(w, "data_source", "debian-security-tracker");
    jstream_end_object(w);
  }
  jstream_end_array(w);
}

static void report_json(const struct report_ctx *c) {
  struct jstream w;
  jstream_init(&w, stdout, JSTREAM_PRETTY);
  jstream_begin_object(&w);
  report_json_members(&w, c);
  jstream_end_object(&w);
  putchar('\n');
}

/* SARIF 2.1.0 (OASIS): one rule per issue, one result per (issue, package). */
static const char *sarif_level(enum vulndb_urgency u) {
  int r = scan_severity_rank(u);
  return r >= 4 ? "error" : r == 3 ? "warning" : "note";
}

static const char *security_severity(enum vulndb_urgency u) {
  switch (scan_severity_rank(u)) {
  case 4: return "8.0";
  case 3: return "5.5";
  case 2: return "3.0";
  default: return "0.0";
  }
}

/*
 * Each finding's rule: the index, in order of first appearance, of its issue
 * among the distinct issues (an issue recurs for other packages and, under
 * another severity, after other issues). ret_rule[i] is finding i's rule;
 * ret_first[k] the finding that introduced rule k. Both the caller's (free).
 * Returns the rule count, or -ENOMEM.
 */
static ssize_t sarif_rules(const struct scan_result *r, size_t **ret_rule, size_t **ret_first) {
  size_t cap = 16;
  while (cap < 2 * r->n)
    cap *= 2;
  _cleanup_free_ size_t *slot = calloc(cap, sizeof *slot); /* rule + 1; 0 = empty */
  _cleanup_free_ size_t *rule = malloc((r->n ? r->n : 1) * sizeof *rule);
  _cleanup_free_ size_t *first = malloc((r->n ? r->n : 1) * sizeof *first);
  if (!slot || !rule || !first)
    return -ENOMEM;
  size_t nrules = 0;
  for (size_t i = 0; i < r->n; i++) {
    const char *issue = r->findings[i].entry.issue;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)issue; *p; p++)
      h = (h ^ *p) * 1099511628211ull;
    size_t j = (size_t)h & (cap - 1);
    while (slot[j] && strcmp(r->findings[first[slot[j] - 1]].entry.issue, issue))
      j = (j + 1) & (cap - 1);
    if (!slot[j]) {
      first[nrules] = i;
      slot[j] = ++nrules;
    }
    rule[i] = slot[j] - 1;
  }
  *ret_rule = TAKE_PTR(rule);
  *ret_first = TAKE_PTR(first);
  return (ssize_t)nrules;
}

static int report_sarif(const char *target, const struct scan_result *r,
                        const struct vulndb_meta *m, const char *sources) {
  _cleanup_free_ size_t *rule = NULL, *first = NULL;
  ssize_t nrules = sarif_rules(r, &rule, &first);
  if (nrules < 0)
    return sfail("SARIF report: %s", strerror((int)-nrules)), -1;
  struct jstream w0, *w = &w0;
  jstream_init(w, stdout, JSTREAM_PRETTY);
  jstream_begin_object(w);
  jstream_kv_string(w, "$schema", "https://json.schemastore.org/sarif-2.1.0.json");
  jstream_kv_string(w, "version", "2.1.0");
  jstream_key_array(w, "runs");
  jstream_begin_object(w); /* the run */
  jstream_key_object(w, "tool");
  jstream_key_object(w, "driver");
  jstream_kv_string(w, "name", "secret-image scan");
  jstream_kv_string(w, "informationUri", "https://security-tracker.debian.org/tracker/");
  jstream_key_array(w, "rules");
  char text[512];
  for (ssize_t k = 0; k < nrules; k++) {
    const struct vulndb_entry *e = &r->findings[first[k]].entry;
    char uri[VULNDB_NAME_MAX + 64];
    jstream_begin_object(w);
    jstream_kv_string(w, "id", e->issue);
    jstream_key_object(w, "shortDescription");
    snprintf(text, sizeof text, "%s in Debian source package %s", e->issue, e->source);
    jstream_kv_string(w, "text", text);
    jstream_end_object(w);
    if (e->origin == VULNDB_FROM_OSV)
      snprintf(uri, sizeof uri, "https://osv.dev/vulnerability/%s", e->issue);
    else
      snprintf(uri, sizeof uri, "https://security-tracker.debian.org/tracker/%s", e->issue);
    jstream_kv_string(w, "helpUri", uri);
    jstream_key_object(w, "properties");
    jstream_kv_string(w, "security-severity", security_severity(e->urgency));
    jstream_end_object(w);
    jstream_end_object(w);
  }
  jstream_end_array(w);
  jstream_end_object(w); /* driver */
  jstream_end_object(w); /* tool */
  jstream_key_array(w, "results");
  for (size_t i = 0; i < r->n; i++) {
    const struct scan_finding *f = &r->findings[i];
    jstream_begin_object(w);
    jstream_kv_string(w, "ruleId", f->entry.issue);
    jstream_kv_int(w, "ruleIndex", (int64_t)rule[i]);
    jstream_kv_string(w, "level", sarif_level(f->entry.urgency));
    snprintf(text, sizeof text, "%s %s (source %s %s) in %s: %s, %s%s", f->pkg->name,
             f->pkg->version, f->pkg->source, f->pkg->source_version, r->release,
             scan_category_name(f->category),
             f->entry.fixed_version ? "fixed in " : "no fixed version",
             f->entry.fixed_version ? f->entry.fixed_version : "");
    jstream_key_object(w, "message");
    jstream_kv_string(w, "text", text);
    jstream_end_object(w);
    jstream_key_array(w, "locations");
    jstream_begin_object(w);
    jstream_key_object(w, "physicalLocation");
    jstream_key_object(w, "artifactLocation");
    jstream_kv_string(w, "uri", "var/lib/dpkg/status");
    jstream_end_object(w);
    jstream_end_object(w);
    jstream_end_object(w);
    jstream_end_array(w);
    jstream_key_object(w, "properties");
    jstream_kv_string(w, "package", f->pkg->name);
    jstream_kv_string(w, "category", scan_category_name(f->category));
    jstream_kv_string(w, "severity", scan_severity_name(f->entry.urgency));
    jstream_kv_string(w, "data_source", finding_source(f));
    jstream_end_object(w);
    jstream_end_object(w);
  }
  jstream_end_array(w);
  char ft[32];
  fmt_time(vulndb_meta_data_time(m), ft);
  jstream_key_object(w, "properties");
  jstream_kv_string(w, "target", target);
  jstream_kv_string(w, "data_source", sources);
  jstream_kv_string(w, "data_time", ft);
  jstream_kv_int(w, "data_age_days", age_days(m));
  jstream_end_object(w);
  jstream_end_object(w); /* the run */
  jstream_end_array(w);
  jstream_end_object(w);
  putchar('\n');
  return 0;
}

static void report_table(const char *target, const struct dpkg_db *db, const struct scan_result *r,
                         const struct vulndb_meta *m, const char *sources) {
  char ft[32];
  fmt_time(vulndb_meta_data_time(m), ft);
  printf("%s: %s %s (%s), %zu packages\n", target, db->os.id, db->os.version_id, r->release, db->n);
  printf("data: %s of %s (%ld days old)\n", sources, ft, age_days(m));
  if (!r->release_in_data)
    printf("warning: the data has no entry for release %s (unknown or end-of-life)\n", r->release);
  static const char *const titles[SCAN_CATEGORY_COUNT] = {
      "Fixable now", "No fix yet", "No DSA or minor (Debian will not issue an advisory)",
      "End of life (out of security support)"};
  for (int c = 0; c < SCAN_CATEGORY_COUNT; c++) {
    if (!r->count[c])
      continue;
    printf("\n%s: %zu\n%-12s %-20s %-28s %-28s %-24s %s\n", titles[c], r->count[c], "SEVERITY",
           "ISSUE", "PACKAGE", "INSTALLED (SOURCE)", "FIXED", "DATA");
    for (size_t i = 0; i < r->n; i++) {
      const struct scan_finding *f = &r->findings[i];
      if ((int)f->category != c)
        continue;
      char inst[2 * DPKG_NAME_MAX + 300];
      snprintf(inst, sizeof inst, "%s (%s %s)", f->pkg->version, f->pkg->source,
               f->pkg->source_version);
      printf("%-12s %-20s %-28s %-28s %-24s %s\n", vulndb_urgency_name(f->entry.urgency),
             f->entry.issue, f->pkg->name, inst, f->entry.fixed_version ? f->entry.fixed_version : "-",
             f->osv_overridden ? "tracker (wins over osv)"
                               : f->entry.origin == VULNDB_FROM_OSV ? "osv" : "tracker");
    }
  }
  for (size_t i = 0; i < r->n_overrides; i++)
    printf("%s %s: osv %s says %s%s; the Security Tracker says not affected, and it wins\n",
           r->overrides[i].tracker.issue, r->overrides[i].pkg->name, r->overrides[i].osv.issue,
           scan_category_name(r->overrides[i].osv_category),
           r->overrides[i].osv.fixed_version ? " (fixed version differs)" : "");
  printf("\nsummary: %zu fixable, %zu no fix yet, %zu no-DSA or minor, %zu end-of-life "
         "(verdicts from %s; the tracker wins where it and OSV disagree)\n",
         r->count[SCAN_FIXABLE], r->count[SCAN_NO_FIX], r->count[SCAN_MINOR], r->count[SCAN_EOL],
         sources);
}

static int cmd_scan(const struct sopts *o, const char *ref) {
  _cleanup_(img_store_freep) struct img_store *s = NULL;
  struct img_err err = {0};
  if (img_store_open(img_store_path(o->store), false, &s, &err) < 0)
    return sfail("%s", err.msg);
  _cleanup_close_ int lock = -1;
  _cleanup_close_ int rootfd = -1;
  char target[PATH_MAX], hex[IMG_HEX_LEN + 1] = "";
  if (o->rootfs) {
    rootfd = open(o->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
      return sfail("%s: %s", o->rootfs, strerror(errno));
    snprintf(target, sizeof target, "%s", o->rootfs);
  } else {
    char p[IMG_HEX_LEN + 32];
    if ((lock = img_store_lock(s, LOCK_SH)) < 0) /* no gc under our feet */
      return sfail("store lock: %s", strerror(-lock));
    if (img_store_resolve(s, ref, hex, &err) < 0)
      return sfail("%s", err.msg);
    snprintf(p, sizeof p, "images/%s/rootfs", hex);
    rootfd = openat(img_store_fd(s), p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (rootfd < 0)
      return sfail("%s: %s", ref, strerror(errno));
    snprintf(target, sizeof target, "%s (sha256:%s)", ref, hex);
  }
  struct vulndb_tracker *t = NULL;
  if (load_index(s, &t) < 0)
    return 1;
  struct dpkg_db *db = NULL;
  int r = dpkg_db_load_at(rootfd, &db, &err);
  if (r == -ENOPKG) {
    vulndb_tracker_free(t);
    fprintf(stderr, "secret-image: %s: %s; its packages cannot be checked\n", target, err.msg);
    return 3;
  }
  if (r < 0) {
    vulndb_tracker_free(t);
    return sfail("%s: %s", target, err.msg);
  }
  struct scan_result res;
  r = scan_match(db, t, o->release, &res, &err);
  if (r < 0) {
    dpkg_db_free(db);
    vulndb_tracker_free(t);
    return sfail("%s: %s (--release CODENAME overrides)", target, err.msg);
  }
  struct vulndb_meta m;
  vulndb_tracker_get_meta(t, &m);
  const char *sources = sources_name(t);
  if (hex[0]) { /* a stored image: keep the whole result for the launch policy */
    struct report_ctx c = {target, sources, db, &res, &m};
    if (scan_store_save(s, hex, report_json_members, &c, (int64_t)time(NULL), &err) < 0)
      fprintf(stderr, "secret-image: warning: the result was not stored: %s\n", err.msg);
    scan_store_prune(s); /* scans of images removed since: the lock keeps ours */
  }
  scan_result_filter(&res, o->severities, o->ignore_unfixed);
  if (o->ignore_file) {
    struct scan_ignore ig = {0};
    if (scan_ignore_load(o->ignore_file, &ig, &err) < 0) {
      scan_result_clear(&res);
      dpkg_db_free(db);
      vulndb_tracker_free(t);
      return sfail("--ignore-file: %s", err.msg);
    }
    size_t hidden = scan_ignore_apply(&ig, &res, (int64_t)time(NULL));
    for (size_t k = 0; k < ig.n; k++)
      if (ig.entries[k].expired)
        fprintf(stderr, "secret-image: warning: %s line %zu (%s%s%s) expired on %s and hides "
                        "nothing\n", o->ignore_file, ig.entries[k].line, ig.entries[k].issue,
                ig.entries[k].package[0] ? "/" : "", ig.entries[k].package, ig.entries[k].date);
    if (hidden)
      fprintf(stderr, "secret-image: %zu finding(s) hidden by %s\n", hidden, o->ignore_file);
    scan_ignore_clear(&ig);
  }
  int status = res.n ? o->exit_code : 0;
  if (age_days(&m) > o->max_age_days)
    fprintf(stderr, "secret-image: warning: the vulnerability data is %ld days old (limit %ld): "
                    "import a fresh copy\n", age_days(&m), o->max_age_days);
  struct report_ctx c = {target, sources, db, &res, &m};
  if (o->sarif) {
    if (report_sarif(target, &res, &m, sources) < 0)
      status = 1;
  } else if (o->json)
    report_json(&c);
  else
    report_table(target, db, &res, &m, sources);
  if (fflush(stdout) == EOF || ferror(stdout))
    status = sfail("writing the report: %s", strerror(errno));
  scan_result_clear(&res);
  dpkg_db_free(db);
  vulndb_tracker_free(t);
  return status;
}

/* Returns the exit status, or -1 when argv's verb is not one of ours. */
int secret_image_scan_main(int argc, char **argv) {
  int v = 1;
  while (v < argc && argv[v][0] == '-') /* global options before the verb */
    v += ((!strcmp(argv[v], "--store") || !strcmp(argv[v], "--policy")) && v + 1 < argc) ? 2 : 1;
  if (v + 1 < argc && !strcmp(argv[v], "policy") && !strcmp(argv[v + 1], "scan"))
    return secret_image_policy_scan_main(argc, argv);
  if (v >= argc || (strcmp(argv[v], "scan") && strcmp(argv[v], "db")))
    return -1;
  struct sopts o = {.max_age_days = 7, .severities = SCAN_SEV_ALL};
  enum {
    O_STORE = 256, O_ROOTFS, O_JSON, O_SARIF, O_RELEASE, O_MAXAGE, O_SEV, O_UNFIXED, O_EXIT,
    O_IGNORE, O_FORMAT
  };
  static const struct option lo[] = {{"store", required_argument, NULL, O_STORE},
                                     {"rootfs", required_argument, NULL, O_ROOTFS},
                                     {"json", no_argument, NULL, O_JSON},
                                     {"sarif", no_argument, NULL, O_SARIF},
                                     {"release", required_argument, NULL, O_RELEASE},
                                     {"max-age", required_argument, NULL, O_MAXAGE},
                                     {"severity", required_argument, NULL, O_SEV},
                                     {"ignore-unfixed", no_argument, NULL, O_UNFIXED},
                                     {"exit-code", required_argument, NULL, O_EXIT},
                                     {"ignore-file", required_argument, NULL, O_IGNORE},
                                     {"format", required_argument, NULL, O_FORMAT},
                                     {NULL, 0, NULL, 0}};
  int c;
  char *end;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case O_STORE: o.store = optarg; break;
    case O_ROOTFS: o.rootfs = optarg; break;
    case O_JSON: o.json = true; break;
    case O_SARIF: o.sarif = true; break;
    case O_RELEASE: o.release = optarg; break;
    case O_MAXAGE:
      errno = 0;
      o.max_age_days = strtol(optarg, &end, 10);
      if (errno || *end || end == optarg || o.max_age_days < 0)
        return sfail("--max-age: expected a number of days, got \"%s\"", optarg);
      break;
    case O_SEV: {
      struct img_err err = {0};
      if (scan_severity_parse(optarg, &o.severities, &err) < 0)
        return sfail("--severity: %s", err.msg);
      break;
    }
    case O_UNFIXED: o.ignore_unfixed = true; break;
    case O_IGNORE: o.ignore_file = optarg; break;
    case O_FORMAT:
      if (strcmp(optarg, "tracker") && strcmp(optarg, "osv"))
        return sfail("--format: tracker or osv, got \"%s\"", optarg);
      o.format = optarg;
      break;
    case O_EXIT: {
      errno = 0;
      long v = strtol(optarg, &end, 10);
      if (errno || *end || end == optarg || v < 0 || v > 255 || v == 3)
        return sfail("--exit-code: expected 0..255 other than 3 (no database), got \"%s\"", optarg);
      o.exit_code = (int)v;
      break;
    }
    default: return 2;
    }
  }
  int n = argc - optind;
  char **a = argv + optind;
  if (sodium_init() < 0)
    return sfail("libsodium failed to initialise");
  if (!strcmp(a[0], "db") && n >= 3 && !strcmp(a[1], "import"))
    return cmd_db_import(&o, a + 2, n - 2);
  if (!strcmp(a[0], "db") && n == 2 && !strcmp(a[1], "info"))
    return cmd_db_info(&o);
  if (!strcmp(a[0], "scan") && ((n == 1 && o.rootfs) || (n == 2 && !o.rootfs)))
    return cmd_scan(&o, n == 2 ? a[1] : NULL);
  fprintf(stderr, "usage: secret-image [--store DIR] db import [--format tracker|osv] FILE... | "
                  "db info\n"
                  "       secret-image policy scan [--policy FILE] [--refuse-fixable SEVERITY|none] "
                  "[--max-age DURATION|none]\n"
                  "       secret-image [--store DIR] scan (REF | --rootfs DIR) [--json | --sarif] "
                  "[--release CODENAME] [--max-age DAYS]\n"
                  "            [--severity high,medium,low,unimportant,unknown] [--ignore-unfixed] "
                  "[--exit-code N]\n"
                  "            [--ignore-file FILE]   (lines: ISSUE[/PACKAGE] YYYY-MM-DD REASON)\n");
  return 2;
}
