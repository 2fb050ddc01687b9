/*
 * trust_bench [DIR] [N]: the costs of content trust (image/trust_*.c), in one
 * run, in a temporary image store under DIR (default /tmp):
 *   - opening a signing key (Argon2id at the "min", "interactive" and
 *     "moderate" (default) costs: once each);
 *   - signing: statement + DSSE envelope + Ed25519, per signature;
 *   - verifying: envelope and statement decoding + Ed25519 over the PAE;
 *   - the launch check secret-launch runs (load the policy file with its
 *     ownership checks, then trust_check_image on the stored verdict, marks,
 *     log line) with enforcement on, against the same with enforcement off and
 *     with no policy file: the added cost per launch is on - off (goal < 1 ms);
 *   - the first check after a policy change (re-verifies the signatures).
 * Medians of N runs (default 2000) each; prints the file system of DIR.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "base/secbuf.h"
#include "bench/measure.h"
#include "image/store.h"
#include "image/trust_check.h"
#include "image/trust_dsse.h"
#include "image/trust_key.h"
#include "image/trust_policy.h"
#include "image/trust_statement.h"
#include "image/trust_store.h"

#define HEX "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  return v[n / 2];
}

static int die(const char *what, int r) {
  fprintf(stderr, "trust_bench: %s: %s\n", what, strerror(r < 0 ? -r : r));
  exit(1);
}

static void write_policy(const char *path, const char *keyid, const uint8_t pk[32], bool enforce) {
  char *b64 = trust_b64_encode(pk, 32);
  FILE *f = fopen(path, "w");
  if (!f || !b64)
    die(path, errno);
  fprintf(f, "{\"enforce\":%s,\"require\":\"prod\",\"keys\":{\"%s\":\"%s\"},\"rules\":[{\"pattern\":\"app*\","
             "\"channel\":\"prod\",\"threshold\":1,\"keys\":[\"%s\"]}],\"scan\":{\"kept\":true}}\n",
          enforce ? "true" : "false", keyid, b64, keyid);
  fclose(f);
  chmod(path, 0644);
  free(b64);
}

/* Median µs of one launch check: load the policy at path, decide. */
static double launch_check(struct img_store *s, const char *path, int n, const char *expect) {
  double *t = calloc((size_t)n, sizeof *t);
  for (int i = 0; i < n; i++) {
    double t0 = now_us();
    struct trust_policy *p;
    struct trust_decision d;
    struct img_err err = {0};
    int r = trust_policy_load(path, &p, &err);
    if (r == 0)
      r = trust_check_image(s, p, NULL, HEX, "app", (int64_t)time(NULL), false, &d, &err);
    t[i] = now_us() - t0;
    if (r < 0 || !d.allowed || strcmp(trust_reason_name(d.reason), expect))
      fprintf(stderr, "trust_bench: unexpected check result: %d %s %s\n", r, err.msg, d.message), exit(1);
    trust_policy_free(p);
  }
  double m = median(t, n);
  free(t);
  return m;
}

