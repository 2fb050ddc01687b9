/*
 * secret-launch's OCI-style verbs on detached containers: list, state, kill, stop,
 * delete, secret put/rm. Every verb accepts --state-root DIR anywhere after it. A
 * container is found by its state (runtime/state.h) and taken back with
 * rt_container_adopt(), which checks the recorded start time and cgroup, so a reused
 * pid is never signalled. A container that died while its supervisor was gone too
 * (stale state) is marked stopped and its empty cgroup removed when seen.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/macro.h"
#include "runtime/cgroup.h"
#include "runtime/launch.h"
#include "runtime/runtime.h"
#include "runtime/secrets_fs.h"
#include "runtime/state.h"
#include "runtime/supervisor.h"
#include "runtime/userns.h"

#define EXIT_VERB 1

struct ctx {
  const char *root;
  int root_fd;
};

static int fail_exit(int r) { return r < 0 ? EXIT_VERB : r; }

void sweep_stale(void) { (void)rt_cgroup_sweep_stale(); }

static void sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The recorded supervisor still runs: same start time and not a zombie (once it has
 * exited, its new parent may take a while to reap it). */
static bool supervisor_alive(const struct rt_state *st) {
  uint64_t t;
  char path[64], buf[512];
  if (st->supervisor <= 0 || rt_proc_start_time(st->supervisor, &t) < 0 ||
      t != st->supervisor_start)
    return false;
  snprintf(path, sizeof path, "/proc/%d/stat", (int)st->supervisor);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return false;
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static int open_container(struct ctx *x, const char *name, int *ret_dir, struct rt_state *st) {
  int r;
  if (!rt_name_valid(name))
    return die("invalid container name \"%s\"", name);
  if ((r = rt_state_open(x->root_fd, name, ret_dir)) < 0) {
    if (r == -ENOENT)
      return die("no container named \"%s\" (see secret-launch list)", name);
    return die("state of %s: %s", name, strerror(-r));
  }
  if ((r = rt_state_read(*ret_dir, st)) < 0) {
    close(*ret_dir);
    return die("state of %s: %s", name, r == -EBADMSG ? "malformed state.json" : strerror(-r));
  }
  return 0;
}

/*
 * Bring st up to date and, when it runs, adopt it (*ret_c, may be NULL). A container
 * whose PID 1 is gone: its supervisor records the exit (waited for up to 2 s); with the
 * supervisor gone too, the state is stale: marked stopped (exit status unknown), its
 * socket and empty cgroup removed.
 */
static int refresh(int dir_fd, struct rt_state *st, struct rt_container **ret_c) {
  struct rt_container *c = NULL;
  if (st->status != RT_STATUS_RUNNING)
    return 0;
  int r = rt_container_adopt(st->pid, st->start_time, st->cgroup, &c);
  if (r == 0) {
    if (ret_c)
      *ret_c = c;
    else
      rt_container_detach(c);
    return 0;
  }
  if (r != -ESRCH)
    return r;
  for (int i = 0; i < 200 && supervisor_alive(st); i++) {
    struct rt_state now;
    if (rt_state_read(dir_fd, &now) == 0 && now.status == RT_STATUS_STOPPED) {
      *st = now;
      return 0;
    }
    sleep_ms(10);
  }
  if (rt_state_read(dir_fd, st) == 0 && st->status == RT_STATUS_STOPPED)
    return 0;
  st->status = RT_STATUS_STOPPED;
  st->exited = false;
  unlinkat(dir_fd, "sock", 0);
  (void)rt_cgroup_remove_name(st->id, false);
  return rt_state_write(dir_fd, st);
}

static json_object *state_json(const struct rt_state *st) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "ociVersion", json_object_new_string("1.0.2"));
  json_object_object_add(o, "id", json_object_new_string(st->id));
  json_object_object_add(o, "status", json_object_new_string(rt_status_name(st->status)));
  json_object_object_add(o, "pid", json_object_new_int64(st->status == RT_STATUS_RUNNING ? st->pid : 0));
  json_object_object_add(o, "bundle", json_object_new_string(st->bundle));
  json_object_object_add(o, "created", json_object_new_string(st->created));
  if (st->exited) {
    json_object_object_add(o, "exitCode", json_object_new_int(st->exit_code));
    json_object_object_add(o, "exitSignal", json_object_new_int(st->exit_signal));
    json_object_object_add(o, "oomKilled", json_object_new_boolean(st->oom_killed));
  }
  return o;
}

