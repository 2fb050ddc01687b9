/*
 * Detached containers with a supervisor (see supervise.h).
 *
 * Why the fork is safe here: the supervisor is forked from the agent's driving thread
 * and only calls the runtime's start (what secret-launch's supervisor does after its
 * own fork) before it serves; secret memory reads as zeros in it (MADV_WIPEONFORK), and
 * it closes every fd of the agent (its sockets to the manager included) but the tmpfs
 * handle, its state directory, its socket and the readiness pipe.
 */
#include "agent/core/supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/macro.h"
#include "runtime/cgroup.h"
#include "runtime/secrets_fs.h"
#include "runtime/supervisor.h"

#define START_TIMEOUT_MS 60000

static void sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* Close every fd above 2 but keep[0..n). */
static void close_all_but(int *keep, size_t n) {
  qsort(keep, n, sizeof *keep, cmp_int);
  unsigned from = 3;
  for (size_t i = 0; i < n; i++) {
    if (keep[i] < 3)
      continue;
    if ((unsigned)keep[i] > from)
      close_range(from, (unsigned)keep[i] - 1, 0);
    from = (unsigned)keep[i] + 1;
  }
  close_range(from, ~0U, 0);
}

static void now_rfc3339(char *buf, size_t len) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, len - n, ".%09ldZ", ts.tv_nsec);
}

/* The supervisor: start, record, report readiness ("R", or "E" + message), then reap
 * and serve the secrets handle to root peers until PID 1 exits. Never returns. */
static _Noreturn void supervisor(int root_fd, int dir_fd, int ready, const char *name,
                                 const char *cgname, struct rt_spec *spec) {
  struct rt_container *c = NULL;
  struct rt_error err;
  memset(&err, 0, sizeof err);
  struct rt_state st = {0};
  int keep[4] = {root_fd, dir_fd, ready, rt_secrets_fs_fd(spec->secrets_fs)};
  int lfd = -1, r;

  setsid();
  close_all_but(keep, ARRAY_SIZE(keep));
  /* Listen here, not in the agent: a client checks that the listener (SO_PEERCRED) is
   * the recorded supervisor. */
  if ((r = rt_supervisor_listen(dir_fd, &lfd)) < 0) {
    dprintf(ready, "Elistening in the state directory: %s", strerror(-r));
    rt_state_remove(root_fd, name);
    _exit(1);
  }
  int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(nul, 2) < 0)
    _exit(1);
  close(nul);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);

  spec->pdeathsig = false;
  r = rt_container_start(spec, &c, &err);
  if (r < 0) {
    dprintf(ready, "E%s", err.msg[0] ? err.msg : sd_strerror(r));
    rt_state_remove(root_fd, name);
    _exit(1);
  }
  snprintf(st.id, sizeof st.id, "%s", name);
  st.status = RT_STATUS_RUNNING;
  st.pid = rt_container_pid(c);
  st.supervisor = getpid();
  snprintf(st.cgroup, sizeof st.cgroup, "secretd/%s", cgname);
  st.secrets_max = rt_secrets_fs_max(rt_container_secrets(c));
  now_rfc3339(st.created, sizeof st.created);
  snprintf(st.bundle, sizeof st.bundle, "%s", spec->rootfs);
  if ((r = rt_proc_start_time(st.pid, &st.start_time)) < 0 ||
      (r = rt_proc_start_time(st.supervisor, &st.supervisor_start)) < 0 ||
      (r = rt_state_write(dir_fd, &st)) < 0) {
    dprintf(ready, "Erecording the state: %s", strerror(-r));
    rt_container_free(c);
    rt_state_remove(root_fd, name);
    _exit(1);
  }
  if (write(ready, "R", 1) != 1) {
    /* the agent is gone: the container runs on */
  }
  close(ready);
  close(root_fd);
  if (chdir("/") < 0) {
    /* harmless */
  }
  rt_supervisor_run(c, lfd, dir_fd, &st);
  rt_container_free(c);
  _exit(0);
}

/* Read the readiness pipe: 0 once "R" came, else -EIO with msg. */
static int await_ready(int fd, char *msg, size_t msg_len) {
  char buf[400];
  size_t n = 0;
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int pr = poll(&p, 1, START_TIMEOUT_MS);
    if (pr == 0) {
      snprintf(msg, msg_len, "the container did not start within %d s", START_TIMEOUT_MS / 1000);
      return -ETIMEDOUT;
    }
    if (pr < 0 && errno == EINTR)
      continue;
    ssize_t k = read(fd, buf + n, sizeof buf - 1 - n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0 || (n += (size_t)k) >= sizeof buf - 1)
      break;
  }
  buf[n] = '\0';
  if (n >= 1 && buf[0] == 'R')
    return 0;
  snprintf(msg, msg_len, "%s", n > 1 && buf[0] == 'E' ? buf + 1 : "the supervisor died");
  return -EIO;
}

