/* image/vulndb_osv: OSV records of the Debian ecosystem into the index (the
 * schema's real shape), format detection, CVSS v3 base scores, merging with
 * tracker records; image/scan_gate's policy section and durations. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "image/scan_gate.h"
#include "image/vulndb_affected.h"
#include "image/vulndb_osv.h"
#include "image/vulndb_tracker.h"

/* Two records as Debian's OSV export and osv.dev publish them: a DSA with
 * upstream CVE ids for two releases, and a DEBIAN-CVE record; plus one of
 * another ecosystem and a withdrawn one. */
static const char sample[] =
    "[{\"schema_version\": \"1.6.0\", \"id\": \"DSA-5678-1\", \"modified\": \"2024-05-02T10:00:00Z\","
    "  \"published\": \"2024-05-01T00:00:00Z\", \"upstream\": [\"CVE-2024-0001\", \"CVE-2024-0002\"],"
    "  \"summary\": \"openssl - security update\", \"details\": \"x\","
    "  \"severity\": [{\"type\": \"CVSS_V3\", \"score\": \"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\"}],"
    "  \"affected\": [{\"package\": {\"ecosystem\": \"Debian:12\", \"name\": \"openssl\","
    "                               \"purl\": \"pkg:deb/debian/openssl?arch=source\"},"
    "                  \"ranges\": [{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"0\"},"
    "                               {\"fixed\": \"3.0.13-1~deb12u1\"}]}],"
    "                  \"versions\": [\"3.0.11-1~deb12u2\"]},"
    "                 {\"package\": {\"ecosystem\": \"Debian:11\", \"name\": \"openssl\"},"
    "                  \"ranges\": [{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"1.1.1\"},"
    "                               {\"fixed\": \"1.1.1w-0+deb11u2\"}]}]}],"
    "  \"references\": [{\"type\": \"ADVISORY\", \"url\": \"https://www.debian.org/security/2024/dsa-5678\"}]},"
    " {\"id\": \"DEBIAN-CVE-2024-0003\", \"modified\": \"2024-05-03T00:00:00.123+02:00\","
    "  \"upstream\": [\"CVE-2024-0003\"],"
    "  \"affected\": [{\"package\": {\"ecosystem\": \"Debian:12\", \"name\": \"zlib\"},"
    "                  \"ranges\": [{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"0\"}]}],"
    "                  \"ecosystem_specific\": {\"urgency\": \"low\"}},"
    "                 {\"package\": {\"ecosystem\": \"PyPI\", \"name\": \"zlib\"},"
    "                  \"ranges\": [{\"type\": \"SEMVER\", \"events\": [{\"introduced\": \"0\"}]}]}],"
    "  \"database_specific\": {\"severity\": \"HIGH\"}},"
    " {\"id\": \"DSA-1-1\", \"modified\": \"2020-01-01T00:00:00Z\", \"withdrawn\": \"2020-02-01T00:00:00Z\","
    "  \"affected\": [{\"package\": {\"ecosystem\": \"Debian:12\", \"name\": \"bash\"},"
    "                  \"ranges\": [{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"0\"}]}]}]}]";

static struct vulndb_tracker *parse_ok(const char *s, struct vulndb_osv_stats *st) {
  struct vulndb_tracker *t = NULL;
  struct img_err err = {0};
  int r = vulndb_osv_parse_buf(s, strlen(s), &t, st, &err);
  if (r < 0)
    fail_msg("parse: %s", err.msg);
  return t;
}

