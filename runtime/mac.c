/*
 * AppArmor and SELinux exec labels. Detection reads only kernel-provided files:
 * /sys/kernel/security/lsm (the active LSMs, when securityfs is mounted),
 * /sys/module/apparmor/parameters/enabled and /sys/fs/selinux (selinuxfs). The result is
 * remembered by rt_mac_check() in the parent, so the child inherits it and does no
 * detection after pivot_root.
 */
#include "runtime/mac.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "base/macro.h"

#define MAX_LABEL 1024

static _Thread_local char last_error[256];
static int cached_apparmor = -1, cached_selinux = -1;

const char *rt_mac_last_error(void) { return last_error; }

/* Read a small file into buf (NUL-terminated); returns bytes or negative errno. */
static ssize_t read_small(const char *path, char *buf, size_t size) {
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  ssize_t n;

  if (fd < 0)
    return -errno;
  n = read(fd, buf, size - 1);
  if (n < 0)
    return -errno;
  buf[n] = 0;
  return n;
}

/* 1: name is in the active LSM list; 0: it is not; -1: list unavailable. */
static int lsm_listed(const char *name) {
  char buf[512];
  size_t len = strlen(name);

  if (read_small("/sys/kernel/security/lsm", buf, sizeof(buf)) < 0)
    return -1;
  for (char *s = buf; s && *s; s = strchr(s, ',') ? strchr(s, ',') + 1 : NULL)
    if (strncmp(s, name, len) == 0 && (s[len] == ',' || s[len] == 0 || s[len] == '\n'))
      return 1;
  return 0;
}

bool rt_mac_apparmor_enabled(void) {
  char buf[8];

  if (cached_apparmor >= 0)
    return cached_apparmor;
  if (read_small("/sys/module/apparmor/parameters/enabled", buf, sizeof(buf)) <= 0 ||
      buf[0] != 'Y')
    return false;
  return lsm_listed("apparmor") != 0;
}

bool rt_mac_selinux_enabled(void) {
  if (cached_selinux >= 0)
    return cached_selinux;
  if (access("/sys/fs/selinux/enforce", F_OK) == 0)
    return true;
  return lsm_listed("selinux") == 1;
}

static bool label_ok(const char *s) {
  size_t n = strlen(s);
  return n > 0 && n < MAX_LABEL && !strpbrk(s, "\n\r");
}

/* -ENOENT when AppArmor's profile list is readable and lacks name; 0 otherwise. */
static int apparmor_loaded(const char *name) {
  _cleanup_close_ int fd = open("/sys/kernel/security/apparmor/profiles",
                                O_RDONLY | O_CLOEXEC);
  char buf[4096], line[MAX_LABEL + 32];
  size_t used = 0, len = strlen(name);
  ssize_t n;

  if (fd < 0)
    return 0;                        /* cannot tell: let exec decide */
  while ((n = read(fd, buf, sizeof(buf))) > 0)
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] != '\n') {
        if (used < sizeof(line) - 1)
          line[used++] = buf[i];
        continue;
      }
      line[used] = 0;
      used = 0;
      /* "name (mode)" */
      if (strncmp(line, name, len) == 0 && line[len] == ' ')
        return 0;
    }
  return -ENOENT;
}

int rt_mac_check(const char *apparmor_profile, const char *selinux_label) {
  bool aa = rt_mac_apparmor_enabled(), se = rt_mac_selinux_enabled();
  const char *profile = apparmor_profile;

  last_error[0] = 0;
  cached_apparmor = aa;
  cached_selinux = se;
  if (apparmor_profile && !label_ok(apparmor_profile)) {
    snprintf(last_error, sizeof(last_error), "invalid AppArmor profile name");
    return -EINVAL;
  }
  if (selinux_label && !label_ok(selinux_label)) {
    snprintf(last_error, sizeof(last_error), "invalid SELinux label");
    return -EINVAL;
  }
  if (apparmor_profile && strcmp(apparmor_profile, "unconfined") != 0 && !aa) {
    snprintf(last_error, sizeof(last_error),
             "AppArmor profile requested, but AppArmor is not enabled on this host");
    return -EOPNOTSUPP;
  }
  if (selinux_label && !se) {
    snprintf(last_error, sizeof(last_error),
             "SELinux label requested, but SELinux is not enabled on this host");
    return -EOPNOTSUPP;
  }
  if (!profile && aa)
    profile = RT_MAC_APPARMOR_DEFAULT;
  if (profile && aa && strcmp(profile, "unconfined") != 0 && apparmor_loaded(profile) < 0) {
    snprintf(last_error, sizeof(last_error),
             "AppArmor profile \"%.100s\" is not loaded (load it with apparmor_parser -r, "
             "see docs/apparmor/)", profile);
    return -ENOENT;
  }
  return 0;
}

