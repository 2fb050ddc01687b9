/* The image config's User against the image's passwd and group files. */
#include "image/user.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/io.h"
#include "base/macro.h"

#define MAX_DB (1u << 20)

static bool numeric(const char *s, uint32_t *ret) {
  if (!*s || strlen(s) > 10)
    return false;
  uint64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (!isdigit((unsigned char)*p))
      return false;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  if (v >= UINT32_MAX)
    return false;
  *ret = (uint32_t)v;
  return true;
}

/* Read etc/<name> inside the root; NULL-terminated, malloc'd. */
static int read_db(int rootfd, const char *path, char **ret) {
  struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY,
                         .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
  _cleanup_close_ int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
  if (fd < 0)
    return -errno;
  return sd_read_all_alloc(fd, MAX_DB, ret, NULL);
}

/* Find a line whose field 0 equals name (or whose field 2 equals id when name
 * is NULL); return fields 2 and 3 (passwd: uid, gid; group: gid, -). */
static int lookup(const char *db, const char *name, uint32_t id, uint32_t *ret_id,
                  uint32_t *ret_id2) {
  for (const char *line = db; line && *line;) {
    const char *end = strchrnul(line, '\n');
    char buf[1024];
    size_t n = (size_t)(end - line);
    if (n < sizeof buf) {
      memcpy(buf, line, n);
      buf[n] = '\0';
      char *f[4] = {0}, *p = buf;
      for (int i = 0; i < 4; i++) {
        f[i] = p;
        p = p ? strchr(p, ':') : NULL;
        if (p)
          *p++ = '\0';
      }
      uint32_t a, b = 0;
      if (f[0] && f[2] && numeric(f[2], &a)) {
        if (f[3] && !numeric(f[3], &b))
          b = 0;
        if ((name && !strcmp(f[0], name)) || (!name && a == id)) {
          *ret_id = a;
          if (ret_id2)
            *ret_id2 = b;
          return 0;
        }
      }
    }
    line = *end ? end + 1 : NULL;
  }
  return -ENOENT;
}

int img_user_resolve(int rootfd, const char *spec, uid_t *ret_uid, gid_t *ret_gid) {
  char u[256];
  if (!spec || !*spec || strlen(spec) >= sizeof u)
    return -EINVAL;
  strcpy(u, spec);
  char *g = strchr(u, ':');
  if (g)
    *g++ = '\0';
  if (!*u || (g && !*g))
    return -EINVAL;
  _cleanup_free_ char *passwd = NULL, *group = NULL;
  uint32_t uid, gid = 0, pgid = 0;
  int r;
  if (numeric(u, &uid)) {
    if (!g && read_db(rootfd, "/etc/passwd", &passwd) == 0 &&
        lookup(passwd, NULL, uid, &uid, &pgid) == 0)
      gid = pgid;
  } else {
    if ((r = read_db(rootfd, "/etc/passwd", &passwd)) < 0)
      return r == -ENOENT ? -ENOENT : r;
    if ((r = lookup(passwd, u, 0, &uid, &pgid)) < 0)
      return r;
    gid = pgid;
  }
  if (g) {
    if (!numeric(g, &gid)) {
      if ((r = read_db(rootfd, "/etc/group", &group)) < 0)
        return r;
      if ((r = lookup(group, g, 0, &gid, NULL)) < 0)
        return r;
    }
  }
  *ret_uid = uid;
  *ret_gid = gid;
  return 0;
}
