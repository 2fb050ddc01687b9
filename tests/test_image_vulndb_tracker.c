/* image/vulndb_tracker: the Security Tracker JSON stream parser and the index
 * file (atomic replace, corruption refused, the old index still answers). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "image/vulndb_tracker.h"

/* The tracker's real shape: source -> issue -> {description, scope,
 * debianbug, releases -> codename -> {status, repositories, fixed_version,
 * urgency, nodsa, nodsa_reason}}; key order varies, unknown keys appear. */
static const char sample[] =
    "{\"openssl\": {"
    "  \"CVE-2023-5678\": {\"description\": \"DH checks \\\"slow\\\" \\u00e9\", \"scope\": \"remote\","
    "    \"releases\": {"
    "      \"bookworm\": {\"status\": \"resolved\", \"repositories\": {\"bookworm\": \"3.0.11-1~deb12u2\","
    "                     \"bookworm-security\": \"3.0.13-1~deb12u1\"},"
    "                     \"fixed_version\": \"3.0.13-1~deb12u1\", \"urgency\": \"not yet assigned\"},"
    "      \"bullseye\": {\"status\": \"open\", \"repositories\": {\"bullseye\": \"1.1.1w-0+deb11u1\"},"
    "                     \"urgency\": \"low**\", \"nodsa\": \"Minor issue\", \"nodsa_reason\": \"postponed\"},"
    "      \"sid\": {\"status\": \"resolved\", \"fixed_version\": \"3.0.13-1\", \"urgency\": \"low\"}},"
    "    \"debianbug\": 1054321, \"extra\": [1, {\"a\": [true, null]}, \"x\"]},"
    "  \"CVE-2010-0001\": {\"scope\": \"local\", \"releases\": {"
    "      \"bookworm\": {\"status\": \"resolved\", \"fixed_version\": \"0\", \"urgency\": \"unimportant\"}}}"
    "},"
    "\"glibc\": {\"TEMP-0000000-ABCDEF\": {\"description\": null, \"releases\": {"
    "      \"bookworm\": {\"status\": \"undetermined\", \"urgency\": \"high\", \"fixed_version\": null,"
    "                     \"nodsa\": \"\", \"nodsa_reason\": \"ignored\"},"
    "      \"buster\": {\"status\": \"open\", \"urgency\": \"end-of-life\"}}}},"
    "\"emptypkg\": {}"
    "}";

static struct vulndb_tracker *parse_ok(const char *s) {
  struct vulndb_tracker *t = NULL;
  struct img_err err = {0};
  int r = vulndb_tracker_parse_buf(s, strlen(s), &t, &err);
  if (r < 0)
    fail_msg("parse: %s", err.msg);
  return t;
}

