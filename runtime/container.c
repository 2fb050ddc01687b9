/*
 * Container lifecycle: the parent side of rt_container_start() (compile seccomp,
 * check MAC, create the cgroup and the secrets tmpfs, clone, write id maps, attach
 * the cgroup, release the child, wait for its exec) and the child's setup sequence.
 * See runtime/runtime.h for the order and docs/launcher-vs-docker.md for the why.
 *
 * The child is made by one raw clone() with every namespace flag (fork semantics, no
 * new stack). Between clone and execve it only makes system calls and touches memory
 * prepared by the parent: it never allocates, so this also works from a multithreaded
 * caller (the agent). Any failure is sent to the parent over a close-on-exec pipe as
 * {errno, step, path}; EOF on that pipe means the execve succeeded.
 *
 * The /proc/self/exe class of attacks (CVE-2019-5736): the process that runs the
 * command is never the launcher image after execve; nothing in the container shares a
 * pid namespace with the launcher, so /proc/<launcher>/exe is not reachable; the
 * command is looked up with RESOLVE_NO_MAGICLINKS, so "/proc/self/exe" (or a symlink
 * to it) is refused as a command; every fd but 0-2 is closed at exec; and
 * rt_exe_protect() runs the launcher itself from a read-only mount, so even an image
 * that makes the launcher run inside the container (#!/proc/self/exe) cannot open it
 * for writing (EROFS). --init's PID 1 is non-dumpable. See runtime/init.h.
 */
#include "runtime/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/macro.h"
#include "runtime/caps.h"
#include "runtime/cgroup.h"
#include "runtime/init.h"
#include "runtime/landlock.h"
#include "runtime/mac.h"
#include "runtime/mounts.h"
#include "runtime/rootfs_layer.h"
#include "runtime/seccomp.h"
#include "runtime/secrets_fs.h"
#include "runtime/state.h"
#include "runtime/userns.h"

struct rt_container {
  pid_t pid;
  int pidfd;
  bool reaped;
  bool adopted;    /* not our child: no waitid, free() does not kill */
  struct rt_exit exit;
  struct rt_cgroup *cg;
  struct rt_secrets_fs *sfs;
};

enum step {
  ST_SYNC, ST_CGROUP, ST_IDS, ST_CGROUPNS, ST_ROOTFS, ST_SECRETS, ST_PROC, ST_DEV, ST_SYS, ST_MOUNT,
  ST_MASKED, ST_READONLY, ST_PIVOT, ST_ROOT_RO, ST_HOSTNAME, ST_LO, ST_CWD, ST_LOOKUP, ST_MAC,
  ST_LANDLOCK, ST_GROUPS, ST_BOUNDING, ST_SETGID, ST_SETUID, ST_CAPS, ST_NNP, ST_FDS,
  ST_SECCOMP, ST_EXEC, ST__MAX,
};

static const char *const step_names[ST__MAX] = {
    [ST_SYNC] = "waiting for the parent", [ST_CGROUP] = "joining the cgroup", [ST_IDS] = "becoming root in the user namespace",
    [ST_CGROUPNS] = "cgroup namespace", [ST_ROOTFS] = "rootfs bind mount",
    [ST_SECRETS] = "mounting /run/secrets", [ST_PROC] = "mounting /proc",
    [ST_DEV] = "setting up /dev", [ST_SYS] = "mounting /sys", [ST_MOUNT] = "--mount",
    [ST_MASKED] = "masking path", [ST_READONLY] = "read-only path",
    [ST_PIVOT] = "pivot_root", [ST_ROOT_RO] = "read-only rootfs",
    [ST_HOSTNAME] = "sethostname", [ST_LO] = "bringing up lo", [ST_CWD] = "working directory",
    [ST_LOOKUP] = "command lookup", [ST_MAC] = "MAC exec label", [ST_LANDLOCK] = "Landlock",
    [ST_GROUPS] = "setgroups", [ST_BOUNDING] = "capability bounding set",
    [ST_SETGID] = "setgid", [ST_SETUID] = "setuid", [ST_CAPS] = "capabilities",
    [ST_NNP] = "no_new_privs", [ST_FDS] = "closing fds", [ST_SECCOMP] = "seccomp",
    [ST_EXEC] = "exec",
};

/* What the child reports on failure. The first field alone (4 bytes) is what
 * rt_init_run() writes when the exec of the command fails under --init. */
struct child_err {
  int32_t err;
  int32_t step;
  char what[248];
};

/* Everything the child needs, prepared by the parent (the child only reads it). */
struct child_args {
  const struct rt_spec *spec;
  int sync_fd, err_fd;
  int parent_sync_fd, parent_err_fd; /* the parent's pipe ends, closed at once */
  const int *src_fds;
  int layer_fd;         /* detached overlay for the rootfs, -1 with rootfs_writable */
  struct rt_secrets_fs *sfs;
  struct rt_cgroup *cg;
  const struct rt_seccomp *seccomp;
  char *const *envp;
  const char *path_env; /* the value of PATH used for the lookup */
  const char *hostname;
  uint64_t caps;        /* set for uid 0; 0 otherwise */
  int last_cap;
};

uint64_t rt_default_caps(void) { return rt_caps_docker_default(); }

