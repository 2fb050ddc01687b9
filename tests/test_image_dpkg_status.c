/* image/dpkg_status: the status parser, os-release, and loading a root
 * filesystem's database inside the root (this machine's, a busybox rootfs,
 * crafted ones, symlink escapes). usage: test_image_dpkg_status MKROOTFS_SH */
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

#include "image/dpkg_status.h"
#include "image/dpkg_version.h"

static const char *mkrootfs;

static char *tmproot(void) {
  char *d = strdup("/tmp/test-dpkg-status.XXXXXX");
  assert_non_null(d);
  assert_non_null(mkdtemp(d));
  return d;
}

static void rmroot(char *d) {
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
  assert_int_equal(system(cmd), 0);
  free(d);
}

static void mkparents(const char *root, const char *rel) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  for (char *s = p + strlen(root) + 1; (s = strchr(s, '/')); s++) {
    *s = '\0';
    mkdir(p, 0755);
    *s = '/';
  }
}

static void put(const char *root, const char *rel, const char *content) {
  char p[PATH_MAX];
  mkparents(root, rel);
  snprintf(p, sizeof p, "%s/%s", root, rel);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(content, f);
  assert_int_equal(fclose(f), 0);
}

static void link_(const char *root, const char *rel, const char *target) {
  char p[PATH_MAX];
  mkparents(root, rel);
  snprintf(p, sizeof p, "%s/%s", root, rel);
  assert_int_equal(symlink(target, p), 0);
}

static const char status_mixed[] =
    "Package: bash\n"
    "Status: install ok installed\n"
    "Priority: required\n"
    "Architecture: amd64\n"
    "Version: 5.2.15-2+b2\n"
    "Source: bash (5.2.15-2)\n"
    "Description: GNU Bourne Again SHell\n"
    " Bash is an sh-compatible command language interpreter.\n"
    " .\n"
    " Version: 9.9 (a continuation, not a field)\n"
    "\n"
    "Package: libssl3\n"
    "Status: hold ok installed\n"
    "Architecture: amd64\n"
    "Source: openssl\n"
    "Version: 3.0.11-1~deb12u2\n"
    "\n"
    "Package: oldconf\n"
    "Status: deinstall ok config-files\n"
    "Version: 1.0-1\n"
    "\n"
    "Package: halfway\n"
    "Status: install ok half-installed\n"
    "Version: 1.0-1\n"
    "\n"
    "Package: gone\n"
    "Status: purge ok not-installed\n"
    "\n"
    "Package: broken\n"
    "Status: install reinstreq installed\n"
    "Version: 1.0-1\n"
    "\n"
    "\n"
    "package: tzdata\n"
    "status: install ok installed\n"
    "architecture: all\n"
    "version: 2024a-0+deb12u1\n";

static void test_only_installed_packages_are_kept(void **state) {
  struct dpkg_db db = {0};
  struct img_err err = {0};
  assert_int_equal(dpkg_status_parse(&db, status_mixed, strlen(status_mixed), 0, &err), 3);
  dpkg_db_sort(&db);
  assert_int_equal(db.n, 3);
  assert_string_equal(db.pkgs[0].name, "bash");
  assert_string_equal(db.pkgs[1].name, "libssl3");
  assert_string_equal(db.pkgs[2].name, "tzdata");
  assert_null(dpkg_db_find(&db, "oldconf"));
  assert_null(dpkg_db_find(&db, "halfway"));
  assert_null(dpkg_db_find(&db, "broken"));
  const struct dpkg_pkg *t = dpkg_db_find(&db, "tzdata"); /* field names: any case */
  assert_non_null(t);
  assert_string_equal(t->arch, "all");
  dpkg_db_clear(&db);
}

static void test_binnmu_source_name_and_version(void **state) {
  struct dpkg_db db = {0};
  assert_int_equal(dpkg_status_parse(&db, status_mixed, strlen(status_mixed), 0, NULL), 3);
  dpkg_db_sort(&db);
  const struct dpkg_pkg *b = dpkg_db_find(&db, "bash");
  assert_string_equal(b->version, "5.2.15-2+b2"); /* not the Description's "Version:" */
  assert_string_equal(b->source, "bash");
  assert_string_equal(b->source_version, "5.2.15-2");
  const struct dpkg_pkg *s = dpkg_db_find(&db, "libssl3");
  assert_string_equal(s->source, "openssl");
  assert_string_equal(s->source_version, "3.0.11-1~deb12u2"); /* default: own version */
  const struct dpkg_pkg *t = dpkg_db_find(&db, "tzdata");
  assert_string_equal(t->source, "tzdata"); /* default: own name */
  assert_string_equal(t->source_version, "2024a-0+deb12u1");
  dpkg_db_clear(&db);
}

