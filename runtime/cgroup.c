/*
 * cgroup groups and limits for one container, per controller on v2 or v1.
 *
 * Layout: a handle holds up to CG_MAX_DIRS group directories (one per v1 hierarchy in
 * use, plus at most one v2 group shared by every v2 controller and the device program),
 * and for each controller the index of the directory that carries it.
 */
#include "runtime/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "base/io.h"
#include "base/macro.h"
#include "runtime/cgroup_devices.h"

#define CG_ROOT "/sys/fs/cgroup"
#define CG_PARENT "secretd"
#define CG_NAME_MAX 80 /* a container name (64) and a state root tag */
#define CG_MAX_DIRS 5
#define CG_DEFAULT_PERIOD 100000

enum { CG_MEMORY, CG_CPU, CG_PIDS, CG_DEVICES, CG_N };
static const char *const ctrl_names[CG_N] = {"memory", "cpu", "pids", "devices"};

struct cg_dir {
  char path[PATH_MAX];
  bool v2;
  dev_t dev; /* hierarchy identity, to share a dir between co-mounted v1 controllers */
};

struct rt_cgroup {
  struct cg_dir dirs[CG_MAX_DIRS];
  int join_fd[CG_MAX_DIRS]; /* rt_cgroup_prepare_join: v1 tasks / v2 cgroup.procs, or -1 */
  int n_dirs;
  int ctrl_dir[CG_N]; /* index in dirs, -1 = controller not used */
};

static __thread char last_error[512];

const char *rt_cgroup_last_error(void) { return last_error; }

static int fail(int r, const char *what, const char *dir, const char *file) {
  snprintf(last_error, sizeof(last_error), "%s %.300s%s%.64s: %s", what, dir, file ? "/" : "",
           file ? file : "", strerrordesc_np(-r) ? strerrordesc_np(-r) : "error");
  return r;
}

/* --- small file helpers ------------------------------------------------------------ */

static int write_at(const char *dir, const char *file, const char *value) {
  char path[PATH_MAX + 64];
  _cleanup_close_ int fd = -1;
  size_t len = strlen(value);
  ssize_t w;

  snprintf(path, sizeof(path), "%s/%s", dir, file);
  fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  w = write(fd, value, len);
  if (w < 0)
    return -errno;
  return (size_t)w == len ? 0 : -EIO;
}

static int write_or_fail(const char *dir, const char *file, const char *value) {
  int r = write_at(dir, file, value);
  return r < 0 ? fail(r, "cannot write", dir, file) : 0;
}

/* Read up to bufsz-1 bytes of dir/file, NUL-terminated. */
static int read_at(const char *dir, const char *file, char *buf, size_t bufsz) {
  char path[PATH_MAX + 64];
  _cleanup_close_ int fd = -1;

  snprintf(path, sizeof(path), "%s/%s", dir, file);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  long n = sd_read_full(fd, buf, bufsz - 1);
  if (n < 0)
    return (int)n;
  buf[n] = '\0';
  return (int)n;
}

static bool file_exists(const char *dir, const char *file) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof(path), "%s/%s", dir, file);
  return access(path, F_OK) == 0;
}

/* Value of "key N" lines (memory.events, memory.oom_control); -1 if absent. */
static long long keyed_value(const char *text, const char *key) {
  size_t klen = strlen(key);
  for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
    if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
      return strtoll(p + klen + 1, NULL, 10);
  return -1;
}

static bool word_in(const char *text, const char *word) {
  size_t wlen = strlen(word);
  for (const char *p = text; (p = strstr(p, word)); p += wlen)
    if ((p == text || p[-1] == ' ' || p[-1] == '\n') &&
        (p[wlen] == '\0' || p[wlen] == ' ' || p[wlen] == '\n'))
      return true;
  return false;
}

/* --- detection ----------------------------------------------------------------------- */

static bool is_fs(const char *path, long magic) {
  struct statfs s;
  return statfs(path, &s) == 0 && s.f_type == magic;
}

/* The cgroup v2 root: /sys/fs/cgroup (unified) or /sys/fs/cgroup/unified (hybrid). */
static const char *v2_root(void) {
  if (is_fs(CG_ROOT, CGROUP2_SUPER_MAGIC))
    return CG_ROOT;
  if (is_fs(CG_ROOT "/unified", CGROUP2_SUPER_MAGIC))
    return CG_ROOT "/unified";
  return NULL;
}

