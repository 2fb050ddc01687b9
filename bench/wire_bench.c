/*
 * wire_bench: figures for the TLS 1.3 transport (wire/tls.c), next to
 * OpenSSL's own s_server in the same run.
 *
 *   wire_bench [--seconds N]      (N seconds per point, default 3)
 *
 * 1. Handshakes. A P-256 PKI (root CA, server and client certificates) is
 *    generated in a temp dir. The same client, `openssl s_time -www`, drives
 *    (a) a single-threaded libuv server built on wire_tls (a forked child of
 *    this program, answering the HTTP GET like s_server -WWW does, then
 *    closing with close_notify) and (b) `openssl s_server -WWW -Verify`,
 *    with full handshakes (-new) and resumptions (-reuse). Mutual
 *    authentication, TLS 1.3, same certificates. The figure is connections
 *    per second of *server CPU* (from /proc/PID/schedstat), i.e. what one
 *    server core sustains, independent of how busy the shared machine is and
 *    of the client's own latency; wall-clock rates are printed too.
 * 2. Memory. A fresh server child; 1,000 TLS connections from this process
 *    (one libuv load generator), each echoes 1 KiB once and then sits idle;
 *    the server's VmRSS growth divided by 1,000 is printed "per connection".
 * 3. Transport round trips: 1 KiB echoed over 1, 100 and 1,000 established
 *    connections (one message in flight per connection), with the server's
 *    CPU per round trip.
 * 4. Sessions (wire/session.c) over TLS: for 1, 100 and 1,000 connections, a
 *    fresh session server child and one load-generator process holding that
 *    many async clients (wire/async_client.c): requests/s (session.echo of
 *    about 1 KiB each way, one in flight per connection) and pushes/s (256-
 *    byte bodies, 64 unacknowledged per connection, topped up on each ack),
 *    with the server's CPU per message. (No memory figure here: these
 *    servers are forked from a grown parent, whose resident pages they
 *    inherit; the memory line of 2. is from a server forked first.)
 *
 * A missing peer (the openssl command) is an error: exit 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <uv.h>

#include "tls_pki.h"
#include "wire/async_client.h"
#include "wire/session.h"
#include "wire/tls.h"

#define NCONN 1000
#define MSG 1024
#define MAX_HANDSHAKES_IN_FLIGHT 32

static char g_dir[64];
static pid_t g_children[4];
static int g_nchildren;

static void die(const char *what) {
  fprintf(stderr, "wire_bench: %s\n", what);
  for (int i = 0; i < g_nchildren; i++)
    if (g_children[i] > 0)
      kill(g_children[i], SIGKILL);
  if (g_dir[0]) {
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
      fprintf(stderr, "wire_bench: could not remove %s\n", g_dir);
  }
  exit(1);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time of a process, all threads, in seconds (ns precision). */
static double cpu_s(pid_t pid) {
  char path[64];
  unsigned long long run = 0;
  snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
  FILE *f = fopen(path, "r");
  if (!f || fscanf(f, "%llu", &run) != 1)
    die("cannot read /proc/PID/schedstat of the server");
  fclose(f);
  return (double)run / 1e9;
}

/* User-space CPU of a process in seconds (clock ticks: coarse). */
static double user_s(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f || !fgets(buf, sizeof(buf), f))
    die("cannot read /proc/PID/stat of the server");
  fclose(f);
  char *p = strrchr(buf, ')');
  unsigned long ut = 0;
  /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime */
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu", &ut) != 1)
    die("cannot parse /proc/PID/stat");
  return (double)ut / (double)sysconf(_SC_CLK_TCK);
}