static void check_sample(const struct vulndb_tracker *t) {
  assert_int_equal(vulndb_tracker_count(t), 6);
  size_t first;
  struct vulndb_entry e;
  assert_int_equal(vulndb_tracker_find(t, "bookworm", "openssl", &first), 2);
  vulndb_tracker_get(t, first, &e); /* sorted by issue */
  assert_string_equal(e.issue, "CVE-2010-0001");
  assert_string_equal(e.fixed_version, "0");
  assert_int_equal(e.urgency, VULNDB_URG_UNIMPORTANT);
  vulndb_tracker_get(t, first + 1, &e);
  assert_string_equal(e.issue, "CVE-2023-5678");
  assert_string_equal(e.release, "bookworm");
  assert_string_equal(e.source, "openssl");
  assert_int_equal(e.status, VULNDB_RESOLVED);
  assert_string_equal(e.fixed_version, "3.0.13-1~deb12u1");
  assert_int_equal(e.urgency, VULNDB_URG_NOT_YET_ASSIGNED);
  assert_int_equal(e.nodsa, VULNDB_NODSA_NONE);
  assert_int_equal(e.debianbug, 1054321); /* given after "releases" */
  assert_int_equal(vulndb_tracker_find(t, "bullseye", "openssl", &first), 1);
  vulndb_tracker_get(t, first, &e);
  assert_int_equal(e.status, VULNDB_OPEN);
  assert_null(e.fixed_version);
  assert_int_equal(e.urgency, VULNDB_URG_LOW); /* "low**" */
  assert_int_equal(e.nodsa, VULNDB_NODSA_POSTPONED);
  assert_int_equal(vulndb_tracker_find(t, "bookworm", "glibc", &first), 1);
  vulndb_tracker_get(t, first, &e);
  assert_string_equal(e.issue, "TEMP-0000000-ABCDEF");
  assert_int_equal(e.status, VULNDB_UNDETERMINED);
  assert_null(e.fixed_version);
  assert_int_equal(e.urgency, VULNDB_URG_HIGH);
  assert_int_equal(e.nodsa, VULNDB_NODSA_IGNORED);
  assert_int_equal(e.debianbug, 0);
  assert_int_equal(vulndb_tracker_find(t, "buster", "glibc", &first), 1);
  vulndb_tracker_get(t, first, &e);
  assert_int_equal(e.urgency, VULNDB_URG_END_OF_LIFE);
  assert_int_equal(vulndb_tracker_find(t, "bookworm", "emptypkg", &first), 0);
  assert_int_equal(vulndb_tracker_find(t, "bookworm", "zlib", &first), 0);
  assert_int_equal(vulndb_tracker_find(t, "trixie", "openssl", &first), 0);
  assert_true(vulndb_tracker_has_release(t, "sid"));
  assert_false(vulndb_tracker_has_release(t, "trixie"));
  /* in (release, source, issue) order */
  struct vulndb_entry a, b;
  for (size_t i = 1; i < vulndb_tracker_count(t); i++) {
    vulndb_tracker_get(t, i - 1, &a);
    vulndb_tracker_get(t, i, &b);
    int c = strcmp(a.release, b.release);
    if (!c)
      c = strcmp(a.source, b.source);
    if (!c)
      c = strcmp(a.issue, b.issue);
    assert_true(c < 0);
  }
}

static void test_sample_parses_into_sorted_records(void **state) {
  struct vulndb_tracker *t = parse_ok(sample);
  check_sample(t);
  vulndb_tracker_free(t);
  vulndb_tracker_free(NULL);
}

static void test_every_truncation_is_refused(void **state) {
  size_t n = strlen(sample);
  for (size_t len = 0; len < n; len++) {
    struct vulndb_tracker *t = NULL;
    struct img_err err = {0};
    int r = vulndb_tracker_parse_buf(sample, len, &t, &err);
    if (r != -EBADMSG || t)
      fail_msg("prefix of %zu bytes: %d", len, r);
    assert_true(err.msg[0] != '\0');
  }
}

static void expect_refused(const char *doc, const char *needle) {
  struct vulndb_tracker *t = NULL;
  struct img_err err = {0};
  int r = vulndb_tracker_parse_buf(doc, strlen(doc), &t, &err);
  if (r != -EBADMSG || t || !strstr(err.msg, needle))
    fail_msg("%s: got %d '%s', want '%s'", doc, r, err.msg, needle);
}

