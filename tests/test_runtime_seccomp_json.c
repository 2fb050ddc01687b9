/*
 * Unit tests of the content-based seccomp entry point (rt_seccomp_compile_json): a
 * profile that travelled in a launch spec compiles from memory to the same BPF as the
 * same profile read from a file, is never written to the on-disk cache (whose key
 * holds the profile's bytes), and bad content is refused with a message.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime/runtime.h"
#include "runtime/seccomp.h"

static const char PROFILE[] =
    "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\",\"mkdirat\"],"
    "\"action\":\"SCMP_ACT_ERRNO\"}]}";

static size_t entries(const char *dir) {
  size_t n = 0;
  DIR *d = opendir(dir);
  struct dirent *e;
  assert_non_null(d);
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, ".."))
      n++;
  closedir(d);
  return n;
}

static void test_content_compiles_like_the_file_and_is_never_cached(void **state) {
  char dir[] = "/tmp/test_seccomp_json.XXXXXX", cache[64], path[64];
  assert_non_null(mkdtemp(dir));
  snprintf(cache, sizeof cache, "%s/cache", dir);
  snprintf(path, sizeof path, "%s/profile.json", dir);
  rt_seccomp_set_cache_dir(cache);

  struct rt_seccomp *mem = NULL, *file = NULL;
  assert_int_equal(rt_seccomp_compile_json(PROFILE, strlen(PROFILE), rt_default_caps(), &mem), 0);
  assert_false(rt_seccomp_is_empty(mem));
  assert_int_equal(rt_seccomp_source(mem), RT_SECCOMP_SRC_COMPILED);
  /* nothing on disk: the cache directory is not even created */
  assert_int_equal(access(cache, F_OK), -1);

  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(PROFILE, f);
  fclose(f);
  assert_int_equal(rt_seccomp_compile(path, rt_default_caps(), &file), 0);
  const void *a, *b;
  size_t na = rt_seccomp_bpf(mem, &a), nb = rt_seccomp_bpf(file, &b);
  assert_int_equal(na, nb);
  assert_memory_equal(a, b, na * 8);
  /* the path's compile is cached (so the check above could have failed) */
  assert_true(entries(cache) >= 1);
  rt_seccomp_free(mem);
  rt_seccomp_free(file);

  /* a second content compile still compiles (no cache read either) */
  assert_int_equal(rt_seccomp_compile_json(PROFILE, strlen(PROFILE), rt_default_caps(), &mem), 0);
  assert_int_equal(rt_seccomp_source(mem), RT_SECCOMP_SRC_COMPILED);
  rt_seccomp_free(mem);

  rt_seccomp_set_cache_dir(NULL);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static void test_bad_content_is_refused_with_a_message(void **state) {
  struct rt_seccomp *f = NULL;
  rt_seccomp_set_cache_dir("");
  assert_int_equal(rt_seccomp_compile_json("{\"defaultAction\":", 17, 0, &f), -EINVAL);
  assert_null(f);
  assert_true(strlen(rt_seccomp_last_error()) > 0);
  assert_int_equal(rt_seccomp_compile_json(NULL, 5, 0, &f), -EINVAL);
  assert_int_equal(rt_seccomp_compile_json(PROFILE, strlen(PROFILE), 0, NULL), -EINVAL);
  rt_seccomp_set_cache_dir(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_content_compiles_like_the_file_and_is_never_cached),
      cmocka_unit_test(test_bad_content_is_refused_with_a_message),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
