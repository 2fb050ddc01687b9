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

#include <json-c/json.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>

#include "base/macro.h"
#include "image/dpkg_status.h"
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

static json_object *finding_json(const struct scan_finding *f) {
  json_object *j = json_object_new_object();
  const struct vulndb_entry *e = &f->entry;
  json_object_object_add(j, "issue", json_object_new_string(e->issue));
  json_object_object_add(j, "package", json_object_new_string(f->pkg->name));
  json_object_object_add(j, "architecture", json_object_new_string(f->pkg->arch));
  json_object_object_add(j, "version", json_object_new_string(f->pkg->version));
  json_object_object_add(j, "source", json_object_new_string(f->pkg->source));
  json_object_object_add(j, "source_version", json_object_new_string(f->pkg->source_version));
  json_object_object_add(j, "fixed_version",
                         e->fixed_version ? json_object_new_string(e->fixed_version) : NULL);
  json_object_object_add(j, "status", json_object_new_string(vulndb_status_name(e->status)));
  json_object_object_add(j, "urgency", json_object_new_string(vulndb_urgency_name(e->urgency)));
  json_object_object_add(j, "severity", json_object_new_string(scan_severity_name(e->urgency)));
  json_object_object_add(j, "category", json_object_new_string(scan_category_name(f->category)));
  json_object_object_add(j, "nodsa", json_object_new_boolean(e->nodsa != VULNDB_NODSA_NONE));
  if (e->debianbug)
    json_object_object_add(j, "debianbug", json_object_new_int64(e->debianbug));
  json_object_object_add(j, "data_source", json_object_new_string(finding_source(f)));
  if (e->origin == VULNDB_FROM_OSV && e->aliases)
    json_object_object_add(j, "aliases", json_object_new_string(e->aliases));
  if (f->osv_overridden) {
    json_object *d = json_object_new_object();
    json_object_object_add(d, "id", json_object_new_string(f->osv_overridden));
    json_object_object_add(d, "fixed_version",
                           f->osv_fixed ? json_object_new_string(f->osv_fixed) : NULL);
    json_object_object_add(j, "osv_disagreed", d);
  }
  return j;
}

static json_object *report_json(const char *target, const struct dpkg_db *db,
                                const struct scan_result *r, const struct vulndb_meta *m,
                                const char *sources) {
  json_object *j = json_object_new_object(), *os = json_object_new_object(),
              *data = json_object_new_object(), *counts = json_object_new_object(),
              *fs = json_object_new_array();
  char ft[32], it[32];
  fmt_time(vulndb_meta_data_time(m), ft);
  fmt_time(m->import_time > m->osv_import_time ? m->import_time : m->osv_import_time, it);
  json_object_object_add(j, "target", json_object_new_string(target));
  json_object_object_add(os, "id", json_object_new_string(db->os.id));
  json_object_object_add(os, "version_id", json_object_new_string(db->os.version_id));
  json_object_object_add(os, "codename", json_object_new_string(db->os.codename));
  json_object_object_add(j, "os", os);
  json_object_object_add(j, "release", json_object_new_string(r->release));
  json_object_object_add(j, "release_in_data", json_object_new_boolean(r->release_in_data));
  json_object_object_add(j, "packages", json_object_new_int64((int64_t)db->n));
  json_object_object_add(data, "source", json_object_new_string(sources));
  json_object_object_add(data, "rule", json_object_new_string(
      "where the Security Tracker and OSV disagree on a Debian package, the tracker wins"));
  json_object_object_add(data, "data_time", json_object_new_string(ft));
  json_object_object_add(data, "imported", json_object_new_string(it));
  json_object_object_add(data, "age_days", json_object_new_int64(age_days(m)));
  json_object_object_add(j, "data", data);
  for (int c = 0; c < SCAN_CATEGORY_COUNT; c++)
    json_object_object_add(counts, scan_category_name(c), json_object_new_int64((int64_t)r->count[c]));
  json_object_object_add(j, "counts", counts);
  for (size_t i = 0; i < r->n; i++)
    json_object_array_add(fs, finding_json(&r->findings[i]));
  json_object_object_add(j, "findings", fs);
  json_object *ov = json_object_new_array();
  for (size_t i = 0; i < r->n_overrides; i++) {
    const struct scan_override *x = &r->overrides[i];
    json_object *o = json_object_new_object();
    json_object_object_add(o, "osv_id", json_object_new_string(x->osv.issue));
    json_object_object_add(o, "issue", json_object_new_string(x->tracker.issue));
    json_object_object_add(o, "package", json_object_new_string(x->pkg->name));
    json_object_object_add(o, "osv_category", json_object_new_string(scan_category_name(x->osv_category)));
    json_object_object_add(o, "osv_fixed_version", x->osv.fixed_version
                                                       ? json_object_new_string(x->osv.fixed_version)
                                                       : NULL);
    json_object_object_add(o, "tracker_fixed_version",
                           x->tracker.fixed_version ? json_object_new_string(x->tracker.fixed_version)
                                                    : NULL);
    json_object_object_add(o, "data_source", json_object_new_string("debian-security-tracker"));
    json_object_array_add(ov, o);
  }
  json_object_object_add(j, "overridden_by_tracker", ov);
  return j;
}

