/*
 * store_bench: throughput of the store itself (no daemon, no socket), 1 KiB
 * values, on a real file system. Prints a table; not a test.
 *
 *   store_bench [--dir PARENT] [--seconds S] [--reads-only]
 *
 * --reads-only fills a read working set of 20,000 secrets and prints only the
 * read figure: for profiling the read path without the durable commits
 * (valgrind --tool=callgrind --toggle-collect=store_secret_read ...).
 *
 * The store lives in a fresh directory under PARENT (default /var/tmp, a disk
 * on most systems where /tmp may be tmpfs); the file system it is on is
 * printed with the figures. Any other argument is refused, so a caller cannot
 * believe it chose the directory when it did not.
 *
 * Figures: durable creates/s with one commit per op and with 8, 64 and 1000
 * ops per commit (group commit), reads/s (store_secret_read = unwrap + AEAD
 * decrypt), rotates/s with one commit per op and with 64 per commit, and a
 * raw-LMDB baseline (same value size + the envelope's overhead, no crypto, no
 * audit record, no nested txn) for comparison.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "bench/measure.h"
#include "store/store.h"

#define VALUE_LEN 1024

static double seconds = 2.0;
static bool reads_only;
static struct store_actor actor = {.uid = 0};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
  (void)st, (void)flag, (void)f;
  return remove(p);
}

static void die(const char *what, int r) {
  fprintf(stderr, "store_bench: %s: %s\n", what, sd_strerror(r));
  exit(1);
}

/* Create secrets named <prefix><n> in batches of `per` until the time is up,
 * or exactly `count` of them when count > 0. */
static double bench_creates(struct store *s, const char *prefix, int per, long count,
                            struct secbuf *v, long *ret_n) {
  char name[64];
  long n = 0;
  double t0 = now_s(), t;
  do {
    struct store_batch *b;
    int r = store_batch_begin(s, &b);
    if (r < 0)
      die("batch", r);
    for (int i = 0; i < per; i++) {
      snprintf(name, sizeof(name), "%s%ld", prefix, n + i);
      if ((r = store_secret_create(b, &actor, name, v, NULL, 0, NULL)) < 0)
        die("create", r);
    }
    if ((r = store_batch_commit(b)) < 0)
      die("commit", r);
    n += per;
    t = now_s() - t0;
  } while (count > 0 ? n < count : t < seconds);
  *ret_n = n;
  return (double)n / t;
}

static double thread_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads per second of one core: ops over the reading thread's CPU time (on a
 * shared machine wall time would count other processes' turns). */
static double bench_reads(struct store *s, const char *prefix, long count) {
  char name[64];
  long n = 0;
  double t0 = now_s(), c0 = thread_cpu_s(), t;
  do {
    for (int i = 0; i < 256; i++, n++) {
      struct secbuf *out;
      snprintf(name, sizeof(name), "%s%ld", prefix, n % count);
      int r = store_secret_read(s, name, 0, &out);
      if (r < 0)
        die("read", r);
      secbuf_free(out);
    }
    t = now_s() - t0;
  } while (t < seconds);
  return (double)n / (thread_cpu_s() - c0);
}

static double bench_rotates(struct store *s, const char *prefix, long count, int per,
                            struct secbuf *v) {
  char name[64];
  long n = 0;
  double t0 = now_s(), t;
  do {
    struct store_batch *b;
    int r = store_batch_begin(s, &b);
    if (r < 0)
      die("batch", r);
    for (int i = 0; i < per; i++) {
      snprintf(name, sizeof(name), "%s%ld", prefix, (n + i) % count);
      if ((r = store_secret_rotate(b, &actor, name, v, NULL)) < 0)
        die("rotate", r);
    }
    if ((r = store_batch_commit(b)) < 0)
      die("commit", r);
    n += per;
    t = now_s() - t0;
  } while (t < seconds);
  return (double)n / t;
}

/* Baseline: raw LMDB puts of the same size, `per` per durable commit. */
static double bench_raw_lmdb(const char *dir, int per) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  uint8_t val[VALUE_LEN + 128];
  char key[32];
  long n = 0;
  randombytes_buf(val, sizeof(val));
  if (mdb_env_create(&env) || mdb_env_set_mapsize(env, (size_t)4 << 30) ||
      mdb_env_open(env, dir, 0, 0600))
    die("raw lmdb", -EIO);
  double t0 = now_s(), t;
  do {
    if (mdb_txn_begin(env, NULL, 0, &txn) || mdb_dbi_open(txn, NULL, 0, &dbi))
      die("raw lmdb txn", -EIO);
    for (int i = 0; i < per; i++, n++) {
      snprintf(key, sizeof(key), "k%d_%ld", per, n);
      MDB_val k = {strlen(key), key}, v = {sizeof(val), val};
      if (mdb_put(txn, dbi, &k, &v, 0))
        die("raw lmdb put", -EIO);
    }
    if (mdb_txn_commit(txn))
      die("raw lmdb commit", -EIO);
    t = now_s() - t0;
  } while (t < seconds);
  mdb_env_close(env);
  return (double)n / t;
}

