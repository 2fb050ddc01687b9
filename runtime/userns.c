/* User namespace id maps. See runtime/userns.h. */
#include "runtime/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/macro.h"

static int parse_u32(const char *s, char **end, uint32_t *ret) {
  if (*s < '0' || *s > '9')
    return -EINVAL;
  errno = 0;
  unsigned long long v = strtoull(s, end, 10);
  if (errno || v > UINT32_MAX)
    return -EINVAL;
  *ret = (uint32_t)v;
  return 0;
}

int rt_idmap_parse(const char *s, struct rt_idmap *ret) {
  struct rt_idmap m;
  char *end;
  if (parse_u32(s, &end, &m.inside) < 0 || *end != ':')
    return -EINVAL;
  if (parse_u32(end + 1, &end, &m.outside) < 0 || *end != ':')
    return -EINVAL;
  if (parse_u32(end + 1, &end, &m.count) < 0 || *end != '\0' || m.count == 0)
    return -EINVAL;
  if ((uint64_t)m.inside + m.count > UINT32_MAX || (uint64_t)m.outside + m.count > UINT32_MAX)
    return -EINVAL;
  *ret = m;
  return 0;
}

static bool overlap(uint32_t a, uint32_t an, uint32_t b, uint32_t bn) {
  return (uint64_t)a < (uint64_t)b + bn && (uint64_t)b < (uint64_t)a + an;
}

int rt_idmap_check(const struct rt_idmap *m, size_t n) {
  if (n == 0 || n > RT_MAX_IDMAPS)
    return -EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (m[i].count == 0)
      return -EINVAL;
    for (size_t j = i + 1; j < n; j++)
      if (overlap(m[i].inside, m[i].count, m[j].inside, m[j].count) ||
          overlap(m[i].outside, m[i].count, m[j].outside, m[j].count))
        return -EINVAL;
  }
  return 0;
}

uint32_t rt_idmap_to_host(const struct rt_idmap *m, size_t n, uint32_t inside) {
  for (size_t i = 0; i < n; i++)
    if (inside >= m[i].inside && (uint64_t)inside < (uint64_t)m[i].inside + m[i].count)
      return m[i].outside + (inside - m[i].inside);
  return UINT32_MAX;
}

bool rt_idmap_maps(const struct rt_idmap *m, size_t n, uint32_t inside) {
  return rt_idmap_to_host(m, n, inside) != UINT32_MAX;
}

static int write_map(pid_t pid, const char *file, const struct rt_idmap *m, size_t n) {
  char path[64], buf[RT_MAX_IDMAPS * 36];
  size_t off = 0;
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
  for (size_t i = 0; i < n; i++)
    off += (size_t)snprintf(buf + off, sizeof buf - off, "%u %u %u\n", m[i].inside,
                            m[i].outside, m[i].count);
  _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  /* The map must be written in one write(2). */
  ssize_t w = write(fd, buf, off);
  if (w < 0)
    return -errno;
  return (size_t)w == off ? 0 : -EIO;
}

int rt_userns_write_maps(pid_t pid, const struct rt_idmap *uid, size_t nu,
                         const struct rt_idmap *gid, size_t ng) {
  if (nu > RT_MAX_IDMAPS || ng > RT_MAX_IDMAPS)
    return -EINVAL;
  int r = write_map(pid, "uid_map", uid, nu);
  if (r < 0)
    return r;
  return write_map(pid, "gid_map", gid, ng);
}
