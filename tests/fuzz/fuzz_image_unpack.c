/*
 * libFuzzer harness for image/unpack.c: any bytes as a layer (sniffed as tar,
 * gzip or zstd), applied to a fresh directory under a per-process temporary
 * directory that is removed afterwards. The unpacker must refuse or apply,
 * never crash, leak or write outside its root: after each input, the parent
 * directory must hold nothing but the root.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/unpack.h"

struct mem {
  const uint8_t *p;
  size_t n, off;
};

/* Hand the input out in small pieces, to exercise partial reads. */
static ssize_t mem_read(void *ctx, const void **buf) {
  struct mem *m = ctx;
  size_t n = m->n - m->off;
  if (n > 4096)
    n = 4096;
  *buf = m->p + m->off;
  m->off += n;
  return (ssize_t)n;
}

static char base[64];
static int basefd = -1;

static void cleanup(void) {
  if (basefd >= 0) {
    int up = open("/tmp", O_RDONLY | O_DIRECTORY);
    img_rm_rf_at(up, base + 5);
    close(up);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (basefd < 0) {
    snprintf(base, sizeof base, "/tmp/fuzz-unpack.XXXXXX");
    if (!mkdtemp(base))
      abort();
    basefd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    atexit(cleanup);
  }
  if (mkdirat(basefd, "root", 0755) < 0)
    abort();
  int rootfd = openat(basefd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct img_limits lim = {8u << 20, 2000};
  struct img_unpack_stats st = {0};
  struct img_err err = {0};
  struct mem m = {data, size, 0};
  (void)img_unpack_layer(rootfd, mem_read, &m, &lim, &st, &err);
  close(rootfd);
  /* nothing may appear beside the root */
  DIR *d = opendir(base);
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "root"))
      abort();
  if (d)
    closedir(d);
  if (img_rm_rf_at(basefd, "root") < 0)
    abort();
  return 0;
}