static int v_list(struct ctx *x, int argc, char **argv) {
  bool json = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "--format=json") == 0)
      json = true;
    else
      return die("list: unknown argument \"%s\" (secret-launch list [--json])", argv[i]), EXIT_VERB;
  }
  char **names = NULL;
  int r = rt_state_list(x->root_fd, &names);
  if (r < 0)
    return die("listing %s: %s", x->root, strerror(-r)), EXIT_VERB;
  json_object *arr = json ? json_object_new_array() : NULL;
  if (!json)
    printf("%-24s %8s  %-8s %-31s %s\n", "NAME", "PID", "STATUS", "CREATED", "BUNDLE");
  for (char **n = names; *n; n++) {
    struct rt_state st;
    _cleanup_close_ int dfd = -1;
    if (rt_state_open(x->root_fd, *n, &dfd) < 0 || rt_state_read(dfd, &st) < 0)
      continue; /* being created or deleted right now */
    refresh(dfd, &st, NULL);
    if (json)
      json_object_array_add(arr, state_json(&st));
    else
      printf("%-24s %8d  %-8s %-31s %s\n", st.id, st.status == RT_STATUS_RUNNING ? (int)st.pid : 0,
             rt_status_name(st.status), st.created, st.bundle);
  }
  if (json) {
    printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
                                                      JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(arr);
  }
  rt_state_names_free(names);
  return 0;
}

static int v_state(struct ctx *x, int argc, char **argv) {
  if (argc != 2)
    return die("usage: secret-launch state NAME"), EXIT_VERB;
  struct rt_state st;
  _cleanup_close_ int dfd = -1;
  if (open_container(x, argv[1], &dfd, &st) < 0)
    return EXIT_VERB;
  int r = refresh(dfd, &st, NULL);
  if (r < 0)
    return die("state of %s: %s", st.id, strerror(-r)), EXIT_VERB;
  json_object *o = state_json(&st);
  printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                   JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(o);
  return 0;
}

static const struct {
  const char *name;
  int sig;
} signals[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"CONT", SIGCONT},
    {"STOP", SIGSTOP}, {"WINCH", SIGWINCH}, {"ALRM", SIGALRM},
};

static int parse_signal(const char *s) {
  uint64_t n;
  if (parse_u64(s, 64, &n) == 0)
    return n >= 1 ? (int)n : -EINVAL;
  if (strncasecmp(s, "SIG", 3) == 0)
    s += 3;
  for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
    if (strcasecmp(s, signals[i].name) == 0)
      return signals[i].sig;
  return -EINVAL;
}

/* Open NAME and adopt it; a clear message when it is unknown or not running. */
static int running(struct ctx *x, const char *verb, const char *name, int *dfd,
                   struct rt_state *st, struct rt_container **c) {
  if (open_container(x, name, dfd, st) < 0)
    return -1;
  int r = refresh(*dfd, st, c);
  if (r < 0)
    return die("%s %s: %s", verb, name, strerror(-r));
  if (st->status != RT_STATUS_RUNNING || !*c)
    return die("%s %s: the container is not running", verb, name);
  return 0;
}

