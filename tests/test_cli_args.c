/* `secret` argument parsing of every verb: positionals, options anywhere,
 * required options, numbers, and the usage errors (exit status 2). No daemon
 * is contacted: the parse functions never connect. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli.h"

#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)))
#define PARSE(fn, a, ...) fn(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), a)

static void test_create_name_file_and_labels_in_any_order(void **state) {
  struct create_args a;
  assert_int_equal(PARSE(create_parse, &a, "create", "--label", "env=prod", "db", "-",
                         "--label=tier=db"), 0);
  assert_string_equal(a.name, "db");
  assert_string_equal(a.file, "-");
  assert_int_equal(a.n_labels, 2);
  assert_memory_equal(a.labels[0].key, "env", 3);
  assert_string_equal(a.labels[1].value, "db");
  assert_int_equal(PARSE(create_parse, &a, "create", "db"), 0);
  assert_null(a.file); /* stdin */
  assert_int_equal(PARSE(create_parse, &a, "create", "--", "-odd"), 0);
  assert_string_equal(a.name, "-odd");
}

static void test_create_usage_errors(void **state) {
  struct create_args a;
  assert_int_equal(PARSE(create_parse, &a, "create"), CLI_EXIT_USAGE);
  assert_int_equal(PARSE(create_parse, &a, "create", "a", "b", "c"), CLI_EXIT_USAGE);
  assert_int_equal(PARSE(create_parse, &a, "create", "a", "--label", "novalue"), CLI_EXIT_USAGE);
  assert_int_equal(PARSE(create_parse, &a, "create", "a", "--label", "=v"), CLI_EXIT_USAGE);
  assert_int_equal(PARSE(create_parse, &a, "create", "a", "--label", "k=1", "--label", "k=2"),
                   CLI_EXIT_USAGE);
  assert_int_equal(PARSE(create_parse, &a, "create", "a", "--label"), CLI_EXIT_USAGE);
  assert_int_equal(PARSE(create_parse, &a, "create", "a", "--value", "x"), CLI_EXIT_USAGE);
  assert_int_equal(PARSE(create_parse, &a, "create", "a", "-x"), CLI_EXIT_USAGE);
  assert_int_equal(PARSE(create_parse, &a, "create", ""), CLI_EXIT_USAGE);
}

static void test_too_many_labels_refused(void **state) {
  char *argv[2 + 2 * (CLI_MAX_LABELS + 1) + 1];
  char keys[CLI_MAX_LABELS + 1][16];
  struct create_args a;
  int n = 0;
  argv[n++] = "create";
  argv[n++] = "s";
  for (int i = 0; i <= CLI_MAX_LABELS; i++) {
    snprintf(keys[i], sizeof(keys[i]), "k%d=v", i);
    argv[n++] = "--label";
    argv[n++] = keys[i];
  }
  argv[n] = NULL;
  assert_int_equal(create_parse(n, argv, &a), CLI_EXIT_USAGE);
  assert_int_equal(create_parse(n - 2, argv, &a), 0);
  assert_int_equal(a.n_labels, CLI_MAX_LABELS);
}

static void test_help_and_socket_are_common(void **state) {
  struct create_args a;
  struct ls_args l;
  assert_int_equal(PARSE(create_parse, &a, "create", "--help"), 0);
  assert_true(a.co.help);
  assert_int_equal(PARSE(ls_parse, &l, "ls", "-h"), 0);
  assert_true(l.co.help);
  assert_int_equal(PARSE(ls_parse, &l, "ls", "--socket", "/tmp/s", "--json"), 0);
  assert_string_equal(l.co.socket, "/tmp/s");
  assert_true(l.co.json);
  assert_false(l.co.help);
  assert_int_equal(PARSE(ls_parse, &l, "ls", "extra"), CLI_EXIT_USAGE);
  assert_int_equal(PARSE(ls_parse, &l, "ls", "--socket"), CLI_EXIT_USAGE);
  /* --page-size: 1 .. WIRE_PAGE_MAX, default the maximum */
  assert_int_equal(PARSE(ls_parse, &l, "ls"), 0);
  assert_int_equal(l.page_size, WIRE_PAGE_MAX);
  assert_int_equal(PARSE(ls_parse, &l, "ls", "--page-size", "1"), 0);
  assert_int_equal(l.page_size, 1);
  assert_int_equal(PARSE(ls_parse, &l, "ls", "--page-size=1000"), 0);
  assert_int_equal(l.page_size, 1000);
  assert_int_equal(PARSE(ls_parse, &l, "ls", "--page-size", "0"), CLI_EXIT_USAGE);
  assert_int_equal(PARSE(ls_parse, &l, "ls", "--page-size", "1001"), CLI_EXIT_USAGE);
  assert_int_equal(PARSE(ls_parse, &l, "ls", "--page-size", "-5"), CLI_EXIT_USAGE);
  assert_int_equal(PARSE(ls_parse, &l, "ls", "--page-size", "99999999999"), CLI_EXIT_USAGE);
  assert_int_equal(PARSE(ls_parse, &l, "ls", "--page-size"), CLI_EXIT_USAGE);
  /* --json only where it means something */
  assert_int_equal(PARSE(create_parse, &a, "create", "x", "--json"), CLI_EXIT_USAGE);
}

