/*
 * audit_verify_bench: the time `secret audit --verify` needs for a long chain.
 * Builds a store whose audit chain holds --records records (default
 * 1,000,000: store.init plus N-1 audit notes of the size a secret.inspect
 * record has), in the store's own group-commit batches of --batch records
 * (default 20,000) through the store library: the store has no bulk append,
 * so each record is one store_audit_note() in a large batch, exactly the path
 * the daemon takes, without the socket. Then it times store_audit_verify()
 * (every record decoded, chained and its keyed BLAKE2b recomputed) on a
 * freshly opened handle, twice, and as the baseline the same walk without the
 * checks: an LMDB cursor over the audit database touching every record's
 * bytes. Prints seconds, records/s, CPU seconds and the ratio to the
 * baseline; the file system of the store is printed with them.
 *
 *   audit_verify_bench [--dir PARENT] [--records N] [--batch B]
 *
 * The store lives in a fresh directory under PARENT (default /var/tmp) and is
 * removed at the end. Exits 1 if the chain does not verify or is not N long.
 * All use of the store API is in this one file.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/error.h"
#include "bench/measure.h"
#include "store/store.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
  (void)st, (void)flag, (void)f;
  return remove(p);
}

static char dir[4096];

static _Noreturn void die(const char *what, int r) {
  fprintf(stderr, "audit_verify_bench: %s: %s\n", what, sd_strerror(r));
  if (dir[0])
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  exit(1);
}

/* Append n - 1 notes after store.init, `per` per durable commit. */
static void build_chain(struct store *s, unsigned long n, unsigned long per) {
  static const struct store_actor actor = {.uid = 0};
  char object[64];
  unsigned long done = 1; /* store.init */
  int r;
  while (done < n) {
    struct store_batch *b;
    if ((r = store_batch_begin(s, &b)) < 0)
      die("batch", r);
    for (unsigned long i = 0; i < per && done < n; i++, done++) {
      snprintf(object, sizeof(object), "secret:db-password-%07lu", done % 10000);
      if ((r = store_audit_note(b, &actor, "secret.inspect", object, 0)) < 0)
        die("audit note", r);
    }
    if ((r = store_batch_commit(b)) < 0)
      die("commit", r);
  }
}

/* Verify the chain; returns the seconds it took, *ret_cpu the CPU seconds. */
static double time_verify(const struct sd_key *unlock, unsigned long n, double *ret_cpu) {
  struct store *s;
  struct store_audit_verdict vd;
  int r;
  if ((r = store_open(dir, unlock, NULL, &s)) < 0)
    die("open", r);
  double c0 = bench_cpu_self(), t0 = now_s();
  if ((r = store_audit_verify(s, NULL, NULL, &vd)) < 0)
    die("verify", r);
  double t = now_s() - t0;
  *ret_cpu = bench_cpu_self() - c0;
  store_close(s);
  if (!vd.ok || vd.head_seq != n) {
    fprintf(stderr, "audit_verify_bench: chain %s at %llu of %lu: %s\n", vd.ok ? "ends" : "breaks",
            (unsigned long long)(vd.ok ? vd.head_seq : vd.first_bad_seq), n, vd.reason);
    die("verify", -EPROTO);
  }
  return t;
}

/* Baseline: read every record of the audit database (no decode, no hash). */
static double time_walk(unsigned long n, double *ret_cpu) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  MDB_cursor *c;
  MDB_val k, v;
  unsigned long count = 0, sum = 0;
  if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 16) ||
      mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600))
    die("raw lmdb open", -EIO);
  double c0 = bench_cpu_self(), t0 = now_s();
  if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) || mdb_dbi_open(txn, "audit", 0, &dbi) ||
      mdb_cursor_open(txn, dbi, &c))
    die("raw lmdb txn", -EIO);
  for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    const unsigned char *p = v.mv_data;
    for (size_t i = 0; i < v.mv_size; i += 64) /* touch every cache line */
      sum += p[i];
    count++;
  }
  mdb_cursor_close(c);
  mdb_txn_abort(txn);
  double t = now_s() - t0;
  *ret_cpu = bench_cpu_self() - c0;
  mdb_env_close(env);
  if (count != n)
    die("raw walk count", -EPROTO);
  __asm__ volatile("" : : "r"(sum)); /* keep the reads */
  return t;
}