static void test_sample(void **state) {
  struct vulndb_osv_stats st;
  struct vulndb_tracker *t = parse_ok(sample, &st);
  assert_int_equal(vulndb_tracker_count(t), 3);
  assert_int_equal(st.records, 3);
  assert_int_equal(st.withdrawn, 1);
  assert_int_equal(st.other_ecosystems, 1);
  assert_int_equal(st.newest_modified, 1714687200 - 7200 + 3600 * 2); /* 2024-05-03T00:00+02:00 */
  size_t first;
  struct vulndb_entry e;
  assert_int_equal(vulndb_tracker_find(t, "bookworm", "openssl", &first), 1);
  vulndb_tracker_get(t, first, &e);
  assert_string_equal(e.issue, "DSA-5678-1");
  assert_int_equal(e.origin, VULNDB_FROM_OSV);
  assert_int_equal(e.status, VULNDB_RESOLVED);
  assert_string_equal(e.fixed_version, "3.0.13-1~deb12u1");
  assert_null(e.introduced);
  assert_string_equal(e.aliases, "CVE-2024-0001 CVE-2024-0002");
  assert_int_equal(e.urgency, VULNDB_URG_HIGH); /* CVSS 9.8 */
  assert_int_equal(vulndb_tracker_find(t, "bullseye", "openssl", &first), 1);
  vulndb_tracker_get(t, first, &e);
  assert_string_equal(e.introduced, "1.1.1");
  assert_int_equal(vulndb_tracker_find(t, "bookworm", "zlib", &first), 1);
  vulndb_tracker_get(t, first, &e);
  assert_int_equal(e.status, VULNDB_OPEN);
  assert_null(e.fixed_version);
  assert_int_equal(e.urgency, VULNDB_URG_LOW); /* ecosystem_specific before database_specific */
  assert_int_equal(vulndb_tracker_find(t, "bookworm", "bash", &first), 0); /* withdrawn */
  vulndb_tracker_free(t);

  /* one object alone is a record too */
  static const char one[] =
      "{\"id\": \"DLA-1-1\", \"modified\": \"2024-01-01T00:00:00Z\", \"affected\": [{\"package\":"
      " {\"ecosystem\": \"Debian:12\", \"name\": \"tar\"}, \"ranges\": [{\"type\": \"ECOSYSTEM\","
      " \"events\": [{\"introduced\": \"0\"}, {\"fixed\": \"1.34+dfsg-1.2+deb12u1\"}]}],"
      " \"database_specific\": {\"severity\": \"moderate\"}}]}\n";
  t = parse_ok(one, NULL);
  assert_int_equal(vulndb_tracker_count(t), 1);
  vulndb_tracker_get(t, 0, &e);
  assert_int_equal(e.urgency, VULNDB_URG_MEDIUM);
  vulndb_tracker_free(t);
}

static void test_every_truncation_is_refused(void **state) {
  size_t len = strlen(sample);
  for (size_t n = 0; n < len; n++) {
    struct vulndb_tracker *t = NULL;
    struct img_err err = {0};
    int r = vulndb_osv_parse_buf(sample, n, &t, NULL, &err);
    if (r != -EBADMSG)
      fail_msg("a %zu-byte prefix: %d", n, r);
    assert_null(t);
    assert_true(err.msg[0]);
  }
}

static void expect_refused(const char *doc, const char *what) {
  struct vulndb_tracker *t = NULL;
  struct img_err err = {0};
  int r = vulndb_osv_parse_buf(doc, strlen(doc), &t, NULL, &err);
  if (r != -EBADMSG || !strstr(err.msg, what))
    fail_msg("%s: got %d \"%s\", want \"%s\"", doc, r, err.msg, what);
  assert_null(t);
}

#define REC(aff) "{\"id\": \"X-1\", \"modified\": \"2024-01-01T00:00:00Z\", \"affected\": [" aff "]}"
#define DEB(ranges) "{\"package\": {\"ecosystem\": \"Debian:12\", \"name\": \"p\"}, \"ranges\": [" ranges "]}"