/* The CVE-2019-19921 pattern: an image symlink /data -> /proc plus --mount VOL:/data
 * would put a user's files where the label is written. The attr file is therefore
 * opened right after the container's /proc is mounted, before any user mount, and
 * whatever was opened must be a procfs file. */
int rt_mac_attr_check_fd(int fd) {
  struct statfs sfs;
  if (fstatfs(fd, &sfs) < 0)
    return -errno;
  return sfs.f_type == PROC_SUPER_MAGIC ? 0 : -EXDEV;
}

int rt_mac_attr_open(int root_fd, const char *path, int *ret_fd) {
  struct open_how how = {.flags = O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW,
                         .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  _cleanup_close_ int fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof how);
  int r;

  if (fd < 0)
    return -errno;
  if ((r = rt_mac_attr_check_fd(fd)) < 0)
    return r;
  *ret_fd = TAKE_FD(fd);
  return 0;
}

static int write_attr(int fd, const char *prefix, const char *value) {
  char buf[MAX_LABEL + 16];
  int len;

  len = snprintf(buf, sizeof(buf), "%s%s", prefix, value);
  if (len < 0 || (size_t)len >= sizeof(buf))
    return -EINVAL;
  if (write(fd, buf, (size_t)len) != len)
    return errno ? -errno : -EIO;
  return 0;
}

void rt_mac_exec_close(struct rt_mac_exec *m) {
  closep(&m->aa_fd);
  closep(&m->se_fd);
  m->aa_fd = m->se_fd = -1;
}

int rt_mac_exec_open(int root_fd, const char *apparmor_profile, const char *selinux_label,
                     struct rt_mac_exec *ret) {
  const char *profile = apparmor_profile;
  bool aa = rt_mac_apparmor_enabled();
  struct rt_mac_exec m = {.aa_fd = -1, .se_fd = -1};
  int r = 0;

  if (!profile && aa)
    profile = RT_MAC_APPARMOR_DEFAULT;
  if (profile && strcmp(profile, "unconfined") != 0) {
    if (!aa)
      return -EOPNOTSUPP;
    if (!label_ok(profile))
      return -EINVAL;
    r = rt_mac_attr_open(root_fd, "proc/thread-self/attr/apparmor/exec", &m.aa_fd);
    if (r == -ENOENT)
      r = rt_mac_attr_open(root_fd, "proc/thread-self/attr/exec", &m.aa_fd);
    if (r < 0)
      goto out;
  }
  if (selinux_label) {
    r = -EOPNOTSUPP;
    if (!rt_mac_selinux_enabled())
      goto out;
    r = -EINVAL;
    if (!label_ok(selinux_label))
      goto out;
    if ((r = rt_mac_attr_open(root_fd, "proc/thread-self/attr/exec", &m.se_fd)) < 0)
      goto out;
  }
  *ret = m;
  return 0;
out:
  rt_mac_exec_close(&m);
  return r;
}

int rt_mac_exec_apply(struct rt_mac_exec *m, const char *apparmor_profile,
                      const char *selinux_label) {
  const char *profile = apparmor_profile ? apparmor_profile : RT_MAC_APPARMOR_DEFAULT;
  int r = 0;

  if (m->aa_fd >= 0)
    r = write_attr(m->aa_fd, "exec ", profile);
  if (r == 0 && m->se_fd >= 0)
    r = write_attr(m->se_fd, "", selinux_label);
  rt_mac_exec_close(m);
  return r;
}

int rt_mac_apply_exec(const char *apparmor_profile, const char *selinux_label) {
  struct rt_mac_exec m;
  _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  int r;

  if (root < 0)
    return -errno;
  if ((r = rt_mac_exec_open(root, apparmor_profile, selinux_label, &m)) < 0)
    return r;
  return rt_mac_exec_apply(&m, apparmor_profile, selinux_label);
}