bool rt_secret_target_valid(const char *t) {
  size_t len = strnlen(t, 256);
  if (len == 0 || len > 255 || t[0] == '/')
    return false;
  for (const char *p = t;;) {
    const char *e = strchrnul(p, '/');
    size_t n = (size_t)(e - p);
    if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
      return false;
    if (!*e)
      return true;
    p = e + 1;
  }
}

/* ---- child ------------------------------------------------------------------------ */

_Noreturn static void child_fail(const struct child_args *a, enum step st, int err,
                                 const char *what) {
  struct child_err e = {.err = err < 0 ? -err : err, .step = st};
  if (what)
    strncpy(e.what, what, sizeof e.what - 1);
  if (write(a->err_fd, &e, sizeof e) < 0) {
    /* the parent sees the exit status */
  }
  _exit(125);
}

static int lo_up(void) {
  _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    return -errno;
  struct ifreq ifr = {0};
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
    return -errno;
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
    return -errno;
  return 0;
}

/* Find argv[0] inside the (pivoted) root, as Docker does with its default PATH.
 * Magic links (/proc/self/exe ...) are refused. buf receives the path to exec. */
static int lookup_cmd(int root_fd, const char *cmd, const char *path, char *buf, size_t len) {
  int last = -ENOENT;
  const char *p = path;
  bool has_slash = strchr(cmd, '/') != NULL;
  for (;;) {
    const char *e = has_slash ? p : strchrnul(p, ':');
    size_t dl = has_slash ? 0 : (size_t)(e - p);
    size_t cl = strlen(cmd);
    if (dl + cl + 2 > len)
      return -ENAMETOOLONG;
    if (!has_slash && dl == 0) { /* empty PATH element: the cwd, "/" by default */
      buf[0] = '.';
      dl = 1;
    } else {
      memcpy(buf, p, dl);
    }
    size_t o = dl;
    if (!has_slash)
      buf[o++] = '/';
    memcpy(buf + o, cmd, cl + 1);
    _cleanup_close_ int fd = rt_open_in_root(root_fd, buf, O_PATH);
    if (fd >= 0) {
      struct stat st;
      if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111))
        return 0;
      last = -EACCES;
    } else if (fd != -ENOENT && fd != -ENOTDIR) {
      last = fd; /* -ELOOP for a magic link */
    }
    if (has_slash || !*e)
      return last;
    p = e + 1;
  }
}

static int precreate_mountpoints(const struct child_args *a, int root_fd) {
  static const char *const dirs[] = {"/proc", "/dev", "/sys"};
  int fd, r;
  for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
    if ((r = rt_mkpath_in_root(root_fd, dirs[i], false, &fd)) < 0)
      return r;
    close(fd);
  }
  for (size_t i = 0; i < a->spec->n_mounts; i++) {
    struct stat st;
    if (fstat(a->src_fds[i], &st) < 0)
      return -errno;
    if ((r = rt_mkpath_in_root(root_fd, a->spec->mounts[i].target, !S_ISDIR(st.st_mode), &fd)) < 0)
      return r;
    close(fd);
  }
  return 0;
}

static void reset_signals(void) {
  struct sigaction sa = {.sa_handler = SIG_DFL};
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP)
      sigaction(s, &sa, NULL); /* glibc refuses its own two: fine */
}