static void test_malformed_is_refused(void **state) {
  expect_refused("[" REC(DEB("")) "] x", "data after the end");
  expect_refused("[" REC(DEB("")) ",]", "not an object");
  expect_refused("\"x\"", "not a JSON object or array");
  expect_refused("[1]", "not an object");
  expect_refused("[{\"modified\": \"2024-01-01T00:00:00Z\"}]", "no valid \"id\"");
  expect_refused("[{\"id\": \"A\"}]", "no valid \"modified\"");
  expect_refused("[{\"id\": \"A\", \"modified\": \"yesterday\"}]", "no valid \"modified\"");
  expect_refused("[{\"id\": \"A\", \"modified\": \"2024-01-01T00:00:00Z\", \"affected\": {}}]",
                 "\"affected\" is not an array");
  expect_refused("[" REC(DEB("{\"type\": \"ECOSYSTEM\", \"events\": [{\"fixed\": \"not a version!\"}]}")) "]",
                 "fixed");
  expect_refused("[" REC(DEB("{\"type\": \"ECOSYSTEM\", \"events\": [{\"fixed\": 3}]}")) "]",
                 "not a string");
  expect_refused("[" REC(DEB("{\"type\": \"ECOSYSTEM\", \"events\": [{\"broken\": \"1\"}]}")) "]",
                 "unknown event");
  expect_refused("[" REC(DEB("{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"0\", \"fixed\": \"1\"}]}")) "]",
                 "one member");
  expect_refused("[{\"id\": \"A\", \"modified\": \"2024-01-01T00:00:00Z\", \"severity\": "
                 "[{\"type\": \"CVSS_V3\", \"score\": \"CVSS:3.1/AV:X\"}]}]",
                 "malformed CVSS_V3");
  expect_refused("[" REC(DEB("{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"0\"}]}")) ","
                 REC(DEB("{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"0\"}]}")) "]",
                 "duplicate entry");
  expect_refused("[{\"id\": \"A\", \"modified\": \"2024-01-01T00:00:00Z\", \"affected\": [{\"package\":"
                 " {\"ecosystem\": \"npm\", \"name\": \"x\"}}]}]", "no entries for the Debian ecosystem");
  expect_refused("[]", "no entries");
  expect_refused("[\"\xff\"]", "not an object");
  expect_refused("[{\"id\": \"A\xff\", \"modified\": \"2024-01-01T00:00:00Z\"}]", "malformed");
}

static void test_ranges_collapse(void **state) {
  static const char doc[] =
      "[" REC(DEB("{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"2.0-1\"}, {\"fixed\": \"2.1-1\"},"
                  " {\"introduced\": \"1.5-1\"}, {\"fixed\": \"1.6-1\"}]},"
                  "{\"type\": \"GIT\", \"repo\": \"https://x\", \"events\": [{\"introduced\": \"abc\"}]}")
      "," "{\"package\": {\"ecosystem\": \"Debian:12\", \"name\": \"p\"}, \"ranges\": [{\"type\": \"ECOSYSTEM\","
      " \"events\": [{\"introduced\": \"1.0-1\"}, {\"fixed\": \"3.0-1\"}]}]}") "]";
  struct vulndb_tracker *t = parse_ok(doc, NULL);
  assert_int_equal(vulndb_tracker_count(t), 1);
  struct vulndb_entry e;
  vulndb_tracker_get(t, 0, &e);
  assert_string_equal(e.introduced, "1.0-1");
  assert_string_equal(e.fixed_version, "3.0-1");
  /* the summary above; the matcher's spec keeps each range, events sorted */
  assert_string_equal(e.affected, "| i1.5-1 f1.6-1 i2.0-1 f2.1-1 | i1.0-1 f3.0-1");
  vulndb_tracker_free(t);
}

/* last_affected and limit in the spec; versions[] kept where no range has them;
 * an entry of versions[] alone is used, not skipped */
static void test_events_and_versions_in_the_spec(void **state) {
  static const char doc[] =
      "[" REC(DEB("{\"type\": \"ECOSYSTEM\", \"events\": [{\"limit\": \"*\"}, {\"last_affected\": \"1.4-1\"},"
                  " {\"introduced\": \"1.0-1\"}]}], \"versions\": [\"1.2-1\", \"0.9-1\", \"1:0.1-1\""))
      "," "{\"id\": \"B\", \"modified\": \"2024-01-01T00:00:00Z\", \"affected\": [{\"package\":"
      " {\"ecosystem\": \"Debian:12\", \"name\": \"q\"}, \"versions\": [\"2.0-1\"]}]}]";
  struct vulndb_osv_stats st;
  struct vulndb_tracker *t = parse_ok(doc, &st);
  assert_int_equal(vulndb_tracker_count(t), 2);
  assert_int_equal(st.no_ranges, 0);
  struct vulndb_entry e;
  vulndb_tracker_get(t, 0, &e);
  assert_string_equal(e.source, "p");
  assert_string_equal(e.affected, "| i1.0-1 l1.4-1 x* =0.9-1 =1:0.1-1");
  assert_int_equal(e.status, VULNDB_OPEN);
  vulndb_tracker_get(t, 1, &e);
  assert_string_equal(e.source, "q");
  assert_string_equal(e.affected, "=2.0-1");
  assert_null(e.fixed_version);
  vulndb_tracker_free(t);
  expect_refused("[" REC(DEB("{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"0\"}]}],"
                             " \"versions\": [\"not a version!\""))
                 "]", "versions[]");
  expect_refused("[" REC(DEB("{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"0\"}]}],"
                             " \"versions\": [1"))
                 "]", "not a string");
  expect_refused("[" REC(DEB("{\"type\": \"ECOSYSTEM\", \"events\": [{\"limit\": \"x*\"}]}")) "]",
                 "limit");
  /* what the index loader accepts as a spec */
  assert_true(vulndb_affected_valid("| i0 f1.0-1 | i2.0 l2.3 x* =1:0.9"));
  assert_true(vulndb_affected_valid("=1.0"));
  assert_false(vulndb_affected_valid("i0 f1.0-1"));  /* an event outside a range */
  assert_false(vulndb_affected_valid("| q1.0"));     /* an unknown event */
  assert_false(vulndb_affected_valid("| i0 ="));     /* an empty version */
  assert_false(vulndb_affected_valid("| i0 fnot!")); /* an invalid one */
  assert_false(vulndb_affected_valid("|x i0"));
}