int main(int argc, char **argv) {
  const char *parent = "/var/tmp";
  unsigned long n = 1000000, per = 20000;
  static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
                                       {"records", required_argument, NULL, 'n'},
                                       {"batch", required_argument, NULL, 'b'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
  int c;
  while ((c = getopt_long(argc, argv, "d:n:b:h", opts, NULL)) != -1) {
    switch (c) {
    case 'd': parent = optarg; break;
    case 'n': n = strtoul(optarg, NULL, 10); break;
    case 'b': per = strtoul(optarg, NULL, 10); break;
    default:
      fprintf(stderr, "usage: audit_verify_bench [--dir PARENT] [--records N] [--batch B]\n");
      return c == 'h' ? 0 : 2;
    }
  }
  if (optind < argc || n < 2 || n > 100000000 || per == 0 || per > 1000000) {
    fprintf(stderr, "usage: audit_verify_bench [--dir PARENT] [--records N>=2] "
                    "[--batch 1..1000000]\n");
    return 2;
  }
  snprintf(dir, sizeof(dir), "%s/audit_verify_bench.XXXXXX", parent);
  if (!mkdtemp(dir)) {
    fprintf(stderr, "audit_verify_bench: mkdtemp %s: %s\n", dir, strerror(errno));
    return 1;
  }
  struct sd_key *unlock;
  struct store *s;
  int r;
  if ((r = sd_key_generate(&unlock)) < 0 || (r = store_init(dir, unlock, NULL)) < 0 ||
      (r = store_open(dir, unlock, NULL, &s)) < 0)
    die("init", r);

  printf("command: ");
  for (int i = 0; i < argc; i++)
    printf("%s%s", argv[i], i + 1 < argc ? " " : "\n");
  printf("store: %s, audit chain of %lu records (store.init + %lu notes), %lu per commit\n", dir, n,
         n - 1, per);
  if ((r = bench_fs_print(stdout, "every figure below ran on: ", dir)) < 0)
    die("statfs", r);
  fflush(stdout);
  double t0 = now_s(), c0 = bench_cpu_self();
  build_chain(s, n, per);
  double tb = now_s() - t0, cb = bench_cpu_self() - c0;
  store_close(s);
  printf("build: %.1f s, %.0f records/s appended (durable commits), %.1f CPU s\n\n", tb,
         (double)(n - 1) / tb, cb);

  printf("%-50s %9s %12s %8s\n", "operation (data in the page cache)", "seconds", "records/s",
         "CPU s");
  double best_v = 1e30, best_w = 1e30, t, cpu;
  for (int run = 1; run <= 2; run++) {
    t = time_verify(unlock, n, &cpu);
    printf("%-50s %9.3f %12.0f %8.3f\n", run == 1 ? "store_audit_verify (whole chain), run 1" :
                                                    "store_audit_verify (whole chain), run 2",
           t, (double)n / t, cpu);
    fflush(stdout);
    best_v = t < best_v ? t : best_v;
  }
  for (int run = 1; run <= 2; run++) {
    t = time_walk(n, &cpu);
    printf("%-50s %9.3f %12.0f %8.3f\n", run == 1 ? "baseline: LMDB cursor walk, no checks, run 1" :
                                                    "baseline: LMDB cursor walk, no checks, run 2",
           t, (double)n / t, cpu);
    best_w = t < best_w ? t : best_w;
  }
  printf("\nverify %lu records: %.2f s (best run); %.1f x the bare walk\n", n, best_v,
         best_v / best_w);
  sd_key_free(unlock);
  nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}
