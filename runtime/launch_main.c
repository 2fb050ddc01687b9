/*
 * secret-launch [run] --rootfs DIR [options] -- CMD [ARG...]
 * secret-launch run --detach --name NAME [options] -- CMD [ARG...]
 * secret-launch list|state|kill|stop|delete|secret ...   (launch_verbs.c)
 *
 * Foreground: runs CMD as PID 1 of a new container (see secret-launch(1)) and exits
 * with its status: 128+N when killed by signal N, 125 with one line on stderr when the
 * launcher fails, 126/127 when CMD cannot be executed/found. SIGTERM, SIGINT (and
 * HUP, QUIT, USR1, USR2, WINCH) are forwarded; after SIGTERM/SIGINT the container gets
 * --stop-timeout seconds before SIGKILL. The container dies with the launcher.
 *
 * --detach: a supervisor process (forked before any secret is read) starts the
 * container, records its state under --state-root/NAME, reports readiness to the
 * caller, which exits 0 once CMD runs, and then only reaps PID 1, records its exit
 * status and hands the secrets handle to root peers (runtime/supervisor.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/macro.h"
#include "base/parse.h"
#include "base/secbuf.h"
#include "runtime/caps.h"
#include "runtime/cgroup.h"
#include "runtime/launch.h"
#include "runtime/launch_image.h"
#include "runtime/launch_spec.h"
#include "runtime/runtime.h"
#include "runtime/secrets_fs.h"
#include "runtime/state.h"
#include "runtime/supervisor.h"
#include "runtime/userns.h"

#define MAX_ITEMS 64

const char *prog = "secret-launch";

int die(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: ", prog);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return -EINVAL;
}

struct opts {
  struct rt_spec spec;
  struct launch_spec ls; /* the options shared with services (runtime/launch_spec.h) */
  char *env[MAX_ITEMS + 1];
  struct rt_mount mounts[MAX_ITEMS];
  struct rt_secret secrets[MAX_ITEMS];
  struct secret_buf sbufs[MAX_ITEMS];
  bool secret_uid_set[MAX_ITEMS], secret_gid_set[MAX_ITEMS];
  const char *landlock[MAX_ITEMS];
  unsigned stop_timeout_s;
  bool detach;
  const char *state_root;
};

static void usage(FILE *f) {
  fprintf(f,
          "usage: %s [run] --rootfs DIR [options] -- CMD [ARG...]\n"
          "       %s run --detach --name NAME --rootfs DIR [options] -- CMD [ARG...]\n"
          "       %s [run] --image NAME[:VERSION|@sha256:D] [--store DIR] [options]\n"
          "          [-- CMD [ARG...]]   (instead of --rootfs: see docs/images.md)\n"
          "       %s list [--json] | state NAME | kill NAME [SIGNAL]\n"
          "       %s stop NAME [--timeout SECONDS] | delete NAME [--force]\n"
          "       %s secret put NAME TARGET [FILE|-] [--uid N] [--gid N] [--mode 0400]\n"
          "       %s secret rm NAME TARGET      (every verb: --state-root DIR)\n"
          "  --hostname NAME        --name NAME (cgroup secretd/NAME[.TAG]: secret-launch(1))\n"
          "  --env K=V              --workdir DIR (default /)\n"
          "  --user UID[:GID]       --read-only            --init\n"
          "  --userns               --uidmap C:H:N         --gidmap C:H:N\n"
          "  --cgroupns             --cap-add CAP|ALL      --cap-drop CAP|ALL\n"
          "  --mount SRC:DST[:ro]   --secret NAME=FILE[,target=PATH,uid=N,gid=N,mode=0400]\n"
          "  --memory SIZE          --cpus N.N             --pids-limit N\n"
          "  --seccomp-profile FILE|unconfined             --apparmor PROFILE\n"
          "  --selinux-label LABEL  --landlock-rw PATH     --stop-timeout SECONDS\n"
          "  --rootfs-size SIZE     (the container's own writable layer, default 256m)\n"
          "  --rootfs-writable      (no layer: write into DIR itself, seen by every container)\n"
          "  --detach, -d           --state-root DIR       --secrets-max-size SIZE\n"
          "       %s --print-default-caps   (Docker's default set: NUMBER<TAB>CAP_NAME lines)\n"
          "See secret-launch(1).\n",
          prog, prog, prog, prog, prog, prog, prog, prog);
}

