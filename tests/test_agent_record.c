/*
 * Unit tests of the agent's task records (agent/core/record.h): round trip through a
 * real file, strict parsing of hostile input, and no room for a value in the format.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/core/record.h"

static void test_record_round_trips_through_a_file(void **state) {
  char dir[] = "/tmp/test_agent_record.XXXXXX";
  assert_non_null(mkdtemp(dir));
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true(fd >= 0);
  struct ac_file files[] = {{"db_password", 7, "db", 1000, 1000, 0400},
                            {"api", 1, "keys/api", 0, 0, 0440}};
  struct ac_record rec = {.task_id = "t1", .service = "web", .running = true, .done = false,
                          .restarts = 3, .exit_code = 137, .restart = LAUNCH_RESTART_ON_FAILURE, .stop_timeout_ms = 2500,
                          .files = files, .n_files = 2};
  memset(rec.digest, 0xab, sizeof rec.digest);
  assert_int_equal(ac_record_write(fd, "t1", &rec), 0);
  struct ac_record back;
  assert_int_equal(ac_record_read(fd, "t1", &back), 0);
  assert_string_equal(back.task_id, "t1");
  assert_string_equal(back.service, "web");
  assert_true(back.running);
  assert_false(back.done);
  assert_int_equal(back.restarts, 3);
  assert_int_equal(back.exit_code, 137);
  assert_int_equal(back.restart, LAUNCH_RESTART_ON_FAILURE);
  assert_int_equal(back.stop_timeout_ms, 2500);
  assert_memory_equal(back.digest, rec.digest, AC_DIGEST_LEN);
  assert_int_equal(back.n_files, 2);
  assert_string_equal(back.files[1].target, "keys/api");
  assert_int_equal(back.files[0].version, 7);
  assert_int_equal(back.files[0].uid, 1000);
  assert_int_equal(back.files[1].mode, 0440);
  ac_record_clear(&back);
  assert_int_equal(ac_record_read(fd, "missing", &back), -ENOENT);
  char path[128];
  snprintf(path, sizeof path, "%s/t1.json", dir);
  unlink(path);
  close(fd);
  rmdir(dir);
}

static void test_hostile_records_are_refused(void **state) {
  static const char *const bad[] = {
      "",
      "[]",
      "{\"task\":\"t\"}",
      "{\"task\":\"t\",\"service\":\"s\",\"digest\":\"zz\",\"running\":true,\"done\":false,"
      "\"restarts\":0,\"exitCode\":0,\"restart\":0,\"stopTimeoutMs\":0,\"files\":[]}",
      /* a file with a negative mode, then an unknown restart policy */
      "{\"task\":\"t\",\"service\":\"s\",\"digest\":\"" \
      "0000000000000000000000000000000000000000000000000000000000000000\",\"running\":true,"
      "\"done\":false,\"restarts\":0,\"exitCode\":0,\"restart\":0,\"stopTimeoutMs\":0,\"files\":[{\"secret\":\"a\","
      "\"version\":1,\"target\":\"a\",\"uid\":0,\"gid\":0,\"mode\":-1}]}",
      "{\"task\":\"t\",\"service\":\"s\",\"digest\":\""
      "0000000000000000000000000000000000000000000000000000000000000000\",\"running\":true,"
      "\"done\":false,\"restarts\":0,\"exitCode\":0,\"restart\":9,\"stopTimeoutMs\":0,\"files\":[]}",
      /* trailing garbage */
      "{\"task\":\"t\",\"service\":\"s\",\"digest\":\""
      "0000000000000000000000000000000000000000000000000000000000000000\",\"running\":true,"
      "\"done\":false,\"restarts\":0,\"exitCode\":0,\"restart\":0,\"stopTimeoutMs\":0,\"files\":[]}x",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    struct ac_record r;
    assert_int_equal(ac_record_parse(bad[i], strlen(bad[i]), &r), -EBADMSG);
    assert_null(r.task_id);
  }
  const char *ok = "{\"task\":\"t\",\"service\":\"s\",\"digest\":\""
                   "0000000000000000000000000000000000000000000000000000000000000000\","
                   "\"running\":false,\"done\":true,\"restarts\":0,\"exitCode\":-1,"
                   "\"restart\":2,\"stopTimeoutMs\":1000,\"files\":[]}";
  struct ac_record r;
  assert_int_equal(ac_record_parse(ok, strlen(ok), &r), 0);
  assert_true(r.done);
  ac_record_clear(&r);
  ac_record_clear(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_record_round_trips_through_a_file),
      cmocka_unit_test(test_hostile_records_are_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