static void print_json(json_object *j) {
  puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
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

static void report_sarif(const char *target, const struct scan_result *r,
                         const struct vulndb_meta *m, const char *sources) {
  json_object *root = json_object_new_object(), *runs = json_object_new_array(),
              *run = json_object_new_object(), *tool = json_object_new_object(),
              *driver = json_object_new_object(), *rules = json_object_new_array(),
              *results = json_object_new_array();
  json_object_object_add(root, "$schema",
                         json_object_new_string("https://json.schemastore.org/sarif-2.1.0.json"));
  json_object_object_add(root, "version", json_object_new_string("2.1.0"));
  json_object_object_add(driver, "name", json_object_new_string("secret-image scan"));
  json_object_object_add(driver, "informationUri",
                         json_object_new_string("https://security-tracker.debian.org/tracker/"));
  size_t nrules = 0;
  for (size_t i = 0; i < r->n; i++) {
    const struct scan_finding *f = &r->findings[i];
    /* findings are sorted by severity then issue: an issue's rule is the last one
     * added unless another severity came between; look back for it */
    size_t ri = nrules;
    for (size_t k = 0; k < nrules; k++) {
      json_object *id;
      json_object_object_get_ex(json_object_array_get_idx(rules, k), "id", &id);
      if (!strcmp(json_object_get_string(id), f->entry.issue)) {
        ri = k;
        break;
      }
    }
    char text[512];
    if (ri == nrules) {
      json_object *rule = json_object_new_object(), *sd = json_object_new_object(),
                  *props = json_object_new_object();
      char uri[VULNDB_NAME_MAX + 64];
      json_object_object_add(rule, "id", json_object_new_string(f->entry.issue));
      snprintf(text, sizeof text, "%s in Debian source package %s", f->entry.issue,
               f->entry.source);
      json_object_object_add(sd, "text", json_object_new_string(text));
      json_object_object_add(rule, "shortDescription", sd);
      if (f->entry.origin == VULNDB_FROM_OSV)
        snprintf(uri, sizeof uri, "https://osv.dev/vulnerability/%s", f->entry.issue);
      else
        snprintf(uri, sizeof uri, "https://security-tracker.debian.org/tracker/%s", f->entry.issue);
      json_object_object_add(rule, "helpUri", json_object_new_string(uri));
      json_object_object_add(props, "security-severity",
                             json_object_new_string(security_severity(f->entry.urgency)));
      json_object_object_add(rule, "properties", props);
      json_object_array_add(rules, rule);
      nrules++;
    }
    json_object *res = json_object_new_object(), *msg = json_object_new_object(),
                *locs = json_object_new_array(), *loc = json_object_new_object(),
                *phys = json_object_new_object(), *art = json_object_new_object(),
                *props = json_object_new_object();
    json_object_object_add(res, "ruleId", json_object_new_string(f->entry.issue));
    json_object_object_add(res, "ruleIndex", json_object_new_int64((int64_t)ri));
    json_object_object_add(res, "level", json_object_new_string(sarif_level(f->entry.urgency)));
    snprintf(text, sizeof text, "%s %s (source %s %s) in %s: %s, %s%s", f->pkg->name,
             f->pkg->version, f->pkg->source, f->pkg->source_version, r->release,
             scan_category_name(f->category),
             f->entry.fixed_version ? "fixed in " : "no fixed version",
             f->entry.fixed_version ? f->entry.fixed_version : "");
    json_object_object_add(msg, "text", json_object_new_string(text));
    json_object_object_add(res, "message", msg);
    json_object_object_add(art, "uri", json_object_new_string("var/lib/dpkg/status"));
    json_object_object_add(phys, "artifactLocation", art);
    json_object_object_add(loc, "physicalLocation", phys);
    json_object_array_add(locs, loc);
    json_object_object_add(res, "locations", locs);
    json_object_object_add(props, "package", json_object_new_string(f->pkg->name));
    json_object_object_add(props, "category", json_object_new_string(scan_category_name(f->category)));
    json_object_object_add(props, "severity", json_object_new_string(scan_severity_name(f->entry.urgency)));
    json_object_object_add(props, "data_source", json_object_new_string(finding_source(f)));
    json_object_object_add(res, "properties", props);
    json_object_array_add(results, res);
  }
  json_object_object_add(driver, "rules", rules);
  json_object_object_add(tool, "driver", driver);
  json_object_object_add(run, "tool", tool);
  json_object_object_add(run, "results", results);
  json_object *rp = json_object_new_object();
  char ft[32];
  fmt_time(vulndb_meta_data_time(m), ft);
  json_object_object_add(rp, "target", json_object_new_string(target));
  json_object_object_add(rp, "data_source", json_object_new_string(sources));
  json_object_object_add(rp, "data_time", json_object_new_string(ft));
  json_object_object_add(rp, "data_age_days", json_object_new_int64(age_days(m)));
  json_object_object_add(run, "properties", rp);
  json_object_array_add(runs, run);
  json_object_object_add(root, "runs", runs);
  puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(root);
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
    json_object *rep = report_json(target, db, &res, &m, sources);
    if (scan_store_save(s, hex, rep, (int64_t)time(NULL), &err) < 0)
      fprintf(stderr, "secret-image: warning: the result was not stored: %s\n", err.msg);
    scan_store_prune(s); /* scans of images removed since: the lock keeps ours */
    json_object_put(rep);
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
  if (o->sarif)
    report_sarif(target, &res, &m, sources);
  else if (o->json) {
    json_object *rep = report_json(target, db, &res, &m, sources);
    print_json(rep);
    json_object_put(rep);
  } else
    report_table(target, db, &res, &m, sources);
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