static void expect_refused(const char *text, int code, const char *needle) {
  struct dpkg_db db = {0};
  struct img_err err = {0};
  static const char good[] = "Package: a\nStatus: install ok installed\nVersion: 1\n";
  assert_int_equal(dpkg_status_parse(&db, good, strlen(good), 0, NULL), 1);
  int r = dpkg_status_parse(&db, text, strlen(text), 0, &err);
  if (r != code || !strstr(err.msg, needle))
    fail_msg("%s: got %d '%s', want %d '%s'", text, r, err.msg, code, needle);
  assert_int_equal(db.n, 1); /* the earlier package survives, nothing half-added */
  dpkg_db_clear(&db);
}

#define INST "Status: install ok installed\n"
static void test_malformed_status_is_refused_with_the_line(void **state) {
  expect_refused("Package: x\n" INST "Version: 1\nno colon here\n", -EBADMSG, "line 4: no \"Field:\"");
  expect_refused(": value\n", -EBADMSG, "line 1");
  expect_refused(" leading continuation\n", -EBADMSG, "continuation line without a field");
  expect_refused("Package: x\n" INST "Version: 1\n 2\n", -EBADMSG, "Version continues");
  expect_refused("Package: x\nPackage: y\n" INST "Version: 1\n", -EBADMSG, "Package repeated");
  expect_refused(INST "Version: 1\n", -EBADMSG, "without Package");
  expect_refused("Package: x\n" INST, -EBADMSG, "without Version");
  expect_refused("Package: X_y\n" INST "Version: 1\n", -EBADMSG, "invalid package name");
  expect_refused("Package: x\n" INST "Version: a1\n", -EBADMSG, "does not start with a digit");
  expect_refused("Package: x\nStatus: install ok\nVersion: 1\n", -EBADMSG, "malformed Status");
  expect_refused("Package: x\n" INST "Version: 1\nSource: y 1.0\n", -EBADMSG, "name (version)");
  expect_refused("Package: x\n" INST "Version: 1\nSource: y ()\n", -EBADMSG, "name (version)");
  expect_refused("Package: x\n" INST "Version: 1\nSource: y (1.0-)\n", -EBADMSG, "Source version");
  expect_refused("Package: x\n" INST "Version: 1\nSource: Y\n", -EBADMSG, "invalid Source name");
  expect_refused("Package: x\n" INST "Version: 1\nArchitecture: AMD64\n", -EBADMSG,
                 "invalid Architecture");
  /* stanzas that are not installed are not validated beyond their Status */
  struct dpkg_db db = {0};
  static const char skip[] = "Package: X_y\nStatus: deinstall ok config-files\nVersion: a\n";
  assert_int_equal(dpkg_status_parse(&db, skip, strlen(skip), 0, NULL), 0);
  static const char nul[] = "Package: x\0\n";
  assert_int_equal(dpkg_status_parse(&db, nul, sizeof nul - 1, 0, NULL), -EBADMSG);
  dpkg_db_clear(&db);
}

static void test_overlong_fields_are_refused(void **state) {
  char buf[4096];
  char name[DPKG_NAME_MAX + 2];
  memset(name, 'a', sizeof name - 1);
  name[sizeof name - 1] = '\0';
  snprintf(buf, sizeof buf, "Package: %s\n" INST "Version: 1\n", name);
  expect_refused(buf, -E2BIG, "Package longer than");
  char ver[DPKG_VERSION_MAX + 2];
  memset(ver, '1', sizeof ver - 1);
  ver[sizeof ver - 1] = '\0';
  snprintf(buf, sizeof buf, "Package: a\n" INST "Version: %s\n", ver);
  expect_refused(buf, -E2BIG, "Version longer than");
  /* a long Description is not kept, so it is no error */
  struct dpkg_db db = {0};
  char *big = malloc(200000);
  assert_non_null(big);
  int n = snprintf(big, 200000, "Package: a\n" INST "Version: 1\nDescription: ");
  memset(big + n, 'x', 150000);
  strcpy(big + n + 150000, "\n");
  assert_int_equal(dpkg_status_parse(&db, big, strlen(big), 0, NULL), 1);
  free(big);
  dpkg_db_clear(&db);
}

