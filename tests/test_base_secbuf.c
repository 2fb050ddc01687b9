/* Unit tests of the one secret-memory type (base/secbuf.h) and its pool
 * (base/secmem.h): wipe on free, guard pages, canaries, locking, dump and
 * fork exclusion, exhaustion fallback, threads. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/secbuf.h"
#include "base/secmem.h"
#include "tests/skip.h"

/* The VmFlags line of the /proc/self/smaps entry that holds p ("" if none). */
static void vmflags_of(const void *p, char *out, size_t cap) {
  FILE *f = fopen("/proc/self/smaps", "r");
  char line[512];
  bool in = false;
  out[0] = '\0';
  assert_non_null(f);
  while (fgets(line, sizeof(line), f)) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
      in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
      continue;
    }
    if (in && strncmp(line, "VmFlags:", 8) == 0) {
      size_t n = strnlen(line + 8, cap - 1);
      memcpy(out, line + 8, n);
      out[n] = '\0';
      break;
    }
  }
  fclose(f);
}

static bool has_flag(const char *flags, const char *f) {
  char pat[8];
  snprintf(pat, sizeof(pat), " %s", f);
  return strstr(flags, pat) != NULL;
}

static bool under_asan(void) {
#if defined(__SANITIZE_ADDRESS__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return true;
#endif
#endif
  return false;
}

/* Run fn in a child; returns its wait status. The child writes "alive" to a
 * pipe only if fn returns, so a crash is told from a normal end. */
static int in_child(void (*fn)(void *), void *arg, bool *ret_survived) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* cmocka catches faults to report them: the child must really die. */
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    signal(SIGABRT, SIG_DFL);
    signal(SIGILL, SIG_DFL);
    close(p[0]);
    fn(arg);
    (void)!write(p[1], "A", 1);
    _exit(0);
  }
  close(p[1]);
  char c;
  *ret_survived = read(p[0], &c, 1) == 1;
  close(p[0]);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  return st;
}

static void test_new_is_zeroed_and_sized(void **state) {
  (void)state;
  static const size_t sizes[] = {0, 1, 23, 24, 25, 1000, 1024, 16 * 1024, 16 * 1024 + 1, 600000};
  for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
    struct secbuf *b;
    assert_int_equal(secbuf_new(sizes[i], &b), 0);
    assert_int_equal(secbuf_len(b), sizes[i]);
    for (size_t j = 0; j < sizes[i]; j++)
      assert_int_equal(secbuf_data(b)[j], 0);
    memset(secbuf_data(b), 0xA5, sizes[i]);
    assert_int_equal((uintptr_t)secbuf_data(b) % 16, 0);
    secbuf_free(b);
  }
  secbuf_free(NULL);
}

static void test_too_large_is_refused(void **state) {
  (void)state;
  struct secbuf *b = NULL;
  assert_int_equal(secbuf_new(SECBUF_MAX_LEN + 1, &b), -ENOMEM);
  assert_null(b);
  assert_int_equal(secbuf_new(SIZE_MAX, &b), -ENOMEM);
}

/* The pool hands blocks out last-freed-first: the block given back is the
 * next one taken, and it must hold zeros only. */
static void test_free_wipes_the_block(void **state) {
  (void)state;
  void *p, *q;
  unsigned cls, cls2;
  assert_int_equal(sd_secmem_alloc(700, &p, &cls), 0);
  assert_true(cls < SD_SECMEM_N_CLASSES);
  memset(p, 0x5A, 700);
  sd_secmem_free(p, 700, cls, 700);
  assert_int_equal(sd_secmem_alloc(700, &q, &cls2), 0);
  assert_ptr_equal(p, q);
  for (size_t i = 0; i < 1024; i++)
    assert_int_equal(((uint8_t *)q)[i], 0);
  sd_secmem_free(q, 700, cls2, 0);

  /* The same through secbuf: the bytes, header and canary are all wiped. */
  struct secbuf *b;
  assert_int_equal(secbuf_from("correct horse battery staple", 28, &b), 0);
  void *blk = b;
  secbuf_free(b);
  assert_int_equal(sd_secmem_alloc(28 + 40, &q, &cls), 0);
  assert_ptr_equal(q, blk);
  for (size_t i = 0; i < 28 + 40; i++)
    assert_int_equal(((uint8_t *)q)[i], 0);
  sd_secmem_free(q, 28 + 40, cls, 0);
}

