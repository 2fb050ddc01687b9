/*
 * listen_load: one load-generator process holding N sessions to secretd's
 * --listen with node certificates (wire/async_client.c over TLS 1.3, the
 * agent's own client), for bench/listen_bench.sh.
 *
 *   listen_load HOST:PORT SECRETD_PID N STATE_DIR...
 *
 * Each STATE_DIR is a joined agent's (node.crt, node.key, ca.crt, DER); the
 * N sessions use them round-robin. Prints secretd's VmRSS before the first
 * connection and once all N sessions are up (each has said node.hello and
 * had its reply), and the growth per session. Exits 1 if not all N sessions
 * come up within 120 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <uv.h>

#include "bench/node_session.h"
#include "wire/async_client.h"
#include "wire/msg.h"
#include "wire/tls.h"

#define MAX_NODES 64

static struct {
  uv_loop_t loop;
  struct wire_aclient **c;
  unsigned n, started, up, hello, down;
  struct wire_tls_ctx *ctx[MAX_NODES];
  unsigned nctx;
  char host[64];
  int port;
} L;

static void pack_hello(msgpack_packer *pk, void *ud) {
  (void)ud;
  msgpack_pack_map(pk, 1);
  wire_pack_kv_str(pk, "hostname", "listen-load");
}

static void on_hello(struct wire_session *s, int status, const struct wire_response *resp,
                     void *ud) {
  (void)s;
  (void)ud;
  if (status == 0 && resp->ok)
    L.hello++;
}

static void on_up(struct wire_aclient *c, uint32_t v, void *ud) {
  (void)v;
  (void)ud;
  L.up++;
  wire_aclient_call(c, WIRE_OP_NODE_HELLO, pack_hello, NULL, on_hello, NULL);
}

static void on_down(struct wire_aclient *c, int reason, void *ud) {
  (void)c;
  (void)reason;
  (void)ud;
  L.down++;
}

static const struct wire_aclient_cbs cbs = {.on_up = on_up, .on_down = on_down};

/* Start connections in steps, so that the listen backlog is not flooded. */
static void start_more(uv_timer_t *t) {
  (void)t;
  for (unsigned k = 0; k < 50 && L.started < L.n && L.started - L.hello < 100; k++) {
    struct wire_aclient_opts o = {.loop = &L.loop,
                                  .host = L.host,
                                  .port = L.port,
                                  .tls = L.ctx[L.started % L.nctx],
                                  .backoff_min_ms = 100,
                                  .backoff_max_ms = 2000};
    if (wire_aclient_new(&o, &cbs, NULL, &L.c[L.started]) < 0) {
      fprintf(stderr, "listen_load: cannot start a client\n");
      exit(1);
    }
    L.started++;
  }
}

static void stop_loop(uv_timer_t *t) { uv_stop(t->loop); }

static void check(uv_timer_t *t) {
  if (L.hello >= L.n)
    uv_stop(t->loop);
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: listen_load HOST:PORT SECRETD_PID N STATE_DIR...\n");
    return 2;
  }
  const char *colon = strrchr(argv[1], ':');
  if (!colon || (size_t)(colon - argv[1]) >= sizeof(L.host))
    return 2;
  memcpy(L.host, argv[1], (size_t)(colon - argv[1]));
  L.port = atoi(colon + 1);
  int pid = atoi(argv[2]);
  L.n = (unsigned)atoi(argv[3]);
  struct rlimit rl = {L.n + 256, L.n + 256};
  setrlimit(RLIMIT_NOFILE, &rl);
  for (int i = 4; i < argc && L.nctx < MAX_NODES; i++)
    if (!(L.ctx[L.nctx++] = bench_node_tls_ctx(argv[i]))) {
      fprintf(stderr, "listen_load: %s: cannot load the node certificate\n", argv[i]);
      return 1;
    }
  L.c = calloc(L.n, sizeof(*L.c));
  uv_loop_init(&L.loop);
  long before = bench_rss_kib(pid, false);
  if (before < 0) {
    fprintf(stderr, "listen_load: no process %d\n", pid);
    return 1;
  }
  uv_timer_t starter, checker, deadline;
  uv_timer_init(&L.loop, &starter);
  uv_timer_init(&L.loop, &checker);
  uv_timer_init(&L.loop, &deadline);
  uv_timer_start(&starter, start_more, 0, 10);
  uv_timer_start(&checker, check, 50, 50);
  uv_timer_start(&deadline, stop_loop, 120000, 0);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  uv_run(&L.loop, UV_RUN_DEFAULT);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  if (L.hello < L.n) {
    fprintf(stderr, "listen_load: only %u of %u sessions came up (%u losses)\n", L.hello, L.n,
            L.down);
    return 1;
  }
  /* let secretd settle (the liveness writer's first tick, freed buffers) */
  uv_timer_stop(&starter);
  uv_timer_stop(&deadline);
  uv_timer_stop(&checker);
  uv_timer_start(&deadline, stop_loop, 1500, 0);
  uv_run(&L.loop, UV_RUN_DEFAULT);
  long after = bench_rss_kib(pid, false);
  printf("sessions: %u with %u node certificates, all up (hello answered) in %.2f s, %u "
         "losses\n",
         L.n, L.nctx, secs, L.down);
  printf("secretd VmRSS: %ld KiB before, %ld KiB with %u sessions: %.1f KiB per connected "
         "agent (goal <= 64)\n",
         before, after, L.n, (double)(after - before) / L.n);
  for (unsigned i = 0; i < L.n; i++)
    wire_aclient_free(L.c[i]);
  uv_timer_start(&deadline, stop_loop, 200, 0);
  uv_run(&L.loop, UV_RUN_DEFAULT);
  return 0;
}