#define REL(x) "{\"p\": {\"CVE-1\": {\"releases\": {\"bookworm\": " x "}}}}"
static void test_malformed_data_is_refused_with_a_reason(void **state) {
  expect_refused("[]", "array where an object");
  expect_refused("\"x\"", "top level is not an object");
  expect_refused("{}", "no entries");
  expect_refused("{\"p\": []}", "array where an object");
  expect_refused("{\"p\": 1}", "not an object");
  expect_refused("{\"p\": {\"CVE-1\": \"x\"}}", "not an object");
  expect_refused("{\"p\": {\"CVE-1\": {\"releases\": []}}}", "array where an object");
  expect_refused("{\"p\": {\"CVE-1\": {\"releases\": 3}}}", "\"releases\" is not an object");
  expect_refused(REL("\"resolved\""), "not an object");
  expect_refused(REL("{\"status\": \"fixed\"}"), "p CVE-1 bookworm: unknown \"status\"");
  expect_refused(REL("{\"urgency\": \"low\"}"), "no \"status\"");
  expect_refused(REL("{\"status\": \"resolved\"}"), "resolved without \"fixed_version\"");
  expect_refused(REL("{\"status\": \"resolved\", \"fixed_version\": \"1.0-\"}"), "revision is empty");
  expect_refused(REL("{\"status\": \"open\", \"fixed_version\": 1}"), "not a string");
  expect_refused(REL("{\"status\": {}}"), "not a string");
  expect_refused(REL("{\"status\": \"open\"}") " trailing", "malformed JSON");
  expect_refused(REL("{\"status\": \"open\"}") REL("{\"status\": \"open\"}"), "malformed JSON");
  expect_refused("/* c */" REL("{\"status\": \"open\"}"), "malformed JSON");
  expect_refused("{\"p\xff\": {}}", "malformed JSON"); /* invalid UTF-8 */
  expect_refused("{\"p q\": {}}", "invalid source package name");
  expect_refused("{\"p\": {\"CVE-1\": {\"debianbug\": 99999999999}}}", "too big");
  expect_refused("{\"p\": {\"CVE-1\": {\"releases\": {\"bookworm\": {\"status\": \"open\"},"
                 " \"bookworm\": {\"status\": \"open\"}}}}}",
                 "duplicate entry: p CVE-1 bookworm");
  char longname[400];
  memset(longname, 'a', sizeof longname);
  memcpy(longname, "{\"", 2);
  snprintf(longname + 2 + VULNDB_NAME_MAX + 1, sizeof longname - VULNDB_NAME_MAX - 3, "\": {}}");
  expect_refused(longname, "invalid source package name");
}

static char *tmpdir(void) {
  char *d = strdup("/tmp/test-vulndb.XXXXXX");
  assert_non_null(d);
  assert_non_null(mkdtemp(d));
  return d;
}

static void rmdir_r(char *d) {
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
  assert_int_equal(system(cmd), 0);
  free(d);
}

static void test_index_file_round_trip_and_meta(void **state) {
  char *d = tmpdir();
  int dfd = open(d, O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_true(dfd >= 0);
  struct vulndb_tracker *t = parse_ok(sample), *back = NULL;
  struct vulndb_meta m = {.import_time = 1700000000, .file_mtime = 1690000000, .file_size = 1234};
  vulndb_tracker_set_meta(t, &m);
  struct img_err err = {0};
  assert_int_equal(vulndb_tracker_write_at(t, dfd, "tracker.idx", &err), 0);
  vulndb_tracker_free(t);
  assert_int_equal(vulndb_tracker_load_at(dfd, "tracker.idx", &back, &err), 0);
  check_sample(back);
  struct vulndb_meta got;
  vulndb_tracker_get_meta(back, &got);
  assert_int_equal(got.import_time, 1700000000);
  assert_int_equal(got.file_mtime, 1690000000);
  assert_int_equal(got.file_size, 1234);
  vulndb_tracker_free(back);
  assert_int_equal(vulndb_tracker_load_at(dfd, "missing.idx", &back, NULL), -ENOENT);
  /* no temporary file is left behind */
  char cmd[PATH_MAX + 64];
  snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", d);
  assert_int_equal(system(cmd), 0);
  close(dfd);
  rmdir_r(d);
}

static void test_corrupt_index_is_refused(void **state) {
  char *d = tmpdir();
  int dfd = open(d, O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct vulndb_tracker *t = parse_ok(sample), *back = NULL;
  assert_int_equal(vulndb_tracker_write_at(t, dfd, "tracker.idx", NULL), 0);
  vulndb_tracker_free(t);
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/tracker.idx", d);
  struct stat st;
  assert_int_equal(stat(p, &st), 0);
  /* flip one byte at a few places: header, records, strings */
  off_t at[] = {3, 20, 100, st.st_size / 2, st.st_size - 2};
  for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
    int fd = open(p, O_RDWR);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, at[i]), 1);
    c ^= 0x40;
    assert_int_equal(pwrite(fd, &c, 1, at[i]), 1);
    struct img_err err = {0};
    assert_int_equal(vulndb_tracker_load_at(dfd, "tracker.idx", &back, &err), -EBADMSG);
    assert_null(back);
    c ^= 0x40;
    assert_int_equal(pwrite(fd, &c, 1, at[i]), 1);
    close(fd);
  }
  assert_int_equal(truncate(p, st.st_size - 1), 0);
  assert_int_equal(vulndb_tracker_load_at(dfd, "tracker.idx", &back, NULL), -EBADMSG);
  close(dfd);
  rmdir_r(d);
}

