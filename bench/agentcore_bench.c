/*
 * agentcore_bench ROOTFS [CONTAINERS [ROTATIONS]] (root): the agent side of delivery
 * (agent/core) without the network. Starts CONTAINERS (default 100) containers of
 * ROOTFS, each granted one secret, then rotates that secret ROTATIONS (default 20)
 * times and, for every container, times how long after the new assignment reached
 * the core the new value is what the container reads (its own view: /proc/PID/root,
 * i.e. its mount namespace). Prints the start time and the propagation p50/p99/max
 * next to the peers' figures (published, not run here: no peer rotates a secret in a
 * running container faster than its sync period).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/core/agentcore.h"
#include "base/secbuf.h"
#include "runtime/launch_spec.h"

static uint64_t version_now = 1;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The value of version v (the same for every container; not secret: a benchmark). */
static int value_of(uint64_t v, char *buf, size_t len) {
  return snprintf(buf, len, "bench-value-version-%llu", (unsigned long long)v);
}

static void fetch(void *ud, struct agentcore *ac, struct agentcore_fetch *f) {
  int r = 0;
  for (size_t i = 0; i < f->n_items && r == 0; i++) {
    char v[64];
    int n = value_of(f->items[i].version, v, sizeof v);
    r = secbuf_from(v, (size_t)n, &f->items[i].value);
  }
  agentcore_fetch_done(ac, f, r);
}

static void report(void *ud, const struct agentcore_report *r) {
  if (r->state == AGENTCORE_FAILED)
    fprintf(stderr, "agentcore_bench: task %s failed: %s\n", r->task_id, r->message);
}

/* The observer: polls every container's view on its own thread while the core works,
 * so that each container's time is when its file changed, not when the core returned. */
struct observer {
  int n;
  const pid_t *pids;
  char want[64];
  int want_len;
  double t0;
  double *lat;      /* per container of this rotation, 0 = not yet */
  atomic_int left;
  atomic_bool stop;
};