/* "64m", "1g", "512k", "1048576" (bytes, 1024-based suffixes as Docker). */
int parse_size(const char *s, int64_t *ret) { return launch_spec_parse_size(s, ret); }

int secret_buf_read_fd(int fd, bool regular, struct secret_buf *b, size_t *ret_len) {
  struct stat st;
  if (fstat(fd, &st) < 0)
    return -errno;
  if (regular && !S_ISREG(st.st_mode))
    return -EINVAL;
  if (S_ISREG(st.st_mode) && st.st_size > MAX_SECRET_BYTES)
    return -EFBIG;
  /* The one secret-memory type (base/secbuf.h): locked, never dumped, zeroed in
   * a fork or clone child (MADV_WIPEONFORK), wiped on free. -EFBIG if more
   * than MAX_SECRET_BYTES arrive (a file that grew, or a pipe). */
  int r = secbuf_read_fd(fd, MAX_SECRET_BYTES, &b->sb);
  if (r < 0)
    return r;
  b->mem = secbuf_data(b->sb);
  b->cap = secbuf_len(b->sb);
  *ret_len = b->cap;
  return 0;
}

void secret_buf_wipe(struct secret_buf *b) {
  secbuf_free(b->sb); /* wipes */
  *b = (struct secret_buf){0};
}

static int read_secret_file(const char *path, struct secret_buf *b, size_t *ret_len) {
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return -errno;
  return secret_buf_read_fd(fd, true, b, ret_len);
}

static void wipe_secrets(struct opts *o) {
  for (size_t i = 0; i < o->spec.n_secrets; i++)
    secret_buf_wipe(&o->sbufs[i]);
}

/* NAME=FILE[,target=PATH,uid=N,gid=N,mode=0400] */
static int parse_secret(char *arg, struct opts *o) {
  size_t i = o->spec.n_secrets;
  struct rt_secret *s = &o->secrets[i];
  char *eq = strchr(arg, '=');
  if (!eq || eq == arg)
    return die("--secret: expected NAME=FILE[,options]");
  *eq = '\0';
  const char *name = arg;
  char *file = eq + 1, *opts = strchr(file, ',');
  if (opts)
    *opts++ = '\0';
  if (!*file)
    return die("--secret %s: no file given", name);
  s->target = name;
  s->mode = 0400;
  while (opts && *opts) {
    char *next = strchr(opts, ',');
    if (next)
      *next++ = '\0';
    char *v = strchr(opts, '=');
    if (!v)
      return die("--secret %s: option \"%s\" needs a value", name, opts);
    *v++ = '\0';
    uint64_t n;
    if (strcmp(opts, "target") == 0) {
      s->target = v;
    } else if (strcmp(opts, "uid") == 0 && sd_parse_u64(v, UINT32_MAX - 1, &n) == 0) {
      s->uid = (uid_t)n;
      o->secret_uid_set[i] = true;
    } else if (strcmp(opts, "gid") == 0 && sd_parse_u64(v, UINT32_MAX - 1, &n) == 0) {
      s->gid = (gid_t)n;
      o->secret_gid_set[i] = true;
    } else if (strcmp(opts, "mode") == 0) {
      char *end;
      errno = 0;
      unsigned long m = strtoul(v, &end, 8);
      if (!*v || *end || errno || m > 0777)
        return die("--secret %s: invalid mode \"%s\" (octal, at most 0777: no setuid, setgid "
                   "or sticky bits)", name, v);
      s->mode = (mode_t)m;
    } else {
      return die("--secret %s: invalid option %s=%s", name, opts, v);
    }
    opts = next;
  }
  if (!rt_secret_target_valid(s->target))
    return die("--secret %s: invalid target \"%s\" (relative, <= 255 bytes, no \"..\")", name,
               s->target);
  for (size_t j = 0; j < i; j++)
    if (strcmp(o->secrets[j].target, s->target) == 0)
      return die("--secret %s: target \"%s\" given twice", name, s->target);
  size_t len = 0;
  o->spec.n_secrets++; /* so that wipe_secrets() sees the buffer even on failure */
  int r = read_secret_file(file, &o->sbufs[i], &len);
  if (r == -EFBIG)
    return die("--secret %s: %s is larger than %d bytes", name, file, MAX_SECRET_BYTES);
  if (r == -EINVAL)
    return die("--secret %s: %s is not a regular file", name, file);
  if (r < 0)
    return die("--secret %s: reading %s: %s", name, file, strerror(-r));
  s->data = o->sbufs[i].mem;
  s->len = len;
  return 0;
}