_Noreturn static void child_main(const struct child_args *a) {
  const struct rt_spec *s = a->spec;
  int root_fd = -1, r;
  char cmd[4096];
  char c;

  /* The clone copied the parent's fds: drop its pipe ends first, so that EOF on
   * the sync pipe and POLLERR on the error pipe mean the launcher is gone. */
  close(a->parent_sync_fd);
  close(a->parent_err_fd);
  if (s->pdeathsig)
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  /* A session of our own: no controlling terminal, so nothing inside can push
   * input into the operator's terminal (TIOCSTI) or get its signals. */
  if (setsid() < 0)
    _exit(125);
  /* Wait for the id maps and the cgroup; EOF means the parent gave up. */
  if (read(a->sync_fd, &c, 1) != 1)
    _exit(125);
  close(a->sync_fd);
  /* Join the cgroup ourselves, before anything runs that the limits must
   * cover and before a cgroup namespace is made: a single-threaded task writing
   * "0" moves without the global lock that a parent's write of a child's pid
   * waits on (an RCU grace period, 10-30 ms on a cold start). */
  if ((r = rt_cgroup_join_self(a->cg)) < 0)
    child_fail(a, ST_CGROUP, r, NULL);

  /* The parent's rootfs fd belongs to the parent's mount namespace; reopen the path in
   * ours. In a user namespace this is done before becoming its root: the lookup then
   * still runs with the host uid 0 (owner of e.g. a 0700 mktemp directory). */
  int rootfs_fd = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfs_fd < 0)
    child_fail(a, ST_ROOTFS, errno, s->rootfs);
  if (s->cgroupns && unshare(CLONE_NEWCGROUP) < 0)
    child_fail(a, ST_CGROUPNS, errno, NULL);
  umask(0);

  if ((r = rt_mount_rootfs(rootfs_fd, a->layer_fd, &root_fd)) < 0)
    child_fail(a, ST_ROOTFS, r, s->rootfs);
  /* The container's own layer takes a missing run/secrets (made read-only later with
   * --read-only). Without a layer, --read-only must not modify the directory: a missing
   * run/secrets is provided by a small tmpfs over run/ instead of a mkdir in it. */
  bool no_create = s->readonly_rootfs && s->rootfs_writable;
  if (a->sfs && (r = rt_secrets_fs_mount_in_flags(a->sfs, root_fd,
                                                  no_create ? RT_SECRETS_FS_NO_CREATE : 0)) < 0)
    child_fail(a, ST_SECRETS, r, "/run/secrets");
  if (s->userns) {
    /* Still host uid 0 (unmapped here, with every capability of the new user
     * namespace): create the mountpoints that live on the rootfs, which the mapped
     * root may not be allowed to write, then become the namespace's root, which
     * files on the namespace's own tmpfs mounts (/dev) need. */
    if ((r = precreate_mountpoints(a, root_fd)) < 0)
      child_fail(a, ST_MOUNT, r, rt_mounts_last_path());
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
      child_fail(a, ST_IDS, errno, NULL);
  }
  if ((r = rt_mount_proc(root_fd)) < 0)
    child_fail(a, ST_PROC, r, rt_mounts_last_path());
  /* The exec label's attr file is opened now, before any user mount can cover a path
   * on the way to it, and checked to be procfs (CVE-2019-19921). */
  struct rt_mac_exec mac;
  if ((r = rt_mac_exec_open(root_fd, s->apparmor, s->selinux_label, &mac)) < 0)
    child_fail(a, ST_MAC, r, NULL);
  if ((r = rt_mount_dev(root_fd, s->userns)) < 0)
    child_fail(a, ST_DEV, r, rt_mounts_last_path());
  if ((r = rt_mount_sys(root_fd)) < 0)
    child_fail(a, ST_SYS, r, rt_mounts_last_path());
  for (size_t i = 0; i < s->n_mounts; i++)
    if ((r = rt_mount_bind(root_fd, a->src_fds[i], s->mounts[i].target, s->mounts[i].readonly)) < 0)
      child_fail(a, ST_MOUNT, r, s->mounts[i].target);
  if ((r = rt_mount_masked_paths(root_fd)) < 0)
    child_fail(a, ST_MASKED, r, rt_mounts_last_path());
  if ((r = rt_mount_readonly_paths(root_fd)) < 0)
    child_fail(a, ST_READONLY, r, rt_mounts_last_path());
  if ((r = rt_pivot_root(root_fd)) < 0)
    child_fail(a, ST_PIVOT, r, rt_mounts_last_path());
  if (s->readonly_rootfs && (r = rt_remount_root_readonly()) < 0)
    child_fail(a, ST_ROOT_RO, r, "/");
  if (sethostname(a->hostname, strlen(a->hostname)) < 0)
    child_fail(a, ST_HOSTNAME, errno, a->hostname);
  if ((r = lo_up()) < 0)
    child_fail(a, ST_LO, r, "lo");

  /* The old root is detached: every path now resolves inside the container. getcwd()
   * fails (ENOENT) for a directory that is not reachable from the root. */
  const char *cwd = s->cwd ? s->cwd : "/";
  if (chdir(cwd) < 0 || !getcwd(cmd, sizeof cmd))
    child_fail(a, ST_CWD, errno, cwd);
  if ((r = lookup_cmd(root_fd, s->argv[0], a->path_env, cmd, sizeof cmd)) < 0)
    child_fail(a, ST_LOOKUP, r, s->argv[0]);

  if ((r = rt_mac_exec_apply(&mac, s->apparmor, s->selinux_label)) < 0)
    child_fail(a, ST_MAC, r, NULL);
  if (s->n_landlock_rw && (r = rt_landlock_apply(s->landlock_rw, s->n_landlock_rw)) < 0)
    child_fail(a, ST_LANDLOCK, r, NULL);

  if ((r = rt_caps_drop_bounding(s->caps, a->last_cap)) < 0)
    child_fail(a, ST_BOUNDING, r, NULL);
  if (setgroups(0, NULL) < 0)
    child_fail(a, ST_GROUPS, errno, NULL);
  if (setresgid(s->gid, s->gid, s->gid) < 0)
    child_fail(a, ST_SETGID, errno, NULL);
  if (setresuid(s->uid, s->uid, s->uid) < 0)
    child_fail(a, ST_SETUID, errno, NULL);
  if ((r = rt_caps_set(a->caps)) < 0)
    child_fail(a, ST_CAPS, r, NULL);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    child_fail(a, ST_NNP, errno, NULL);
  /* The kernel clears the parent-death signal on every credential change
   * (becoming root of a user namespace, setresuid to --user): arm it again,
   * then make sure the launcher did not die in between. Its end of the error
   * pipe is open until our exec, so a closed read end means it is gone. */
  if (s->pdeathsig) {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    struct pollfd parent_alive = {.fd = a->err_fd, .events = 0};
    if (poll(&parent_alive, 1, 0) > 0 && (parent_alive.revents & POLLERR))
      _exit(125);
  }
  umask(022);
  /* Every fd but 0-2 (and our error pipe until exec) is gone at execve. --init
   * never execs in PID 1, so there every other fd is closed now, before the
   * seccomp filter (which may not allow close_range) is loaded. */
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    child_fail(a, ST_FDS, errno, NULL);
  if (s->init && ((a->err_fd > 3 && close_range(3, (unsigned)a->err_fd - 1, 0) < 0) ||
                  close_range((unsigned)a->err_fd + 1, ~0U, 0) < 0))
    child_fail(a, ST_FDS, errno, NULL);
  reset_signals();
  if (a->seccomp && (r = rt_seccomp_load(a->seccomp)) < 0)
    child_fail(a, ST_SECCOMP, r, NULL);

  if (s->init)
    rt_init_run(cmd, s->argv, a->envp, a->err_fd);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(cmd, s->argv, a->envp);
  child_fail(a, ST_EXEC, errno, s->argv[0]);
}