/* An import is: parse the new file, and only if it parses, replace the index. */
static int import(int dfd, const char *doc, size_t len) {
  struct vulndb_tracker *t = NULL;
  int r = vulndb_tracker_parse_buf(doc, len, &t, NULL);
  if (r == 0)
    r = vulndb_tracker_write_at(t, dfd, "tracker.idx", NULL);
  vulndb_tracker_free(t);
  return r;
}

static void test_failed_import_keeps_the_old_index(void **state) {
  char *d = tmpdir();
  int dfd = open(d, O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_int_equal(import(dfd, sample, strlen(sample)), 0);
  assert_int_equal(import(dfd, sample, strlen(sample) / 2), -EBADMSG);
  assert_int_equal(import(dfd, REL("{\"status\": \"bad\"}"), strlen(REL("{\"status\": \"bad\"}"))),
                   -EBADMSG);
  struct vulndb_tracker *back = NULL;
  assert_int_equal(vulndb_tracker_load_at(dfd, "tracker.idx", &back, NULL), 0);
  check_sample(back); /* the old index still answers */
  vulndb_tracker_free(back);
  /* a replacement that parses does replace it */
  static const char small[] = REL("{\"status\": \"open\"}");
  assert_int_equal(import(dfd, small, strlen(small)), 0);
  assert_int_equal(vulndb_tracker_load_at(dfd, "tracker.idx", &back, NULL), 0);
  assert_int_equal(vulndb_tracker_count(back), 1);
  vulndb_tracker_free(back);
  close(dfd);
  rmdir_r(d);
}

static void test_parse_from_fd_streams(void **state) {
  char *d = tmpdir();
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/data.json", d);
  /* many sources, so the stream crosses many read() chunks */
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs("{", f);
  for (int i = 0; i < 5000; i++)
    fprintf(f, "%s\"pkg%d\": {\"CVE-2024-%d\": {\"description\": \"%0200d\", \"releases\": "
               "{\"bookworm\": {\"status\": \"resolved\", \"fixed_version\": \"1.%d-1\"}, "
               "\"sid\": {\"status\": \"open\"}}}}",
            i ? "," : "", i, i, 0, i);
  fputs("}", f);
  assert_int_equal(fclose(f), 0);
  int fd = open(p, O_RDONLY);
  struct vulndb_tracker *t = NULL;
  struct img_err err = {0};
  int r = vulndb_tracker_parse_fd(fd, &t, &err);
  if (r < 0)
    fail_msg("%s", err.msg);
  close(fd);
  assert_int_equal(vulndb_tracker_count(t), 10000);
  size_t first;
  struct vulndb_entry e;
  assert_int_equal(vulndb_tracker_find(t, "bookworm", "pkg4321", &first), 1);
  vulndb_tracker_get(t, first, &e);
  assert_string_equal(e.fixed_version, "1.4321-1");
  vulndb_tracker_free(t);
  rmdir_r(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sample_parses_into_sorted_records),
      cmocka_unit_test(test_every_truncation_is_refused),
      cmocka_unit_test(test_malformed_data_is_refused_with_a_reason),
      cmocka_unit_test(test_index_file_round_trip_and_meta),
      cmocka_unit_test(test_corrupt_index_is_refused),
      cmocka_unit_test(test_failed_import_keeps_the_old_index),
      cmocka_unit_test(test_parse_from_fd_streams),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