/* Enable ctrl for children of the v2 root and of secretd/. False if it cannot be. */
static bool v2_enable(const char *root, const char *ctrl) {
  char avail[512], parent[PATH_MAX], plus[32];

  if (read_at(root, "cgroup.controllers", avail, sizeof(avail)) < 0 || !word_in(avail, ctrl))
    return false;
  snprintf(plus, sizeof(plus), "+%s", ctrl);
  snprintf(parent, sizeof(parent), "%s/" CG_PARENT, root);
  if (write_at(root, "cgroup.subtree_control", plus) < 0)
    return false;
  if (mkdir(parent, 0755) < 0 && errno != EEXIST)
    return false;
  return write_at(parent, "cgroup.subtree_control", plus) == 0;
}

static bool v1_has(const char *ctrl, dev_t *ret_dev) {
  char path[64];
  struct stat st;
  snprintf(path, sizeof(path), CG_ROOT "/%s", ctrl);
  if (!is_fs(path, CGROUP_SUPER_MAGIC) || stat(path, &st) < 0)
    return false;
  *ret_dev = st.st_dev;
  return true;
}

/* --- group directories ----------------------------------------------------------------- */

static int add_dir(struct rt_cgroup *cg, const char *hier, bool v2, dev_t dev, const char *name) {
  struct cg_dir *d;
  char parent[PATH_MAX];

  for (int i = 0; i < cg->n_dirs; i++)
    if (cg->dirs[i].v2 == v2 && cg->dirs[i].dev == dev)
      return i;
  if (cg->n_dirs == CG_MAX_DIRS)
    return fail(-E2BIG, "too many hierarchies at", hier, NULL);
  d = &cg->dirs[cg->n_dirs];
  snprintf(parent, sizeof(parent), "%s/" CG_PARENT, hier);
  if (mkdir(parent, 0755) < 0 && errno != EEXIST)
    return fail(-errno, "cannot create", parent, NULL);
  if ((size_t)snprintf(d->path, sizeof(d->path), "%s/%s", parent, name) >= sizeof(d->path))
    return fail(-ENAMETOOLONG, "path too long under", parent, NULL);
  if (mkdir(d->path, 0755) < 0) {
    if (errno != EEXIST)
      return fail(-errno, "cannot create", d->path, NULL);
    snprintf(last_error, sizeof(last_error),
             "%.300s exists: a container with this name runs, or one that was killed "
             "left its group behind", d->path);
    return -EEXIST;
  }
  d->v2 = v2;
  d->dev = dev;
  return cg->n_dirs++;
}

/* Put ctrl on v2 when the v2 hierarchy offers it and it can be enabled, else on v1. */
static int place(struct rt_cgroup *cg, int ctrl, const char *v2root, dev_t v2dev, const char *name) {
  dev_t dev;
  int i;

  if (v2root && ctrl != CG_DEVICES && v2_enable(v2root, ctrl_names[ctrl]))
    i = add_dir(cg, v2root, true, v2dev, name);
  else if (v1_has(ctrl_names[ctrl], &dev)) {
    char hier[64];
    snprintf(hier, sizeof(hier), CG_ROOT "/%s", ctrl_names[ctrl]);
    i = add_dir(cg, hier, false, dev, name);
  } else if (ctrl == CG_DEVICES && v2root)
    i = add_dir(cg, v2root, true, v2dev, name);
  else {
    snprintf(last_error, sizeof(last_error),
             "controller %s is available neither on cgroup v2 nor on v1",
             ctrl_names[ctrl]);
    return -EOPNOTSUPP;
  }
  if (i < 0)
    return i;
  cg->ctrl_dir[ctrl] = i;
  return 0;
}

/* --- limits ------------------------------------------------------------------------------- */

static int apply_memory(const struct cg_dir *d, int64_t bytes) {
  char v[32];
  int r;
  snprintf(v, sizeof(v), "%lld", (long long)bytes);
  if (d->v2) {
    if ((r = write_or_fail(d->path, "memory.max", v)) < 0)
      return r;
    /* No swap: the limit is the limit (memory.swap.max exists only with swap accounting). */
    return file_exists(d->path, "memory.swap.max") ? write_or_fail(d->path, "memory.swap.max", "0")
                                                   : 0;
  }
  if ((r = write_or_fail(d->path, "memory.limit_in_bytes", v)) < 0)
    return r;
  return file_exists(d->path, "memory.memsw.limit_in_bytes")
             ? write_or_fail(d->path, "memory.memsw.limit_in_bytes", v)
             : 0;
}