static void test_rotate_rm_inspect(void **state) {
  struct rotate_args r;
  struct rm_args m;
  struct inspect_args i;
  assert_int_equal(PARSE(rotate_parse, &r, "rotate", "db", "/tmp/v"), 0);
  assert_string_equal(r.file, "/tmp/v");
  assert_int_equal(PARSE(rotate_parse, &r, "rotate"), CLI_EXIT_USAGE);
  assert_int_equal(PARSE(rm_parse, &m, "rm", "db"), 0);
  assert_false(m.force);
  assert_int_equal(PARSE(rm_parse, &m, "rm", "--force", "db"), 0);
  assert_true(m.force);
  assert_string_equal(m.name, "db");
  assert_int_equal(PARSE(rm_parse, &m, "rm", "a", "b"), CLI_EXIT_USAGE);
  assert_int_equal(PARSE(inspect_parse, &i, "inspect", "db", "--json"), 0);
  assert_true(i.co.json);
  assert_string_equal(i.name, "db");
  assert_int_equal(PARSE(inspect_parse, &i, "inspect"), CLI_EXIT_USAGE);
}

static void test_grant_options(void **state) {
  struct grant_args g;
  assert_int_equal(PARSE(grant_parse, &g, "grant", "db", "--service", "web", "--target", "db/pw",
                         "--uid", "1000", "--gid=1001", "--mode", "0440"), 0);
  assert_string_equal(g.name, "db");
  assert_string_equal(g.service, "web");
  assert_string_equal(g.target, "db/pw");
  assert_true(g.has_uid && g.has_gid && g.has_mode);
  assert_int_equal(g.uid, 1000);
  assert_int_equal(g.gid, 1001);
  assert_int_equal(g.mode, 0440);
  assert_int_equal(PARSE(grant_parse, &g, "grant", "db", "--service", "web"), 0);
  assert_false(g.has_uid || g.has_gid || g.has_mode || g.has_version);
  assert_null(g.target);
  assert_int_equal(PARSE(grant_parse, &g, "grant", "db", "--service", "web", "--version", "3"), 0);
  assert_true(g.has_version);
  assert_int_equal(g.version, 3);
  assert_int_equal(PARSE(grant_parse, &g, "grant", "db", "--service", "web", "--version=0"), 0);
  assert_true(g.has_version && g.version == 0);
}

static void test_grant_usage_errors(void **state) {
  struct grant_args g;
  assert_int_equal(PARSE(grant_parse, &g, "grant", "db"), CLI_EXIT_USAGE);
  assert_int_equal(PARSE(grant_parse, &g, "grant", "--service", "web"), CLI_EXIT_USAGE);
  assert_int_equal(PARSE(grant_parse, &g, "grant", "db", "--service", ""), CLI_EXIT_USAGE);
  assert_int_equal(PARSE(grant_parse, &g, "grant", "db", "--service", "w", "--uid", "-1"),
                   CLI_EXIT_USAGE);
  assert_int_equal(PARSE(grant_parse, &g, "grant", "db", "--service", "w", "--gid", "4294967296"),
                   CLI_EXIT_USAGE);
  assert_int_equal(PARSE(grant_parse, &g, "grant", "db", "--service", "w", "--mode", "0888"),
                   CLI_EXIT_USAGE);
  assert_int_equal(PARSE(grant_parse, &g, "grant", "db", "--service", "w", "--target", ""),
                   CLI_EXIT_USAGE);
  assert_int_equal(PARSE(grant_parse, &g, "grant", "db", "--service", "w", "--version", "v2"),
                   CLI_EXIT_USAGE);
  assert_int_equal(PARSE(grant_parse, &g, "grant", "db", "--service", "w", "--version", "-1"),
                   CLI_EXIT_USAGE);
}

