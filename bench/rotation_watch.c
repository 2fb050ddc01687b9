/*
 * rotation_watch PIDFILE RELPATH OUT
 *
 * delivery_bench.sh's observer of rotations, from outside the containers so that
 * measuring does not load the machine: for each PID listed in PIDFILE (one a line;
 * the containers' PID 1 as the agents recorded them) it watches the container's own
 * view of the file /proc/PID/root/RELPATH (its mount namespace: the read-only clone of
 * its secrets tmpfs that the container itself sees) with inotify on the file's
 * directory, and appends to OUT one line per new content a container shows:
 *
 *     INDEX SECONDS.MICROSECONDS VALUE      (CLOCK_REALTIME, comparable to bash's
 *                                            $EPOCHREALTIME: no time namespace)
 *
 * INDEX is the PID's line in PIDFILE (0-based). Each inotify event on a container's
 * directory (the agent's rename over the name: IN_MOVED_TO) re-reads that container's
 * file at once; every SWEEP_MS it also re-reads every file (a lost event cannot hide a
 * change; and every read checks the content). A read that finds the file missing,
 * empty, longer than VALUE_MAX or not printable is counted as a bad read and logged
 * "INDEX SECONDS BAD why" (never the content: the bench's values are markers, but the
 * tool does not print what it cannot vouch for). The watcher sleeps in poll() between
 * events: it costs nothing while nothing changes.
 *
 * Runs until SIGTERM/SIGINT, then prints "reads N bad M events E" on stderr and exits 0
 * (1 when a bad read was seen, 2 on a usage or set-up error).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define MAX_WATCHED 4096
#define VALUE_MAX 64
#define SWEEP_MS 50

struct watched {
  int dirfd; /* O_PATH on /proc/PID/root/DIR: the container's own view */
  int wd;    /* inotify watch on that directory */
  char last[VALUE_MAX + 1];
};

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static struct watched w[MAX_WATCHED];
static size_t n_watched;
static const char *base; /* the file's name in its directory */
static FILE *out;
static unsigned long long n_reads, n_bad, n_events;

static void now_str(char *buf, size_t cap) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  snprintf(buf, cap, "%lld.%06ld", (long long)ts.tv_sec, ts.tv_nsec / 1000);
}

/* Read container i's file; log a new value or a bad read. */
static void check(size_t i) {
  char buf[VALUE_MAX + 2], t[32];
  const char *why = NULL;
  ssize_t n = -1;
  int fd = openat(w[i].dirfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  n_reads++;
  if (fd < 0) {
    why = "missing";
  } else {
    n = read(fd, buf, sizeof buf - 1); /* the value is one short read: a tmpfs file */
    close(fd);
    if (n < 0)
      why = "unreadable";
    else if (n == 0)
      why = "empty";
    else if (n > VALUE_MAX)
      why = "too-long";
  }
  if (!why) {
    buf[n] = 0;
    for (ssize_t k = 0; k < n && !why; k++)
      if (buf[k] < 0x21 || buf[k] > 0x7e)
        why = "not-printable";
  }
  now_str(t, sizeof t);
  if (why) {
    n_bad++;
    fprintf(out, "%zu %s BAD %s\n", i, t, why);
    fflush(out);
    return;
  }
  if (strcmp(buf, w[i].last) != 0) {
    memcpy(w[i].last, buf, (size_t)n + 1);
    fprintf(out, "%zu %s %s\n", i, t, buf);
    fflush(out);
  }
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s PIDFILE RELPATH OUT\n", argv[0]);
    return 2;
  }
  char dir[PATH_MAX];
  const char *rel = argv[2], *slash = strrchr(rel, '/');
  if (!slash || slash == rel || !slash[1] || rel[0] == '/') {
    fprintf(stderr, "%s: RELPATH is DIR/NAME relative to a container's root\n", argv[0]);
    return 2;
  }
  base = slash + 1;
  FILE *pf = fopen(argv[1], "r");
  if (!pf || !(out = fopen(argv[3], "a"))) {
    fprintf(stderr, "%s: %s: %s\n", argv[0], pf ? argv[3] : argv[1], strerror(errno));
    return 2;
  }
  int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (in < 0) {
    perror("inotify_init1");
    return 2;
  }
  long pid;
  while (n_watched < MAX_WATCHED && fscanf(pf, "%ld", &pid) == 1) {
    snprintf(dir, sizeof dir, "/proc/%ld/root/%.*s", pid, (int)(slash - rel), rel);
    struct watched *x = &w[n_watched];
    if ((x->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        (x->wd = inotify_add_watch(in, dir, IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE |
                                                IN_DELETE | IN_ONLYDIR)) < 0) {
      fprintf(stderr, "%s: %s: %s\n", argv[0], dir, strerror(errno));
      return 2;
    }
    n_watched++;
  }
  fclose(pf);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  for (size_t i = 0; i < n_watched; i++)
    check(i);
  struct timespec last_sweep;
  clock_gettime(CLOCK_MONOTONIC, &last_sweep);
  while (!stop) {
    struct pollfd p = {.fd = in, .events = POLLIN};
    int r = poll(&p, 1, SWEEP_MS);
    if (r < 0 && errno != EINTR) {
      perror("poll");
      return 2;
    }
    if (r > 0) {
      char ev[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
      ssize_t len;
      while ((len = read(in, ev, sizeof ev)) > 0) {
        for (char *q = ev; q < ev + len;) {
          const struct inotify_event *e = (const struct inotify_event *)q;
          q += sizeof(*e) + e->len;
          n_events++;
          if (e->mask & IN_Q_OVERFLOW) { /* events lost: read everything */
            for (size_t i = 0; i < n_watched; i++)
              check(i);
            continue;
          }
          if (!e->len || strcmp(e->name, base) != 0)
            continue; /* the agent's temporary file: not what the container opens */
          for (size_t i = 0; i < n_watched; i++)
            if (w[i].wd == e->wd)
              check(i); /* one watch per directory: a tmpfs per container */
        }
      }
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((now.tv_sec - last_sweep.tv_sec) * 1000 + (now.tv_nsec - last_sweep.tv_nsec) / 1000000 >=
        SWEEP_MS) {
      last_sweep = now;
      for (size_t i = 0; i < n_watched; i++)
        check(i);
    }
  }
  fprintf(stderr, "reads %llu bad %llu events %llu\n", n_reads, n_bad, n_events);
  fclose(out);
  return n_bad ? 1 : 0;
}