static void test_memory_is_locked_and_never_dumped(void **state) {
  (void)state;
  struct secbuf *small, *large;
  char flags[256];
  assert_int_equal(secbuf_new(100, &small), 0);
  assert_int_equal(secbuf_new(200000, &large), 0);
  struct secbuf *bufs[] = {small, large};
  for (int i = 0; i < 2; i++) {
    vmflags_of(secbuf_data(bufs[i]), flags, sizeof(flags));
    assert_true(flags[0]);
    assert_true(has_flag(flags, "dd")); /* MADV_DONTDUMP */
    assert_true(has_flag(flags, "wf")); /* MADV_WIPEONFORK */
  }
  vmflags_of(secbuf_data(small), flags, sizeof(flags));
  bool locked = has_flag(flags, "lo");
  struct sd_secmem_stats st;
  sd_secmem_get_stats(&st);
  secbuf_free(small);
  secbuf_free(large);
  if (!locked && under_asan())
    sd_skip("mlock", "memory locking is not observable under AddressSanitizer (its mlock "
                     "interceptor does nothing)");
  (void)st;
  assert_true(locked);
}

struct overflow_arg {
  size_t len;
  size_t at;
};

static void overflow_then_free(void *a) {
  struct overflow_arg *o = a;
  struct secbuf *b;
  if (secbuf_new(o->len, &b) < 0)
    return;
  secbuf_data(b)[o->at] ^= 0x01; /* one byte past the end */
  secbuf_free(b);                /* must abort */
}

static void test_overflow_by_one_byte_aborts_on_free(void **state) {
  (void)state;
  static const size_t lens[] = {1, 100, 1000, 40000};
  for (size_t i = 0; i < sizeof(lens) / sizeof(*lens); i++) {
    struct overflow_arg a = {lens[i], lens[i]};
    bool survived;
    int st = in_child(overflow_then_free, &a, &survived);
    assert_false(survived);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
  }
}

/* The first block of a fresh arena (the allocation that made the pool grow):
 * blocks are handed out from the arena's start. */
static uint8_t *fresh_arena_block(void) {
  struct sd_secmem_stats a, b;
  void *p;
  unsigned cls;
  for (int i = 0; i < 64; i++) {
    sd_secmem_get_stats(&a);
    if (sd_secmem_alloc(SD_SECMEM_MAX_CLASS, &p, &cls) < 0)
      return NULL;
    sd_secmem_get_stats(&b);
    if (b.arena_bytes > a.arena_bytes)
      return p;
  }
  return NULL;
}

static void write_past_arena(void *a) {
  (void)a;
  uint8_t *first = fresh_arena_block();
  if (first)
    ((volatile uint8_t *)first)[SD_SECMEM_ARENA] = 1; /* trailing guard page */
}

static void write_before_arena(void *a) {
  (void)a;
  uint8_t *first = fresh_arena_block();
  if (first)
    ((volatile uint8_t *)first)[-1] = 1; /* leading guard page */
}

static void write_before_own_mapping(void *a) {
  (void)a;
  struct secbuf *big;
  if (secbuf_new(100000, &big) == 0)
    ((volatile uint8_t *)big)[-1] = 1; /* the block starts right after a guard page */
}

static void test_guard_pages_fault(void **state) {
  (void)state;
  void (*fns[])(void *) = {write_past_arena, write_before_arena, write_before_own_mapping};
  for (size_t i = 0; i < sizeof(fns) / sizeof(*fns); i++) {
    bool survived;
    int st = in_child(fns[i], NULL, &survived);
    assert_false(survived);
    /* SIGSEGV, or SIGABRT when ASan's handler catches the fault first */
    assert_true(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0));
  }
}

static void test_pool_exhaustion_falls_back_to_own_mappings(void **state) {
  (void)state;
  struct sd_secmem_stats before, during, after;
  sd_secmem_get_stats(&before);
  sd_secmem_set_pool_max(before.arena_bytes); /* no new arena may be made */
  enum { N = 300 };
  struct secbuf *b[N];
  for (int i = 0; i < N; i++) {
    /* 8 KiB blocks: 32 per arena, so some need a new arena (refused). */
    assert_int_equal(secbuf_new(5000, &b[i]), 0);
    memset(secbuf_data(b[i]), i, 5000);
  }
  sd_secmem_get_stats(&during);
  assert_int_equal(during.arena_bytes, before.arena_bytes);
  assert_true(during.own_maps > before.own_maps);
  for (int i = 0; i < N; i++) {
    for (int j = 0; j < 5000; j += 499)
      assert_int_equal(secbuf_data(b[i])[j], (uint8_t)i);
    secbuf_free(b[i]);
  }
  sd_secmem_set_pool_max(0);
  sd_secmem_get_stats(&after);
  assert_int_equal(after.in_use, before.in_use);
  assert_int_equal(after.own_maps, before.own_maps);
}

