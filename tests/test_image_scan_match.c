/* image/scan_match: each case of issue 14's list lands in the right category,
 * or in none (fixed at or below the installed version, not affected). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "image/scan_match.h"
#include "image/vulndb_osv.h"

#define INST "Status: install ok installed\n"
static const char status[] =
    "Package: newer\n" INST "Version: 1.0-1\n\n"            /* fixed in 1.0-2: fixable */
    "Package: exact\n" INST "Version: 2.0-3+deb12u1\n\n"    /* fixed at exactly this */
    "Package: lower\n" INST "Version: 3.0-5\n\n"            /* fixed in 3.0-4 */
    "Package: openpkg\n" INST "Version: 1.0-1\n\n"          /* open, no fix */
    "Package: undet\n" INST "Version: 1.0-1\n\n"            /* undetermined */
    "Package: nodsa\n" INST "Version: 1.0-1\n\n"            /* open, no-DSA */
    "Package: unimp\n" INST "Version: 1.0-1\n\n"            /* open, unimportant */
    "Package: notaff\n" INST "Version: 1.0-1\n\n"           /* fixed_version 0 */
    "Package: epoch\n" INST "Version: 1:2.0~rc1-1\n\n"      /* fixed 1:2.0-1: fixable */
    "Package: epoch2\n" INST "Version: 2:1.0-1\n\n"         /* fixed 1:9.9-1: no */
    "Package: tilde\n" INST "Version: 3.0.11-1~deb12u2\n\n" /* fixed 3.0.11-1~deb12u1: no */
    "Package: tilde2\n" INST "Version: 3.0.11-1~deb12u1\n\n" /* fixed 3.0.11-1~deb12u2: fix */
    "Package: gcc\n" INST "Version: 4:12.2.0-3\nSource: gcc-defaults (1.203)\n\n" /* by source */
    "Package: bash\n" INST "Version: 5.2.15-2+b2\nSource: bash (5.2.15-2)\n\n"   /* binNMU */
    "Package: eolpkg\n" INST "Version: 1.0-1\n\n"           /* end-of-life */
    "Package: removed\nStatus: deinstall ok config-files\nVersion: 0.1-1\n\n"
    "Package: clean\n" INST "Version: 1.0-1\n";

#define R(st) "{\"releases\": {\"bookworm\": " st "}}"
static const char data[] =
    "{"
    "\"newer\": {\"CVE-2024-0001\": " R("{\"status\": \"resolved\", \"fixed_version\": \"1.0-2\", \"urgency\": \"high\"}") "},"
    "\"exact\": {\"CVE-2024-0002\": " R("{\"status\": \"resolved\", \"fixed_version\": \"2.0-3+deb12u1\", \"urgency\": \"high\"}") "},"
    "\"lower\": {\"CVE-2024-0003\": " R("{\"status\": \"resolved\", \"fixed_version\": \"3.0-4\", \"urgency\": \"high\"}") "},"
    "\"openpkg\": {\"CVE-2024-0004\": " R("{\"status\": \"open\", \"urgency\": \"medium\"}") "},"
    "\"undet\": {\"CVE-2024-0005\": " R("{\"status\": \"undetermined\"}") "},"
    "\"nodsa\": {\"CVE-2024-0006\": " R("{\"status\": \"open\", \"urgency\": \"low\", \"nodsa\": \"Minor issue\", \"nodsa_reason\": \"\"}") "},"
    "\"unimp\": {\"CVE-2024-0007\": " R("{\"status\": \"open\", \"urgency\": \"unimportant\"}") "},"
    "\"notaff\": {\"CVE-2024-0008\": " R("{\"status\": \"resolved\", \"fixed_version\": \"0\", \"urgency\": \"high\"}") "},"
    "\"epoch\": {\"CVE-2024-0009\": " R("{\"status\": \"resolved\", \"fixed_version\": \"1:2.0-1\", \"urgency\": \"medium\"}") "},"
    "\"epoch2\": {\"CVE-2024-0010\": " R("{\"status\": \"resolved\", \"fixed_version\": \"1:9.9-1\"}") "},"
    "\"tilde\": {\"CVE-2024-0011\": " R("{\"status\": \"resolved\", \"fixed_version\": \"3.0.11-1~deb12u1\"}") "},"
    "\"tilde2\": {\"CVE-2024-0012\": " R("{\"status\": \"resolved\", \"fixed_version\": \"3.0.11-1~deb12u2\", \"urgency\": \"low\"}") "},"
    "\"gcc-defaults\": {\"CVE-2024-0013\": " R("{\"status\": \"resolved\", \"fixed_version\": \"1.204\", \"urgency\": \"medium\"}") "},"
    "\"gcc\": {\"CVE-2024-0099\": " R("{\"status\": \"open\", \"urgency\": \"high\"}") "},"
    "\"bash\": {\"CVE-2024-0014\": " R("{\"status\": \"resolved\", \"fixed_version\": \"5.2.15-3\", \"urgency\": \"low\"}") ","
    "           \"CVE-2024-0015\": " R("{\"status\": \"resolved\", \"fixed_version\": \"5.2.15-2\", \"urgency\": \"low\"}") "},"
    "\"eolpkg\": {\"CVE-2024-0016\": " R("{\"status\": \"open\", \"urgency\": \"end-of-life\"}") "},"
    "\"removed\": {\"CVE-2024-0017\": " R("{\"status\": \"open\", \"urgency\": \"high\"}") "},"
    "\"clean\": {\"CVE-2024-0018\": {\"releases\": {\"bullseye\": {\"status\": \"open\"}}}}"
    "}";