enum {
  O_ROOTFS = 256, O_HOSTNAME, O_NAME, O_ENV, O_WORKDIR, O_USER, O_READONLY, O_INIT, O_USERNS,
  O_UIDMAP, O_GIDMAP, O_CGROUPNS, O_CAPADD, O_CAPDROP, O_MOUNT, O_SECRET, O_MEMORY, O_CPUS,
  O_PIDS, O_SECCOMP, O_APPARMOR, O_SELINUX, O_LANDLOCK, O_STOPTIMEOUT, O_ROOTFS_WRITABLE,
  O_ROOTFS_SIZE, O_DETACH, O_STATE_ROOT, O_SECRETS_MAX, O_HELP, O_VERSION,
};

static const struct option longopts[] = {
    {"rootfs", required_argument, NULL, O_ROOTFS},
    {"hostname", required_argument, NULL, O_HOSTNAME},
    {"name", required_argument, NULL, O_NAME},
    {"env", required_argument, NULL, O_ENV},
    {"workdir", required_argument, NULL, O_WORKDIR},
    {"user", required_argument, NULL, O_USER},
    {"read-only", no_argument, NULL, O_READONLY},
    {"init", no_argument, NULL, O_INIT},
    {"userns", no_argument, NULL, O_USERNS},
    {"uidmap", required_argument, NULL, O_UIDMAP},
    {"gidmap", required_argument, NULL, O_GIDMAP},
    {"cgroupns", no_argument, NULL, O_CGROUPNS},
    {"cap-add", required_argument, NULL, O_CAPADD},
    {"cap-drop", required_argument, NULL, O_CAPDROP},
    {"mount", required_argument, NULL, O_MOUNT},
    {"secret", required_argument, NULL, O_SECRET},
    {"memory", required_argument, NULL, O_MEMORY},
    {"cpus", required_argument, NULL, O_CPUS},
    {"pids-limit", required_argument, NULL, O_PIDS},
    {"seccomp-profile", required_argument, NULL, O_SECCOMP},
    {"apparmor", required_argument, NULL, O_APPARMOR},
    {"selinux-label", required_argument, NULL, O_SELINUX},
    {"landlock-rw", required_argument, NULL, O_LANDLOCK},
    {"stop-timeout", required_argument, NULL, O_STOPTIMEOUT},
    {"rootfs-writable", no_argument, NULL, O_ROOTFS_WRITABLE},
    {"rootfs-size", required_argument, NULL, O_ROOTFS_SIZE},
    {"detach", no_argument, NULL, O_DETACH},
    {"state-root", required_argument, NULL, O_STATE_ROOT},
    {"secrets-max-size", required_argument, NULL, O_SECRETS_MAX},
    {"help", no_argument, NULL, O_HELP},
    {"version", no_argument, NULL, O_VERSION},
    {NULL, 0, NULL, 0},
};

static int too_many(const char *opt) { return die("too many %s options (max %d)", opt, MAX_ITEMS); }