/* ---- parent ----------------------------------------------------------------------- */

static void set_err(struct rt_error *err, int exec_errno, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(struct rt_error *err, int exec_errno, const char *fmt, ...) {
  if (!err)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  err->exec_errno = exec_errno;
}

static int check_spec(const struct rt_spec *s, struct rt_error *err) {
  if (!s->rootfs || !*s->rootfs) {
    set_err(err, 0, "no rootfs given");
    return -EINVAL;
  }
  if (!s->argv || !s->argv[0] || !*s->argv[0]) {
    set_err(err, 0, "no command given");
    return -EINVAL;
  }
  if (s->cwd && s->cwd[0] != '/') {
    set_err(err, 0, "working directory must be absolute: %s", s->cwd);
    return -EINVAL;
  }
  if (s->hostname && (strlen(s->hostname) == 0 || strlen(s->hostname) > 64)) {
    set_err(err, 0, "hostname must be 1..64 characters");
    return -EINVAL;
  }
  for (size_t i = 0; i < s->n_mounts; i++)
    if (!s->mounts[i].source || !s->mounts[i].target || s->mounts[i].target[0] != '/') {
      set_err(err, 0, "--mount target must be an absolute container path");
      return -EINVAL;
    }
  if (s->secrets_fs && s->n_secrets) {
    set_err(err, 0, "secrets given both as files and as a prepared tmpfs");
    return -EINVAL;
  }
  for (size_t i = 0; i < s->n_secrets; i++)
    if (!rt_secret_target_valid(s->secrets[i].target)) {
      set_err(err, 0, "invalid secret target \"%s\"", s->secrets[i].target);
      return -EINVAL;
    }
  if (s->userns) {
    static const struct rt_idmap def = {0, RT_DEFAULT_IDMAP_OUTSIDE, RT_DEFAULT_IDMAP_COUNT};
    const struct rt_idmap *u = s->n_uidmap ? s->uidmap : &def, *g = s->n_gidmap ? s->gidmap : &def;
    size_t nu = s->n_uidmap ? s->n_uidmap : 1, ng = s->n_gidmap ? s->n_gidmap : 1;
    if (rt_idmap_check(u, nu) < 0 || rt_idmap_check(g, ng) < 0) {
      set_err(err, 0, "invalid --uidmap/--gidmap (1..%d non-overlapping ranges)", RT_MAX_IDMAPS);
      return -EINVAL;
    }
    if (!rt_idmap_maps(u, nu, 0) || !rt_idmap_maps(g, ng, 0) || !rt_idmap_maps(u, nu, s->uid) ||
        !rt_idmap_maps(g, ng, s->gid)) {
      set_err(err, 0, "--uidmap/--gidmap must map container id 0 and the --user ids");
      return -EINVAL;
    }
  }
  return 0;
}

/* envp = PATH (unless given) + spec->env. Returns a malloc'ed array (strings not copied
 * except the PATH entry, which is static). */
static int build_env(const struct rt_spec *s, char ***ret_env, const char **ret_path) {
  static char def_path[] = "PATH=" RT_DEFAULT_PATH;
  size_t n = 0;
  const char *path = NULL;
  for (; s->env && s->env[n]; n++)
    if (strncmp(s->env[n], "PATH=", 5) == 0)
      path = s->env[n] + 5;
  char **env = calloc(n + 2, sizeof *env);
  if (!env)
    return -ENOMEM;
  size_t o = 0;
  if (!path) {
    env[o++] = def_path;
    path = RT_DEFAULT_PATH;
  }
  for (size_t i = 0; i < n; i++)
    env[o++] = s->env[i];
  *ret_env = env;
  *ret_path = path;
  return 0;
}

static int make_secrets(const struct rt_spec *s, struct rt_secrets_fs **ret, struct rt_error *err) {
  size_t total = 0, largest = 0;
  if (s->secrets_fs) { /* made and filled by the caller before the start */
    int r = rt_secrets_fs_share(s->secrets_fs, ret);
    if (r < 0)
      set_err(err, 0, "sharing the secrets tmpfs: %s", sd_strerror(r));
    return r;
  }
  for (size_t i = 0; i < s->n_secrets; i++) {
    total += s->secrets[i].len;
    if (s->secrets[i].len > largest)
      largest = s->secrets[i].len;
  }
  struct rt_secrets_fs *fs = NULL;
  size_t max = s->secrets_max ? s->secrets_max : RT_SECRETS_DEFAULT_MAX;
  int r = rt_secrets_fs_new(total, largest, &fs);
  if (r < 0) {
    set_err(err, 0, "creating the secrets tmpfs: %s", sd_strerror(r));
    return r;
  }
  if (rt_secrets_fs_size(fs) > max) {
    set_err(err, 0, "the secrets (%zu bytes) exceed --secrets-max-size (%zu bytes)",
            rt_secrets_fs_size(fs), max);
    rt_secrets_fs_free(fs);
    return -EFBIG;
  }
  if ((r = rt_secrets_fs_set_max(fs, max)) < 0) {
    set_err(err, 0, "--secrets-max-size: at most 1 GiB");
    rt_secrets_fs_free(fs);
    return r;
  }
  for (size_t i = 0; i < s->n_secrets; i++) {
    const struct rt_secret *x = &s->secrets[i];
    /* The tmpfs belongs to the host's user namespace: with --userns, the owner is the
     * host id that the container id maps to. */
    uid_t uid = x->uid;
    gid_t gid = x->gid;
    if (s->userns) {
      static const struct rt_idmap def = {0, RT_DEFAULT_IDMAP_OUTSIDE, RT_DEFAULT_IDMAP_COUNT};
      uint32_t hu = rt_idmap_to_host(s->n_uidmap ? s->uidmap : &def, s->n_uidmap ? s->n_uidmap : 1, uid);
      uint32_t hg = rt_idmap_to_host(s->n_gidmap ? s->gidmap : &def, s->n_gidmap ? s->n_gidmap : 1, gid);
      if (hu == UINT32_MAX || hg == UINT32_MAX) {
        set_err(err, 0, "secret \"%s\": owner %u:%u is not mapped in the user namespace",
                x->target, (unsigned)uid, (unsigned)gid);
        rt_secrets_fs_free(fs);
        return -EINVAL;
      }
      uid = hu;
      gid = hg;
    }
    r = rt_secrets_fs_put(fs, x->target, x->data, x->len, uid, gid, x->mode);
    if (r < 0) {
      set_err(err, 0, "writing secret \"%s\": %s", x->target, sd_strerror(r));
      rt_secrets_fs_free(fs);
      return r;
    }
  }
  *ret = fs;
  return 0;
}

/* Parent's resources of one start; released by start_cleanup(). */
struct start {
  int rootfs_fd;
  int layer_fd;
  int *src_fds;
  size_t n_src;
  char **envp;
  struct rt_seccomp *seccomp;
  struct rt_cgroup *cg;
  struct rt_secrets_fs *sfs;
  int sync[2], errp[2];
  int pidfd;
  pid_t pid;
};

static void start_cleanup(struct start *st) {
  if (st->pid > 0) {
    if (st->pidfd >= 0)
      syscall(SYS_pidfd_send_signal, st->pidfd, SIGKILL, NULL, 0);
    else
      kill(st->pid, SIGKILL);
    waitpid(st->pid, NULL, 0);
  }
  for (int i = 0; i < 2; i++) {
    closep(&st->sync[i]);
    closep(&st->errp[i]);
  }
  closep(&st->pidfd);
  closep(&st->rootfs_fd);
  closep(&st->layer_fd);
  for (size_t i = 0; i < st->n_src; i++)
    closep(&st->src_fds[i]);
  free(st->src_fds);
  free(st->envp);
  rt_seccomp_free(st->seccomp);
  rt_cgroup_destroy(st->cg);
  rt_secrets_fs_free(st->sfs);
}

static int prepare(const struct rt_spec *s, struct start *st, struct rt_error *err) {
  int r;
  st->rootfs_fd = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (st->rootfs_fd < 0) {
    r = -errno;
    set_err(err, 0, "rootfs %s: %s", s->rootfs, sd_strerror(r));
    return r;
  }
  if (!s->rootfs_writable) {
    r = rt_rootfs_layer_new(st->rootfs_fd, s->rootfs_size, &st->layer_fd);
    if (r == -EOPNOTSUPP)
      set_err(err, 0, "rootfs %s: this kernel cannot give the container a layer of its own "
                      "(overlayfs with fd layers, Linux 6.13+); --rootfs-writable runs on the "
                      "directory itself", s->rootfs);
    else if (r < 0)
      set_err(err, 0, "rootfs layer for %s: %s", s->rootfs, sd_strerror(r));
    if (r < 0)
      return r;
  }
  if (s->n_mounts) {
    st->src_fds = calloc(s->n_mounts, sizeof *st->src_fds);
    if (!st->src_fds)
      return -ENOMEM;
    for (; st->n_src < s->n_mounts; st->n_src++) {
      /* A detached clone: fds of the parent's own mounts cannot be attached in the
       * child's mount namespace, detached trees can. */
      int fd = open_tree(AT_FDCWD, s->mounts[st->n_src].source,
                         OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
      if (fd < 0) {
        r = -errno;
        set_err(err, 0, "--mount source %s: %s", s->mounts[st->n_src].source, sd_strerror(r));
        return r;
      }
      st->src_fds[st->n_src] = fd;
    }
  }
  if (s->seccomp_json || !s->seccomp_profile || strcmp(s->seccomp_profile, "unconfined") != 0) {
    r = s->seccomp_json
            ? rt_seccomp_compile_json(s->seccomp_json, s->seccomp_json_len, s->caps, &st->seccomp)
            : rt_seccomp_compile(s->seccomp_profile, s->caps, &st->seccomp);
    if (r < 0) {
      if (*rt_seccomp_last_error())
        set_err(err, 0, "seccomp: %s", rt_seccomp_last_error());
      else
        set_err(err, 0, "seccomp profile %s: %s",
                s->seccomp_profile ? s->seccomp_profile : "(built-in)", sd_strerror(r));
      return r;
    }
  }
  r = rt_mac_check(s->apparmor, s->selinux_label);
  if (r < 0) {
    set_err(err, 0, "MAC: %s", *rt_mac_last_error() ? rt_mac_last_error() : sd_strerror(r));
    return r;
  }
  /* The pid alone is not unique over time: a launcher killed with SIGKILL
   * leaves its (empty) group behind, and pids are reused. */
  char name[48];
  if (!s->name) {
    uint32_t nonce = 0;
    if (getrandom(&nonce, sizeof nonce, GRND_NONBLOCK) != sizeof nonce)
      nonce = (uint32_t)time(NULL) ^ (uint32_t)getpid();
    snprintf(name, sizeof name, "launch-%d-%08x", (int)getpid(), nonce);
  }
  r = rt_cgroup_create(s->name ? s->name : name, &s->limits, &st->cg);
  if (r < 0) {
    set_err(err, 0, "cgroup: %s%s%s", sd_strerror(r), *rt_cgroup_last_error() ? ": " : "",
            rt_cgroup_last_error());
    return r;
  }
  if ((r = make_secrets(s, &st->sfs, err)) < 0)
    return r;
  if (pipe2(st->sync, O_CLOEXEC) < 0 || pipe2(st->errp, O_CLOEXEC) < 0) {
    r = -errno;
    set_err(err, 0, "pipe: %s", sd_strerror(r));
    return r;
  }
  return 0;
}

/* Read the child's report: 0 = it exec'd, else the error (message in err). */
static int await_exec(struct start *st, struct rt_error *err) {
  struct child_err e = {0};
  ssize_t n;
  do
    n = read(st->errp[0], &e, sizeof e);
  while (n < 0 && errno == EINTR);
  if (n == 0)
    return 0;
  if (n < 0) {
    set_err(err, 0, "reading the child's status: %s", strerror(errno));
    return -errno;
  }
  if (n < (ssize_t)sizeof e) { /* rt_init_run: only the errno of the exec */
    e.step = ST_EXEC;
    e.what[0] = '\0';
  }
  int code = e.err > 0 ? e.err : EIO;
  bool exec = e.step == ST_EXEC || e.step == ST_LOOKUP;
  const char *sname = e.step >= 0 && e.step < ST__MAX ? step_names[e.step] : "setup";
  e.what[sizeof e.what - 1] = '\0';
  if (exec && code == ENOENT)
    set_err(err, code, "command not found in the rootfs: %s", e.what);
  else
    set_err(err, exec ? code : 0, "%s%s%s: %s", sname, e.what[0] ? " " : "", e.what,
            strerror(code));
  return -code;
}

int rt_container_start(const struct rt_spec *s, struct rt_container **ret, struct rt_error *err) {
  struct start st = {.rootfs_fd = -1, .layer_fd = -1, .sync = {-1, -1}, .errp = {-1, -1}, .pidfd = -1};
  struct child_args a = {0};
  int r;
  char hostname[32];

  if (err) {
    err->msg[0] = '\0';
    err->exec_errno = 0;
  }
  if ((r = check_spec(s, err)) < 0)
    return r;
  struct rt_container *c = calloc(1, sizeof *c);
  if (!c)
    return -ENOMEM;
  if ((r = build_env(s, &st.envp, &a.path_env)) < 0)
    goto fail;
  if ((r = rt_caps_last_cap()) < 0) {
    set_err(err, 0, "reading cap_last_cap: %s", sd_strerror(r));
    goto fail;
  }
  a.last_cap = r;
  if ((r = prepare(s, &st, err)) < 0)
    goto fail;

  a.spec = s;
  a.sync_fd = st.sync[0];
  a.err_fd = st.errp[1];
  a.parent_sync_fd = st.sync[1];
  a.parent_err_fd = st.errp[0];
  a.src_fds = st.src_fds;
  a.layer_fd = st.layer_fd;
  a.sfs = st.sfs;
  a.cg = st.cg;
  a.seccomp = st.seccomp;
  a.envp = st.envp;
  a.caps = s->uid == 0 ? s->caps : 0;
  if (s->hostname)
    a.hostname = s->hostname;
  else {
    snprintf(hostname, sizeof hostname, "%s", s->name ? s->name : "container");
    a.hostname = hostname;
  }

  unsigned long flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
                        CLONE_PIDFD | SIGCHLD;
  if (s->userns)
    flags |= CLONE_NEWUSER;
  if ((r = rt_cgroup_prepare_join(st.cg)) < 0) {
    set_err(err, 0, "cgroup: %s", rt_cgroup_last_error());
    goto fail;
  }
  long pid = syscall(SYS_clone, flags, NULL, &st.pidfd, NULL, NULL);
  if (pid < 0) {
    r = -errno;
    set_err(err, 0, "clone: %s", sd_strerror(r));
    goto fail;
  }
  if (pid == 0)
    child_main(&a);
  st.pid = (pid_t)pid;
  closep(&st.sync[0]);
  closep(&st.errp[1]);

  if (s->userns) {
    static const struct rt_idmap def = {0, RT_DEFAULT_IDMAP_OUTSIDE, RT_DEFAULT_IDMAP_COUNT};
    r = rt_userns_write_maps(st.pid, s->n_uidmap ? s->uidmap : &def, s->n_uidmap ? s->n_uidmap : 1,
                             s->n_gidmap ? s->gidmap : &def, s->n_gidmap ? s->n_gidmap : 1);
    if (r < 0) {
      set_err(err, 0, "writing the user namespace id maps: %s", sd_strerror(r));
      goto fail;
    }
  }
  if (write(st.sync[1], "x", 1) != 1) {
    r = -EPIPE;
    set_err(err, 0, "releasing the child: %s", strerror(errno));
    goto fail;
  }
  closep(&st.sync[1]);
  r = await_exec(&st, err);
  rt_cgroup_join_close(st.cg);
  if (r < 0)
    goto fail;

  c->pid = st.pid;
  c->pidfd = TAKE_FD(st.pidfd);
  c->cg = TAKE_PTR(st.cg);
  c->sfs = TAKE_PTR(st.sfs);
  st.pid = 0;
  start_cleanup(&st);
  *ret = c;
  return 0;
fail:
  start_cleanup(&st);
  free(c);
  return r;
}

pid_t rt_container_pid(const struct rt_container *c) { return c->pid; }
int rt_container_pidfd(const struct rt_container *c) { return c->pidfd; }
struct rt_secrets_fs *rt_container_secrets(struct rt_container *c) { return c->sfs; }

int rt_container_kill(struct rt_container *c, int sig) {
  if (c->reaped)
    return -ESRCH;
  if (syscall(SYS_pidfd_send_signal, c->pidfd, sig, NULL, 0) < 0)
    return -errno;
  return 0;
}

int rt_container_wait(struct rt_container *c, bool block, struct rt_exit *ret_exit) {
  if (c->reaped || c->adopted)
    return -ECHILD;
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int r;
  do
    r = waitid(P_PIDFD, (id_t)c->pidfd, &si, WEXITED | (block ? 0 : WNOHANG));
  while (r < 0 && errno == EINTR && block);
  if (r < 0)
    return -errno;
  if (si.si_pid == 0)
    return -EAGAIN;
  c->reaped = true;
  c->exit.code = si.si_code == CLD_EXITED ? si.si_status : 0;
  c->exit.signal = si.si_code == CLD_EXITED ? 0 : si.si_status;
  c->exit.oom_killed = rt_cgroup_oom_killed(c->cg);
  rt_cgroup_destroy(c->cg);
  c->cg = NULL;
  if (ret_exit)
    *ret_exit = c->exit;
  return 0;
}

void rt_container_free(struct rt_container *c) {
  if (!c)
    return;
  if (c->adopted) {
    rt_container_detach(c);
    return;
  }
  if (!c->reaped) {
    rt_container_kill(c, SIGKILL);
    rt_container_wait(c, true, NULL);
  }
  rt_cgroup_destroy(c->cg);
  rt_secrets_fs_free(c->sfs);
  closep(&c->pidfd);
  free(c);
}

void rt_container_detach(struct rt_container *c) {
  if (!c)
    return;
  rt_cgroup_forget(c->cg);
  rt_secrets_fs_free(c->sfs);
  closep(&c->pidfd);
  free(c);
}

bool rt_container_exited(const struct rt_container *c) {
  if (c->reaped)
    return true;
  struct pollfd p = {.fd = c->pidfd, .events = POLLIN};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP));
}