static void test_os_release_values(void **state) {
  static const char osr[] = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
                            "NAME=\"Debian GNU/Linux\"\n"
                            "VERSION_ID='12'\n"
                            "# ID=commented\n"
                            "garbage line\n"
                            "VERSION_CODENAME=bookworm\r\n"
                            "ID=debian";
  struct dpkg_os os;
  dpkg_os_release_parse(osr, sizeof osr - 1, &os);
  assert_string_equal(os.id, "debian");
  assert_string_equal(os.version_id, "12");
  assert_string_equal(os.codename, "bookworm");
  assert_string_equal(os.pretty_name, "Debian GNU/Linux 12 (bookworm)");
  static const char esc[] = "ID=\"a\\\"b\\\\c\x1b[31m\"\n";
  dpkg_os_release_parse(esc, sizeof esc - 1, &os);
  assert_string_equal(os.id, "a\"b\\c[31m"); /* escapes, no control bytes */
  assert_string_equal(os.codename, "");
}

/* This machine's own root against dpkg-query. */
static void test_this_machines_root_matches_dpkg_query(void **state) {
  FILE *p = popen("dpkg-query -W -f='${Status}\\n' | grep -c ' ok installed$'", "r");
  assert_non_null(p);
  long want = 0;
  assert_int_equal(fscanf(p, "%ld", &want), 1);
  pclose(p);
  assert_true(want > 100); /* a real Debian with hundreds of packages */
  struct dpkg_db *db = NULL;
  struct img_err err = {0};
  int r = dpkg_db_load("/", &db, &err);
  if (r < 0)
    fail_msg("load /: %s", err.msg);
  assert_int_equal((long)db->n, want);
  assert_int_equal(db->has_os, 1);
  assert_string_equal(db->os.id, "debian");
  assert_string_equal(db->os.codename, "bookworm");
  const struct dpkg_pkg *libc = dpkg_db_find(db, "libc6");
  assert_non_null(libc);
  assert_string_equal(libc->source, "glibc");
  /* every version as dpkg-query prints it */
  p = popen("dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version}\\n' | grep '^.i' | "
            "awk '{print $2, $3}'",
            "r");
  assert_non_null(p);
  char name[256], ver[256];
  long seen = 0;
  while (fscanf(p, "%255s %255s", name, ver) == 2) {
    const struct dpkg_pkg *k = dpkg_db_find(db, name);
    if (!k)
      fail_msg("%s missing", name);
    seen++;
  }
  pclose(p);
  assert_true(seen > 100);
  dpkg_db_free(db);
}

static void test_busybox_rootfs_has_no_database(void **state) {
  char *root = tmproot();
  char cmd[PATH_MAX * 2];
  rmdir(root);
  snprintf(cmd, sizeof cmd, "sh '%s' '%s' >/dev/null", mkrootfs, root);
  assert_int_equal(system(cmd), 0);
  struct dpkg_db *db = (void *)0x1;
  struct img_err err = {0};
  assert_int_equal(dpkg_db_load(root, &db, &err), -ENOPKG);
  assert_ptr_equal(db, (void *)0x1);
  assert_non_null(strstr(err.msg, "no dpkg database"));
  rmroot(root);
}

static void test_distroless_status_d(void **state) {
  char *root = tmproot();
  put(root, "var/lib/dpkg/status.d/base-files",
      "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n");
  put(root, "var/lib/dpkg/status.d/base-files.md5sums", "not a control file at all\n");
  put(root, "var/lib/dpkg/status.d/libssl3",
      "Package: libssl3\nVersion: 3.0.11-1~deb12u2\nSource: openssl\n");
  put(root, "var/lib/dpkg/status.d/removed",
      "Package: removed\nStatus: deinstall ok config-files\nVersion: 1\n");
  put(root, "var/lib/dpkg/status.d/.hidden", "junk\n");
  link_(root, "etc/os-release", "../usr/lib/os-release"); /* as Debian has it */
  put(root, "usr/lib/os-release", "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n");
  struct dpkg_db *db = NULL;
  struct img_err err = {0};
  int r = dpkg_db_load(root, &db, &err);
  if (r < 0)
    fail_msg("%s", err.msg);
  assert_int_equal(db->n, 2);
  assert_string_equal(db->pkgs[0].name, "base-files");
  assert_string_equal(db->pkgs[1].source, "openssl");
  assert_string_equal(db->os.codename, "bookworm");
  dpkg_db_free(db);
  /* a malformed file is named */
  put(root, "var/lib/dpkg/status.d/zz", "Package: zz\nVersion: x\n");
  memset(&err, 0, sizeof err);
  assert_int_equal(dpkg_db_load(root, &db, &err), -EBADMSG);
  assert_non_null(strstr(err.msg, "status.d/zz"));
  rmroot(root);
}