static int parse_caps(struct opts *o) {
  uint64_t host;
  char err[LAUNCH_SPEC_ERRLEN];
  int r = rt_caps_host_bounding(&host);
  if (r < 0)
    return die("reading the bounding set: %s", strerror(-r));
  if (launch_spec_caps(&o->ls, host, &o->spec.caps, err) < 0)
    return die("%s", err);
  return 0;
}

/* An option of the shared set (runtime/launch_spec.h): its rules and messages. */
static int shared(struct opts *o, enum launch_opt opt, const char *value) {
  char err[LAUNCH_SPEC_ERRLEN];
  int r = launch_spec_apply(&o->ls, opt, value, err);
  if (r == -ENOMEM)
    return die("out of memory");
  return r < 0 ? die("%s", err) : 0;
}

/* The shared options into the runtime's spec (pointers into o->ls). */
static void take_shared(struct opts *o) {
  launch_spec_fill_rt(&o->ls, &o->spec, o->env, o->mounts);
  o->stop_timeout_s = o->ls.stop_timeout_s;
}

static int parse_args(int argc, char **argv, struct opts *o) {
  struct rt_spec *s = &o->spec;
  int c, r = 0;
  launch_spec_init(&o->ls);
  while ((c = getopt_long(argc, argv, "+hd", longopts, NULL)) != -1) {
    switch (c) {
    case O_ROOTFS: r = shared(o, LAUNCH_OPT_ROOTFS, optarg); break;
    case O_HOSTNAME: r = shared(o, LAUNCH_OPT_HOSTNAME, optarg); break;
    case O_NAME: s->name = optarg; break;
    case O_ENV: r = shared(o, LAUNCH_OPT_ENV, optarg); break;
    case O_WORKDIR: r = shared(o, LAUNCH_OPT_WORKDIR, optarg); break;
    case O_USER: r = shared(o, LAUNCH_OPT_USER, optarg); break;
    case O_READONLY: r = shared(o, LAUNCH_OPT_READ_ONLY, NULL); break;
    case O_ROOTFS_WRITABLE: s->rootfs_writable = true; break;
    case O_ROOTFS_SIZE: {
      int64_t v;
      if (parse_size(optarg, &v) < 0)
        return die("--rootfs-size: expected a size such as 64m or 1g, got \"%s\"", optarg);
      s->rootfs_size = (uint64_t)v;
      break;
    }
    case O_INIT: r = shared(o, LAUNCH_OPT_INIT, NULL); break;
    case O_USERNS: r = shared(o, LAUNCH_OPT_USERNS, NULL); break;
    case O_UIDMAP: r = shared(o, LAUNCH_OPT_UIDMAP, optarg); break;
    case O_GIDMAP: r = shared(o, LAUNCH_OPT_GIDMAP, optarg); break;
    case O_CGROUPNS: s->cgroupns = true; break;
    case O_CAPADD: r = shared(o, LAUNCH_OPT_CAP_ADD, optarg); break;
    case O_CAPDROP: r = shared(o, LAUNCH_OPT_CAP_DROP, optarg); break;
    case O_MOUNT: r = shared(o, LAUNCH_OPT_MOUNT, optarg); break;
    case O_SECRET:
      if (s->n_secrets == MAX_ITEMS)
        return too_many("--secret");
      if ((r = parse_secret(optarg, o)) < 0)
        return r;
      break;
    case O_MEMORY: r = shared(o, LAUNCH_OPT_MEMORY, optarg); break;
    case O_CPUS: r = shared(o, LAUNCH_OPT_CPUS, optarg); break;
    case O_PIDS: r = shared(o, LAUNCH_OPT_PIDS_LIMIT, optarg); break;
    case O_SECCOMP: r = shared(o, LAUNCH_OPT_SECCOMP_PROFILE, optarg); break;
    case O_APPARMOR: s->apparmor = optarg; break;
    case O_SELINUX: s->selinux_label = optarg; break;
    case O_LANDLOCK:
      if (s->n_landlock_rw == MAX_ITEMS)
        return too_many("--landlock-rw");
      if (optarg[0] != '/')
        return die("--landlock-rw must be an absolute container path");
      o->landlock[s->n_landlock_rw++] = optarg;
      break;
    case O_STOPTIMEOUT: r = shared(o, LAUNCH_OPT_STOP_TIMEOUT, optarg); break;
    case O_DETACH: o->detach = true; break;
    case O_STATE_ROOT:
      if (optarg[0] != '/')
        return die("--state-root must be an absolute path");
      o->state_root = optarg;
      break;
    case O_SECRETS_MAX: {
      int64_t v;
      if (parse_size(optarg, &v) < 0 || (uint64_t)v > ((uint64_t)1 << 30))
        return die("--secrets-max-size: expected a size up to 1g, got \"%s\"", optarg);
      s->secrets_max = (size_t)v;
      break;
    }
    case 'd': o->detach = true; break;
    case 'h':
    case O_HELP: usage(stdout); exit(0);
    case O_VERSION: printf("secret-launch 0.1.0\n"); exit(0);
    default: usage(stderr); return -EINVAL;
    }
    if (r < 0)
      return r;
  }
  take_shared(o);
  if (!s->rootfs)
    return die("--rootfs DIR is required");
  if (o->detach && (!s->name || !rt_name_valid(s->name)))
    return die("--detach needs --name NAME (1..64 of A-Z a-z 0-9 _ . -, not starting "
               "with . or -)");
  if (optind >= argc)
    return die("no command given (secret-launch --rootfs DIR [options] -- CMD [ARG...])");
  s->argv = argv + optind;
  s->secrets = o->secrets;
  s->landlock_rw = o->landlock;
  s->stop_timeout_ms = o->stop_timeout_s * 1000;
  /* Secret files belong to the container's user unless given. */
  for (size_t i = 0; i < s->n_secrets; i++) {
    if (!o->secret_uid_set[i])
      o->secrets[i].uid = s->uid;
    if (!o->secret_gid_set[i])
      o->secrets[i].gid = s->gid;
  }
  return parse_caps(o);
}