struct fixture {
  struct dpkg_db db;
  struct vulndb_tracker *t;
};

static int setup(void **state) {
  static struct fixture f;
  memset(&f, 0, sizeof f);
  if (dpkg_status_parse(&f.db, status, strlen(status), 0, NULL) < 0)
    return -1;
  dpkg_db_sort(&f.db);
  f.db.has_os = 1;
  strcpy(f.db.os.id, "debian");
  strcpy(f.db.os.codename, "bookworm");
  struct img_err err = {0};
  if (vulndb_tracker_parse_buf(data, strlen(data), &f.t, &err) < 0) {
    fprintf(stderr, "%s\n", err.msg);
    return -1;
  }
  *state = &f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  dpkg_db_clear(&f->db);
  vulndb_tracker_free(f->t);
  return 0;
}

static const struct scan_finding *find(const struct scan_result *r, const char *issue) {
  for (size_t i = 0; i < r->n; i++)
    if (!strcmp(r->findings[i].entry.issue, issue))
      return &r->findings[i];
  return NULL;
}

static void expect(const struct scan_result *r, const char *issue, const char *pkg,
                   enum scan_category c) {
  const struct scan_finding *f = find(r, issue);
  if (!f)
    fail_msg("%s (%s) missing", issue, pkg);
  assert_string_equal(f->pkg->name, pkg);
  if (f->category != c)
    fail_msg("%s: %s, want %s", issue, scan_category_name(f->category), scan_category_name(c));
}

static void absent(const struct scan_result *r, const char *issue) {
  if (find(r, issue))
    fail_msg("%s reported, but it does not affect the installed version", issue);
}

