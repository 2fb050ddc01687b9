/* Unit tests of image/unpack.c: layers built in memory with libarchive's
 * writer are applied to a temporary root (as root: owners are set). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "image/unpack.h"

struct layer {
  struct archive *a;
  char buf[1 << 20];
  size_t used;
};

static void layer_begin(struct layer *l, int filter) {
  l->a = archive_write_new();
  archive_write_set_format_pax(l->a);
  if (filter == 'g')
    archive_write_add_filter_gzip(l->a);
  if (filter == 'z')
    archive_write_add_filter_zstd(l->a);
  archive_write_set_bytes_in_last_block(l->a, 1);
  assert_int_equal(archive_write_open_memory(l->a, l->buf, sizeof l->buf, &l->used), ARCHIVE_OK);
}

static void add(struct layer *l, const char *name, mode_t type, mode_t mode, const char *data,
                const char *link, const char *xattr) {
  struct archive_entry *e = archive_entry_new();
  archive_entry_set_pathname(e, name);
  archive_entry_set_filetype(e, type);
  archive_entry_set_perm(e, mode);
  archive_entry_set_uid(e, 0);
  archive_entry_set_gid(e, 0);
  if (type == AE_IFLNK)
    archive_entry_set_symlink(e, link);
  else if (link)
    archive_entry_set_hardlink(e, link);
  if (type == AE_IFCHR)
    archive_entry_set_rdev(e, makedev(1, 3));
  if (xattr)
    archive_entry_xattr_add_entry(e, xattr, "v", 1);
  archive_entry_set_size(e, data ? (la_int64_t)strlen(data) : 0);
  assert_int_equal(archive_write_header(l->a, e), ARCHIVE_OK);
  if (data)
    archive_write_data(l->a, data, strlen(data));
  archive_entry_free(e);
}
#define FILE_(l, n, d) add(l, n, AE_IFREG, 0644, d, NULL, NULL)
#define DIR_(l, n) add(l, n, AE_IFDIR, 0755, NULL, NULL, NULL)

static void layer_end(struct layer *l) {
  archive_write_close(l->a);
  archive_write_free(l->a);
}

struct mem {
  const char *p;
  size_t n;
  bool done;
};

static ssize_t mem_read(void *ctx, const void **buf) {
  struct mem *m = ctx;
  if (m->done)
    return 0;
  m->done = true;
  *buf = m->p;
  return (ssize_t)m->n;
}

struct fix {
  char dir[64];
  int rootfd;
  struct img_unpack_stats st;
  struct img_limits lim;
  struct img_err err;
};

static int setup(void **state) {
  struct fix *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/test-unpack.XXXXXX");
  if (!mkdtemp(f->dir))
    return -1;
  f->rootfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  f->lim = (struct img_limits){1 << 20, 1000};
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fix *f = *state;
  int up = open("/tmp", O_RDONLY | O_DIRECTORY);
  img_rm_rf_at(up, f->dir + 5);
  close(up);
  close(f->rootfd);
  free(f);
  return 0;
}

static int apply(struct fix *f, struct layer *l) {
  struct mem m = {l->buf, l->used, false};
  memset(&f->err, 0, sizeof f->err);
  return img_unpack_layer(f->rootfd, mem_read, &m, &f->lim, &f->st, &f->err);
}

static bool exists(struct fix *f, const char *p) {
  struct stat st;
  return fstatat(f->rootfd, p, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static struct layer L;

static void test_gzip_and_zstd_layers_unpack(void **state) {
  struct fix *f = *state;
  for (const char *c = "gzn"; *c; c++) {
    layer_begin(&L, *c);
    DIR_(&L, "d");
    char name[16];
    snprintf(name, sizeof name, "d/f%c", *c);
    FILE_(&L, name, "hello");
    layer_end(&L);
    assert_int_equal(apply(f, &L), 0);
    assert_true(exists(f, name));
  }
}

static void test_dotdot_is_refused_and_absolute_is_contained(void **state) {
  struct fix *f = *state;
  layer_begin(&L, 'n');
  FILE_(&L, "a/../../escape", "x");
  layer_end(&L);
  assert_int_equal(apply(f, &L), -EXDEV);
  assert_non_null(strstr(f->err.msg, "escapes"));
  layer_begin(&L, 'n');
  FILE_(&L, "/abs/file", "x");
  layer_end(&L);
  assert_int_equal(apply(f, &L), 0);
  assert_true(exists(f, "abs/file"));
}

static void test_symlinked_parent_resolves_inside_root(void **state) {
  struct fix *f = *state;
  layer_begin(&L, 'n');
  DIR_(&L, "inside");
  add(&L, "link", AE_IFLNK, 0777, NULL, "/inside", NULL);
  add(&L, "up", AE_IFLNK, 0777, NULL, "../../../../../../inside", NULL);
  FILE_(&L, "link/a", "1");
  FILE_(&L, "up/b", "2");
  layer_end(&L);
  assert_int_equal(apply(f, &L), 0);
  assert_true(exists(f, "inside/a"));
  assert_true(exists(f, "inside/b"));
}

static void test_hard_link_outside_is_refused(void **state) {
  struct fix *f = *state;
  layer_begin(&L, 'n');
  add(&L, "hl", AE_IFREG, 0644, NULL, "/etc/passwd", NULL);
  layer_end(&L);
  assert_int_equal(apply(f, &L), -ENOENT); /* /etc/passwd of the root: absent */
  layer_begin(&L, 'n');
  FILE_(&L, "t", "target");
  add(&L, "hl", AE_IFREG, 0644, NULL, "t", NULL);
  layer_end(&L);
  assert_int_equal(apply(f, &L), 0);
  struct stat st;
  assert_int_equal(fstatat(f->rootfd, "hl", &st, 0), 0);
  assert_int_equal(st.st_nlink, 2);
}