/* The secrets tmpfs lacks noswap (kernel < 6.4) and swap is on: say so once. */
static void warn_swap(struct rt_container *c) {
  struct rt_secrets_fs *fs = rt_container_secrets(c);
  if (!fs || rt_secrets_fs_noswap(fs))
    return;
  FILE *f = fopen("/proc/swaps", "re");
  if (!f)
    return;
  char line[256];
  int lines = 0;
  while (fgets(line, sizeof line, f))
    lines++;
  fclose(f);
  if (lines > 1)
    fprintf(stderr, "%s: warning: swap is on and this kernel's tmpfs lacks noswap: "
                    "secrets may be swapped out\n", prog);
}


/* Forward signals, enforce the stop timeout (in the library), return the exit code. */
static int supervise(struct rt_container *c, int sfd, unsigned stop_timeout_s) {
  struct rt_exit ex;
  bool timed_out = false;
  int r = rt_container_run(c, sfd, stop_timeout_s * 1000u, &ex, &timed_out);
  if (r < 0)
    return (void)die("waiting for the container: %s", strerror(-r)), EXIT_LAUNCHER;
  if (timed_out)
    fprintf(stderr, "%s: stop timeout (%u s) expired: the container was killed\n", prog,
            stop_timeout_s);
  if (ex.oom_killed)
    fprintf(stderr, "%s: the container was killed by the OOM killer (memory limit reached)\n",
            prog);
  if (ex.signal) {
    if (ex.oom_killed && ex.signal == SIGKILL)
      return 137;
    return 128 + ex.signal;
  }
  return ex.code;
}

/* fds 0-2 must be open: otherwise our own pipes could take their numbers and reach
 * the container as its stdio. */
static int ensure_stdio(void) {
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
      continue;
    int n = open("/dev/null", O_RDWR);
    if (n != fd) {
      if (n >= 0)
        close(n);
      return -EBADF;
    }
  }
  return 0;
}