static long rss_kib(pid_t pid) {
  char path[64], line[256];
  long kib = -1;
  snprintf(path, sizeof(path), "/proc/%d/status", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    die("cannot read /proc/PID/status of the server");
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
      break;
  fclose(f);
  return kib;
}

static void track(pid_t pid) {
  if (g_nchildren < (int)(sizeof(g_children) / sizeof(g_children[0])))
    g_children[g_nchildren++] = pid;
}

static void stop(pid_t pid) {
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
  for (int i = 0; i < g_nchildren; i++)
    if (g_children[i] == pid)
      g_children[i] = 0;
}

/* ------------------------------------------------------------------ */
/* The server: a single-threaded libuv loop in a forked child.         */

static const char http_reply[] = "HTTP/1.0 200 ok\r\nContent-type: text/plain\r\n\r\nhello\n";

static void srv_ready(struct wire_transport *t, void *ud) {}

static void srv_data(struct wire_transport *t, const uint8_t *buf, size_t len, void *ud) {
  if (len >= 4 && memcmp(buf, "GET ", 4) == 0) {
    /* Like s_server -WWW: answer, then end the connection. */
    wire_transport_write(t, http_reply, sizeof(http_reply) - 1);
    wire_transport_close(t);
    return;
  }
  wire_transport_write(t, buf, len); /* echo */
}

static void srv_close(struct wire_transport *t, int reason, void *ud) {}

static const struct wire_transport_cbs srv_cbs = {
    .on_ready = srv_ready, .on_data = srv_data, .on_close = srv_close};

static struct wire_tls_ctx *g_sctx;

static void srv_conn(uv_stream_t *l, int status) {
  if (status < 0)
    return;
  uv_tcp_t *tcp = malloc(sizeof(*tcp));
  if (!tcp || uv_tcp_init(l->loop, tcp) < 0) {
    free(tcp);
    return;
  }
  struct wire_tls *t;
  if (uv_accept(l, (uv_stream_t *)tcp) < 0 ||
      wire_tls_new(g_sctx, (uv_stream_t *)tcp, NULL, NULL, &srv_cbs, NULL, &t) < 0) {
    uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
    return;
  }
  uv_tcp_nodelay(tcp, 1);
}

static const char *path(const char *name, const char *ext) { return tls_pki_path(g_dir, name, ext); }

/* Fork the server; returns its pid and sets *port. */
static pid_t start_server(int *port) {
  int p[2];
  if (pipe(p) < 0)
    die("pipe");
  pid_t pid = fork();
  if (pid < 0)
    die("fork");
  if (pid == 0) {
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, SIG_DFL);
    struct wire_tls_config cfg = {
        .role = WIRE_TLS_SERVER,
        .ca_file = path("ca", "pem"),
        .cert_file = path("server", "pem"),
        .key_file = path("server", "key"),
    };
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t l;
    struct sockaddr_in a;
    int len = sizeof(a);
    uv_ip4_addr("127.0.0.1", 0, &a);
    if (wire_tls_ctx_new(&cfg, &g_sctx) < 0 || uv_tcp_init(loop, &l) < 0 ||
        uv_tcp_bind(&l, (struct sockaddr *)&a, 0) < 0 ||
        uv_listen((uv_stream_t *)&l, 4096, srv_conn) < 0 ||
        uv_tcp_getsockname(&l, (struct sockaddr *)&a, &len) < 0)
      _exit(1);
    int port_no = ntohs(a.sin_port);
    if (write(p[1], &port_no, sizeof(port_no)) != sizeof(port_no))
      _exit(1);
    close(p[1]);
    uv_run(loop, UV_RUN_DEFAULT);
    _exit(0);
  }
  close(p[1]);
  track(pid);
  if (read(p[0], port, sizeof(*port)) != sizeof(*port))
    die("the wire_tls server did not start");
  close(p[0]);
  return pid;
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t len = sizeof(a);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) < 0)
    die("cannot find a free port");
  close(fd);
  return ntohs(a.sin_port);
}

static bool port_open(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
  if (fd >= 0)
    close(fd);
  return ok;
}