static int apply_cpu(const struct cg_dir *d, int64_t quota, int64_t period) {
  char v[64];
  int r;
  if (d->v2) {
    snprintf(v, sizeof(v), "%lld %lld", (long long)quota, (long long)period);
    return write_or_fail(d->path, "cpu.max", v);
  }
  snprintf(v, sizeof(v), "%lld", (long long)period);
  if ((r = write_or_fail(d->path, "cpu.cfs_period_us", v)) < 0)
    return r;
  snprintf(v, sizeof(v), "%lld", (long long)quota);
  return write_or_fail(d->path, "cpu.cfs_quota_us", v);
}

static int apply_pids(const struct cg_dir *d, int64_t max) {
  char v[32];
  snprintf(v, sizeof(v), "%lld", (long long)max);
  return write_or_fail(d->path, "pids.max", v);
}

static int apply_devices(const struct cg_dir *d) {
  _cleanup_close_ int fd = -1;
  int r;
  if (d->v2) {
    fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
      return fail(-errno, "cannot open", d->path, NULL);
    r = rt_cgroup_devices_bpf_attach(fd);
    return r < 0 ? fail(r, "cannot attach the device program to", d->path, NULL) : 0;
  }
  if ((r = write_or_fail(d->path, "devices.deny", "a")) < 0)
    return r;
  for (size_t i = 0; i < rt_cgroup_devices_v1_allow_n; i++)
    if ((r = write_or_fail(d->path, "devices.allow", rt_cgroup_devices_v1_allow[i])) < 0)
      return r;
  return 0;
}

static bool name_valid(const char *name) {
  size_t n = name ? strnlen(name, CG_NAME_MAX + 1) : 0;
  if (n == 0 || n > CG_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '.' || c == '-'))
      return false;
  }
  return true;
}

static int limits_check(const struct rt_limits *l, int64_t *ret_period) {
  int64_t period = l->cpu_period_us ? l->cpu_period_us : CG_DEFAULT_PERIOD;
  if (l->memory_bytes < 0 || l->cpu_quota_us < 0 || l->cpu_period_us < 0 || l->pids_max < 0)
    return -EINVAL;
  if (l->memory_bytes > 0 && l->memory_bytes < 4096)
    return -EINVAL;
  /* The kernel's bounds for CFS: period 1 ms..1 s, quota >= 1 ms. */
  if (l->cpu_quota_us > 0 && (period < 1000 || period > 1000000 || l->cpu_quota_us < 1000))
    return -EINVAL;
  *ret_period = period;
  return 0;
}

static int setup(struct rt_cgroup *cg, const char *name, const struct rt_limits *l) {
  const char *v2root = v2_root();
  dev_t v2dev = 0;
  int64_t period;
  struct stat st;
  int r;

  if ((r = limits_check(l, &period)) < 0) {
    snprintf(last_error, sizeof(last_error), "invalid limits (negative, memory < 4096, or cpu quota < 1 ms or period outside 1 ms..1 s)");
    return r;
  }
  if (v2root && stat(v2root, &st) == 0)
    v2dev = st.st_dev;

  if ((l->memory_bytes > 0 && (r = place(cg, CG_MEMORY, v2root, v2dev, name)) < 0) ||
      (l->cpu_quota_us > 0 && (r = place(cg, CG_CPU, v2root, v2dev, name)) < 0) ||
      (l->pids_max > 0 && (r = place(cg, CG_PIDS, v2root, v2dev, name)) < 0) ||
      (r = place(cg, CG_DEVICES, v2root, v2dev, name)) < 0)
    return r;

  if (l->memory_bytes > 0 && (r = apply_memory(&cg->dirs[cg->ctrl_dir[CG_MEMORY]], l->memory_bytes)) < 0)
    return r;
  if (l->cpu_quota_us > 0 &&
      (r = apply_cpu(&cg->dirs[cg->ctrl_dir[CG_CPU]], l->cpu_quota_us, period)) < 0)
    return r;
  if (l->pids_max > 0 && (r = apply_pids(&cg->dirs[cg->ctrl_dir[CG_PIDS]], l->pids_max)) < 0)
    return r;
  return apply_devices(&cg->dirs[cg->ctrl_dir[CG_DEVICES]]);
}

static void remove_dirs(struct rt_cgroup *cg);