/* Wait up to timeout_ms (< 0: forever) for the pidfd to report exit. 1 exited, 0 not. */
static int wait_exit(const struct rt_container *c, int64_t timeout_ms) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    if (rt_container_exited(c))
      return 1;
    int left = -1;
    if (timeout_ms >= 0) {
      struct timespec t;
      clock_gettime(CLOCK_MONOTONIC, &t);
      int64_t el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
      if (el >= timeout_ms)
        return 0;
      left = (int)(timeout_ms - el);
    }
    struct pollfd p = {.fd = c->pidfd, .events = POLLIN};
    if (poll(&p, 1, left) < 0 && errno != EINTR)
      return -errno;
  }
}

int rt_container_stop(struct rt_container *c, unsigned timeout_ms, int sig, bool *ret_killed) {
  int r;
  if (ret_killed)
    *ret_killed = false;
  if (rt_container_exited(c))
    return 0;
  if ((r = rt_container_kill(c, sig ? sig : SIGTERM)) < 0 && r != -ESRCH)
    return r;
  if ((r = wait_exit(c, timeout_ms)) != 0)
    return r < 0 ? r : 0;
  if ((r = rt_container_kill(c, SIGKILL)) < 0 && r != -ESRCH)
    return r;
  if (ret_killed)
    *ret_killed = true;
  r = wait_exit(c, 10000);
  return r < 0 ? r : r == 1 ? 0 : -ETIMEDOUT;
}

