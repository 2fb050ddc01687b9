/* Capability sets of the container. See runtime/caps.h. */
#include "runtime/caps.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sys/capability.h> /* libcap: cap_from_name, cap_to_name */

#include "base/macro.h"

uint64_t rt_caps_docker_default(void) {
  static const int caps[] = {
      CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER,           CAP_MKNOD,
      CAP_NET_RAW, CAP_SETGID,      CAP_SETUID, CAP_SETFCAP,          CAP_SETPCAP,
      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE,
  };
  uint64_t m = 0;
  for (size_t i = 0; i < ARRAY_SIZE(caps); i++)
    m |= UINT64_C(1) << caps[i];
  return m;
}

int rt_caps_from_name(const char *name) {
  char buf[64] = "cap_";
  size_t off = strncasecmp(name, "cap_", 4) == 0 ? 4 : 0;
  size_t n = strlen(name + off);
  if (n == 0 || n + 5 > sizeof buf)
    return -EINVAL;
  for (size_t i = 0; i < n; i++)
    buf[4 + i] = (char)tolower((unsigned char)name[off + i]);
  buf[4 + n] = '\0';
  cap_value_t v;
  if (cap_from_name(buf, &v) < 0 || v < 0 || v > 63)
    return -EINVAL;
  /* libcap accepts plain numbers too; require a real name. */
  if (isdigit((unsigned char)buf[4]))
    return -EINVAL;
  return (int)v;
}

void rt_caps_name(int cap, char *buf, unsigned len) {
  char *s = cap_to_name(cap);
  const char *p = s ? s : "?";
  if (strncmp(p, "cap_", 4) == 0)
    p += 4;
  unsigned i = 0;
  for (; len && i < len - 1 && p[i]; i++)
    buf[i] = (char)toupper((unsigned char)p[i]);
  if (len)
    buf[i] = '\0';
  cap_free(s);
}

int rt_caps_last_cap(void) {
  static int cached = -1;
  if (cached >= 0)
    return cached;
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  char buf[16];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  int saved = errno;
  close(fd);
  if (n <= 0)
    return n < 0 ? -saved : -EIO;
  buf[n] = '\0';
  long v = strtol(buf, NULL, 10);
  if (v < 0 || v > 63)
    return -EIO;
  cached = (int)v;
  return cached;
}

int rt_caps_host_bounding(uint64_t *ret_mask) {
  int last = rt_caps_last_cap();
  if (last < 0)
    return last;
  uint64_t m = 0;
  for (int c = 0; c <= last; c++) {
    int r = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
    if (r < 0)
      return -errno;
    if (r)
      m |= UINT64_C(1) << c;
  }
  *ret_mask = m;
  return 0;
}

int rt_caps_drop_bounding(uint64_t keep, int last_cap) {
  for (int c = 0; c <= last_cap; c++) {
    if (keep & (UINT64_C(1) << c))
      continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
      return -errno;
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return -errno;
  return 0;
}

int rt_caps_set(uint64_t set) {
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct d[2] = {
      {.effective = (uint32_t)set, .permitted = (uint32_t)set, .inheritable = 0},
      {.effective = (uint32_t)(set >> 32), .permitted = (uint32_t)(set >> 32), .inheritable = 0},
  };
  if (syscall(SYS_capset, &h, d) < 0)
    return -errno;
  return 0;
}