int rt_cgroup_create(const char *name, const struct rt_limits *lim, struct rt_cgroup **ret) {
  static const struct rt_limits none;
  struct rt_cgroup *cg;
  int r;

  last_error[0] = '\0';
  if (!ret || !name_valid(name)) {
    snprintf(last_error, sizeof(last_error), "invalid group name (1..80 of A-Z a-z 0-9 _ . -)");
    return -EINVAL;
  }
  cg = calloc(1, sizeof(*cg));
  if (!cg)
    return -ENOMEM;
  for (int i = 0; i < CG_N; i++)
    cg->ctrl_dir[i] = -1;
  for (int i = 0; i < CG_MAX_DIRS; i++)
    cg->join_fd[i] = -1;
  r = setup(cg, name, lim ? lim : &none);
  if (r < 0) {
    remove_dirs(cg);
    free(cg);
    return r;
  }
  *ret = cg;
  return 0;
}

int rt_cgroup_attach(struct rt_cgroup *cg, pid_t pid) {
  char v[32];
  int r;
  if (!cg || pid <= 0)
    return -EINVAL;
  snprintf(v, sizeof(v), "%d", (int)pid);
  for (int i = 0; i < cg->n_dirs; i++)
    if ((r = write_or_fail(cg->dirs[i].path, "cgroup.procs", v)) < 0)
      return r;
  return 0;
}

int rt_cgroup_prepare_join(struct rt_cgroup *cg) {
  char path[PATH_MAX + 32];
  if (!cg)
    return -EINVAL;
  for (int i = 0; i < cg->n_dirs; i++) {
    const char *file = cg->dirs[i].v2 ? "cgroup.procs" : "tasks";
    if (cg->join_fd[i] >= 0)
      continue;
    snprintf(path, sizeof(path), "%s/%s", cg->dirs[i].path, file);
    cg->join_fd[i] = open(path, O_WRONLY | O_CLOEXEC);
    if (cg->join_fd[i] < 0) {
      int r = fail(-errno, "cannot open", cg->dirs[i].path, file);
      rt_cgroup_join_close(cg);
      return r;
    }
  }
  return 0;
}

int rt_cgroup_join_self(struct rt_cgroup *cg) {
  int r = 0;
  if (!cg)
    return -EINVAL;
  for (int i = 0; i < cg->n_dirs; i++) {
    if (cg->join_fd[i] < 0) {
      r = r ? r : -EBADF;
      continue;
    }
    if (r == 0 && write(cg->join_fd[i], "0", 1) != 1)
      r = -errno;
    close(cg->join_fd[i]);
    cg->join_fd[i] = -1;
  }
  return r;
}

void rt_cgroup_join_close(struct rt_cgroup *cg) {
  if (!cg)
    return;
  for (int i = 0; i < CG_MAX_DIRS; i++)
    if (cg->join_fd[i] >= 0) {
      close(cg->join_fd[i]);
      cg->join_fd[i] = -1;
    }
}

bool rt_cgroup_oom_killed(struct rt_cgroup *cg) {
  char buf[1024];
  const struct cg_dir *d;

  if (!cg || cg->ctrl_dir[CG_MEMORY] < 0)
    return false;
  d = &cg->dirs[cg->ctrl_dir[CG_MEMORY]];
  if (d->v2)
    return read_at(d->path, "memory.events", buf, sizeof(buf)) > 0 &&
           keyed_value(buf, "oom_kill") > 0;
  if (read_at(d->path, "memory.oom_control", buf, sizeof(buf)) <= 0)
    return false;
  /* "oom_kill" exists since Linux 4.13; before that, under_oom is the best we have. */
  return keyed_value(buf, "oom_kill") > 0 || keyed_value(buf, "under_oom") > 0;
}

int rt_cgroup_path(const struct rt_cgroup *cg, const char *controller, char *buf, size_t len,
                   bool *ret_v2) {
  if (!cg || !controller || !buf)
    return -EINVAL;
  for (int c = 0; c < CG_N; c++) {
    const struct cg_dir *d;
    if (strcmp(controller, ctrl_names[c]) != 0 || cg->ctrl_dir[c] < 0)
      continue;
    d = &cg->dirs[cg->ctrl_dir[c]];
    if ((size_t)snprintf(buf, len, "%s", d->path) >= len)
      return -ENAMETOOLONG;
    if (ret_v2)
      *ret_v2 = d->v2;
    return 0;
  }
  return -ENOENT;
}

/* --- teardown ------------------------------------------------------------------------------- */

