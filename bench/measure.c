/* See measure.h. */
#include "bench/measure.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const struct {
  unsigned long magic;
  const char *name;
} fs_magics[] = {
    {0xEF53, "ext2/3/4"},    {0x01021994, "tmpfs"}, {0x58465342, "xfs"},
    {0x9123683E, "btrfs"},   {0x794C7630, "overlayfs"}, {0x6969, "nfs"},
    {0xF2F52010, "f2fs"},    {0x2FC12FC1, "zfs"},   {0x65735546, "fuse"},
    {0x858458F6, "ramfs"},   {0x01021997, "9p"},    {0x5346544E, "ntfs"},
};

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s) {
  char *w = s;
  for (char *p = s; *p; p++) {
    if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
        p[3] <= '7') {
      *w++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
      p += 3;
    } else {
      *w++ = *p;
    }
  }
  *w = '\0';
}

int bench_mountinfo_line(const char *line, unsigned *ret_major, unsigned *ret_minor,
                         char ret_mountpoint[1024], char ret_type[64], char ret_source[512]) {
  unsigned maj, min;
  /* id parent maj:min root mountpoint options [optional...] - type source superopts */
  if (sscanf(line, "%*u %*u %u:%u %*s %1023s", &maj, &min, ret_mountpoint) != 3)
    return -EINVAL;
  const char *sep = strstr(line, " - ");
  if (!sep || sscanf(sep + 3, "%63s %511s", ret_type, ret_source) != 2)
    return -EINVAL;
  unescape(ret_mountpoint);
  unescape(ret_source);
  *ret_major = maj;
  *ret_minor = min;
  return 0;
}

static size_t prefix_len(const char *mnt, const char *path) {
  size_t n = strlen(mnt);
  if (n == 1 && mnt[0] == '/')
    return 1;
  if (strncmp(mnt, path, n) == 0 && (path[n] == '/' || path[n] == '\0'))
    return n;
  return 0;
}

int bench_fs_of(const char *path, struct bench_fs *ret) {
  char real[PATH_MAX];
  struct stat st;
  struct statfs sf;
  struct bench_fs fs = {0};
  if (!realpath(path, real) || stat(real, &st) < 0 || statfs(real, &sf) < 0)
    return -errno;
  fs.magic = (unsigned long)sf.f_type;
  snprintf(fs.magic_name, sizeof(fs.magic_name), "unknown");
  for (size_t i = 0; i < sizeof(fs_magics) / sizeof(*fs_magics); i++)
    if (fs_magics[i].magic == fs.magic)
      snprintf(fs.magic_name, sizeof(fs.magic_name), "%s", fs_magics[i].name);
  snprintf(fs.type, sizeof(fs.type), "?");
  snprintf(fs.source, sizeof(fs.source), "?");
  snprintf(fs.mountpoint, sizeof(fs.mountpoint), "?");

  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (f) {
    char *line = NULL;
    size_t cap = 0;
    size_t best = 0;
    bool best_dev = false;
    while (getline(&line, &cap, f) > 0) {
      unsigned maj, min;
      char mnt[1024], type[64], src[512];
      if (bench_mountinfo_line(line, &maj, &min, mnt, type, src) < 0)
        continue;
      size_t n = prefix_len(mnt, real);
      bool dev = st.st_dev == makedev(maj, min);
      /* A mount with path's device beats any without; then the longest prefix;
       * then the later entry (it is mounted on top). */
      if (n == 0 || (best_dev && !dev) || ((best_dev == dev) && n < best))
        continue;
      best = n;
      best_dev = dev;
      snprintf(fs.type, sizeof(fs.type), "%s", type);
      snprintf(fs.source, sizeof(fs.source), "%s", src);
      snprintf(fs.mountpoint, sizeof(fs.mountpoint), "%s", mnt);
    }
    free(line);
    fclose(f);
  }
  *ret = fs;
  return 0;
}

int bench_fs_print(FILE *f, const char *prefix, const char *path) {
  struct bench_fs fs;
  int r = bench_fs_of(path, &fs);
  if (r < 0)
    return r;
  fprintf(f, "%sfs: %s (statfs 0x%lx %s), %s mounted at %s\n", prefix, fs.type, fs.magic,
          fs.magic_name, fs.source, fs.mountpoint);
  return 0;
}

double bench_cpu_self(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int bench_cpu_pid(pid_t pid, double *ret_s) {
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f)
    return errno == ENOENT ? -ESRCH : -errno;
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* comm (field 2) may hold spaces and parentheses: fields 3.. follow the last ')'. */
  char *p = strrchr(buf, ')');
  unsigned long long ut, stm;
  if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stm) != 2)
    return -EPROTO;
  long hz = sysconf(_SC_CLK_TCK);
  *ret_s = (double)(ut + stm) / (double)(hz > 0 ? hz : 100);
  return 0;
}
