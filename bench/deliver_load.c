/*
 * deliver_load: one load-generator process holding one mutual-TLS session
 * per joined node to secretd's --listen (wire/async_client.c over TLS 1.3,
 * the agent's own client), each asking node.deliver for its task's granted
 * secret in a loop, PIPELINE requests in flight per session; for
 * bench/deliver_load.sh.
 *
 *   deliver_load HOST:PORT SECRETD_PID SECONDS PIPELINE STATE_DIR...
 *
 * Each STATE_DIR is a joined agent's (node.crt, node.key, ca.crt, DER): one
 * session per directory. A session says node.hello, asks node.assignments
 * (the agent's own ops), takes its first task and that task's grants from the
 * set, reports the task running (task.report, as the agent does once the
 * container started); then it asks node.deliver {service, task, secrets: {id: version}}
 * for them, again and again. A delivery counts when its reply carries the
 * value (a "value" bin) for the version asked; any refusal or error fails the
 * run. After every session is up, 1 s of warm-up, then SECONDS measured:
 * deliveries, secretd's CPU time (utime + stime of all its threads,
 * /proc/PID/stat) and wall time. Printed (one line each, key=value, for the
 * script): sessions, VmRSS and RssAnon before / with sessions / under load
 * (the "with sessions" sample is taken after the warm-up, so it includes the
 * buffers of PIPELINE requests in flight per session), deliveries,
 * cpu seconds, wall seconds, this process's own CPU seconds; after the
 * sessions end, every value received (warm-up and drain included) and the
 * requests cancelled in flight, so that the audit can be checked exactly:
 * received_total <= secret.deliver records with outcome ok <= the sum.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <uv.h>

#include "bench/measure.h"
#include "bench/node_session.h"
#include "wire/assign.h"
#include "wire/async_client.h"
#include "wire/msg.h"
#include "wire/tls.h"

#define MAX_GRANTS 16

struct agent {
  struct wire_aclient *c;
  struct wire_tls_ctx *ctx;
  char service[WIRE_ASSIGN_NAME_MAX + 1];
  char task[33];
  size_t n;
  char ids[MAX_GRANTS][33];
  uint32_t versions[MAX_GRANTS];
  bool ready;
  unsigned inflight;
};

static struct {
  uv_loop_t loop;
  struct agent *a;
  unsigned n, started, up, ready, down, pipeline;
  bool measuring, stopping;
  uint64_t delivered, replies, failed;
  uint64_t received_total; /* every value received, warm-up and drain included */
  uint64_t cancelled;      /* requests still in flight when the sessions ended */
  char host[64];
  int port, pid;
  char first_error[400];
} L;