static void test_detect_and_codenames(void **state) {
  assert_int_equal(vulndb_detect_format(" [", 2), VULNDB_FROM_OSV);
  assert_int_equal(vulndb_detect_format("{\"id\": \"x\"", 10), VULNDB_FROM_OSV);
  assert_int_equal(vulndb_detect_format("{\n \"schema_version\"", 19), VULNDB_FROM_OSV);
  assert_int_equal(vulndb_detect_format("{\"openssl\": {", 13), VULNDB_FROM_TRACKER);
  assert_int_equal(vulndb_detect_format("{}", 2), VULNDB_FROM_TRACKER);
  assert_int_equal(vulndb_detect_format("xx", 2), -EBADMSG);
  assert_int_equal(vulndb_detect_format("", 0), -EBADMSG);
  assert_string_equal(vulndb_debian_codename("12"), "bookworm");
  assert_string_equal(vulndb_debian_codename("11.9"), "bullseye");
  assert_null(vulndb_debian_codename("1"));
  assert_null(vulndb_debian_codename(""));
}

static void test_cvss3(void **state) {
  /* reference scores from FIRST's calculator */
  assert_int_equal(vulndb_cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), 98);
  assert_int_equal(vulndb_cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"), 61);
  assert_int_equal(vulndb_cvss3_base_score("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"), 100);
  assert_int_equal(vulndb_cvss3_base_score("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N"), 55);
  assert_int_equal(vulndb_cvss3_base_score("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"), 16);
  assert_int_equal(vulndb_cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"), 0);
  assert_int_equal(vulndb_cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H"), -EINVAL);
  assert_int_equal(vulndb_cvss3_base_score("CVSS:2.0/AV:N"), -EINVAL);
  assert_int_equal(vulndb_cvss3_base_score("CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), -EINVAL);
}

static void test_merge_keeps_both_sources(void **state) {
  static const char tr[] = "{\"openssl\": {\"CVE-2024-0001\": {\"releases\": {\"bookworm\": "
                           "{\"status\": \"resolved\", \"fixed_version\": \"3.0.13-1~deb12u1\"}}}}}";
  struct vulndb_tracker *a = NULL, *b = parse_ok(sample, NULL), *m = NULL;
  assert_int_equal(vulndb_tracker_parse_buf(tr, strlen(tr), &a, NULL), 0);
  struct vulndb_tracker *parts[] = {a, b};
  unsigned masks[] = {1u << VULNDB_FROM_TRACKER, 1u << VULNDB_FROM_OSV};
  assert_int_equal(vulndb_merge(parts, masks, 2, &m, NULL), 0);
  assert_int_equal(vulndb_tracker_count(m), 4);
  assert_true(vulndb_tracker_has_origin(m, VULNDB_FROM_TRACKER));
  assert_true(vulndb_tracker_has_origin(m, VULNDB_FROM_OSV));
  size_t first;
  assert_int_equal(vulndb_tracker_find(m, "bookworm", "openssl", &first), 2);
  vulndb_tracker_free(m);
  /* a mask drops a source: what an import of the other one keeps */
  masks[1] = 0;
  assert_int_equal(vulndb_merge(parts, masks, 2, &m, NULL), 0);
  assert_false(vulndb_tracker_has_origin(m, VULNDB_FROM_OSV));
  vulndb_tracker_free(m);
  vulndb_tracker_free(a);
  vulndb_tracker_free(b);
}

static void test_gate_policy_section(void **state) {
  int64_t d;
  assert_int_equal(scan_gate_parse_duration("7d", &d), 0);
  assert_int_equal(d, 7 * 86400);
  assert_int_equal(scan_gate_parse_duration("12h", &d), 0);
  assert_int_equal(d, 12 * 3600);
  assert_int_equal(scan_gate_parse_duration("90", &d), 0);
  assert_int_equal(d, 90);
  const char *bad[] = {"", "d", "7x", "7dd", "-1d", "0", "99999999999999999999d"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(scan_gate_parse_duration(bad[i], &d), -EINVAL);

  struct scan_gate g;
  struct img_err err = {0};
  json_object *o = json_tokener_parse("{\"refuse_fixable_at\": \"medium\", \"max_scan_age\": \"2d\"}");
  assert_int_equal(scan_gate_parse(o, &g, &err), 0);
  assert_int_equal(g.refuse_rank, 3);
  assert_int_equal(g.max_age, 2 * 86400);
  assert_true(scan_gate_active(&g));
  json_object_put(o);
  assert_int_equal(scan_gate_parse(NULL, &g, &err), 0);
  assert_false(scan_gate_active(&g));
  const char *refused[] = {"{\"refuse_fixable_at\": \"critical\"}", "{\"refuse_fixable_at\": \"unknown\"}",
                           "{\"max_scan_age\": \"soon\"}", "{\"max_scan_age\": -5}",
                           "{\"max_age\": \"7d\"}", "[]"};
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
    o = json_tokener_parse(refused[i]);
    assert_int_equal(scan_gate_parse(o, &g, &err), -EINVAL);
    json_object_put(o);
  }
}


/* The index file keeps OSV's fields and both sources' dates; an index of the
 * previous format is refused with a hint. */
static void test_index_round_trip_with_osv(void **state) {
  char d[] = "/tmp/test-vulndb-osv.XXXXXX";
  assert_non_null(mkdtemp(d));
  int dfd = open(d, O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_true(dfd >= 0);
  struct vulndb_tracker *t = parse_ok(sample, NULL), *back = NULL;
  struct vulndb_meta m = {.osv_import_time = 1800000000, .osv_file_mtime = 1714687200,
                          .osv_file_size = 99};
  vulndb_tracker_set_meta(t, &m);
  struct img_err err = {0};
  assert_int_equal(vulndb_tracker_write_at(t, dfd, "tracker.idx", &err), 0);
  vulndb_tracker_free(t);
  assert_int_equal(vulndb_tracker_load_at(dfd, "tracker.idx", &back, &err), 0);
  struct vulndb_meta got;
  vulndb_tracker_get_meta(back, &got);
  assert_int_equal(got.osv_import_time, 1800000000);
  assert_int_equal(got.osv_file_size, 99);
  assert_int_equal(vulndb_meta_data_time(&got), 1714687200);
  size_t first;
  struct vulndb_entry e;
  assert_int_equal(vulndb_tracker_find(back, "bullseye", "openssl", &first), 1);
  vulndb_tracker_get(back, first, &e);
  assert_int_equal(e.origin, VULNDB_FROM_OSV);
  assert_string_equal(e.introduced, "1.1.1");
  assert_string_equal(e.aliases, "CVE-2024-0001 CVE-2024-0002");
  vulndb_tracker_free(back);
  /* the magic of the first format */
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/tracker.idx", d);
  int fd = open(p, O_WRONLY);
  assert_int_equal(pwrite(fd, "SDVTIDX1", 8, 0), 8);
  close(fd);
  assert_int_equal(vulndb_tracker_load_at(dfd, "tracker.idx", &back, &err), -EBADMSG);
  assert_non_null(strstr(err.msg, "import the data again"));
  unlink(p);
  close(dfd);
  assert_int_equal(rmdir(d), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sample),
      cmocka_unit_test(test_every_truncation_is_refused),
      cmocka_unit_test(test_malformed_is_refused),
      cmocka_unit_test(test_ranges_collapse),
      cmocka_unit_test(test_events_and_versions_in_the_spec),
      cmocka_unit_test(test_detect_and_codenames),
      cmocka_unit_test(test_cvss3),
      cmocka_unit_test(test_merge_keeps_both_sources),
      cmocka_unit_test(test_gate_policy_section),
      cmocka_unit_test(test_index_round_trip_with_osv),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
