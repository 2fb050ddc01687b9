/* Keys, tokens, key files and guarded buffers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto/keys.h"
#include "crypto/secbuf.h"

static const uint8_t *hot_bytes_for_test;

static void test_token_round_trip(void **state) {
  struct sd_key *k, *back = NULL;
  char tok[SD_KEY_TOKEN_LEN + 1];
  assert_int_equal(sd_key_generate(&k), 0);
  assert_int_equal(sd_key_to_token(k, tok, sizeof(tok)), 0);
  assert_int_equal(strlen(tok), SD_KEY_TOKEN_LEN);
  assert_int_equal(strncmp(tok, "SDUNLOCK-1-", 11), 0);
  assert_null(strchr(tok, '='));
  assert_int_equal(sd_key_from_token(tok, &back), 0);
  assert_true(sd_key_equal(k, back));
  sd_key_free(back);
  assert_int_equal(sd_key_to_token(k, tok, SD_KEY_TOKEN_LEN), -ENOBUFS);
  sd_key_free(k);
}

static void test_bad_tokens_refused(void **state) {
  struct sd_key *k = NULL, *g;
  char tok[SD_KEY_TOKEN_LEN + 1];
  assert_int_equal(sd_key_generate(&g), 0);
  assert_int_equal(sd_key_to_token(g, tok, sizeof(tok)), 0);
  char bad[80];
  snprintf(bad, sizeof(bad), "SDUNLOCK-2-%s", tok + 11);
  assert_int_equal(sd_key_from_token(bad, &k), -EINVAL);
  snprintf(bad, sizeof(bad), "%.*s", (int)SD_KEY_TOKEN_LEN - 1, tok);
  assert_int_equal(sd_key_from_token(bad, &k), -EINVAL);
  snprintf(bad, sizeof(bad), "%sA", tok);
  assert_int_equal(sd_key_from_token(bad, &k), -EINVAL);
  snprintf(bad, sizeof(bad), "%s", tok);
  bad[20] = '+'; /* not base64url */
  assert_int_equal(sd_key_from_token(bad, &k), -EINVAL);
  assert_int_equal(sd_key_from_token("", &k), -EINVAL);
  assert_int_equal(sd_key_from_token(NULL, &k), -EINVAL);
  snprintf(bad, sizeof(bad), "%s\n", tok);
  assert_int_equal(sd_key_from_token(bad, &k), 0);
  sd_key_free(k);
  sd_key_free(g);
  uint8_t raw[31] = {0};
  assert_int_equal(sd_key_from_bytes(raw, sizeof(raw), &k), -EINVAL);
}

static void test_key_file_is_0600_and_round_trips(void **state) {
  char dir[] = "/tmp/sdkeyXXXXXX", path[64];
  struct sd_key *k, *back = NULL;
  struct stat st;
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/key", dir);
  assert_int_equal(sd_key_generate(&k), 0);
  mode_t old = umask(0);
  assert_int_equal(sd_key_write_file(path, k), 0);
  umask(old);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_int_equal(sd_key_read_file(path, &back), 0);
  assert_true(sd_key_equal(k, back));
  sd_key_free(back);
  /* overwrite works (rename over), a stale tmp is no obstacle */
  char tmp[80];
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  close(open(tmp, O_CREAT | O_WRONLY, 0644));
  assert_int_equal(sd_key_write_file(path, k), 0);
  assert_int_equal(access(tmp, F_OK), -1);
  /* garbage file */
  FILE *fp = fopen(path, "w");
  fputs("not a key\n", fp);
  fclose(fp);
  assert_int_equal(sd_key_read_file(path, &back), -EINVAL);
  unlink(path);
  assert_int_equal(sd_key_read_file(path, &back), -ENOENT);
  rmdir(dir);
  sd_key_free(k);
}

static void test_secbuf_read_fd_limits(void **state) {
  int p[2];
  struct secbuf *b = NULL;
  char data[10000];
  memset(data, 'x', sizeof(data));
  assert_int_equal(pipe(p), 0);
  assert_int_equal(write(p[1], data, 5000), 5000);
  close(p[1]);
  assert_int_equal(secbuf_read_fd(p[0], 5000, &b), 0);
  assert_int_equal(secbuf_len(b), 5000);
  assert_memory_equal(secbuf_cdata(b), data, 5000);
  secbuf_free(b);
  close(p[0]);
  b = NULL;
  assert_int_equal(pipe(p), 0);
  assert_int_equal(write(p[1], data, 5001), 5001);
  close(p[1]);
  assert_int_equal(secbuf_read_fd(p[0], 5000, &b), -EFBIG);
  assert_null(b);
  close(p[0]);
  assert_int_equal(pipe(p), 0);
  close(p[1]);
  assert_int_equal(secbuf_read_fd(p[0], 5000, &b), 0);
  assert_int_equal(secbuf_len(b), 0);
  secbuf_free(b);
  close(p[0]);
  secbuf_free(NULL);
  sd_key_free(NULL);
}

/* ---- a lingering key: lock-free use while open, sealed by sd_key_seal_idle ---- */

static struct sd_key *hot;
static volatile int stop_sealing;

static void *use_hot(void *arg) {
  unsigned sum = 0;
  for (int i = 0; i < 100000; i++) {
    const volatile uint8_t *b = sd_key_acquire(hot);
    for (int j = 0; j < 16; j++) /* hold it a while: faults if sealed under us */
      sum += b[(i + j) % SD_KEY_LEN];
    sd_key_release(hot);
  }
  return (void *)(uintptr_t)(sum | 1);
}

static void *seal_hot(void *arg) {
  while (!__atomic_load_n(&stop_sealing, __ATOMIC_SEQ_CST))
    sd_key_seal_idle(hot);
  return NULL;
}

static void read_hot_in_child(void) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    volatile const uint8_t *b = (const uint8_t *)hot_bytes_for_test;
    (void)b[0]; /* must fault: PROT_NONE */
    _exit(0);
  }
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  /* SIGSEGV, or ASan's report of it (SIGABRT or exit status 1) */
  assert_true(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0));
}

static void test_lingering_key_is_shared_by_threads_and_sealed_when_idle(void **state) {
  assert_int_equal(sd_key_generate(&hot), 0);
  sd_key_set_lingering(hot, true);
  hot_bytes_for_test = sd_key_acquire(hot);
  sd_key_release(hot); /* lingers open */
  pthread_t users[4], sealer;
  stop_sealing = 0;
  assert_int_equal(pthread_create(&sealer, NULL, seal_hot, NULL), 0);
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&users[i], NULL, use_hot, NULL), 0);
  for (int i = 0; i < 4; i++) {
    void *res;
    assert_int_equal(pthread_join(users[i], &res), 0);
    assert_non_null(res);
  }
  __atomic_store_n(&stop_sealing, 1, __ATOMIC_SEQ_CST);
  assert_int_equal(pthread_join(sealer, NULL), 0);
  sd_key_seal_idle(hot);
  read_hot_in_child(); /* idle and sealed: PROT_NONE */
  /* usable again after sealing */
  const uint8_t *b = sd_key_acquire(hot);
  assert_ptr_equal(b, hot_bytes_for_test);
  sd_key_release(hot);
  sd_key_set_lingering(hot, false); /* seals at once */
  read_hot_in_child();
  sd_key_free(hot);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_token_round_trip),
      cmocka_unit_test(test_bad_tokens_refused),
      cmocka_unit_test(test_key_file_is_0600_and_round_trips),
      cmocka_unit_test(test_secbuf_read_fd_limits),
      cmocka_unit_test(test_lingering_key_is_shared_by_threads_and_sealed_when_idle),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