static void test_whiteouts_hide_lower_layers_only(void **state) {
  struct fix *f = *state;
  layer_begin(&L, 'n');
  DIR_(&L, "o");
  FILE_(&L, "o/old", "1");
  FILE_(&L, "gone", "1");
  layer_end(&L);
  assert_int_equal(apply(f, &L), 0);
  layer_begin(&L, 'n');
  FILE_(&L, "o/new", "2");
  FILE_(&L, "o/.wh..wh..opq", "");
  FILE_(&L, ".wh.gone", "");
  FILE_(&L, ".wh.neverthere", "");
  layer_end(&L);
  assert_int_equal(apply(f, &L), 0);
  assert_false(exists(f, "o/old"));
  assert_true(exists(f, "o/new"));
  assert_false(exists(f, "gone"));
  assert_false(exists(f, ".wh.gone"));
  assert_false(exists(f, "o/.wh..wh..opq"));
}

static void test_devices_skipped_and_xattrs_filtered(void **state) {
  struct fix *f = *state;
  layer_begin(&L, 'n');
  add(&L, "mem", AE_IFCHR, 0666, NULL, NULL, NULL);
  add(&L, "x", AE_IFREG, 0644, "d", NULL, "trusted.overlay.opaque");
  add(&L, "y", AE_IFREG, 0644, "d", NULL, "user.ok");
  layer_end(&L);
  uint64_t skipped = f->st.skipped_nodes, dropped = f->st.dropped_xattrs;
  assert_int_equal(apply(f, &L), 0);
  assert_false(exists(f, "mem"));
  assert_int_equal(f->st.skipped_nodes, skipped + 1);
  assert_true(f->st.dropped_xattrs > dropped); /* pax may carry it twice (SCHILY, LIBARCHIVE) */
  char buf[64];
  int fd = openat(f->rootfd, "x", O_RDONLY);
  assert_int_equal(flistxattr(fd, buf, sizeof buf), 0);
  close(fd);
  fd = openat(f->rootfd, "y", O_RDONLY);
  assert_int_equal(fgetxattr(fd, "user.ok", buf, sizeof buf), 1);
  close(fd);
}

static void test_size_and_entry_caps(void **state) {
  struct fix *f = *state;
  f->lim.max_bytes = f->st.bytes + 4;
  layer_begin(&L, 'g');
  FILE_(&L, "big", "0123456789");
  layer_end(&L);
  assert_int_equal(apply(f, &L), -EFBIG);
  f->lim.max_bytes = 1 << 20;
  f->lim.max_entries = f->st.entries + 2;
  layer_begin(&L, 'n');
  FILE_(&L, "e1", "");
  FILE_(&L, "e2", "");
  FILE_(&L, "e3", "");
  layer_end(&L);
  assert_int_equal(apply(f, &L), -E2BIG);
}

static void test_garbage_is_not_a_layer(void **state) {
  struct fix *f = *state;
  memcpy(L.buf, "this is not a tar archive at all, not even close.", 50);
  L.used = 50;
  assert_true(apply(f, &L) < 0);
  assert_true(f->err.msg[0] != '\0');
}

static void test_setuid_kept_exactly(void **state) {
  struct fix *f = *state;
  layer_begin(&L, 'n');
  add(&L, "s", AE_IFREG, 04755, "x", NULL, NULL);
  add(&L, "p", AE_IFREG, 0600, "x", NULL, NULL);
  layer_end(&L);
  assert_int_equal(apply(f, &L), 0);
  struct stat st;
  assert_int_equal(fstatat(f->rootfd, "s", &st, 0), 0);
  assert_int_equal(st.st_mode & 07777, 04755);
  assert_int_equal(fstatat(f->rootfd, "p", &st, 0), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
}

int main(void) {
  if (geteuid() != 0) {
    fprintf(stderr, "test_image_unpack: needs root (sets owners)\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_gzip_and_zstd_layers_unpack, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dotdot_is_refused_and_absolute_is_contained, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_symlinked_parent_resolves_inside_root, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hard_link_outside_is_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_whiteouts_hide_lower_layers_only, setup, teardown),
      cmocka_unit_test_setup_teardown(test_devices_skipped_and_xattrs_filtered, setup, teardown),
      cmocka_unit_test_setup_teardown(test_size_and_entry_caps, setup, teardown),
      cmocka_unit_test_setup_teardown(test_garbage_is_not_a_layer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_setuid_kept_exactly, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