int main(int argc, char **argv) {
  const char *base = argc > 1 ? argv[1] : "/tmp";
  int n = argc > 2 ? atoi(argv[2]) : 2000;
  if (n < 10 || sodium_init() < 0)
    return fprintf(stderr, "usage: trust_bench [DIR] [N >= 10]\n"), 2;
  char dir[4096], store[4200], pol[4200], img[4300];
  snprintf(dir, sizeof dir, "%s/trust-bench.XXXXXX", base);
  if (!mkdtemp(dir))
    die(dir, errno);
  snprintf(store, sizeof store, "%s/store", dir);
  snprintf(pol, sizeof pol, "%s/trust.json", dir);
  struct img_store *s;
  struct img_err err = {0};
  int r = img_store_open(store, true, &s, &err);
  if (r < 0)
    die(err.msg, r);
  snprintf(img, sizeof img, "%s/images/" HEX, store);
  if (mkdir(img, 0700) < 0)
    die(img, errno);
  printf("trust_bench: %d runs per figure (medians)\n", n);
  bench_fs_print(stdout, "  store ", dir);

  /* keys: Argon2id at three costs (moderate is key generate's default) */
  const char *costs[] = {"min", "interactive", "moderate"};
  struct secbuf *pass, *sk = NULL;
  secbuf_from("bench passphrase", 16, &pass);
  char keyid[TRUST_KEYID_LEN + 1];
  uint8_t pk[32];
  for (size_t c = 0; c < sizeof costs / sizeof costs[0]; c++) {
    struct trust_kdf kdf;
    char *key, *pub;
    trust_kdf_named(costs[c], &kdf);
    if ((r = trust_key_generate(pass, &kdf, &key, &pub, keyid)) < 0)
      die("key generate", r);
    double t0 = now_us();
    secbuf_free(sk);
    if ((r = trust_key_open(key, strlen(key), pass, &sk, keyid, &err)) < 0)
      die(err.msg, r);
    printf("  open signing key (Argon2id %-11s ops %" PRIu64 ", %6" PRIu64 " KiB): %10.1f us\n", costs[c],
           kdf.opslimit, kdf.memlimit / 1024, now_us() - t0);
    free(key), free(pub);
  }
  /* the first key (min) signs below */
  struct trust_kdf kdf;
  trust_kdf_named("min", &kdf);
  char *key, *pub;
  trust_key_generate(pass, &kdf, &key, &pub, keyid);
  secbuf_free(sk);
  trust_key_open(key, strlen(key), pass, &sk, keyid, &err);
  trust_pub_parse(pub, strlen(pub), pk, keyid, &err);
  free(key), free(pub);

  /* sign */
  double *t = calloc((size_t)n, sizeof *t);
  struct trust_dsse *env = calloc(1, sizeof *env), *back = calloc(1, sizeof *back);
  struct trust_statement st = {.version = 1, .issued = (int64_t)time(NULL)};
  st.expires = st.issued + 90 * 86400;
  strcpy(st.digest, HEX), strcpy(st.name, "app"), strcpy(st.channel, "prod"), strcpy(st.keyid, keyid);
  char *text = NULL;
  for (int i = 0; i < n; i++) {
    double t0 = now_us();
    char *payload;
    size_t plen;
    free(text);
    memset(env, 0, sizeof *env);
    trust_statement_encode(&st, &payload, &plen, &err);
    strcpy(env->payload_type, TRUST_PAYLOAD_TYPE);
    memcpy(env->payload, payload, plen);
    env->payload_len = plen;
    trust_dsse_sign(env, keyid, sk);
    trust_dsse_encode(env, &text);
    t[i] = now_us() - t0;
    free(payload);
  }
  printf("  sign (statement + DSSE envelope + Ed25519):           %10.1f us\n", median(t, n));
  /* verify */
  for (int i = 0; i < n; i++) {
    double t0 = now_us();
    struct trust_statement got;
    if (trust_dsse_decode(text, strlen(text), back, &err) < 0 ||
        trust_statement_decode(back->payload, back->payload_len, &got, &err) < 0 ||
        trust_dsse_verify(back, 0, pk) < 0)
      die("verify", EBADMSG);
    t[i] = now_us() - t0;
  }
  printf("  verify (decode envelope + statement, Ed25519 on PAE): %10.1f us\n", median(t, n));
  if ((r = trust_store_add(s, HEX, &st, text, &err)) < 0)
    die(err.msg, r);
  free(text);
  secbuf_free(sk);
  secbuf_free(pass);

  /* the launch check */
  char absent[4300];
  snprintf(absent, sizeof absent, "%s/absent.json", dir);
  write_policy(pol, keyid, pk, true);
  {
    struct trust_policy *p;
    trust_policy_load(pol, &p, &err);
    double t0 = now_us();
    struct trust_decision d;
    trust_check_image(s, p, NULL, HEX, "app", (int64_t)time(NULL), false, &d, &err);
    printf("  first launch check after a policy change (re-verify):  %10.1f us\n", now_us() - t0);
    trust_policy_free(p);
  }
  double on = launch_check(s, pol, n, "trusted");
  write_policy(pol, keyid, pk, false);
  double off = launch_check(s, pol, n, "not-enforced");
  double none = launch_check(s, absent, n, "not-enforced");
  printf("  launch check, enforcement on (stored verdict):       %10.1f us\n", on);
  printf("  launch check, enforcement off (policy file loaded):  %10.1f us\n", off);
  printf("  launch check, no policy file:                        %10.1f us\n", none);
  printf("  added cost per launch, on - off:                     %10.1f us (goal < 1000 us: %s)\n", on - off,
         on - off < 1000 ? "met" : "NOT met");
  free(t), free(env), free(back);
  img_store_free(s);
  char cmd[4400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : 1;
}
