/* `secret` output and input helpers: JSON string escaping, printable text,
 * tables, RFC 3339 formatting, value input limits, daemon error texts. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "base/error.h"
#include "cli/cli.h"

/* json_write_str of s[0..n) into a fresh string. */
static char *json(const char *s, size_t n) {
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  assert_non_null(f);
  json_write_str(f, s, n);
  fclose(f);
  return out;
}

#define assert_json(in, want)                                   \
  do {                                                          \
    char *got_ = json(in, sizeof(in) - 1);                      \
    assert_string_equal(got_, want);                            \
    free(got_);                                                 \
  } while (0)

static void test_json_plain_and_escapes(void **state) {
  assert_json("db_password", "\"db_password\"");
  assert_json("", "\"\"");
  assert_json("a\"b\\c", "\"a\\\"b\\\\c\"");
  assert_json("l1\nl2\r\t", "\"l1\\nl2\\r\\t\"");
  assert_json("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
  assert_json("</script>", "\"</script>\"");
}

static void test_json_keeps_utf8_and_replaces_invalid_bytes(void **state) {
  assert_json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91\"");
  assert_json("\xff", "\"\\ufffd\"");
  assert_json("\xc3", "\"\\ufffd\"");              /* truncated sequence */
  assert_json("\xc0\xaf", "\"\\ufffd\\ufffd\"");   /* overlong */
  assert_json("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
}

static void test_json_embedded_nul_is_escaped(void **state) {
  char *got = json("a\0b", 3);
  assert_string_equal(got, "\"a\\u0000b\"");
  free(got);
}

static void test_printable_replaces_controls(void **state) {
  char s[] = "ok\x1b[31mred\n";
  cli_printable(s);
  assert_string_equal(s, "ok?[31mred?");
}

static void test_table_aligns_columns(void **state) {
  static const char *const head[] = {"NAME", "ID"};
  static const char *const r1[] = {"a_long_name", "1"};
  static const char *const r2[] = {"b", "\x1b"};
  static const char *const r3[] = {"c", ""};
  struct table *t = NULL;
  char *out = NULL;
  size_t len = 0;
  assert_int_equal(table_new(2, head, &t), 0);
  assert_int_equal(table_add(t, r1), 0);
  assert_int_equal(table_add(t, r2), 0);
  assert_int_equal(table_add(t, r3), 0);
  FILE *f = open_memstream(&out, &len);
  table_print(t, f);
  fclose(f);
  assert_string_equal(out, "NAME         ID\n"
                           "a_long_name  1\n"
                           "b            ?\n"
                           "c\n"); /* no trailing blanks */
  free(out);
  table_free(t);
  table_free(NULL);
}

static void test_time_formats(void **state) {
  char b[40];
  assert_int_equal(cli_time_short(1795914000ull * 1000000000ull + 5, b, sizeof(b)), 20);
  assert_string_equal(b, "2026-11-29T01:00:00Z");
  assert_true(cli_time_long(1795914000ull * 1000000000ull + 5, b, sizeof(b)) > 0);
  assert_string_equal(b, "2026-11-29T01:00:00.000000005Z");
  assert_int_equal(cli_time_short(0, b, 10), -ENOBUFS);
  /* round trip through the parser */
  uint64_t v;
  assert_int_equal(cli_parse_rfc3339("2026-11-29T01:00:00.000000005Z", &v), 0);
  assert_int_equal(v, 1795914000ull * 1000000000ull + 5);
}

/* A pipe holding n bytes (written by a child so large n cannot block). */
static int pipe_with(size_t n) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(p[0]);
    char buf[4096];
    memset(buf, 'x', sizeof(buf));
    while (n) {
      size_t k = n < sizeof(buf) ? n : sizeof(buf);
      if (write(p[1], buf, k) != (ssize_t)k)
        _exit(1);
      n -= k;
    }
    _exit(0);
  }
  close(p[1]);
  return p[0];
}

/* Close the read end and reap the writer. */
static void done(int fd) {
  close(fd);
  while (waitpid(-1, NULL, 0) > 0)
    ;
}