int ac_container_start(int root_fd, const char *root, const char *name, struct rt_spec *spec,
                       struct rt_container **ret_c, char *msg, size_t msg_len) {
  _cleanup_close_ int dir_fd = -1, rd = -1, wr = -1;
  char cgname[RT_NAME_MAX + 16];
  struct rt_state st;
  int r, p[2];

  msg[0] = '\0';
  if ((r = rt_state_cgroup_name(root, name, cgname, sizeof cgname)) < 0) {
    snprintf(msg, msg_len, "container name %s: %s", name, strerror(-r));
    return r;
  }
  r = rt_state_create(root_fd, name, &dir_fd);
  if (r == -EEXIST) { /* a leftover of an ended run (the caller knows it does not run) */
    (void)ac_container_reap(root_fd, name, &st);
    r = rt_state_create(root_fd, name, &dir_fd);
  }
  if (r < 0) {
    snprintf(msg, msg_len, "state of %s: %s", name, strerror(-r));
    return r;
  }
  if (pipe2(p, O_CLOEXEC) < 0) {
    r = -errno;
    snprintf(msg, msg_len, "state of %s: %s", name, strerror(-r));
    rt_state_remove(root_fd, name);
    return r;
  }
  rd = p[0];
  wr = p[1];
  spec->name = cgname;
  pid_t pid = fork();
  if (pid < 0) {
    r = -errno;
    snprintf(msg, msg_len, "fork: %s", strerror(-r));
    rt_state_remove(root_fd, name);
    return r;
  }
  if (pid == 0) {
    close(rd);
    pid_t g = fork();
    if (g == 0)
      supervisor(root_fd, dir_fd, wr, name, cgname, spec);
    _exit(g < 0 ? 1 : 0);
  }
  close(TAKE_FD(wr));
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if ((r = await_ready(rd, msg, msg_len)) < 0) {
    rt_state_remove(root_fd, name);
    return r;
  }
  if ((r = rt_state_read(dir_fd, &st)) < 0 ||
      (r = rt_container_adopt(st.pid, st.start_time, st.cgroup, ret_c)) < 0) {
    /* It ended at once (or its state is unreadable): the caller reaps it. */
    snprintf(msg, msg_len, "the container ended right after its start");
    return r == -ESRCH ? -ESRCH : r;
  }
  return 0;
}

int ac_container_adopt(int root_fd, const char *name, struct rt_container **ret_c,
                       struct rt_state *ret_st) {
  _cleanup_close_ int dir_fd = -1;
  struct rt_container *c = NULL;
  struct rt_secrets_fs *fs = NULL;
  int r, mfd = -1;

  if ((r = rt_state_open(root_fd, name, &dir_fd)) < 0)
    return r;
  if ((r = rt_state_read(dir_fd, ret_st)) < 0)
    return r;
  if (ret_st->status != RT_STATUS_RUNNING)
    return -ESRCH;
  if ((r = rt_container_adopt(ret_st->pid, ret_st->start_time, ret_st->cgroup, &c)) < 0)
    return r;
  if ((r = rt_supervisor_get_secrets(dir_fd, ret_st->supervisor, &mfd)) < 0 ||
      (r = rt_secrets_fs_from_fd(mfd, ret_st->secrets_max, &fs)) < 0) {
    if (mfd >= 0)
      close(mfd);
    rt_container_detach(c);
    return r;
  }
  rt_container_set_secrets(c, fs);
  *ret_c = c;
  return 0;
}

int ac_container_reap(int root_fd, const char *name, struct rt_state *ret_st) {
  _cleanup_close_ int dir_fd = -1;
  int r;

  memset(ret_st, 0, sizeof *ret_st);
  if ((r = rt_state_open(root_fd, name, &dir_fd)) < 0)
    return r == -ENOENT ? 0 : r;
  for (int i = 0; i < 200; i++) {
    if (rt_state_read(dir_fd, ret_st) == 0 && ret_st->status == RT_STATUS_STOPPED)
      break;
    /* no state yet, or still running: the supervisor is about to record the exit */
    sleep_ms(10);
  }
  if (rt_state_cgroup_leaf(ret_st))
    (void)rt_cgroup_remove_name(rt_state_cgroup_leaf(ret_st), true);
  return rt_state_remove(root_fd, name);
}