/* var/lib/dpkg -> /var/lib/dpkg (absolute): resolved inside the root it points
 * at itself; the host's database (hundreds of packages) is never read. */
static void test_absolute_symlink_never_reads_the_host(void **state) {
  char *root = tmproot();
  link_(root, "var/lib/dpkg", "/var/lib/dpkg");
  link_(root, "etc/os-release", "/etc/os-release");
  struct dpkg_db *db = NULL;
  struct img_err err = {0};
  int r = dpkg_db_load(root, &db, &err);
  assert_true(r == -ELOOP || r == -ENOPKG);
  assert_null(db);
  rmroot(root);

  /* an absolute link to a directory of the root: followed, inside the root */
  root = tmproot();
  link_(root, "var/lib/dpkg", "/../../../../srv/dpkg");
  put(root, "srv/dpkg/status", "Package: inside\n" INST "Version: 1.0-1\n");
  link_(root, "etc/os-release", "/usr/lib/os-release");
  put(root, "usr/lib/os-release", "ID=inroot\n");
  r = dpkg_db_load(root, &db, &err);
  if (r < 0)
    fail_msg("%s", err.msg);
  assert_int_equal(db->n, 1);
  assert_string_equal(db->pkgs[0].name, "inside");
  assert_string_equal(db->os.id, "inroot"); /* not the host's "debian" */
  dpkg_db_free(db);
  rmroot(root);
}

static void test_hostile_files_are_refused(void **state) {
  char *root = tmproot();
  char p[PATH_MAX];
  mkparents(root, "var/lib/dpkg/status");
  snprintf(p, sizeof p, "%s/var/lib/dpkg/status", root);
  assert_int_equal(mkfifo(p, 0600), 0); /* must not hang */
  struct dpkg_db *db = NULL;
  struct img_err err = {0};
  assert_int_equal(dpkg_db_load(root, &db, &err), -EINVAL);
  assert_non_null(strstr(err.msg, "not a regular file"));
  unlink(p);
  int fd = open(p, O_CREAT | O_WRONLY, 0600);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)DPKG_STATUS_MAX + 1), 0); /* sparse */
  close(fd);
  memset(&err, 0, sizeof err);
  assert_int_equal(dpkg_db_load(root, &db, &err), -EFBIG);
  assert_null(db);
  rmroot(root);
}

static void test_empty_database_is_no_error(void **state) {
  char *root = tmproot();
  put(root, "var/lib/dpkg/status", "");
  struct dpkg_db *db = NULL;
  assert_int_equal(dpkg_db_load(root, &db, NULL), 0);
  assert_int_equal(db->n, 0);
  assert_int_equal(db->has_os, 0);
  dpkg_db_free(db);
  dpkg_db_free(NULL);
  dpkg_db_clear(NULL);
  rmroot(root);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s MKROOTFS_SH\n", argv[0]);
    return 2;
  }
  mkrootfs = argv[1];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_only_installed_packages_are_kept),
      cmocka_unit_test(test_binnmu_source_name_and_version),
      cmocka_unit_test(test_malformed_status_is_refused_with_the_line),
      cmocka_unit_test(test_overlong_fields_are_refused),
      cmocka_unit_test(test_os_release_values),
      cmocka_unit_test(test_this_machines_root_matches_dpkg_query),
      cmocka_unit_test(test_busybox_rootfs_has_no_database),
      cmocka_unit_test(test_distroless_status_d),
      cmocka_unit_test(test_absolute_symlink_never_reads_the_host),
      cmocka_unit_test(test_hostile_files_are_refused),
      cmocka_unit_test(test_empty_database_is_no_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