static int v_kill(struct ctx *x, int argc, char **argv) {
  if (argc < 2 || argc > 3)
    return die("usage: secret-launch kill NAME [SIGNAL]"), EXIT_VERB;
  int sig = argc == 3 ? parse_signal(argv[2]) : SIGTERM;
  if (sig < 0)
    return die("kill: unknown signal \"%s\"", argv[2]), EXIT_VERB;
  struct rt_state st;
  struct rt_container *c = NULL;
  _cleanup_close_ int dfd = -1;
  if (running(x, "kill", argv[1], &dfd, &st, &c) < 0)
    return EXIT_VERB;
  int r = rt_container_kill(c, sig);
  rt_container_detach(c);
  if (r < 0)
    return die("kill %s: %s", argv[1], strerror(-r)), EXIT_VERB;
  return 0;
}

/* Wait until the supervisor recorded the exit (or is gone). */
static void await_recorded(int dfd, struct rt_state *st) {
  for (int i = 0; i < 300; i++) {
    struct rt_state now;
    if (rt_state_read(dfd, &now) == 0 && now.status == RT_STATUS_STOPPED) {
      *st = now;
      return;
    }
    if (!supervisor_alive(st))
      return;
    sleep_ms(10);
  }
}

static int v_stop(struct ctx *x, int argc, char **argv) {
  const char *name = NULL;
  uint64_t timeout = RT_DEFAULT_STOP_TIMEOUT_MS / 1000;
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    if (strcmp(argv[i], "--timeout") == 0 || strcmp(argv[i], "-t") == 0)
      v = i + 1 < argc ? argv[++i] : "";
    else if (strncmp(argv[i], "--timeout=", 10) == 0)
      v = argv[i] + 10;
    if (v) {
      if (parse_u64(v, 86400, &timeout) < 0)
        return die("stop: --timeout expects seconds (0..86400), got \"%s\"", v), EXIT_VERB;
    } else if (!name) {
      name = argv[i];
    } else {
      return die("usage: secret-launch stop NAME [--timeout SECONDS]"), EXIT_VERB;
    }
  }
  if (!name)
    return die("usage: secret-launch stop NAME [--timeout SECONDS]"), EXIT_VERB;
  struct rt_state st;
  struct rt_container *c = NULL;
  _cleanup_close_ int dfd = -1;
  if (running(x, "stop", name, &dfd, &st, &c) < 0)
    return EXIT_VERB;
  bool killed = false;
  int r = rt_container_stop(c, (unsigned)timeout * 1000u, SIGTERM, &killed);
  rt_container_detach(c);
  if (r < 0)
    return die("stop %s: %s", name, strerror(-r)), EXIT_VERB;
  if (killed)
    fprintf(stderr, "%s: %s did not stop within %u s after SIGTERM: killed\n", prog, name,
            (unsigned)timeout);
  await_recorded(dfd, &st);
  return 0;
}

static int v_delete(struct ctx *x, int argc, char **argv) {
  const char *name = NULL;
  bool force = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0)
      force = true;
    else if (!name)
      name = argv[i];
    else
      return die("usage: secret-launch delete NAME [--force]"), EXIT_VERB;
  }
  if (!name)
    return die("usage: secret-launch delete NAME [--force]"), EXIT_VERB;
  struct rt_state st;
  struct rt_container *c = NULL;
  _cleanup_close_ int dfd = -1;
  if (open_container(x, name, &dfd, &st) < 0)
    return EXIT_VERB;
  int r = refresh(dfd, &st, &c);
  if (r < 0)
    return die("delete %s: %s", name, strerror(-r)), EXIT_VERB;
  if (c) {
    if (!force) {
      rt_container_detach(c);
      return die("delete %s: the container is running (stop it first, or delete --force)",
                 name), EXIT_VERB;
    }
    r = rt_container_stop(c, 0, SIGKILL, NULL);
    rt_container_detach(c);
    if (r < 0)
      return die("delete %s: %s", name, strerror(-r)), EXIT_VERB;
  }
  await_recorded(dfd, &st);
  /* The supervisor removes the group as it reaps; a killed one leaves it behind. */
  for (int i = 0; i < 100 && supervisor_alive(&st); i++)
    sleep_ms(10);
  r = rt_cgroup_remove_name(name, true);
  if (r < 0)
    return die("delete %s: removing its cgroup: %s (%s)", name, strerror(-r),
               rt_cgroup_last_error()), EXIT_VERB;
  if ((r = rt_state_remove(x->root_fd, name)) < 0)
    return die("delete %s: %s", name, strerror(-r)), EXIT_VERB;
  return 0;
}