static void test_revoke(void **state) {
  struct revoke_args r;
  assert_int_equal(PARSE(revoke_parse, &r, "revoke", "db", "--service", "web"), 0);
  assert_string_equal(r.service, "web");
  assert_int_equal(PARSE(revoke_parse, &r, "revoke", "db"), CLI_EXIT_USAGE);
  assert_int_equal(PARSE(revoke_parse, &r, "revoke", "db", "--target", "x", "--service", "w"),
                   CLI_EXIT_USAGE);
}

#define AUDIT(a, ...) audit_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), now, a)

static void test_audit_options(void **state) {
  const uint64_t now = 1795914000ull * 1000000000ull;
  struct audit_args a;
  assert_int_equal(AUDIT(&a, "audit"), 0);
  assert_false(a.verify || a.has_since || a.co.json || a.has_head);
  assert_int_equal(AUDIT(&a, "audit", "--since", "15m", "--json"), 0);
  assert_true(a.has_since && a.co.json);
  assert_int_equal(a.since_ns, now - 900ull * 1000000000ull);
  assert_int_equal(AUDIT(&a, "audit", "--since=2026-11-29T00:00:00+01:00"), 0);
  assert_int_equal(a.since_ns, now - 7200ull * 1000000000ull);
  assert_int_equal(AUDIT(&a, "audit", "--verify"), 0);
  assert_true(a.verify);
  assert_int_equal(AUDIT(&a, "audit", "--expect-head",
                         "7:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"),
                   0);
  assert_true(a.verify && a.has_head);
  assert_int_equal(a.head_seq, 7);
  assert_string_equal(a.head_hash, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
}

static void test_audit_usage_errors(void **state) {
  const uint64_t now = 1795914000ull * 1000000000ull;
  struct audit_args a;
  assert_int_equal(AUDIT(&a, "audit", "--since", "yesterday"), CLI_EXIT_USAGE);
  assert_int_equal(AUDIT(&a, "audit", "--since"), CLI_EXIT_USAGE);
  assert_int_equal(AUDIT(&a, "audit", "--verify", "--since", "1h"), CLI_EXIT_USAGE);
  assert_int_equal(AUDIT(&a, "audit", "--expect-head", "7:abc"), CLI_EXIT_USAGE);
  assert_int_equal(AUDIT(&a, "audit", "records"), CLI_EXIT_USAGE);
  /* pages of one record would never reach the end (each adds a record) */
  assert_int_equal(AUDIT(&a, "audit", "--page-size", "1"), CLI_EXIT_USAGE);
  assert_int_equal(AUDIT(&a, "audit", "--page-size", "1001"), CLI_EXIT_USAGE);
  assert_int_equal(AUDIT(&a, "audit", "--page-size", "2"), 0);
  assert_int_equal(a.page_size, 2);
}

static void test_verb_table(void **state) {
  static const char *const names[] = {"create", "ls", "inspect", "rotate", "rm", "grant", "revoke",
                                      "audit"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    const struct cli_verb *v = cli_verb_find(names[i]);
    assert_non_null(v);
    assert_non_null(v->run);
    assert_string_equal(v->name, names[i]);
  }
  assert_null(cli_verb_find("steal"));
  assert_null(cli_verb_find(NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create_name_file_and_labels_in_any_order),
      cmocka_unit_test(test_create_usage_errors),
      cmocka_unit_test(test_too_many_labels_refused),
      cmocka_unit_test(test_help_and_socket_are_common),
      cmocka_unit_test(test_rotate_rm_inspect),
      cmocka_unit_test(test_grant_options),
      cmocka_unit_test(test_grant_usage_errors),
      cmocka_unit_test(test_revoke),
      cmocka_unit_test(test_audit_options),
      cmocka_unit_test(test_audit_usage_errors),
      cmocka_unit_test(test_verb_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