/* secretd's CPU seconds (all threads); a vanished secretd fails the run. */
static double cpu_s(int pid) {
  double v = 0;
  if (bench_cpu_pid((pid_t)pid, &v) < 0) {
    fprintf(stderr, "deliver_load: cannot read the CPU time of process %d\n", pid);
    exit(1);
  }
  return v;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fail_once(const char *fmt, const char *what) {
  L.failed++;
  if (!L.first_error[0])
    snprintf(L.first_error, sizeof(L.first_error), fmt, what ? what : "?");
}

/* ---- node.deliver in a loop ---- */

static void pack_deliver(msgpack_packer *pk, void *ud) {
  const struct agent *a = ud;
  msgpack_pack_map(pk, 3);
  wire_pack_kv_str(pk, "service", a->service);
  wire_pack_kv_str(pk, "task", a->task);
  wire_pack_str(pk, "secrets");
  msgpack_pack_map(pk, (uint32_t)a->n);
  for (size_t i = 0; i < a->n; i++) {
    wire_pack_str(pk, a->ids[i]);
    msgpack_pack_uint64(pk, a->versions[i]);
  }
}

/* Values carried by a reply, each for the version asked. */
static size_t count_values(const struct agent *a, const msgpack_object *res) {
  const msgpack_object *arr = wire_map_get(res, "secrets");
  size_t n = 0;
  if (!arr || arr->type != MSGPACK_OBJECT_ARRAY)
    return 0;
  for (uint32_t k = 0; k < arr->via.array.size; k++) {
    const msgpack_object *e = &arr->via.array.ptr[k];
    const msgpack_object *v = wire_map_get(e, "value"), *ver = wire_map_get(e, "version");
    if (!v || v->type != MSGPACK_OBJECT_BIN || !v->via.bin.size || !ver ||
        ver->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
      continue;
    for (size_t i = 0; i < a->n; i++)
      if (a->versions[i] == ver->via.u64)
        n++;
  }
  return n;
}

static void ask(struct agent *a);

static void on_deliver(struct wire_session *s, int status, const struct wire_response *resp,
                       void *ud) {
  struct agent *a = ud;
  (void)s;
  a->inflight--;
  if (status < 0 || !resp->ok) {
    if (!L.stopping)
      fail_once("node.deliver failed: %s", status < 0 ? strerror(-status) : resp->error);
    return;
  }
  size_t got = count_values(a, resp->result);
  if (got != a->n) {
    fail_once("node.deliver: %s", "a reply without every value asked for");
    return;
  }
  L.received_total += got;
  if (L.measuring) {
    L.delivered += got;
    L.replies++;
  }
  ask(a);
}

static void ask(struct agent *a) {
  while (!L.stopping && a->inflight < L.pipeline) {
    if (wire_aclient_call(a->c, WIRE_OP_NODE_DELIVER, pack_deliver, a, on_deliver, a) < 0) {
      fail_once("node.deliver: %s", "cannot send");
      return;
    }
    a->inflight++;
  }
}

/* ---- set-up: hello, assignments ---- */

/* The task runs (as its agent reports once the container started): then deliver. */
static void pack_report(msgpack_packer *pk, void *ud) {
  const struct agent *a = ud;
  msgpack_pack_map(pk, 3);
  wire_pack_kv_str(pk, "service", a->service);
  wire_pack_kv_str(pk, "task", a->task);
  wire_pack_kv_str(pk, "state", "running");
}

static void on_reported(struct wire_session *s, int status, const struct wire_response *resp,
                        void *ud) {
  struct agent *a = ud;
  (void)s;
  if (status < 0 || !resp->ok) {
    fail_once("task.report: %s", status < 0 ? strerror(-status) : resp->error);
    return;
  }
  a->ready = true;
  L.ready++;
  ask(a);
}

static void on_assignments(struct wire_session *s, int status, const struct wire_response *resp,
                           void *ud) {
  struct agent *a = ud;
  (void)s;
  const msgpack_object *set = status == 0 && resp->ok ? wire_map_get(resp->result, "assignments")
                                                      : NULL;
  struct wire_assignments as = {0};
  const char *why = NULL;
  if (!set || wire_assignments_decode(set, &as, &why) < 0 || as.n_tasks < 1 ||
      as.tasks[0].n_grants < 1) {
    fail_once("node.assignments: %s", status == 0 && !resp->ok ? resp->error
                                      : why                   ? why
                                                              : "no task with a grant");
    wire_assignments_clear(&as);
    return;
  }
  const struct wire_assign_task *t = &as.tasks[0];
  snprintf(a->service, sizeof(a->service), "%s", t->service);
  snprintf(a->task, sizeof(a->task), "%s", t->id);
  for (size_t i = 0; i < t->n_grants && i < MAX_GRANTS; i++) {
    snprintf(a->ids[i], sizeof(a->ids[i]), "%s", t->grants[i].secret_id);
    a->versions[i] = t->grants[i].version;
    a->n++;
  }
  wire_assignments_clear(&as);
  if (wire_aclient_call(a->c, WIRE_OP_TASK_REPORT, pack_report, a, on_reported, a) < 0)
    fail_once("task.report: %s", "cannot send");
}

static void pack_assign_args(msgpack_packer *pk, void *ud) {
  (void)ud;
  msgpack_pack_map(pk, 0);
}

static void pack_hello(msgpack_packer *pk, void *ud) {
  (void)ud;
  msgpack_pack_map(pk, 1);
  wire_pack_kv_str(pk, "hostname", "deliver-load");
}

static void on_hello(struct wire_session *s, int status, const struct wire_response *resp,
                     void *ud) {
  struct agent *a = ud;
  (void)s;
  if (status < 0 || !resp->ok) {
    fail_once("node.hello: %s", status < 0 ? strerror(-status) : resp->error);
    return;
  }
  if (wire_aclient_call(a->c, WIRE_OP_NODE_ASSIGNMENTS, pack_assign_args, a, on_assignments, a) <
      0)
    fail_once("node.assignments: %s", "cannot send");
}

static void on_up(struct wire_aclient *c, uint32_t v, void *ud) {
  struct agent *a = ud;
  (void)v;
  L.up++;
  if (a->ready) { /* a reconnection during the run: counted as a loss */
    fail_once("%s", "a session was lost and came back");
    return;
  }
  wire_aclient_call(c, WIRE_OP_NODE_HELLO, pack_hello, a, on_hello, a);
}

static void on_down(struct wire_aclient *c, int reason, void *ud) {
  (void)c;
  (void)reason;
  (void)ud;
  L.down++;
}

static const struct wire_aclient_cbs cbs = {.on_up = on_up, .on_down = on_down};

/* Start connections in steps, so that the listen backlog is not flooded;
 * the sessions already ready are delivering meanwhile. */
static void start_more(uv_timer_t *t) {
  for (unsigned k = 0; k < 50 && L.started < L.n && L.started - L.ready < 100; k++) {
    struct agent *a = &L.a[L.started];
    struct wire_aclient_opts o = {.loop = &L.loop,
                                  .host = L.host,
                                  .port = L.port,
                                  .tls = a->ctx,
                                  .backoff_min_ms = 100,
                                  .backoff_max_ms = 2000};
    if (wire_aclient_new(&o, &cbs, a, &a->c) < 0) {
      fprintf(stderr, "deliver_load: cannot start a client\n");
      exit(1);
    }
    L.started++;
  }
  if (L.started == L.n)
    uv_timer_stop(t);
}

static void stop_loop(uv_timer_t *t) { uv_stop(t->loop); }

static void check(uv_timer_t *t) {
  if (L.ready >= L.n || L.failed)
    uv_stop(t->loop);
}

static void run_for(unsigned ms) {
  uv_timer_t t;
  uv_timer_init(&L.loop, &t);
  uv_timer_start(&t, stop_loop, ms, 0);
  uv_run(&L.loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&L.loop, UV_RUN_NOWAIT);
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: deliver_load HOST:PORT SECRETD_PID SECONDS PIPELINE STATE_DIR...\n");
    return 2;
  }
  const char *colon = strrchr(argv[1], ':');
  if (!colon || (size_t)(colon - argv[1]) >= sizeof(L.host))
    return 2;
  memcpy(L.host, argv[1], (size_t)(colon - argv[1]));
  L.port = atoi(colon + 1);
  L.pid = atoi(argv[2]);
  double secs = atof(argv[3]);
  L.pipeline = (unsigned)atoi(argv[4]);
  if (secs <= 0 || L.pipeline < 1 || L.pipeline > WIRE_SESSION_MAX_INFLIGHT)
    return fprintf(stderr, "deliver_load: SECONDS > 0, PIPELINE 1..%d\n",
                   WIRE_SESSION_MAX_INFLIGHT),
           2;
  L.n = (unsigned)(argc - 5);
  struct rlimit rl = {L.n + 256, L.n + 256};
  setrlimit(RLIMIT_NOFILE, &rl);
  L.a = calloc(L.n, sizeof(*L.a));
  for (unsigned i = 0; i < L.n; i++)
    if (!(L.a[i].ctx = bench_node_tls_ctx(argv[5 + i]))) {
      fprintf(stderr, "deliver_load: %s: cannot load the node certificate\n", argv[5 + i]);
      return 1;
    }
  uv_loop_init(&L.loop);
  long before = bench_rss_kib(L.pid, false), before_anon = bench_rss_kib(L.pid, true);
  if (before < 0) {
    fprintf(stderr, "deliver_load: no process %d\n", L.pid);
    return 1;
  }
  uv_timer_t starter, checker, deadline;
  uv_timer_init(&L.loop, &starter);
  uv_timer_init(&L.loop, &checker);
  uv_timer_init(&L.loop, &deadline);
  uv_timer_start(&starter, start_more, 0, 10);
  uv_timer_start(&checker, check, 50, 50);
  uv_timer_start(&deadline, stop_loop, 180000, 0);
  double t_up = now_s();
  uv_run(&L.loop, UV_RUN_DEFAULT);
  t_up = now_s() - t_up;
  uv_timer_stop(&checker);
  uv_timer_stop(&deadline);
  if (L.ready < L.n || L.failed) {
    fprintf(stderr, "deliver_load: %u of %u sessions ready (%u losses)%s%s\n", L.ready, L.n,
            L.down, L.first_error[0] ? ": " : "", L.first_error);
    return 1;
  }
  /* every session delivering: warm up, then measure */
  fprintf(stderr, "deliver_load: %u sessions delivering after %.1f s; measuring in 1 s\n", L.n,
          t_up);
  run_for(1000);
  long with_sessions = bench_rss_kib(L.pid, false), with_sessions_anon = bench_rss_kib(L.pid, true);
  L.measuring = true;
  double c0 = cpu_s(L.pid), s0 = bench_cpu_self(), t0 = now_s();
  run_for((unsigned)(secs * 1000));
  double c1 = cpu_s(L.pid), s1 = bench_cpu_self(), t1 = now_s();
  L.measuring = false;
  long under_load = bench_rss_kib(L.pid, false), under_load_anon = bench_rss_kib(L.pid, true);
  L.stopping = true;
  if (L.failed) {
    fprintf(stderr, "deliver_load: %llu failures: %s\n", (unsigned long long)L.failed,
            L.first_error);
    return 1;
  }
  printf("sessions=%u up_s=%.2f losses=%u pipeline=%u\n", L.n, t_up, L.down, L.pipeline);
  printf("rss_before_kib=%ld rss_sessions_kib=%ld rss_load_kib=%ld\n", before, with_sessions,
         under_load);
  printf("anon_before_kib=%ld anon_sessions_kib=%ld anon_load_kib=%ld\n", before_anon,
         with_sessions_anon, under_load_anon);
  printf("deliveries=%llu replies=%llu secretd_cpu_s=%.3f wall_s=%.3f load_cpu_s=%.3f\n",
         (unsigned long long)L.delivered, (unsigned long long)L.replies, c1 - c0, t1 - t0,
         s1 - s0);
  fflush(stdout);
  /* let the requests in flight finish, then end the sessions */
  run_for(500);
  for (unsigned i = 0; i < L.n; i++) {
    L.cancelled += L.a[i].inflight;
    wire_aclient_free(L.a[i].c);
  }
  run_for(200);
  /* each value received was audited; a request cancelled here may have been
   * (audited, then its reply not read): received <= audited <= the sum */
  printf("received_total=%llu cancelled=%llu\n", (unsigned long long)L.received_total,
         (unsigned long long)L.cancelled);
  return L.failed ? 1 : 0;
}