int rt_container_run(struct rt_container *c, int signal_fd, unsigned stop_timeout_ms,
                     struct rt_exit *ret_exit, bool *ret_timed_out) {
  struct timespec dl = {0};
  bool armed = false;
  if (ret_timed_out)
    *ret_timed_out = false;
  if (c->adopted)
    return -ECHILD;
  for (;;) {
    struct pollfd p[2] = {{.fd = c->pidfd, .events = POLLIN}, {.fd = signal_fd, .events = POLLIN}};
    int timeout = -1;
    if (armed) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      int64_t left = (dl.tv_sec - now.tv_sec) * 1000 + (dl.tv_nsec - now.tv_nsec) / 1000000;
      timeout = left < 0 ? 0 : (int)left;
    }
    int n = poll(p, signal_fd >= 0 ? 2 : 1, timeout);
    if (n < 0 && errno != EINTR)
      return -errno;
    if (n == 0 && armed) {
      rt_container_kill(c, SIGKILL);
      armed = false;
      if (ret_timed_out)
        *ret_timed_out = true;
      continue;
    }
    if (n > 0 && signal_fd >= 0 && (p[1].revents & POLLIN)) {
      struct signalfd_siginfo si;
      if (read(signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        rt_container_kill(c, (int)si.ssi_signo);
        if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) && !armed) {
          clock_gettime(CLOCK_MONOTONIC, &dl);
          dl.tv_sec += stop_timeout_ms / 1000;
          dl.tv_nsec += (long)(stop_timeout_ms % 1000) * 1000000L;
          if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
          }
          armed = true;
        }
      }
    }
    if (n > 0 && (p[0].revents & POLLIN)) {
      int r = rt_container_wait(c, false, ret_exit);
      if (r == -EAGAIN)
        continue;
      return r;
    }
  }
}