static void test_each_case_lands_in_its_category(void **state) {
  struct fixture *f = *state;
  struct scan_result r;
  struct img_err err = {0};
  assert_int_equal(scan_match(&f->db, f->t, NULL, &r, &err), 0);
  assert_string_equal(r.release, "bookworm");
  assert_true(r.release_in_data);
  expect(&r, "CVE-2024-0001", "newer", SCAN_FIXABLE);
  absent(&r, "CVE-2024-0002"); /* fixed at exactly the installed version */
  absent(&r, "CVE-2024-0003"); /* fixed in a lower version */
  expect(&r, "CVE-2024-0004", "openpkg", SCAN_NO_FIX);
  expect(&r, "CVE-2024-0005", "undet", SCAN_NO_FIX);
  expect(&r, "CVE-2024-0006", "nodsa", SCAN_MINOR);
  expect(&r, "CVE-2024-0007", "unimp", SCAN_MINOR);
  absent(&r, "CVE-2024-0008"); /* "0": not affected */
  expect(&r, "CVE-2024-0009", "epoch", SCAN_FIXABLE);
  absent(&r, "CVE-2024-0010"); /* epoch 2 > 1 */
  absent(&r, "CVE-2024-0011"); /* ~deb12u2 > ~deb12u1 */
  expect(&r, "CVE-2024-0012", "tilde2", SCAN_FIXABLE);
  /* by source name and source version: gcc 4:12.2.0-3 is gcc-defaults 1.203 */
  expect(&r, "CVE-2024-0013", "gcc", SCAN_FIXABLE);
  absent(&r, "CVE-2024-0099"); /* the source "gcc" is not what is installed */
  expect(&r, "CVE-2024-0014", "bash", SCAN_FIXABLE); /* 5.2.15-2 < 5.2.15-3 */
  absent(&r, "CVE-2024-0015"); /* binNMU of the fixed source version */
  expect(&r, "CVE-2024-0016", "eolpkg", SCAN_EOL);
  absent(&r, "CVE-2024-0017"); /* not installed (config-files) */
  absent(&r, "CVE-2024-0018"); /* another release */
  assert_int_equal(r.n, 10);
  assert_int_equal(r.count[SCAN_FIXABLE], 5);
  assert_int_equal(r.count[SCAN_NO_FIX], 2);
  assert_int_equal(r.count[SCAN_MINOR], 2);
  assert_int_equal(r.count[SCAN_EOL], 1);
  /* by severity: high first */
  assert_string_equal(r.findings[0].entry.issue, "CVE-2024-0001");
  for (size_t i = 1; i < r.n; i++)
    assert_true(scan_severity_rank(r.findings[i - 1].entry.urgency) >=
                scan_severity_rank(r.findings[i].entry.urgency));
  scan_result_clear(&r);
  scan_result_clear(NULL);
}

static void test_release_choice(void **state) {
  struct fixture *f = *state;
  struct scan_result r;
  assert_int_equal(scan_match(&f->db, f->t, "bullseye", &r, NULL), 0);
  assert_int_equal(r.n, 1);
  assert_string_equal(r.findings[0].entry.issue, "CVE-2024-0018");
  scan_result_clear(&r);
  assert_int_equal(scan_match(&f->db, f->t, "jessie", &r, NULL), 0);
  assert_false(r.release_in_data);
  assert_int_equal(r.n, 0);
  scan_result_clear(&r);

  struct dpkg_db other = f->db;
  strcpy(other.os.id, "ubuntu");
  struct img_err err = {0};
  assert_int_equal(scan_match(&other, f->t, NULL, &r, &err), -EPROTONOSUPPORT);
  assert_non_null(strstr(err.msg, "ubuntu"));
  other = f->db;
  other.os.codename[0] = '\0';
  assert_int_equal(scan_match(&other, f->t, NULL, &r, NULL), -ENODATA);
}

static void test_filters_by_severity_and_fixability(void **state) {
  struct fixture *f = *state;
  struct scan_result r;
  unsigned mask = 0;
  struct img_err err = {0};
  assert_int_equal(scan_severity_parse("high,MEDIUM", &mask, &err), 0);
  assert_int_equal(mask, SCAN_SEV_HIGH | SCAN_SEV_MEDIUM);
  assert_int_equal(scan_severity_parse("high,critical", &mask, &err), -EINVAL);
  assert_non_null(strstr(err.msg, "critical"));
  assert_int_equal(scan_severity_parse("", &mask, NULL), -EINVAL);
  assert_int_equal(scan_severity_parse("high,", &mask, NULL), -EINVAL);

  assert_int_equal(scan_match(&f->db, f->t, NULL, &r, NULL), 0);
  scan_result_filter(&r, SCAN_SEV_HIGH | SCAN_SEV_MEDIUM, 0);
  for (size_t i = 0; i < r.n; i++)
    assert_true(scan_severity_rank(r.findings[i].entry.urgency) >= 3);
  assert_int_equal(r.n, 4); /* 0001 high, 0004 medium, 0009 medium, 0013 medium */
  scan_result_filter(&r, SCAN_SEV_ALL, 1);
  assert_int_equal(r.n, 3); /* 0004 (open) goes */
  assert_int_equal(r.count[SCAN_FIXABLE], 3);
  assert_int_equal(r.count[SCAN_NO_FIX], 0);
  scan_result_clear(&r);
  assert_int_equal(scan_match(&f->db, f->t, NULL, &r, NULL), 0);
  scan_result_filter(&r, SCAN_SEV_ALL, 1);
  assert_int_equal(r.n, 5);
  scan_result_clear(&r);
  assert_string_equal(scan_severity_name(VULNDB_URG_END_OF_LIFE), "unknown");
  assert_string_equal(scan_severity_name(VULNDB_URG_HIGH), "high");
}