static int start_error_code(const struct rt_error *err) {
  if (err->exec_errno == ENOENT)
    return 127;
  if (err->exec_errno)
    return 126;
  return EXIT_LAUNCHER;
}

/* What to do when the container's cgroup exists (-EEXIST with a "cgroup:" message):
 * for both the foreground and the detached start. */
static const char *start_error_hint(int r, const struct rt_error *err) {
  if (r != -EEXIST || strncmp(err->msg, "cgroup:", 7) != 0)
    return "";
  return "\n  (choose another --name; if no container of that name runs, remove the "
         "leftover group with rmdir on the directory named above)";
}

static int run_foreground(struct opts *o) {
  int r;
  /* Block the forwarded signals before the child exists, so that none is lost; the
   * child resets its mask before exec. */
  sigset_t fwd;
  sigemptyset(&fwd);
  int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
  for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
    sigaddset(&fwd, sigs[i]);
  sigprocmask(SIG_BLOCK, &fwd, NULL);
  _cleanup_close_ int sfd = signalfd(-1, &fwd, SFD_CLOEXEC);
  if (sfd < 0) {
    wipe_secrets(o);
    fprintf(stderr, "%s: signalfd: %s\n", prog, strerror(errno));
    return EXIT_LAUNCHER;
  }
  /* The container dies with this launcher (the foreground contract). */
  o->spec.pdeathsig = true;
  struct rt_container *c = NULL;
  struct rt_error err;
  r = rt_container_start(&o->spec, &c, &err);
  wipe_secrets(o); /* the bytes now live only in the container's tmpfs */
  if (r < 0) {
    fprintf(stderr, "%s: %s%s\n", prog, err.msg[0] ? err.msg : sd_strerror(r),
            start_error_hint(r, &err));
    return start_error_code(&err);
  }
  warn_swap(c);
  int code = supervise(c, sfd, o->stop_timeout_s);
  rt_container_free(c);
  return code;
}

/* RFC 3339 UTC time with nanoseconds, as runc/crun write "created". */
static void now_rfc3339(char *buf, size_t len) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, len - n, ".%09ldZ", ts.tv_nsec);
}

/*
 * The supervisor of a detached container (a child of the caller, in a session of its
 * own): parse the options (reading the secret files only now, after the fork), take
 * the name, start the container with stdio on /dev/null, record the state, tell the
 * caller, then reap PID 1, serve the secrets handle to root peers and record the exit.
 * Messages before readiness go to the caller's stderr (errfd).
 */