/* SIGKILL every process listed in dir's cgroup.procs; returns how many were listed. */
static int kill_listed(const char *dir) {
  char buf[8192];
  int n = 0;
  if (read_at(dir, "cgroup.procs", buf, sizeof(buf)) <= 0)
    return 0;
  for (char *p = buf, *end; *p; p = end) {
    long pid = strtol(p, &end, 10);
    if (end == p)
      break;
    if (pid > 0) {
      kill((pid_t)pid, SIGKILL);
      n++;
    }
    while (*end == '\n')
      end++;
  }
  return n;
}

static void kill_all(const struct cg_dir *d) {
  if (d->v2 && write_at(d->path, "cgroup.kill", "1") == 0)
    return;
  kill_listed(d->path);
}

static void sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000L};
  nanosleep(&ts, NULL);
}

/* rmdir, retrying while the last processes finish exiting (~1 s at most). */
static int rmdir_wait(const struct cg_dir *d) {
  for (int i = 0; i < 200; i++) {
    if (rmdir(d->path) == 0 || errno == ENOENT)
      return 0;
    if (errno != EBUSY)
      return fail(-errno, "cannot remove", d->path, NULL);
    if (i % 20 == 19)
      kill_all(d); /* a fork raced the first kill */
    sleep_ms(5);
  }
  return fail(-EBUSY, "processes are left in", d->path, NULL);
}

static void remove_dirs(struct rt_cgroup *cg) {
  for (int i = 0; i < cg->n_dirs; i++)
    rmdir(cg->dirs[i].path);
}

int rt_cgroup_destroy(struct rt_cgroup *cg) {
  int r = 0;
  if (!cg)
    return 0;
  rt_cgroup_join_close(cg);
  for (int i = 0; i < cg->n_dirs; i++)
    kill_all(&cg->dirs[i]);
  for (int i = 0; i < cg->n_dirs; i++) {
    int q = rmdir_wait(&cg->dirs[i]);
    if (q < 0 && r == 0)
      r = q;
  }
  free(cg);
  return r;
}

void rt_cgroup_forget(struct rt_cgroup *cg) {
  if (!cg)
    return;
  rt_cgroup_join_close(cg);
  free(cg);
}

/* Every hierarchy a group may live in: the v2 root and each v1 controller mount. */
static int hierarchies(char out[][64], int max) {
  int n = 0;
  const char *v2 = v2_root();
  if (v2 && n < max)
    snprintf(out[n++], 64, "%s", v2);
  for (int c = 0; c < CG_N && n < max; c++) {
    dev_t dev;
    if (v1_has(ctrl_names[c], &dev))
      snprintf(out[n++], 64, CG_ROOT "/%s", ctrl_names[c]);
  }
  return n;
}

int rt_cgroup_remove_name(const char *name, bool kill_first) {
  char hier[8][64];
  int r = 0, found = 0, n = hierarchies(hier, 8);
  if (!name_valid(name))
    return -EINVAL;
  for (int i = 0; i < n; i++) {
    struct cg_dir d = {.v2 = strcmp(hier[i], CG_ROOT) == 0 || strstr(hier[i], "unified")};
    snprintf(d.path, sizeof d.path, "%s/" CG_PARENT "/%s", hier[i], name);
    if (access(d.path, F_OK) < 0)
      continue;
    found++;
    if (kill_first)
      kill_all(&d);
    if (rmdir(d.path) < 0 && errno != ENOENT) {
      int q = errno == EBUSY && kill_first ? rmdir_wait(&d) : -errno;
      if (q < 0 && r == 0)
        r = q;
    }
  }
  return r < 0 ? r : found;
}

int rt_cgroup_sweep_stale(void) {
  char hier[8][64], dir[PATH_MAX];
  int swept = 0, n = hierarchies(hier, 8);
  for (int i = 0; i < n; i++) {
    snprintf(dir, sizeof dir, "%s/" CG_PARENT, hier[i]);
    DIR *d = opendir(dir);
    if (!d)
      continue;
    struct dirent *e;
    while ((e = readdir(d))) {
      /* launch-<pid>-<nonce>: a foreground launcher's group; its launcher is gone */
      char *end;
      if (strncmp(e->d_name, "launch-", 7) != 0)
        continue;
      long pid = strtol(e->d_name + 7, &end, 10);
      if (end == e->d_name + 7 || *end != '-' || pid <= 0)
        continue;
      if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
        continue; /* launcher alive (or pid reused): leave it */
      /* rmdir only succeeds on an empty group: a running container keeps its group */
      if (unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) == 0)
        swept++;
    }
    closedir(d);
  }
  return swept;
}