/* OSV records beside the tracker's: judged after "introduced"; where the
 * tracker has the same issue (id or alias) the tracker wins and the
 * disagreement is kept, on the finding or in the overrides list. */
#define OSV(id, up, name, events)                                                            \
  "{\"id\": \"" id "\", \"modified\": \"2024-01-01T00:00:00Z\", \"upstream\": [" up "],"     \
  " \"affected\": [{\"package\": {\"ecosystem\": \"Debian:12\", \"name\": \"" name "\"},"    \
  " \"ranges\": [{\"type\": \"ECOSYSTEM\", \"events\": [" events "]}]}]}"
static void test_osv_and_the_tracker_wins(void **state) {
  struct fixture *f = *state;
  static const char osv[] =
      "[" OSV("DSA-1-1", "\"CVE-2024-0002\"", "exact", "{\"introduced\": \"0\"}, {\"fixed\": \"2.0-4\"}") ","
      OSV("DSA-2-1", "\"CVE-2024-0001\"", "newer", "{\"introduced\": \"0\"}, {\"fixed\": \"1.0-3\"}") ","
      OSV("DSA-3-1", "\"CVE-2024-0004\"", "openpkg", "{\"introduced\": \"0\"}") ","
      OSV("DSA-4-1", "", "clean", "{\"introduced\": \"0\"}, {\"fixed\": \"1.0-2\"}") ","
      OSV("DSA-5-1", "", "clean", "{\"introduced\": \"1.0-2\"}, {\"fixed\": \"1.0-5\"}") ","
      OSV("CVE-2024-0009", "", "epoch", "{\"introduced\": \"0\"}, {\"fixed\": \"1:2.0-1\"}") "]";
  struct vulndb_tracker *o = NULL, *m = NULL;
  struct img_err err = {0};
  if (vulndb_osv_parse_buf(osv, strlen(osv), &o, NULL, &err) < 0)
    fail_msg("%s", err.msg);
  struct vulndb_tracker *parts[] = {f->t, o};
  unsigned masks[] = {~0u, ~0u};
  assert_int_equal(vulndb_merge(parts, masks, 2, &m, &err), 0);
  struct scan_result r;
  assert_int_equal(scan_match(&f->db, m, NULL, &r, &err), 0);
  /* tracker fixed at exactly the installed version, OSV says fixable: nothing, but noted */
  absent(&r, "CVE-2024-0002");
  absent(&r, "DSA-1-1");
  assert_int_equal(r.n_overrides, 1);
  assert_string_equal(r.overrides[0].osv.issue, "DSA-1-1");
  assert_string_equal(r.overrides[0].tracker.issue, "CVE-2024-0002");
  assert_int_equal(r.overrides[0].osv_category, SCAN_FIXABLE);
  /* both fixable, other fixed versions: the tracker's finding, OSV's named */
  const struct scan_finding *x = find(&r, "CVE-2024-0001");
  assert_non_null(x);
  assert_string_equal(x->entry.fixed_version, "1.0-2");
  assert_int_equal(x->entry.origin, VULNDB_FROM_TRACKER);
  assert_string_equal(x->osv_overridden, "DSA-2-1");
  assert_string_equal(x->osv_fixed, "1.0-3");
  absent(&r, "DSA-2-1");
  /* agreement (both open): the tracker's finding alone, nothing noted */
  x = find(&r, "CVE-2024-0004");
  assert_non_null(x);
  assert_null(x->osv_overridden);
  absent(&r, "DSA-3-1");
  /* the same id in both sources: one finding, the tracker's */
  x = find(&r, "CVE-2024-0009");
  assert_non_null(x);
  assert_int_equal(x->entry.origin, VULNDB_FROM_TRACKER);
  /* OSV alone: fixable; introduced above the installed version: not affected */
  expect(&r, "DSA-4-1", "clean", SCAN_FIXABLE);
  assert_int_equal(find(&r, "DSA-4-1")->entry.origin, VULNDB_FROM_OSV);
  absent(&r, "DSA-5-1");
  assert_int_equal(r.shadowed, 4);
  scan_result_clear(&r);
  vulndb_tracker_free(m);
  vulndb_tracker_free(o);
}