static void *observe(void *arg) {
  struct observer *o = arg;
  char got[64], path[64];
  while (!atomic_load(&o->stop) && atomic_load(&o->left) > 0) {
    for (int i = 0; i < o->n; i++) {
      if (o->lat[i] > 0)
        continue;
      snprintf(path, sizeof path, "/proc/%d/root/run/secrets/bench", (int)o->pids[i]);
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      ssize_t g = fd >= 0 ? read(fd, got, sizeof got) : -1;
      if (fd >= 0)
        close(fd);
      if (g == o->want_len && memcmp(got, o->want, (size_t)g) == 0) {
        o->lat[i] = now_ms() - o->t0;
        if (o->lat[i] <= 0)
          o->lat[i] = 1e-6;
        atomic_fetch_sub(&o->left, 1);
      }
    }
  }
  return NULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Run the core until converged or timeout_ms. */
static int settle(struct agentcore *ac, double timeout_ms) {
  double end = now_ms() + timeout_ms;
  while (!agentcore_converged(ac)) {
    if (now_ms() > end)
      return -ETIMEDOUT;
    struct pollfd p = {.fd = agentcore_fd(ac), .events = POLLIN};
    int t = agentcore_timeout_ms(ac);
    poll(&p, 1, t < 0 || t > 10 ? 10 : t);
    agentcore_process(ac);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: %s ROOTFS [CONTAINERS [ROTATIONS]]\n", argv[0]);
    return 2;
  }
  int n = argc > 2 ? atoi(argv[2]) : 100, rotations = argc > 3 ? atoi(argv[3]) : 20;
  if (n < 1 || n > 1000 || rotations < 1 || rotations > 1000) {
    fprintf(stderr, "agentcore_bench: 1..1000 containers and rotations\n");
    return 2;
  }
  /* Under /run, where the agent's state directory belongs (docs/delivery.md). */
  char state[] = "/run/agentcore-bench.XXXXXX", err[LAUNCH_SPEC_ERRLEN];
  if (!mkdtemp(state)) {
    perror("mkdtemp");
    return 1;
  }
  /* One spec for all: sleep in ROOTFS. */
  struct launch_spec ls;
  msgpack_sbuffer spec;
  char *cmd[] = {"sleep", "1000000"};
  launch_spec_init(&ls);
  msgpack_sbuffer_init(&spec);
  if (launch_spec_apply(&ls, LAUNCH_OPT_ROOTFS, argv[1], err) < 0 ||
      launch_spec_apply(&ls, LAUNCH_OPT_STOP_TIMEOUT, "0", err) < 0 ||
      launch_spec_set_command(&ls, 2, cmd, "", err) < 0 || launch_spec_encode(&ls, &spec) < 0) {
    fprintf(stderr, "agentcore_bench: spec: %s\n", err);
    return 1;
  }
  struct agentcore_ops ops = {.fetch = fetch, .report = report};
  struct agentcore *ac = NULL;
  int r = agentcore_open(state, &ops, &ac);
  if (r < 0) {
    fprintf(stderr, "agentcore_bench: open: %s\n", strerror(-r));
    return 1;
  }
  struct agentcore_task *tasks = calloc((size_t)n, sizeof *tasks);
  struct agentcore_grant *grants = calloc((size_t)n, sizeof *grants);
  char (*ids)[16] = calloc((size_t)n, sizeof *ids);
  double *lat = calloc((size_t)n * (size_t)rotations, sizeof *lat);
  pid_t *pids = calloc((size_t)n, sizeof *pids);
  if (!tasks || !grants || !ids || !lat || !pids)
    return 1;
  for (int i = 0; i < n; i++) {
    snprintf(ids[i], sizeof ids[i], "b%d", i);
    grants[i] = (struct agentcore_grant){"bench", 1, "bench", AGENTCORE_ID_UNSET,
                                         AGENTCORE_ID_UNSET, 0};
    tasks[i] = (struct agentcore_task){ids[i], "bench", spec.data, spec.size,
                                       LAUNCH_RESTART_NO, &grants[i], 1};
  }
  int status = 1;
  double t0 = now_ms();
  if ((r = agentcore_assign(ac, tasks, (size_t)n, err)) < 0 || settle(ac, 300000) < 0) {
    fprintf(stderr, "agentcore_bench: start: %s\n", r < 0 ? err : "timed out");
    goto out;
  }
  double started = now_ms() - t0;
  for (int i = 0; i < n; i++)
    if ((pids[i] = agentcore_task_pid(ac, ids[i])) <= 0) {
      fprintf(stderr, "agentcore_bench: %s does not run\n", ids[i]);
      goto out;
    }
  size_t k = 0;
  for (int rot = 0; rot < rotations; rot++) {
    struct observer o = {.n = n, .pids = pids, .lat = lat + k};
    version_now++;
    o.want_len = value_of(version_now, o.want, sizeof o.want);
    atomic_init(&o.left, n);
    atomic_init(&o.stop, false);
    for (int i = 0; i < n; i++)
      grants[i].version = version_now;
    pthread_t th;
    o.t0 = now_ms();
    if (pthread_create(&th, NULL, observe, &o) != 0)
      goto out;
    r = agentcore_assign(ac, tasks, (size_t)n, err);
    while (r == 0 && atomic_load(&o.left) > 0 && now_ms() - o.t0 < 10000) {
      struct pollfd p = {.fd = agentcore_fd(ac), .events = POLLIN};
      poll(&p, 1, 5);
      agentcore_process(ac);
    }
    atomic_store(&o.stop, true);
    pthread_join(th, NULL);
    if (r < 0 || atomic_load(&o.left) > 0) {
      fprintf(stderr, "agentcore_bench: rotation %d not seen by %d containers in 10 s\n", rot,
              atomic_load(&o.left));
      goto out;
    }
    k += (size_t)n;
  }
  qsort(lat, k, sizeof *lat, cmp_double);
  double p50 = lat[k / 2], p99 = lat[(k * 99) / 100], max = lat[k - 1];
  printf("agentcore_bench: %d containers, 1 secret each, %d rotations (%zu samples), one "
         "agent core without the network\n", n, rotations, k);
  printf("  start of %d containers with their secret in place: %.0f ms (%.1f ms each)\n", n,
         started, started / n);
  printf("  rotation visible in every container: p50 %.2f ms, p99 %.2f ms, max %.2f ms "
         "(goal of the issue: p99 <= 100 ms)\n", p50, p99, max);
  printf("  peers (published figures, not run here):\n");
  printf("    Kubernetes, secret volume: ~60-120 s (kubelet sync + cache): %.0fx our p99\n",
         60000.0 / p99);
  printf("    secrets-store CSI driver: polls every 120 s: %.0fx our p99\n", 120000.0 / p99);
  printf("    Docker Swarm: no change of a secret in a running service (rm + re-create)\n");
  status = 0;
out:
  agentcore_node_removed(ac);
  agentcore_free(ac);
  launch_spec_clear(&ls);
  msgpack_sbuffer_destroy(&spec);
  free(tasks);
  free(grants);
  free(ids);
  free(lat);
  free(pids);
  char p[128];
  snprintf(p, sizeof p, "%s/tasks", state);
  rmdir(p);
  snprintf(p, sizeof p, "%s/run", state);
  rmdir(p);
  rmdir(state);
  return status;
}