static pid_t start_s_server(int port) {
  pid_t pid = fork();
  if (pid < 0)
    die("fork");
  if (pid == 0) {
    char acc[32];
    snprintf(acc, sizeof(acc), "127.0.0.1:%d", port);
    if (chdir(g_dir) < 0)
      _exit(126);
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    execlp("openssl", "openssl", "s_server", "-accept", acc, "-cert", path("server", "pem"),
           "-key", path("server", "key"), "-CAfile", path("ca", "pem"), "-Verify", "2",
           "-tls1_3", "-WWW", "-quiet", (char *)NULL);
    _exit(127);
  }
  track(pid);
  for (int i = 0; i < 200 && !port_open(port); i++)
    usleep(10000);
  if (!port_open(port))
    die("openssl s_server did not start");
  return pid;
}

/* Run s_time against port; returns the number of connections it made. */
static long run_s_time(int port, bool reuse, int seconds, double *ret_wall) {
  char cmd[1024];
  snprintf(cmd, sizeof(cmd),
           "openssl s_time -connect 127.0.0.1:%d -cert '%s' -key '%s' -CAfile '%s' %s -time %d "
           "-www /index.txt 2>&1",
           port, path("client", "pem"), path("client", "key"), path("ca", "pem"),
           reuse ? "-reuse" : "-new", seconds);
  double t0 = now_s();
  FILE *f = popen(cmd, "r");
  if (!f)
    die("cannot run openssl s_time");
  char line[8192];
  long n = -1, v;
  while (fgets(line, sizeof(line), f)) {
    /* "436 connections in 3 real seconds, ..." (reuse: the last one) */
    if (strstr(line, "real seconds") && sscanf(line, "%ld connections in", &v) == 1)
      n = v;
  }
  if (pclose(f) != 0 || n <= 0)
    die("openssl s_time failed (is the server up, do the certificates load?)");
  *ret_wall = now_s() - t0;
  return n;
}

struct hs_result {
  double per_cpu_s, per_wall_s;
  long conns;
};

static struct hs_result measure_hs(pid_t server, int port, bool reuse, int seconds) {
  double wall, c0 = cpu_s(server);
  long n = run_s_time(port, reuse, seconds, &wall);
  double c1 = cpu_s(server);
  struct hs_result r = {.conns = n, .per_wall_s = n / (double)seconds};
  r.per_cpu_s = c1 > c0 ? n / (c1 - c0) : 0;
  return r;
}

/* ------------------------------------------------------------------ */
/* The load generator: one libuv loop holding many TLS connections.     */

struct lconn {
  struct wire_tls_ctx *ctx;
  uv_connect_t creq;
  struct wire_transport *t;
  bool ready, active, idle_echo_done;
  size_t got;
  int id;
};

static struct {
  uv_loop_t *loop;
  struct sockaddr_in addr;
  struct wire_tls_ctx *cctx;
  struct lconn conns[NCONN];
  int started, ready, failed, idle_done, in_flight, limit;
  uint64_t round_trips;
  bool running;
  uint8_t msg[MSG];
} L;

static void l_start_one(void);

static void l_send(struct lconn *c) {
  c->got = 0;
  if (wire_transport_write(c->t, L.msg, MSG) < 0)
    L.failed++;
}

static void l_ready(struct wire_transport *t, void *ud) {
  struct lconn *c = ud;
  c->ready = true;
  L.ready++;
  L.in_flight--;
  l_send(c); /* one echo, then idle */
  l_start_one();
}

static void l_data(struct wire_transport *t, const uint8_t *buf, size_t len, void *ud) {
  struct lconn *c = ud;
  c->got += len;
  if (c->got < MSG)
    return;
  if (!c->idle_echo_done) {
    c->idle_echo_done = true;
    L.idle_done++;
    return;
  }
  L.round_trips++;
  if (L.running && c->active)
    l_send(c);
}

static void l_close(struct wire_transport *t, int reason, void *ud) {
  struct lconn *c = ud;
  if (!c->ready)
    L.in_flight--;
  c->t = NULL;
  L.failed++;
}

static const struct wire_transport_cbs l_cbs = {
    .on_ready = l_ready, .on_data = l_data, .on_close = l_close};

