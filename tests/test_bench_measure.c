/* bench/measure.c: the file system and CPU time printed beside every figure. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bench/measure.h"

static void test_mountinfo_line_is_parsed_and_unescaped(void **state) {
  unsigned maj, min;
  char mnt[1024], type[64], src[512];
  assert_int_equal(bench_mountinfo_line("36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 - ext3 "
                                        "/dev/root\\040x rw,errors=continue\n",
                                        &maj, &min, mnt, type, src),
                   0);
  assert_int_equal(maj, 98);
  assert_int_equal(min, 0);
  assert_string_equal(mnt, "/mnt two");
  assert_string_equal(type, "ext3");
  assert_string_equal(src, "/dev/root x");
  assert_int_equal(bench_mountinfo_line("36 35 98:0 / /x rw shared:1\n", &maj, &min, mnt, type, src),
                   -EINVAL); /* no " - " separator */
  assert_int_equal(bench_mountinfo_line("", &maj, &min, mnt, type, src), -EINVAL);
}

static void test_fs_of_root_names_its_mount(void **state) {
  struct bench_fs fs;
  assert_int_equal(bench_fs_of("/", &fs), 0);
  assert_string_equal(fs.mountpoint, "/");
  assert_string_not_equal(fs.type, "?");
  assert_int_equal(bench_fs_of("/proc/self", &fs), 0);
  assert_string_equal(fs.type, "proc");
  assert_string_equal(fs.mountpoint, "/proc");
  assert_int_equal(fs.magic, 0x9fa0); /* PROC_SUPER_MAGIC */
  assert_int_equal(bench_fs_of("/nonexistent-bench-path", &fs), -ENOENT);
}

static void test_cpu_times_are_read(void **state) {
  volatile unsigned long x = 0;
  double before = bench_cpu_self(), mine;
  time_t until = time(NULL) + 10;
  while (bench_cpu_self() - before < 0.05 && time(NULL) < until) /* spin: CPU time must grow */
    for (unsigned long i = 0; i < 100000UL; i++)
      x = x + i;
  assert_true(bench_cpu_self() - before >= 0.05);
  /* /proc/PID/stat counts clock ticks (10 ms): this process has spent >= 50 ms. */
  assert_int_equal(bench_cpu_pid(getpid(), &mine), 0);
  assert_true(mine >= 0.03);
  assert_int_equal(bench_cpu_pid(0x7ffffffe, &mine), -ESRCH);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mountinfo_line_is_parsed_and_unescaped),
      cmocka_unit_test(test_fs_of_root_names_its_mount),
      cmocka_unit_test(test_cpu_times_are_read),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
