/* A full map and a full disk (a small tmpfs mounted here) give clear errors
 * and lose nothing already stored. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/mount.h>
#include <time.h>

#include "test_store_util.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Create secrets of vlen bytes, one batch each, until an error. Returns the
 * number committed; *ret_err the error (from the op or the commit). */
static int fill(struct sfx *f, size_t vlen, int max, int *ret_err) {
  struct secbuf *v;
  char name[16];
  int n = 0;
  double t0 = now_s();
  assert_int_equal(secbuf_new(vlen, &v), 0);
  memset(secbuf_data(v), 'z', vlen);
  *ret_err = 0;
  for (; n < max && now_s() - t0 < 20; n++) {
    struct store_batch *b;
    snprintf(name, sizeof(name), "f%d", n);
    int r = store_batch_begin(f->s, &b);
    if (r < 0) {
      *ret_err = r;
      break;
    }
    r = store_secret_create(b, &f->actor, name, v, NULL, 0, NULL);
    if (r < 0) {
      store_batch_abort(b);
      *ret_err = r;
      break;
    }
    if ((r = store_batch_commit(b)) < 0) {
      *ret_err = r;
      break;
    }
  }
  secbuf_free(v);
  return n;
}

static void check_all(struct sfx *f, int n, size_t vlen) {
  char name[16];
  for (int i = 0; i < n; i++) {
    struct secbuf *out = NULL;
    snprintf(name, sizeof(name), "f%d", i);
    assert_int_equal(store_secret_read(f->s, name, 0, &out), 0);
    assert_int_equal(secbuf_len(out), vlen);
    secbuf_free(out);
  }
  struct store_audit_verdict vd;
  assert_int_equal(store_audit_verify(f->s, NULL, NULL, &vd), 0);
  assert_true(vd.ok);
}

static void test_map_full_gives_mapfull_and_loses_nothing(void **state) {
  struct store_opts o = {.map_size = 1 << 20};
  struct sfx *f = sfx_new(&o);
  int err;
  int n = fill(f, 1024, 100000, &err);
  assert_int_equal(err, SD_E_MAPFULL);
  assert_true(n > 100);
  check_all(f, n, 1024);
  /* a failed op in a batch with others: the others survive when space allows */
  sfx_reopen(f);
  check_all(f, n, 1024);
  /* a larger map opens the same store and accepts more */
  f->opts.map_size = 4 << 20;
  sfx_reopen(f);
  assert_int_equal(put1(f, "after", "grown", NULL), 0);
  check_all(f, n, 1024);
  sfx_free(f);
}

static void test_map_full_inside_a_batch_keeps_the_batch(void **state) {
  struct store_opts o = {.map_size = 1 << 20};
  struct sfx *f = sfx_new(&o);
  struct store_batch *b;
  struct secbuf *v;
  char name[16];
  int n = 0, r = 0;
  assert_int_equal(secbuf_new(1024, &v), 0);
  memset(secbuf_data(v), 'y', 1024);
  assert_int_equal(store_batch_begin(f->s, &b), 0);
  for (; n < 100000; n++) {
    snprintf(name, sizeof(name), "f%d", n);
    if ((r = store_secret_create(b, &f->actor, name, v, NULL, 0, NULL)) < 0)
      break;
  }
  assert_int_equal(r, SD_E_MAPFULL);
  assert_true(n > 10);
  /* the ops before the failing one commit (their records fit) */
  r = store_batch_commit(b);
  secbuf_free(v);
  print_message("batch of %d ops after a full map: commit %s\n", n, sd_strerror(r));
  if (r == 0) {
    check_all(f, n, 1024);
  } else {
    /* LMDB may also need pages for the commit itself: then all are lost,
     * but the store is intact and opens */
    assert_int_equal(r, SD_E_MAPFULL);
    sfx_reopen(f);
    struct store_audit_verdict vd;
    assert_int_equal(store_audit_verify(f->s, NULL, NULL, &vd), 0);
    assert_true(vd.ok);
  }
  sfx_free(f);
}

static char mnt[] = "/tmp/sdtmpfsXXXXXX";
static bool mounted;

static int tmpfs_setup(void **state) {
  if (!mkdtemp(mnt))
    return -1;
  mounted = mount("sdtest", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=2m,mode=0700") == 0;
  return 0;
}

/* Runs even when an assertion failed: never leave the mount behind. */
static int tmpfs_teardown(void **state) {
  if (mounted)
    umount2(mnt, MNT_DETACH);
  rmdir(mnt);
  return 0;
}

static void test_disk_full_gives_enospc_and_loses_nothing(void **state) {
  if (!mounted)
    skip(); /* needs CAP_SYS_ADMIN */
  struct sfx *f = calloc(1, sizeof(*f));
  snprintf(f->dir, sizeof(f->dir), "%s/store", mnt);
  assert_int_equal(sd_key_generate(&f->unlock), 0);
  assert_int_equal(store_init(f->dir, f->unlock, NULL), 0);
  assert_int_equal(store_open(f->dir, f->unlock, NULL, &f->s), 0);
  int err;
  int n = fill(f, 8192, 100000, &err);
  assert_int_equal(err, -ENOSPC);
  assert_true(n > 50);
  check_all(f, n, 8192);
  store_close(f->s);
  f->s = NULL;
  assert_int_equal(store_open(f->dir, f->unlock, NULL, &f->s), 0);
  check_all(f, n, 8192);
  store_close(f->s);
  sd_key_free(f->unlock);
  free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_map_full_gives_mapfull_and_loses_nothing),
      cmocka_unit_test(test_map_full_inside_a_batch_keeps_the_batch),
      cmocka_unit_test_setup_teardown(test_disk_full_gives_enospc_and_loses_nothing, tmpfs_setup,
                                      tmpfs_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