static void l_connected(uv_connect_t *req, int status) {
  struct lconn *c = req->data;
  struct wire_tls *t;
  if (status < 0 || wire_tls_new(L.cctx, req->handle, "localhost", NULL, &l_cbs, c, &t) < 0) {
    L.failed++;
    L.in_flight--;
    uv_close((uv_handle_t *)req->handle, (uv_close_cb)free);
    return;
  }
  uv_tcp_nodelay((uv_tcp_t *)req->handle, 1);
  c->t = wire_tls_transport(t);
}

static void l_start_one(void) {
  while (L.started < L.limit && L.in_flight < MAX_HANDSHAKES_IN_FLIGHT) {
    struct lconn *c = &L.conns[L.started];
    c->id = L.started++;
    uv_tcp_t *tcp = malloc(sizeof(*tcp));
    if (!tcp || uv_tcp_init(L.loop, tcp) < 0)
      die("out of memory");
    c->creq.data = c;
    L.in_flight++;
    if (uv_tcp_connect(&c->creq, tcp, (struct sockaddr *)&L.addr, l_connected) < 0)
      die("connect");
  }
}

static void tick(uv_timer_t *t) {}

static void run_for(double seconds, bool (*done)(void)) {
  double end = now_s() + seconds;
  uv_timer_t ticker; /* wakes the loop to look at the clock */
  uv_timer_init(L.loop, &ticker);
  uv_timer_start(&ticker, tick, 20, 20);
  while (now_s() < end && !(done && done()) && L.failed == 0)
    uv_run(L.loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&ticker, NULL);
  uv_run(L.loop, UV_RUN_NOWAIT);
}

static bool all_idle(void) { return L.idle_done == L.limit; }

struct rt {
  double per_s, cpu_us, user_us;
};

static struct rt echo_phase(pid_t server, int n, double seconds) {
  L.round_trips = 0;
  L.running = true;
  double c0 = cpu_s(server), u0 = user_s(server), t0 = now_s();
  for (int i = 0; i < n; i++) {
    L.conns[i].active = true;
    l_send(&L.conns[i]);
  }
  run_for(seconds, NULL);
  L.running = false;
  double t1 = now_s(), c1 = cpu_s(server), u1 = user_s(server);
  uint64_t n_rt = L.round_trips;
  /* Let the last messages come back so the connections are idle again. */
  run_for(0.5, NULL);
  for (int i = 0; i < n; i++)
    L.conns[i].active = false;
  struct rt r = {.per_s = n_rt / (t1 - t0),
                 .cpu_us = n_rt ? (c1 - c0) * 1e6 / n_rt : 0,
                 .user_us = n_rt ? (u1 - u0) * 1e6 / n_rt : 0};
  return r;
}


/* ---- sessions: a session server process and a load generator ----
 *
 * The server answers session.echo with the data (1 KiB) and, once a
 * session has sent "ping", keeps PUSH_WINDOW pushes of PUSH_BODY bytes
 * unacknowledged on it (topped up on every ack). The load generator is one
 * process holding n async clients (wire/async_client.h). */

#define PUSH_WINDOW 64
#define PUSH_BODY 256

struct bsess {
  struct wire_pushq *q;
  bool pushing;
};

static char g_body[PUSH_BODY + 1];

static void pack_body(msgpack_packer *pk, void *ud) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_str(pk, "x", g_body);
}

static void top_up(struct bsess *b) {
  while (wire_pushq_last(b->q) - wire_pushq_acked(b->q) < PUSH_WINDOW)
    if (wire_pushq_push(b->q, "bench", pack_body, NULL) < 0)
      break;
}

static int bs_hello(struct wire_session *s, const struct wire_hello *h, void *ud) {
  struct bsess *b = ud;
  return wire_session_attach_pushq(s, b->q);
}

struct echo_arg {
  const char *p;
  size_t n;
};

static void pack_echo_result(msgpack_packer *pk, void *ud) {
  struct echo_arg *e = ud;
  msgpack_pack_map(pk, 1);
  wire_pack_str(pk, "data");
  msgpack_pack_str(pk, e->n);
  msgpack_pack_str_body(pk, e->p, e->n);
}