/* OSV's events per its schema (https://ossf.github.io/osv-schema/#evaluation),
 * in OSV's real format: last_affected (that version and below affected, no
 * fix), limit (upper bound, exclusive), versions[] (exactly those), several
 * ranges with a gap, unsorted events, two entries for one package. */
#define AFF(name, body) \
  "{\"package\": {\"ecosystem\": \"Debian:12\", \"name\": \"" name "\"}, " body "}"
#define EVS(...) "{\"type\": \"ECOSYSTEM\", \"events\": [" __VA_ARGS__ "]}"
#define OREC(id, ...) \
  "{\"id\": \"" id "\", \"modified\": \"2024-01-01T00:00:00Z\", \"affected\": [" __VA_ARGS__ "]}"
#define EV_I(v) "{\"introduced\": \"" v "\"}"
#define EV_F(v) "{\"fixed\": \"" v "\"}"
#define EV_LA(v) "{\"last_affected\": \"" v "\"}"
#define EV_LIM(v) "{\"limit\": \"" v "\"}"
static void test_osv_events_per_schema(void **state) {
  struct fixture *f = *state;
  static const char osv[] = "["
      /* clean, openpkg: 1.0-1; epoch: 1:2.0~rc1-1; tilde: 3.0.11-1~deb12u2 */
      OREC("LA-EQUAL", AFF("clean", "\"ranges\": [" EVS(EV_I("0") "," EV_LA("1.0-1")) "]")) ","
      OREC("LA-BELOW", AFF("clean", "\"ranges\": [" EVS(EV_I("0") "," EV_LA("1.0~rc1-1")) "]")) ","
      OREC("LA-EPOCH", AFF("epoch", "\"ranges\": [" EVS(EV_I("1:1.0-1") "," EV_LA("1:2.0~rc1-1")) "]")) ","
      OREC("LA-TILDE", AFF("tilde", "\"ranges\": [" EVS(EV_I("0") "," EV_LA("3.0.11-1~deb12u1")) "]")) ","
      OREC("LIMIT-EQUAL", AFF("clean", "\"ranges\": [" EVS(EV_I("0") "," EV_LIM("1.0-1")) "]")) ","
      OREC("LIMIT-ABOVE", AFF("clean", "\"ranges\": [" EVS(EV_I("0") "," EV_LIM("1.0-2")) "]")) ","
      OREC("LIMIT-STAR", AFF("clean", "\"ranges\": [" EVS(EV_I("0") "," EV_LIM("*")) "]")) ","
      OREC("LIMIT-FIXED", AFF("clean", "\"ranges\": [" EVS(EV_I("0") "," EV_F("1.0-3") "," EV_LIM("2.0")) "]")) ","
      OREC("VERSIONS-IN", AFF("clean", "\"versions\": [\"0.9-1\", \"0:1.0-1\"]")) ","
      OREC("VERSIONS-OUT", AFF("clean", "\"versions\": [\"0.9-1\", \"1.0-2\"]")) ","
      OREC("GAP", AFF("clean", "\"ranges\": [" EVS(EV_I("0") "," EV_F("0.9-1")) ", " EVS(EV_I("1.1-1") "," EV_F("1.2-1")) "]")) ","
      OREC("TWO-RANGES", AFF("clean", "\"ranges\": [" EVS(EV_I("2.0-1") "," EV_F("2.1-1")) ", " EVS(EV_I("0") "," EV_F("1.0-2")) "]")) ","
      OREC("UNSORTED", AFF("openpkg", "\"ranges\": [" EVS(EV_F("1.0-2") "," EV_I("0.5-1") "," EV_F("0.4-1") "," EV_I("0")) "]")) ","
      OREC("TWO-ENTRIES", AFF("openpkg", "\"versions\": [\"1.0-1\"]") ", "
                         AFF("openpkg", "\"ranges\": [" EVS(EV_I("5.0-1") "," EV_F("5.1-1")) "]")) ","
      OREC("REINTRODUCED", AFF("openpkg", "\"ranges\": [" EVS(EV_I("0") "," EV_F("0.9-1") "," EV_I("1.0-1") "," EV_LA("1.5-1")) "]"))
      "]";
  struct vulndb_tracker *o = NULL;
  struct img_err err = {0};
  if (vulndb_osv_parse_buf(osv, strlen(osv), &o, NULL, &err) < 0)
    fail_msg("%s", err.msg);
  struct scan_result r;
  assert_int_equal(scan_match(&f->db, o, NULL, &r, &err), 0);
  expect(&r, "LA-EQUAL", "clean", SCAN_NO_FIX); /* last_affected is no fix */
  assert_null(find(&r, "LA-EQUAL")->entry.fixed_version);
  assert_int_equal(find(&r, "LA-EQUAL")->entry.status, VULNDB_OPEN);
  absent(&r, "LA-BELOW");
  expect(&r, "LA-EPOCH", "epoch", SCAN_NO_FIX);
  absent(&r, "LA-TILDE");
  absent(&r, "LIMIT-EQUAL"); /* exclusive */
  expect(&r, "LIMIT-ABOVE", "clean", SCAN_NO_FIX);
  expect(&r, "LIMIT-STAR", "clean", SCAN_NO_FIX);
  expect(&r, "LIMIT-FIXED", "clean", SCAN_FIXABLE);
  assert_string_equal(find(&r, "LIMIT-FIXED")->entry.fixed_version, "1.0-3");
  expect(&r, "VERSIONS-IN", "clean", SCAN_NO_FIX); /* "0:1.0-1" is 1.0-1 */
  absent(&r, "VERSIONS-OUT");
  absent(&r, "GAP"); /* between the ranges: not affected */
  /* the fix of the range that holds the installed version, not the highest */
  expect(&r, "TWO-RANGES", "clean", SCAN_FIXABLE);
  assert_string_equal(find(&r, "TWO-RANGES")->entry.fixed_version, "1.0-2");
  expect(&r, "UNSORTED", "openpkg", SCAN_FIXABLE);
  assert_string_equal(find(&r, "UNSORTED")->entry.fixed_version, "1.0-2");
  expect(&r, "TWO-ENTRIES", "openpkg", SCAN_NO_FIX);
  expect(&r, "REINTRODUCED", "openpkg", SCAN_NO_FIX);
  scan_result_clear(&r);

  /* the same versions judged by each record's own boundaries */
  static const char *const at_limit[] = {
      "[" OREC("L", AFF("clean", "\"ranges\": [" EVS(EV_I("0") "," EV_LIM("1.0-1~")) "]")) "]",
      "[" OREC("L", AFF("clean", "\"ranges\": [" EVS(EV_I("1.0-1") "," EV_LA("1.0-1")) "]")) "]",
  };
  for (size_t k = 0; k < 2; k++) {
    struct vulndb_tracker *t = NULL;
    if (vulndb_osv_parse_buf(at_limit[k], strlen(at_limit[k]), &t, NULL, &err) < 0)
      fail_msg("%s", err.msg);
    assert_int_equal(scan_match(&f->db, t, NULL, &r, &err), 0);
    if (k == 0)
      absent(&r, "L"); /* 1.0-1 is above the limit 1.0-1~ */
    else
      expect(&r, "L", "clean", SCAN_NO_FIX); /* introduced and last_affected at it */
    scan_result_clear(&r);
    vulndb_tracker_free(t);
  }
  vulndb_tracker_free(o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_each_case_lands_in_its_category),
      cmocka_unit_test(test_release_choice),
      cmocka_unit_test(test_filters_by_severity_and_fixability),
      cmocka_unit_test(test_osv_and_the_tracker_wins),
      cmocka_unit_test(test_osv_events_per_schema),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