static int supervisor_main(int argc, char **argv, int ready_fd) {
  struct opts o = {0};
  _cleanup_close_ int root_fd = -1, dir_fd = -1, lfd = -1, errfd = -1;
  struct rt_container *c = NULL;
  struct rt_error err;
  struct rt_state st = {0};
  int r;

  setsid();
  /* Nothing of the caller's but stdio (until readiness), the ready pipe and the
   * image's in-use marker (its flock keeps gc away while the container runs): an
   * inherited pipe would keep e.g. a shell's $(...) waiting for the container's life. */
  int keep[2] = {ready_fd, launch_image_marker_fd()};
  if (keep[1] >= 0 && keep[1] < keep[0])
    keep[0] = keep[1], keep[1] = ready_fd;
  unsigned from = 3;
  for (int i = 0; i < 2; i++) {
    if (keep[i] < 0)
      continue;
    if ((unsigned)keep[i] > from && close_range(from, (unsigned)keep[i] - 1, 0) < 0)
      return EXIT_LAUNCHER;
    from = (unsigned)keep[i] + 1;
  }
  if (close_range(from, ~0U, 0) < 0)
    return EXIT_LAUNCHER;
  if (parse_args(argc, argv, &o) < 0) {
    wipe_secrets(&o);
    return EXIT_LAUNCHER;
  }
  if (!o.detach) { /* "--detach" was seen, but not as an option (after an argument) */
    wipe_secrets(&o);
    die("--detach must be given among the options, before the command");
    return EXIT_LAUNCHER;
  }
  const char *root = o.state_root ? o.state_root : RT_STATE_ROOT_DEFAULT;
  if ((r = rt_state_root_open(root, &root_fd)) < 0) {
    wipe_secrets(&o);
    die("state root %s: %s%s", root, strerror(-r),
        r == -EPERM ? " (it must be a directory owned by root, mode 0700)" : "");
    return EXIT_LAUNCHER;
  }
  if ((r = rt_state_create(root_fd, o.spec.name, &dir_fd)) < 0) {
    wipe_secrets(&o);
    if (r == -EEXIST)
      die("a container named \"%s\" exists (secret-launch delete %s)", o.spec.name, o.spec.name);
    else
      die("state of %s: %s", o.spec.name, strerror(-r));
    return EXIT_LAUNCHER;
  }
  sweep_stale();
  /* The cgroup carries a tag of the state root (see rt_state_cgroup_name); the
   * container's hostname stays its name. */
  char cgname[RT_NAME_MAX + 16];
  if ((r = rt_state_cgroup_name(root, o.spec.name, cgname, sizeof cgname)) < 0) {
    wipe_secrets(&o);
    die("state root %s: %s", root, strerror(-r));
    rt_state_remove(root_fd, o.spec.name);
    return EXIT_LAUNCHER;
  }
  if (!o.spec.hostname)
    o.spec.hostname = o.spec.name;
  const char *name = o.spec.name;
  o.spec.name = cgname;
  if ((r = rt_supervisor_listen(dir_fd, &lfd)) < 0) {
    wipe_secrets(&o);
    die("listening in the state directory: %s", strerror(-r));
    rt_state_remove(root_fd, name);
    return EXIT_LAUNCHER;
  }
  /* The container's stdio is /dev/null; our messages go to the caller's stderr. */
  errfd = fcntl(2, F_DUPFD_CLOEXEC, 3);
  int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (errfd < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(nul, 2) < 0) {
    wipe_secrets(&o);
    rt_state_remove(root_fd, name);
    return EXIT_LAUNCHER;
  }
  close(nul);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);

  o.spec.pdeathsig = false;
  r = rt_container_start(&o.spec, &c, &err);
  wipe_secrets(&o);
  if (r < 0) {
    dprintf(errfd, "%s: %s%s\n", prog, err.msg[0] ? err.msg : sd_strerror(r),
            start_error_hint(r, &err));
    rt_state_remove(root_fd, name);
    return start_error_code(&err);
  }
  snprintf(st.id, sizeof st.id, "%s", name);
  st.status = RT_STATUS_RUNNING;
  st.pid = rt_container_pid(c);
  st.supervisor = getpid();
  snprintf(st.cgroup, sizeof st.cgroup, "secretd/%s", cgname);
  st.secrets_max = rt_secrets_fs_max(rt_container_secrets(c));
  if (o.spec.userns) { /* a put's owners are container ids, mapped like --secret's */
    static const struct rt_idmap def = {0, RT_DEFAULT_IDMAP_OUTSIDE, RT_DEFAULT_IDMAP_COUNT};
    st.n_uidmap = o.spec.n_uidmap ? o.spec.n_uidmap : 1;
    st.n_gidmap = o.spec.n_gidmap ? o.spec.n_gidmap : 1;
    memcpy(st.uidmap, o.spec.n_uidmap ? o.spec.uidmap : &def, st.n_uidmap * sizeof def);
    memcpy(st.gidmap, o.spec.n_gidmap ? o.spec.gidmap : &def, st.n_gidmap * sizeof def);
  }
  now_rfc3339(st.created, sizeof st.created);
  if (!realpath(o.spec.rootfs, st.bundle))
    snprintf(st.bundle, sizeof st.bundle, "%s", o.spec.rootfs);
  if ((r = rt_proc_start_time(st.pid, &st.start_time)) < 0 ||
      (r = rt_proc_start_time(st.supervisor, &st.supervisor_start)) < 0 ||
      (r = rt_state_write(dir_fd, &st)) < 0) {
    dprintf(errfd, "%s: recording the state of %s: %s\n", prog, st.id, strerror(-r));
    rt_container_free(c);
    rt_state_remove(root_fd, st.id);
    return EXIT_LAUNCHER;
  }
  if (write(ready_fd, "R", 1) != 1) {
    /* the caller is gone: the container runs on */
  }
  close(ready_fd);
  closep(&errfd);
  if (chdir("/") < 0) {
    /* keeps the caller's cwd busy; harmless */
  }

  rt_supervisor_run(c, lfd, dir_fd, &st);
  rt_container_free(c);
  return 0;
}