static void test_value_limits(void **state) {
  struct secbuf *v = NULL;
  int fd;

  fd = pipe_with(0);
  assert_int_equal(cli_value_read_fd(fd, CLI_VALUE_MAX, &v), -ENODATA);
  assert_null(v);
  done(fd);
  fd = pipe_with(1);
  assert_int_equal(cli_value_read_fd(fd, CLI_VALUE_MAX, &v), 0);
  assert_int_equal(secbuf_len(v), 1);
  secbuf_free(v);
  v = NULL;
  done(fd);
  fd = pipe_with(CLI_VALUE_MAX);
  assert_int_equal(cli_value_read_fd(fd, CLI_VALUE_MAX, &v), 0);
  assert_int_equal(secbuf_len(v), CLI_VALUE_MAX);
  assert_int_equal(secbuf_data(v)[CLI_VALUE_MAX - 1], 'x');
  secbuf_free(v);
  v = NULL;
  done(fd);
  fd = pipe_with(CLI_VALUE_MAX + 1);
  assert_int_equal(cli_value_read_fd(fd, CLI_VALUE_MAX, &v), -EFBIG);
  assert_null(v);
  done(fd);
  secbuf_free(NULL);
}

static void test_value_from_file_and_errors(void **state) {
  char path[] = "/tmp/test_cli_value.XXXXXX";
  struct secbuf *v = NULL;
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "s3cr3t", 6), 6);
  close(fd);
  assert_int_equal(cli_value_read(path, CLI_VALUE_MAX, &v), 0);
  assert_int_equal(secbuf_len(v), 6);
  assert_memory_equal(secbuf_data(v), "s3cr3t", 6);
  secbuf_free(v);
  v = NULL;
  assert_int_equal(cli_value_read(path, 5, &v), -EFBIG);
  unlink(path);
  assert_int_equal(cli_value_read(path, CLI_VALUE_MAX, &v), -ENOENT);
  assert_int_equal(cli_value_read("/", CLI_VALUE_MAX, &v), -EISDIR);
  assert_null(v);
}

static void test_daemon_error_texts(void **state) {
  assert_string_equal(cli_daemon_error_text(-ENOENT, "No such file or directory", NULL),
                      "no such secret");
  assert_string_equal(cli_daemon_error_text(-ENOENT, "x", "no grant"), "no grant");
  assert_non_null(strstr(cli_daemon_error_text(-EEXIST, "File exists", NULL), "already exists"));
  assert_non_null(strstr(cli_daemon_error_text(-ENOSPC, "", NULL), "no space"));
  assert_string_equal(cli_daemon_error_text(SD_E_NAME, "bad name here", NULL), "bad name here");
  assert_string_equal(cli_daemon_error_text(SD_E_GRANTED, "", NULL), sd_strerror(SD_E_GRANTED));
}

static void test_socket_path_precedence(void **state) {
  unsetenv(CLI_SOCKET_ENV);
  assert_string_equal(cli_socket_path(NULL), CLI_DEFAULT_SOCKET);
  setenv(CLI_SOCKET_ENV, "", 1);
  assert_string_equal(cli_socket_path(NULL), CLI_DEFAULT_SOCKET);
  setenv(CLI_SOCKET_ENV, "/tmp/env.sock", 1);
  assert_string_equal(cli_socket_path(NULL), "/tmp/env.sock");
  assert_string_equal(cli_socket_path("/tmp/flag.sock"), "/tmp/flag.sock");
  unsetenv(CLI_SOCKET_ENV);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_plain_and_escapes),
      cmocka_unit_test(test_json_keeps_utf8_and_replaces_invalid_bytes),
      cmocka_unit_test(test_json_embedded_nul_is_escaped),
      cmocka_unit_test(test_printable_replaces_controls),
      cmocka_unit_test(test_table_aligns_columns),
      cmocka_unit_test(test_time_formats),
      cmocka_unit_test(test_value_limits),
      cmocka_unit_test(test_value_from_file_and_errors),
      cmocka_unit_test(test_daemon_error_texts),
      cmocka_unit_test(test_socket_path_precedence),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