/* v1: move this (single-threaded, short-lived) process into the container's memory
 * group, so that the tmpfs pages it writes are charged to the container. v2 cannot
 * move a single thread cheaply: there the pages are charged to the caller. */
static void charge_to_container(const char *name) {
  char path[128];
  snprintf(path, sizeof path, "/sys/fs/cgroup/memory/secretd/%s/tasks", name);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  if (write(fd, "0", 1) != 1) {
    /* not charged to it: the cap still bounds the tmpfs */
  }
  close(fd);
}

static int v_secret(struct ctx *x, int argc, char **argv) {
  if (argc < 2 || (strcmp(argv[1], "put") != 0 && strcmp(argv[1], "rm") != 0))
    return die("usage: secret-launch secret put NAME TARGET [FILE|-] [--uid N] [--gid N] "
               "[--mode 0400] | secret rm NAME TARGET"), EXIT_VERB;
  bool put = strcmp(argv[1], "put") == 0;
  const char *pos[3] = {NULL, NULL, NULL};
  int npos = 0;
  uint64_t uid = 0, gid = 0, mode = 0400;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    uint64_t *dst = NULL, max = UINT32_MAX - 1;
    if (put && strcmp(a, "--uid") == 0)
      dst = &uid;
    else if (put && strcmp(a, "--gid") == 0)
      dst = &gid;
    else if (put && strcmp(a, "--mode") == 0)
      dst = &mode;
    if (dst) {
      const char *v = i + 1 < argc ? argv[++i] : "";
      int r;
      if (dst == &mode) {
        char *end;
        errno = 0;
        unsigned long m = strtoul(v, &end, 8);
        r = (!*v || *end || errno || m > 0777) ? -EINVAL : 0;
        mode = m;
      } else {
        r = parse_u64(v, max, dst);
      }
      if (r < 0)
        return die("secret put: invalid %s \"%s\"", a, v), EXIT_VERB;
    } else if (npos < (put ? 3 : 2)) {
      pos[npos++] = a;
    } else {
      return die("secret %s: unexpected argument \"%s\"", argv[1], a), EXIT_VERB;
    }
  }
  if (npos < 2)
    return die("secret %s: NAME and TARGET are required", argv[1]), EXIT_VERB;
  const char *name = pos[0], *target = pos[1], *file = pos[2] ? pos[2] : "-";
  if (!rt_secret_target_valid(target))
    return die("secret %s: invalid target \"%s\" (relative, <= 255 bytes, no \"..\")", argv[1],
               target), EXIT_VERB;

  struct secret_buf buf = {0};
  size_t len = 0;
  int r;
  if (put) {
    int fd = strcmp(file, "-") == 0 ? 0 : open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
      return die("secret put: %s: %s", file, strerror(errno)), EXIT_VERB;
    r = secret_buf_read_fd(fd, fd != 0, &buf, &len);
    if (fd != 0)
      close(fd);
    if (r < 0) {
      secret_buf_wipe(&buf);
      if (r == -EFBIG)
        return die("secret put: the value is larger than %d bytes", MAX_SECRET_BYTES), EXIT_VERB;
      return die("secret put: reading %s: %s", file, r == -EINVAL ? "not a regular file"
                                                                  : strerror(-r)), EXIT_VERB;
    }
  }
  struct rt_state st;
  struct rt_container *c = NULL;
  _cleanup_close_ int dfd = -1;
  if (running(x, put ? "secret put" : "secret rm", name, &dfd, &st, &c) < 0) {
    secret_buf_wipe(&buf);
    return EXIT_VERB;
  }
  rt_container_detach(c);
  /* --userns: the owner given is a container id; the tmpfs wants the host id. */
  if (put && st.n_uidmap) {
    uint32_t hu = rt_idmap_to_host(st.uidmap, st.n_uidmap, (uint32_t)uid);
    uint32_t hg = rt_idmap_to_host(st.gidmap, st.n_gidmap, (uint32_t)gid);
    if (hu == UINT32_MAX || hg == UINT32_MAX) {
      secret_buf_wipe(&buf);
      return die("secret put %s: owner %u:%u is not mapped in the container's user "
                 "namespace", name, (unsigned)uid, (unsigned)gid), EXIT_VERB;
    }
    uid = hu;
    gid = hg;
  }
  int mfd = -1;
  struct rt_secrets_fs *fs = NULL;
  r = rt_supervisor_get_secrets(dfd, st.supervisor, &mfd);
  if (r < 0) {
    secret_buf_wipe(&buf);
    return die("secret %s %s: cannot reach the container's supervisor (%s): its secrets can "
               "no longer be changed", argv[1], name, strerror(-r)), EXIT_VERB;
  }
  if ((r = rt_secrets_fs_from_fd(mfd, st.secrets_max, &fs)) < 0) {
    close(mfd);
    secret_buf_wipe(&buf);
    return die("secret %s %s: %s", argv[1], name, strerror(-r)), EXIT_VERB;
  }
  if (put) {
    charge_to_container(name);
    r = rt_secrets_fs_put(fs, target, buf.mem, len, (uid_t)uid, (gid_t)gid, (mode_t)mode);
  } else {
    r = rt_secrets_fs_remove(fs, target);
  }
  secret_buf_wipe(&buf);
  size_t cap = rt_secrets_fs_max(fs);
  rt_secrets_fs_free(fs);
  if (r == -ENOSPC)
    return die("secret put %s %s: no room for %zu bytes: the secrets tmpfs is at its cap of "
               "%zu bytes (--secrets-max-size); nothing was changed", name, target, len, cap),
           EXIT_VERB;
  if (r == -ENOENT && !put)
    return die("secret rm %s: no secret \"%s\"", name, target), EXIT_VERB;
  if (r < 0)
    return die("secret %s %s %s: %s", argv[1], name, target, strerror(-r)), EXIT_VERB;
  return 0;
}