/* Whether /proc/PID/cgroup names the group (a line ending in ":/<cgroup>" or with a
 * deeper path below it, from --cgroupns containers' own nesting). */
static bool in_cgroup(pid_t pid, const char *cgroup) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n <= 0)
    return false;
  buf[n] = '\0';
  size_t cl = strlen(cgroup);
  for (char *line = buf; line && *line;) {
    char *nl = strchr(line, '\n');
    if (nl)
      *nl = '\0';
    char *p = strstr(line, ":/");
    if (p && strncmp(p + 2, cgroup, cl) == 0 && (p[2 + cl] == '\0' || p[2 + cl] == '/'))
      return true;
    line = nl ? nl + 1 : NULL;
  }
  return false;
}

int rt_container_adopt(pid_t pid, uint64_t start_time, const char *cgroup,
                       struct rt_container **ret) {
  uint64_t now = 0;
  int r;
  if (pid <= 0 || !cgroup || !*cgroup || !ret)
    return -EINVAL;
  _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0)
    return -errno;
  /* The pidfd pins this pid's process; only then are its start time and cgroup read,
   * and the pidfd checked alive afterwards: a reused pid is never taken for it. */
  if ((r = rt_proc_start_time(pid, &now)) < 0)
    return r;
  if (now != start_time || !in_cgroup(pid, cgroup))
    return -ESRCH;
  if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
    return -errno;
  struct rt_container *c = calloc(1, sizeof *c);
  if (!c)
    return -ENOMEM;
  c->pid = pid;
  c->pidfd = TAKE_FD(pidfd);
  c->adopted = true;
  *ret = c;
  return 0;
}