static void bs_request(struct wire_session *s, const struct wire_request *req, void *ud) {
  struct bsess *b = ud;
  if (!wire_role_allows(req->opcode, wire_session_role(s))) {
    wire_session_reply_error(s, req->id, -EPERM, "not for your role");
    return;
  }
  if (req->opcode == WIRE_OP_PING) {
    b->pushing = true;
    wire_session_reply_ok(s, req->id, NULL, NULL);
    top_up(b);
    return;
  }
  const msgpack_object *d = wire_map_get(req->args, "data");
  struct echo_arg e = {d ? d->via.str.ptr : "", d ? d->via.str.size : 0};
  wire_session_reply_ok(s, req->id, pack_echo_result, &e);
}

static void bs_ack(struct wire_session *s, uint64_t seq, void *ud) {
  struct bsess *b = ud;
  if (b->pushing)
    top_up(b);
}

static void bs_close(struct wire_session *s, int reason, void *ud) {
  struct bsess *b = ud;
  wire_pushq_free(b->q);
  free(b);
}

static const struct wire_session_cbs bs_cbs = {
    .on_hello = bs_hello, .on_request = bs_request, .on_ack = bs_ack, .on_close = bs_close};

static uint32_t bs_role(const struct wire_peer *p, void *ud) {
  return p->leaf ? WIRE_ROLE_WORKER : 0;
}

static void bs_conn(uv_stream_t *l, int status) {
  if (status < 0)
    return;
  uv_tcp_t *tcp = malloc(sizeof(*tcp));
  struct bsess *b = calloc(1, sizeof(*b));
  struct wire_session *s = NULL;
  struct wire_tls *t;
  struct wire_session_opts o = {
      .loop = l->loop, .side = WIRE_SESSION_SERVER, .resolve_role = bs_role};
  if (!tcp || !b || uv_tcp_init(l->loop, tcp) < 0) {
    free(tcp);
    free(b);
    return;
  }
  if (uv_accept(l, (uv_stream_t *)tcp) < 0 || wire_pushq_new(0, &b->q) < 0 ||
      wire_session_new(&o, &bs_cbs, b, &s) < 0 ||
      wire_tls_new(g_sctx, (uv_stream_t *)tcp, NULL, NULL, wire_session_transport_cbs(), s,
                   &t) < 0) {
    wire_session_free(s);
    wire_pushq_free(b->q);
    free(b);
    uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
    return;
  }
  uv_tcp_nodelay(tcp, 1);
  wire_session_attach(s, wire_tls_transport(t));
}

/* Fork the session server; returns its pid and sets *port. */
static pid_t start_session_server(int *port) {
  int p[2];
  if (pipe(p) < 0)
    die("pipe");
  pid_t pid = fork();
  if (pid < 0)
    die("fork");
  if (pid == 0) {
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, SIG_DFL);
    memset(g_body, 'p', PUSH_BODY);
    struct wire_tls_config cfg = {
        .role = WIRE_TLS_SERVER,
        .ca_file = path("ca", "pem"),
        .cert_file = path("server", "pem"),
        .key_file = path("server", "key"),
    };
    uv_loop_t *loop = uv_loop_new();
    uv_tcp_t l;
    struct sockaddr_in a;
    int len = sizeof(a);
    uv_ip4_addr("127.0.0.1", 0, &a);
    if (!loop || wire_tls_ctx_new(&cfg, &g_sctx) < 0 || uv_tcp_init(loop, &l) < 0 ||
        uv_tcp_bind(&l, (struct sockaddr *)&a, 0) < 0 ||
        uv_listen((uv_stream_t *)&l, 4096, bs_conn) < 0 ||
        uv_tcp_getsockname(&l, (struct sockaddr *)&a, &len) < 0)
      _exit(1);
    int port_no = ntohs(a.sin_port);
    if (write(p[1], &port_no, sizeof(port_no)) != sizeof(port_no))
      _exit(1);
    close(p[1]);
    uv_run(loop, UV_RUN_DEFAULT);
    _exit(0);
  }
  close(p[1]);
  track(pid);
  if (read(p[0], port, sizeof(*port)) != sizeof(*port))
    die("the session server did not start");
  close(p[0]);
  return pid;
}