static void *churn(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  struct secbuf *held[16] = {0};
  for (int i = 0; i < 20000; i++) {
    int slot = (int)(rand_r(&seed) % 16);
    if (held[slot]) {
      uint8_t want = (uint8_t)(slot + (uintptr_t)arg);
      for (size_t j = 0; j < secbuf_len(held[slot]); j++)
        if (secbuf_data(held[slot])[j] != want)
          return (void *)1;
      secbuf_free(held[slot]);
      held[slot] = NULL;
    } else {
      size_t len = rand_r(&seed) % (i % 64 == 0 ? 40000 : 3000);
      if (secbuf_new(len, &held[slot]) < 0)
        return (void *)2;
      memset(secbuf_data(held[slot]), (uint8_t)(slot + (uintptr_t)arg), len);
    }
  }
  for (int s = 0; s < 16; s++)
    secbuf_free(held[s]);
  return NULL;
}

static void test_threads_share_the_pool(void **state) {
  (void)state;
  struct sd_secmem_stats before, after;
  sd_secmem_get_stats(&before);
  pthread_t t[4];
  for (uintptr_t i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&t[i], NULL, churn, (void *)(i + 1)), 0);
  for (int i = 0; i < 4; i++) {
    void *res;
    assert_int_equal(pthread_join(t[i], &res), 0);
    assert_null(res);
  }
  sd_secmem_get_stats(&after);
  assert_int_equal(after.in_use, before.in_use);
}

static struct secbuf *inherited;

static void child_sees_zeros(void *a) {
  (void)a;
  if (!sd_secmem_forked())
    _exit(3);
  if (secbuf_len(inherited) != 0 || secbuf_data(inherited)[0] != 0)
    _exit(4);
  secbuf_free(inherited); /* allowed, harmless */
  struct secbuf *b;        /* and the pool still works in the child */
  if (secbuf_from("x", 1, &b) < 0)
    _exit(5);
  secbuf_free(b);
}

static void test_fork_child_sees_no_secret(void **state) {
  (void)state;
  assert_int_equal(secbuf_from("parent's secret", 15, &inherited), 0);
  bool survived;
  int st = in_child(child_sees_zeros, NULL, &survived);
  assert_true(survived);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  assert_memory_equal(secbuf_data(inherited), "parent's secret", 15);
  assert_false(sd_secmem_forked());
  secbuf_free(inherited);
}

static void test_truncate_equal_and_read_fd(void **state) {
  (void)state;
  struct secbuf *a, *b;
  assert_int_equal(secbuf_from("abcdef", 6, &a), 0);
  assert_int_equal(secbuf_from("abcxyz", 6, &b), 0);
  assert_false(secbuf_equal(a, b));
  assert_int_equal(secbuf_truncate(a, 7), -EINVAL);
  assert_int_equal(secbuf_truncate(a, 3), 0);
  assert_int_equal(secbuf_truncate(b, 3), 0);
  assert_int_equal(secbuf_len(a), 3);
  assert_true(secbuf_equal(a, b));
  secbuf_free(a); /* the moved canary is intact */
  secbuf_free(b);

  int p[2];
  assert_int_equal(pipe(p), 0);
  static uint8_t big[20000];
  memset(big, 'q', sizeof(big));
  assert_int_equal(write(p[1], big, sizeof(big)), (ssize_t)sizeof(big));
  close(p[1]);
  assert_int_equal(secbuf_read_fd(p[0], sizeof(big), &a), 0);
  close(p[0]);
  assert_int_equal(secbuf_len(a), sizeof(big));
  assert_memory_equal(secbuf_data(a), big, sizeof(big));
  secbuf_free(a);

  assert_int_equal(pipe(p), 0);
  assert_int_equal(write(p[1], big, 101), 101);
  close(p[1]);
  a = NULL;
  assert_int_equal(secbuf_read_fd(p[0], 100, &a), -EFBIG);
  assert_null(a);
  close(p[0]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_new_is_zeroed_and_sized),
      cmocka_unit_test(test_too_large_is_refused),
      cmocka_unit_test(test_free_wipes_the_block),
      cmocka_unit_test(test_memory_is_locked_and_never_dumped),
      cmocka_unit_test(test_overflow_by_one_byte_aborts_on_free),
      cmocka_unit_test(test_guard_pages_fault),
      cmocka_unit_test(test_pool_exhaustion_falls_back_to_own_mappings),
      cmocka_unit_test(test_threads_share_the_pool),
      cmocka_unit_test(test_fork_child_sees_no_secret),
      cmocka_unit_test(test_truncate_equal_and_read_fd),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