void rt_container_set_secrets(struct rt_container *c, struct rt_secrets_fs *fs) {
  rt_secrets_fs_free(c->sfs);
  c->sfs = fs;
}

int rt_exe_protect(char **argv, char **envp, bool *ret_protected) {
  struct statvfs sv;
  *ret_protected = false;
  if (statvfs("/proc/self/exe", &sv) == 0 && (sv.f_flag & ST_RDONLY)) {
    *ret_protected = true;
    return 0;
  }
  /* A detached, read-only bind mount of our own image; exec'ing from it makes
   * /proc/PID/exe of this process (and of anything that re-runs it) unwritable. */
  _cleanup_close_ int tree = open_tree(AT_FDCWD, "/proc/self/exe", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0)
    return 0; /* not privileged: nothing to protect against in the launcher's name */
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
  if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
    return -errno;
  syscall(SYS_execveat, tree, "", argv, envp, AT_EMPTY_PATH);
  return -errno;
}

/* ---- non-blocking start ----------------------------------------------------------- */

struct rt_start_job {
  const struct rt_spec *spec;
  pthread_t thread;
  int efd;
  int result;
  struct rt_container *c;
  struct rt_error err;
};

static void *start_worker(void *arg) {
  struct rt_start_job *j = arg;
  j->result = rt_container_start(j->spec, &j->c, &j->err);
  uint64_t one = 1;
  if (write(j->efd, &one, sizeof one) < 0) {
    /* the eventfd cannot overflow with one write; nothing else to do */
  }
  return NULL;
}

int rt_container_start_async(const struct rt_spec *spec, struct rt_start_job **ret_job) {
  if (!spec || !ret_job || spec->pdeathsig)
    return -EINVAL;
  struct rt_start_job *j = calloc(1, sizeof *j);
  if (!j)
    return -ENOMEM;
  j->spec = spec;
  j->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (j->efd < 0) {
    int r = -errno;
    free(j);
    return r;
  }
  int r = pthread_create(&j->thread, NULL, start_worker, j);
  if (r != 0) {
    close(j->efd);
    free(j);
    return -r;
  }
  *ret_job = j;
  return 0;
}

int rt_start_job_fd(const struct rt_start_job *job) { return job ? job->efd : -EBADF; }

int rt_start_job_finish(struct rt_start_job *j, struct rt_container **ret, struct rt_error *err) {
  if (!j)
    return -EINVAL;
  pthread_join(j->thread, NULL);
  int r = j->result;
  if (err)
    *err = j->err;
  if (r == 0)
    *ret = j->c;
  close(j->efd);
  free(j);
  return r;
}
