/* Loading a root filesystem's dpkg database and os-release, inside the root
 * (see dpkg_status.h). */
#include "image/dpkg_status.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/io.h"
#include "base/macro.h"
#include "image/internal.h"

/* Open path inside the root: symlinks and ".." resolve within it. */
static int open_in_root(int rootfd, const char *path, int flags) {
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC | O_NOCTTY),
                         .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
  return fd < 0 ? -errno : fd;
}

/* Read a regular file inside the root, at most max bytes. *ret_buf is malloc'd. */
static int read_in_root(int rootfd, const char *path, size_t max, char **ret_buf,
                        size_t *ret_len, struct img_err *err) {
  /* O_NONBLOCK: a FIFO planted in the image must not hang the scan */
  _cleanup_close_ int fd = open_in_root(rootfd, path, O_RDONLY | O_NONBLOCK);
  if (fd < 0)
    return fd == -ENOSYS ? img_fail(err, fd, "openat2 is missing (Linux >= 5.6 needed)")
                         : img_fail(err, fd, "%s: %s", path, strerror(-fd));
  struct stat st;
  int r = img_fstat_regular(fd, path, max, &st, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
  if (!buf)
    return img_fail(err, -ENOMEM, "out of memory");
  size_t want = (size_t)st.st_size + 1; /* +1 sees a file that grew */
  long got = sd_read_full(fd, buf, want);
  if (got < 0)
    return img_fail(err, (int)got, "%s: %s", path, strerror((int)-got));
  if ((size_t)got == want)
    return img_fail(err, -EFBIG, "%s: grew while read", path);
  size_t len = (size_t)got;
  buf[len] = '\0';
  *ret_buf = TAKE_PTR(buf);
  *ret_len = len;
  return 0;
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

#define STATUS_D "var/lib/dpkg/status.d"

/* Parse every control file of status.d (skipping *.md5sums and dot files),
 * in name order. Returns 0, -ENOENT (no status.d) or an error. */
static int load_status_d(int rootfd, struct dpkg_db *db, struct img_err *err) {
  int dfd = open_in_root(rootfd, STATUS_D, O_RDONLY | O_DIRECTORY);
  if (dfd < 0)
    return dfd == -ENOENT ? dfd : img_fail(err, dfd, STATUS_D ": %s", strerror(-dfd));
  DIR *d = fdopendir(dfd);
  if (!d) {
    int r = -errno;
    close(dfd);
    return img_fail(err, r, STATUS_D ": %s", strerror(-r));
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  int r = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    const char *nm = de->d_name;
    size_t l = strlen(nm);
    if (nm[0] == '.' || (l > 8 && !strcmp(nm + l - 8, ".md5sums")))
      continue;
    if (n == DPKG_STATUS_D_FILES) {
      r = img_fail(err, -E2BIG, STATUS_D ": more than %u files", DPKG_STATUS_D_FILES);
      goto out;
    }
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 64;
      char **nn = realloc(names, nc * sizeof *nn);
      if (!nn) {
        r = img_fail(err, -ENOMEM, "out of memory");
        goto out;
      }
      names = nn;
      cap = nc;
    }
    if (!(names[n] = strdup(nm))) {
      r = img_fail(err, -ENOMEM, "out of memory");
      goto out;
    }
    n++;
  }
  if (n > 1)
    qsort(names, n, sizeof *names, name_cmp);
  for (size_t i = 0; i < n; i++) {
    char path[sizeof STATUS_D + 2 + 256];
    snprintf(path, sizeof path, STATUS_D "/%s", names[i]);
    _cleanup_free_ char *buf = NULL;
    size_t len;
    if ((r = read_in_root(rootfd, path, DPKG_STATUS_D_MAX, &buf, &len, err)) < 0)
      goto out;
    if ((r = dpkg_status_parse(db, buf, len, DPKG_PARSE_NO_STATUS_IS_INSTALLED, err)) < 0) {
      img_err_prefix(err, "%s: ", path);
      goto out;
    }
  }
  r = 0;
out:
  free_names(names, n);
  closedir(d);
  return r;
}

int dpkg_db_load_at(int rootfd, struct dpkg_db **ret_db, struct img_err *err) {
  struct dpkg_db *db = calloc(1, sizeof *db);
  int r;
  bool found = false;
  if (!db)
    return img_fail(err, -ENOMEM, "out of memory");

  _cleanup_free_ char *buf = NULL;
  size_t len;
  struct img_err e = {0};
  r = read_in_root(rootfd, "var/lib/dpkg/status", DPKG_STATUS_MAX, &buf, &len, &e);
  if (r == 0) {
    found = true;
    if ((r = dpkg_status_parse(db, buf, len, 0, err)) < 0) {
      img_err_prefix(err, "var/lib/dpkg/status: ");
      goto fail;
    }
  } else if (r != -ENOENT) {
    img_fail(err, r, "%s", e.msg);
    goto fail;
  }
  r = load_status_d(rootfd, db, err);
  if (r == 0)
    found = true;
  else if (r != -ENOENT)
    goto fail;
  if (!found) {
    r = img_fail(err, -ENOPKG,
                 "no dpkg database in this root (neither var/lib/dpkg/status nor status.d)");
    goto fail;
  }
  dpkg_db_sort(db);

  /* os-release: etc/ first, then usr/lib/ (the os-release specification) */
  free(buf);
  buf = NULL;
  static const char *const os_paths[] = {"etc/os-release", "usr/lib/os-release"};
  for (size_t i = 0; i < 2 && !db->has_os; i++) {
    memset(&e, 0, sizeof e);
    r = read_in_root(rootfd, os_paths[i], DPKG_OS_RELEASE_MAX, &buf, &len, &e);
    if (r == 0) {
      dpkg_os_release_parse(buf, len, &db->os);
      db->has_os = 1;
    } else if (r != -ENOENT) {
      img_fail(err, r, "%s", e.msg);
      goto fail;
    }
  }
  *ret_db = db;
  return 0;
fail:
  dpkg_db_free(db);
  return r;
}

int dpkg_db_load(const char *rootdir, struct dpkg_db **ret_db, struct img_err *err) {
  _cleanup_close_ int fd = open(rootdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return img_fail(err, -errno, "%s: %s", rootdir, strerror(errno));
  return dpkg_db_load_at(fd, ret_db, err);
}