static const struct {
  const char *name;
  int (*fn)(struct ctx *x, int argc, char **argv);
} verbs[] = {
    {"list", v_list}, {"state", v_state},   {"kill", v_kill},
    {"stop", v_stop}, {"delete", v_delete}, {"secret", v_secret},
};

bool is_verb(const char *name) {
  for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
    if (strcmp(name, verbs[i].name) == 0)
      return true;
  return false;
}

int verb_main(int argc, char **argv) {
  struct ctx x = {.root = RT_STATE_ROOT_DEFAULT, .root_fd = -1};
  /* --state-root DIR (or =DIR) anywhere after the verb: take it out of argv. */
  int n = 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--state-root") == 0) {
      if (i + 1 >= argc)
        return die("--state-root needs a directory"), EXIT_VERB;
      x.root = argv[++i];
    } else if (strncmp(argv[i], "--state-root=", 13) == 0) {
      x.root = argv[i] + 13;
    } else {
      argv[n++] = argv[i];
    }
  }
  argc = n;
  argv[argc] = NULL;
  if (x.root[0] != '/')
    return die("--state-root must be an absolute path"), EXIT_VERB;
  int r = rt_state_root_open(x.root, &x.root_fd);
  if (r < 0)
    return die("state root %s: %s%s", x.root, strerror(-r),
               r == -EPERM ? " (it must be a directory owned by root, mode 0700)" : ""),
           EXIT_VERB;
  int code = EXIT_VERB;
  for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
    if (strcmp(argv[0], verbs[i].name) == 0)
      code = verbs[i].fn(&x, argc, argv);
  close(x.root_fd);
  return fail_exit(code);
}