int main(int argc, char **argv) {
  const char *parent = "/var/tmp";
  static const struct option opts[] = {
      {"dir", required_argument, NULL, 'd'}, {"seconds", required_argument, NULL, 's'},
      {"reads-only", no_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'}, {0}};
  int c;
  while ((c = getopt_long(argc, argv, "d:s:h", opts, NULL)) != -1) {
    switch (c) {
    case 'd':
      parent = optarg;
      break;
    case 's':
      seconds = atof(optarg);
      if (seconds <= 0 || seconds > 60) {
        fprintf(stderr, "store_bench: --seconds wants 0 < S <= 60\n");
        return 2;
      }
      break;
    case 'r':
      reads_only = true;
      break;
    default:
      fprintf(stderr, "usage: store_bench [--dir PARENT] [--seconds S] [--reads-only]\n");
      return c == 'h' ? 0 : 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "store_bench: unexpected argument '%s' (the directory is --dir PARENT)\n",
            argv[optind]);
    return 2;
  }
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s/store_bench.XXXXXX", parent);
  if (!mkdtemp(dir)) {
    fprintf(stderr, "store_bench: mkdtemp %s: %s\n", dir, strerror(errno));
    return 1;
  }
  struct sd_key *unlock;
  struct store *s;
  struct secbuf *v;
  int r;
  if ((r = sd_key_generate(&unlock)) < 0 || (r = store_init(dir, unlock, NULL)) < 0 ||
      (r = store_open(dir, unlock, NULL, &s)) < 0)
    die("init", r);
  if ((r = secbuf_new(VALUE_LEN, &v)) < 0)
    die("alloc", r);
  randombytes_buf(secbuf_data(v), VALUE_LEN);

  printf("command: ");
  for (int i = 0; i < argc; i++)
    printf("%s%s", argv[i], i + 1 < argc ? " " : "\n");
  printf("store: %s (LMDB, durable commits), value size %d bytes, ~%.1f s per figure\n", dir,
         VALUE_LEN, seconds);
  if ((r = bench_fs_print(stdout, "every figure below, the raw LMDB baseline too, ran on: ", dir)) < 0)
    die("statfs", r);
  printf("\n");
  printf("%-44s %12s %10s\n", "operation", "ops/s", "ops");
  long n;
  static const int pers[] = {1, 8, 64, 1000};
  char prefix[16];
  for (size_t i = 0; !reads_only && i < sizeof(pers) / sizeof(*pers); i++) {
    snprintf(prefix, sizeof(prefix), "c%d_", pers[i]);
    double rate = bench_creates(s, prefix, pers[i], 0, v, &n);
    char label[64];
    snprintf(label, sizeof(label), "create, %d op%s per commit", pers[i], pers[i] > 1 ? "s" : "");
    printf("%-44s %12.0f %10ld\n", label, rate, n);
    fflush(stdout);
  }
  long base_n;
  /* a read/rotate working set; a fixed one with --reads-only, so that
   * instruction counts compare across runs */
  bench_creates(s, "r_", 1000, reads_only ? 20000 : 0, v, &base_n);
  printf("%-44s %12.0f %10s\n", "read latest (unwrap + decrypt)", bench_reads(s, "r_", base_n),
         "per CPU-s");
  if (reads_only)
    goto out;
  printf("%-44s %12.0f %10s\n", "rotate, 1 op per commit", bench_rotates(s, "r_", base_n, 1, v), "");
  printf("%-44s %12.0f %10s\n", "rotate, 64 ops per commit", bench_rotates(s, "r_", base_n, 64, v),
         "");
  char raw[4200];
  snprintf(raw, sizeof(raw), "%s/raw", dir);
  if (mkdir(raw, 0700) < 0)
    die("mkdir", -errno);
  printf("%-44s %12.0f %10s\n", "baseline: raw LMDB put, 1 per commit", bench_raw_lmdb(raw, 1), "");
  printf("%-44s %12.0f %10s\n", "baseline: raw LMDB put, 1000 per commit", bench_raw_lmdb(raw, 1000), "");
out:
  secbuf_free(v);
  store_close(s);
  sd_key_free(unlock);
  nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}