/* --detach given before "--"? (decided before parsing: the supervisor must be forked
 * before any secret is read, so that no copy of the bytes stays in the caller) */
static bool wants_detach(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0)
      return false;
    if (strcmp(argv[i], "--detach") == 0 || strcmp(argv[i], "-d") == 0)
      return true;
  }
  return false;
}

static int run_detached(int argc, char **argv) {
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) < 0)
    return die("pipe: %s", strerror(errno)), EXIT_LAUNCHER;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    return die("fork: %s", strerror(errno)), EXIT_LAUNCHER;
  if (pid == 0) {
    close(ready[0]);
    _exit(supervisor_main(argc, argv, ready[1]));
  }
  close(ready[1]);
  char c = 0;
  ssize_t n;
  do
    n = read(ready[0], &c, 1);
  while (n < 0 && errno == EINTR);
  close(ready[0]);
  if (n == 1 && c == 'R')
    return 0; /* the command runs; the supervisor carries on without us */
  int status = 0;
  if (waitpid(pid, &status, 0) < 0)
    return EXIT_LAUNCHER;
  return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_LAUNCHER;
}

/* One line per capability of Docker's default set, "NUMBER\tCAP_NAME", for scripts
 * (tests, bench/launch_bench.sh) that need the set and must not repeat it. */
static int print_default_caps(void) {
  uint64_t caps = rt_caps_docker_default();
  char name[64];
  for (int c = 0; c < 64; c++) {
    if (!(caps & (UINT64_C(1) << c)))
      continue;
    rt_caps_name(c, name, sizeof name);
    printf("%d\tCAP_%s\n", c, name);
  }
  return fflush(stdout) == 0 && !ferror(stdout) ? 0 : EXIT_LAUNCHER;
}

int main(int argc, char **argv, char **envp) {
  /* static: what the options own stays reachable until exit (no leak report) */
  static struct opts o;
  bool protected;
  int r;

  if (ensure_stdio() < 0)
    return EXIT_LAUNCHER;
  if (argc == 2 && strcmp(argv[1], "--print-default-caps") == 0)
    return print_default_caps();

  /* Run from a read-only mount of ourselves (see rt_exe_protect). */
  r = rt_exe_protect(argv, envp, &protected);
  if (r < 0) {
    fprintf(stderr, "%s: protecting the launcher image: %s\n", prog, strerror(-r));
    return EXIT_LAUNCHER;
  }
  /* --image REF: becomes --rootfs plus the image config's defaults. */
  if (launch_image_args(&argc, &argv) < 0)
    return EXIT_LAUNCHER;
  /* Secrets will be in our memory: no core dumps, no ptrace by other users. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  struct rlimit nocore = {0, 0};
  setrlimit(RLIMIT_CORE, &nocore);

  if (argc > 1 && is_verb(argv[1]))
    return verb_main(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "run") == 0) { /* "run" is the verb of the default */
    argc--;
    argv++;
  }
  if (wants_detach(argc, argv))
    return run_detached(argc, argv);
  if (parse_args(argc, argv, &o) < 0) {
    wipe_secrets(&o);
    return EXIT_LAUNCHER;
  }
  sweep_stale();
  return run_foreground(&o);
}