static struct {
  struct wire_aclient *c[NCONN];
  int n, started, up, down;
  bool running;
  uint64_t replies, pushes, errors;
  char data[MSG + 1];
  int port;
} G;

static void g_start_more(void);

static void g_up(struct wire_aclient *c, uint32_t version, void *ud) {
  G.up++;
  g_start_more();
}

static void g_down(struct wire_aclient *c, int reason, void *ud) { G.down++; }

static void g_push(struct wire_aclient *c, const struct wire_push *p, void *ud) { G.pushes++; }

static const struct wire_aclient_cbs g_cbs = {.on_up = g_up, .on_down = g_down, .on_push = g_push};

static void g_start_more(void) {
  while (G.started < G.n && G.started - G.up < MAX_HANDSHAKES_IN_FLIGHT) {
    struct wire_aclient_opts o = {
        .loop = L.loop, .host = "127.0.0.1", .port = G.port, .tls = L.cctx,
        .server_name = "localhost"};
    if (wire_aclient_new(&o, &g_cbs, NULL, &G.c[G.started]) < 0)
      die("cannot create an async client");
    G.started++;
  }
}

static void pack_data(msgpack_packer *pk, void *ud) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_str(pk, "data", G.data);
}

static void g_reply(struct wire_session *s, int status, const struct wire_response *r, void *ud);

static void g_call(struct wire_aclient *c) {
  if (wire_aclient_call(c, WIRE_OP_SESSION_ECHO, pack_data, NULL, g_reply, c) < 0)
    G.errors++;
}

static void g_reply(struct wire_session *s, int status, const struct wire_response *r, void *ud) {
  if (status < 0 || !r->ok) {
    G.errors++;
    return;
  }
  G.replies++;
  if (G.running)
    g_call(ud);
}

static bool g_all_up(void) { return G.up >= G.n; }

static void g_noop_reply(struct wire_session *s, int status, const struct wire_response *r,
                         void *ud) {}

struct sess_result {
  double req_s, req_cpu_us, push_s, push_cpu_us;
};

static struct sess_result session_phase(int n, double seconds) {
  struct sess_result res = {0};
  memset(&G, 0, sizeof(G));
  memset(G.data, 'r', MSG - 64); /* with the envelope, about 1 KiB each way */
  pid_t srv = start_session_server(&G.port);
  G.n = n;
  g_start_more();
  run_for(120, g_all_up);
  if (G.up < n || G.down)
    die("could not establish the session connections");
  run_for(0.2, NULL);

  /* requests: one in flight per connection */
  G.running = true;
  double c0 = cpu_s(srv), t0 = now_s();
  for (int i = 0; i < n; i++)
    g_call(G.c[i]);
  run_for(seconds, NULL);
  G.running = false;
  double t1 = now_s(), c1 = cpu_s(srv);
  uint64_t n_req = G.replies;
  run_for(0.5, NULL);
  res.req_s = n_req / (t1 - t0);
  res.req_cpu_us = n_req ? (c1 - c0) * 1e6 / n_req : 0;

  /* pushes: each connection asks once, then the server keeps a window open */
  G.pushes = 0;
  for (int i = 0; i < n; i++)
    wire_aclient_call(G.c[i], WIRE_OP_PING, NULL, NULL, g_noop_reply, NULL);
  run_for(0.3, NULL);
  uint64_t p0 = G.pushes;
  c0 = cpu_s(srv);
  t0 = now_s();
  run_for(seconds, NULL);
  t1 = now_s();
  c1 = cpu_s(srv);
  uint64_t n_push = G.pushes - p0;
  res.push_s = n_push / (t1 - t0);
  res.push_cpu_us = n_push ? (c1 - c0) * 1e6 / n_push : 0;
  if (G.errors || G.down)
    die("a session failed during the measurement");
  for (int i = 0; i < n; i++)
    wire_aclient_free(G.c[i]);
  run_for(0.3, NULL);
  stop(srv);
  return res;
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv) {
  int seconds = 3;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
      seconds = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: wire_bench [--seconds N]\n");
      return 2;
    }
  }
  if (seconds < 1)
    seconds = 1;
  signal(SIGPIPE, SIG_IGN);
  if (system("openssl version >/dev/null 2>&1") != 0)
    die("peer missing: the openssl command (Debian package openssl) is needed for s_server/s_time");

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4 * NCONN) {
    rl.rlim_cur = rl.rlim_max < 4 * NCONN ? rl.rlim_max : 4 * NCONN;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < 2 * NCONN + 64)
    die("RLIMIT_NOFILE too low for 1,000 connections and cannot be raised");

  snprintf(g_dir, sizeof(g_dir), "/tmp/wire_bench.XXXXXX");
  if (!mkdtemp(g_dir))
    die("mkdtemp");
  if (tls_pki_ca(g_dir, "ca") < 0 || tls_pki_leaf(g_dir, "ca", "server", TLS_PKI_SERVER, 86400) < 0 ||
      tls_pki_leaf(g_dir, "ca", "client", TLS_PKI_CLIENT, 86400) < 0)
    die("cannot generate the test PKI");
  FILE *f = fopen(path("index", "txt"), "w");
  if (!f || fputs("hello\n", f) < 0 || fclose(f) != 0)
    die("cannot write index.txt");

  char ver[128] = "?";
  FILE *vf = popen("openssl version", "r");
  if (vf) {
    if (!fgets(ver, sizeof(ver), vf))
      snprintf(ver, sizeof(ver), "?\n");
    pclose(vf);
  }
  printf("# wire_bench: TLS 1.3, mutual authentication, P-256 certificates (ECDSA-SHA256) on both\n"
         "# sides, loopback TCP, server single-threaded; %ld cores online; peer: %s",
         sysconf(_SC_NPROCESSORS_ONLN), ver);
  printf("# client for both servers: openssl s_time -www (one connection at a time); rates are\n"
         "# per second of server CPU (/proc/PID/schedstat), i.e. what one server core sustains\n\n");

  /* 1. Handshakes: wire_tls server vs s_server, same client. */
  int wport;
  pid_t wsrv = start_server(&wport);
  struct hs_result w_new = measure_hs(wsrv, wport, false, seconds);
  struct hs_result w_re = measure_hs(wsrv, wport, true, seconds);
  stop(wsrv);
  int oport = free_port();
  pid_t osrv = start_s_server(oport);
  struct hs_result o_new = measure_hs(osrv, oport, false, seconds);
  struct hs_result o_re = measure_hs(osrv, oport, true, seconds);
  stop(osrv);

  printf("%-44s %12s %12s %8s\n", "", "wire_tls", "s_server", "ratio");
  printf("%-44s %12.0f %12.0f %8.2f\n", "full handshakes/s per server core", w_new.per_cpu_s,
         o_new.per_cpu_s, o_new.per_cpu_s > 0 ? w_new.per_cpu_s / o_new.per_cpu_s : 0);
  printf("%-44s %12.0f %12.0f %8.2f\n", "resumptions/s per server core", w_re.per_cpu_s,
         o_re.per_cpu_s, o_re.per_cpu_s > 0 ? w_re.per_cpu_s / o_re.per_cpu_s : 0);
  printf("%-44s %12.0f %12.0f\n", "  (wall clock: full handshakes/s, 1 client)", w_new.per_wall_s,
         o_new.per_wall_s);
  printf("%-44s %12.0f %12.0f\n", "  (wall clock: resumptions/s, 1 client)", w_re.per_wall_s,
         o_re.per_wall_s);
  printf("# reference on this machine kind: s_server ~650 full, ~1,360 resumed per core\n\n");
  fflush(stdout);

  /* 2. Memory per idle connection, on a fresh server. */
  wsrv = start_server(&wport);
  L.loop = uv_default_loop();
  memset(L.msg, 'x', sizeof(L.msg));
  uv_ip4_addr("127.0.0.1", wport, &L.addr);
  struct wire_tls_config ccfg = {
      .role = WIRE_TLS_CLIENT,
      .ca_file = path("ca", "pem"),
      .cert_file = path("client", "pem"),
      .key_file = path("client", "key"),
  };
  if (wire_tls_ctx_new(&ccfg, &L.cctx) < 0)
    die("cannot load the client certificate");
  /* Warm the server (code pages, OpenSSL's lazy tables) with one
   * connection that then closes; then the baseline. */
  {
    struct lconn *c = &L.conns[0];
    L.limit = 1;
    l_start_one();
    run_for(10, all_idle);
    if (L.idle_done != 1)
      die("warm-up connection failed");
    wire_transport_close(c->t);
    memset(c, 0, sizeof(*c));
    L.started = L.ready = L.idle_done = L.in_flight = 0;
    run_for(0.3, NULL);
  }
  usleep(200000);
  long rss0 = rss_kib(wsrv);
  double t0 = now_s();
  L.limit = NCONN;
  l_start_one();
  run_for(120, all_idle);
  if (L.idle_done != NCONN || L.failed) {
    fprintf(stderr, "wire_bench: started %d, ready %d, echoed %d, failed %d, in flight %d\n",
            L.started, L.ready, L.idle_done, L.failed, L.in_flight);
    die("could not establish 1,000 TLS connections");
  }
  double hs_wall = now_s() - t0;
  run_for(0.3, NULL);
  long rss1 = rss_kib(wsrv);
  printf("server resident memory per connection: %.1f KiB (goal <= 64 KiB; %d idle TLS connections,\n"
         "  VmRSS %ld -> %ld KiB; established in %.1f s by one load-generator process)\n\n",
         (double)(rss1 - rss0) / NCONN, NCONN, rss0, rss1, hs_wall);
  fflush(stdout);

  /* 3. Transport round trips. */
  printf("%-40s %14s %16s %18s\n", "transport: 1 KiB echo over TLS", "round trips/s",
         "server CPU/rt", "of which user/rt");
  int ns[] = {1, 100, NCONN};
  for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
    struct rt r = echo_phase(wsrv, ns[i], seconds);
    if (L.failed)
      die("a connection failed during the echo phase");
    char label[64];
    snprintf(label, sizeof(label), "  %d connection%s", ns[i], ns[i] > 1 ? "s" : "");
    printf("%-40s %14.0f %13.1f us %15.1f us\n", label, r.per_s, r.cpu_us, r.user_us);
    fflush(stdout);
  }

  for (int i = 0; i < NCONN; i++)
    wire_transport_close(L.conns[i].t);
  run_for(0.5, NULL);
  stop(wsrv);

  /* 4. Sessions (wire/session.h) over established TLS connections: requests
   * (1 KiB each way, one in flight per connection) and pushes (a window of
   * 64 unacknowledged per connection), one load-generator process. */
  printf("\nsessions over TLS (wire/session + wire/async_client; server CPU per message)\n");
  printf("%-22s %12s %12s %12s %12s\n", "", "requests/s", "CPU/request", "pushes/s",
         "CPU/push");
  for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
    struct sess_result r = session_phase(ns[i], seconds);
    char label[64];
    snprintf(label, sizeof(label), "  %d connection%s", ns[i], ns[i] > 1 ? "s" : "");
    printf("%-22s %12.0f %9.1f us %12.0f %9.1f us\n", label, r.req_s, r.req_cpu_us, r.push_s,
           r.push_cpu_us);
    fflush(stdout);
  }
  printf("# reference: a 1 KiB request and response on an open TLS connection ~3 us of CPU\n");
  wire_tls_ctx_free(L.cctx);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
  if (system(cmd) != 0)
    fprintf(stderr, "wire_bench: could not remove %s\n", g_dir);
  return 0;
}
