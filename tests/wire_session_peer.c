/*
 * wire_session_peer: a test program for sessions over TLS between real
 * processes, with PEM certificates that the calling test generates
 * (tests/wire_session_tls.sh uses the openssl command).
 *
 *   wire_session_peer serve  --ca F --cert F --key F [--versions 1|2|12]
 *                            [--pushes N] [--drop-after K] [--handshake-ms MS]
 *       Listens on 127.0.0.1 (port printed as "port N"), serves sessions:
 *       worker role for a peer with a certificate; ping and session.echo
 *       (roles checked before any handler); N pushes to each receiver (one
 *       push queue per certificate common name, kept across its sessions);
 *       with --drop-after, a receiver's session is dropped each time K more
 *       of its pushes were acknowledged (it must reconnect and resume).
 *       Prints one line per session end: "end <reason>". Runs until killed.
 *   wire_session_peer client --ca F --cert F --key F --port P [--versions ..]
 *                            [--echo DATA] [--op NAME] [--pushes N] [--wait-ms MS]
 *       (--op: call NAME instead of session.echo, without args, once up)
 *       The async client: prints "up <version>", the echo's answer
 *       ("echo <data>" or "error <code>"), then waits for N pushes and
 *       prints "pushes <n> in-order <0|1> sessions <s>". Exit 0 when all that
 *       happened within the wait (default 10 s), 1 otherwise.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>
#include <uv.h>

#include "base/error.h"
#include "wire/async_client.h"
#include "wire/session.h"
#include "wire/tls.h"

static const char *opt(int argc, char **argv, const char *name, const char *def) {
  for (int i = 2; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0)
      return argv[i + 1];
  return def;
}

static uint32_t versions_of(const char *s) {
  uint32_t v = 0;
  for (; *s; s++)
    if (*s >= '1' && *s <= '9')
      v |= WIRE_VERSION_BIT(*s - '0');
  return v;
}

static uv_loop_t *loop;

/* ---- server ---- */

#define RECEIVERS 16

static struct receiver {
  char cn[80];
  struct wire_pushq *q;
  uint64_t next_drop;
} rx[RECEIVERS];
static unsigned n_pushes, drop_after;
static struct wire_tls_ctx *sctx;

static uint32_t role_of(const struct wire_peer *p, void *ud) {
  (void)ud;
  return p->kind == WIRE_PEER_TLS && p->leaf ? WIRE_ROLE_WORKER : 0;
}

static void pack_n(msgpack_packer *pk, void *ud) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_uint(pk, "n", *(uint64_t *)ud);
}

#define PUSH_WINDOW 10 /* unacknowledged pushes per receiver: a dropped session loses some */

static struct receiver *receiver_of(struct wire_session *s, bool create) {
  struct wire_peer p;
  char cn[80] = "";
  if (wire_session_peer(s, &p) < 0 || !p.leaf)
    return NULL;
  X509_NAME_get_text_by_NID(X509_get_subject_name(p.leaf), NID_commonName, cn, sizeof(cn));
  for (unsigned i = 0; i < RECEIVERS; i++)
    if (rx[i].q && strcmp(rx[i].cn, cn) == 0)
      return &rx[i];
  for (unsigned i = 0; i < RECEIVERS && create; i++)
    if (!rx[i].q) {
      snprintf(rx[i].cn, sizeof(rx[i].cn), "%s", cn);
      if (wire_pushq_new(0, &rx[i].q) < 0)
        return NULL;
      rx[i].next_drop = drop_after;
      return &rx[i];
    }
  return NULL;
}

/* Pushes numbered 1..n_pushes, at most PUSH_WINDOW unacknowledged. */
static void top_up(struct receiver *r) {
  while (wire_pushq_last(r->q) < n_pushes && wire_pushq_last(r->q) - wire_pushq_acked(r->q) < PUSH_WINDOW) {
    uint64_t n = wire_pushq_last(r->q) + 1;
    if (wire_pushq_push(r->q, "test.push", pack_n, &n) < 0)
      return;
  }
}

static int s_hello(struct wire_session *s, const struct wire_hello *h, void *ud) {
  (void)h;
  (void)ud;
  if (!(wire_session_features(s) & WIRE_FEAT_PUSH))
    return 0;
  struct receiver *r = receiver_of(s, true);
  if (!r)
    return -EUSERS;
  int rc = wire_session_attach_pushq(s, r->q);
  top_up(r);
  return rc;
}

static void pack_echo(msgpack_packer *pk, void *ud) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_str(pk, "data", ud);
}

static void s_request(struct wire_session *s, const struct wire_request *req, void *ud) {
  char data[1100] = "";
  (void)ud;
  if (!wire_role_allows(req->opcode, wire_session_role(s))) {
    wire_session_reply_error(s, req->id, SD_E_DENIED, "permission denied: not for your role");
    return;
  }
  (void)wire_get_str(req->args, "data", data, sizeof(data));
  wire_session_reply_ok(s, req->id, pack_echo, data);
}

static void s_ack(struct wire_session *s, uint64_t seq, void *ud) {
  (void)ud;
  struct receiver *r = receiver_of(s, false);
  if (!r)
    return;
  if (drop_after && seq >= r->next_drop && seq < n_pushes) {
    r->next_drop = seq + drop_after;
    printf("end dropped-after %llu\n", (unsigned long long)seq);
    fflush(stdout);
    wire_session_drop(s, -ECONNABORTED, "test: dropped to make the client resume");
    return;
  }
  top_up(r);
}

static void s_close(struct wire_session *s, int reason, void *ud) {
  (void)s;
  (void)ud;
  printf("end %d\n", reason);
  fflush(stdout);
}

static const struct wire_session_cbs s_cbs = {
    .on_hello = s_hello, .on_request = s_request, .on_ack = s_ack, .on_close = s_close};
static struct wire_session_opts s_opts;

static void on_conn(uv_stream_t *l, int status) {
  uv_tcp_t *tcp = malloc(sizeof(*tcp));
  struct wire_session *s = NULL;
  struct wire_tls *t;
  if (status < 0 || !tcp || uv_tcp_init(loop, tcp) < 0) {
    free(tcp);
    return;
  }
  if (uv_accept(l, (uv_stream_t *)tcp) < 0 || wire_session_new(&s_opts, &s_cbs, NULL, &s) < 0 ||
      wire_tls_new(sctx, (uv_stream_t *)tcp, NULL, NULL, wire_session_transport_cbs(), s, &t) < 0) {
    wire_session_free(s);
    uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
    return;
  }
  wire_session_attach(s, wire_tls_transport(t));
}

static int serve(int argc, char **argv) {
  struct wire_tls_config cfg = {
      .role = WIRE_TLS_SERVER,
      .ca_file = opt(argc, argv, "--ca", NULL),
      .cert_file = opt(argc, argv, "--cert", NULL),
      .key_file = opt(argc, argv, "--key", NULL),
      .handshake_timeout_ms = (unsigned)atoi(opt(argc, argv, "--handshake-ms", "0")),
  };
  uv_tcp_t l;
  struct sockaddr_in a;
  int len = sizeof(a), r;
  n_pushes = (unsigned)atoi(opt(argc, argv, "--pushes", "0"));
  drop_after = (unsigned)atoi(opt(argc, argv, "--drop-after", "0"));
  s_opts = (struct wire_session_opts){
      .loop = loop,
      .side = WIRE_SESSION_SERVER,
      .versions = versions_of(opt(argc, argv, "--versions", "12")),
      .resolve_role = role_of,
  };
  if ((r = wire_tls_ctx_new(&cfg, &sctx)) < 0) {
    fprintf(stderr, "wire_session_peer: cannot load the certificates: %s\n", sd_strerror(r));
    return 1;
  }
  uv_ip4_addr("127.0.0.1", 0, &a);
  if (uv_tcp_init(loop, &l) < 0 || uv_tcp_bind(&l, (struct sockaddr *)&a, 0) < 0 ||
      uv_listen((uv_stream_t *)&l, 128, on_conn) < 0 ||
      uv_tcp_getsockname(&l, (struct sockaddr *)&a, &len) < 0) {
    fprintf(stderr, "wire_session_peer: cannot listen\n");
    return 1;
  }
  printf("port %d\n", ntohs(a.sin_port));
  fflush(stdout);
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}

/* ---- client ---- */

static struct {
  struct wire_aclient *c;
  const char *echo, *op;
  unsigned want_pushes;
  uint64_t last;
  unsigned pushes, bad_order;
  bool echoed, echo_sent, failed;
  uv_timer_t deadline, done;
} C;

static void finish_if_done(void);
static void done_tick(uv_timer_t *t);

static void c_reply(struct wire_session *s, int status, const struct wire_response *r, void *ud) {
  char data[1100] = "";
  (void)s;
  (void)ud;
  if (status < 0) {
    printf("error %d\n", status);
    C.echo_sent = false; /* asked again on the next session */
    return;
  }
  if (r->ok) {
    (void)wire_get_str(r->result, "data", data, sizeof(data));
    printf("echo %s\n", data);
  } else {
    printf("error %d %s\n", r->code, r->error);
  }
  fflush(stdout);
  C.echoed = true;
  finish_if_done();
}

static void pack_data(msgpack_packer *pk, void *ud) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_str(pk, "data", ud);
}

static void c_up(struct wire_aclient *c, uint32_t version, void *ud) {
  (void)ud;
  printf("up %u\n", version);
  fflush(stdout);
  if (C.echo && !C.echoed && !C.echo_sent) {
    C.echo_sent = true;
    bool with_data = strcmp(C.op, "session.echo") == 0; /* other ops: no args */
    if (wire_aclient_call_name(c, C.op, with_data ? pack_data : NULL, (void *)C.echo, c_reply,
                               NULL) < 0)
      C.failed = true;
  }
  finish_if_done();
}

static void c_down(struct wire_aclient *c, int reason, void *ud) {
  (void)c;
  (void)ud;
  printf("down %d\n", reason);
  fflush(stdout);
}

static void c_push(struct wire_aclient *c, const struct wire_push *p, void *ud) {
  uint64_t n = 0;
  (void)c;
  (void)ud;
  if (wire_get_uint(p->body, "n", &n) < 0 || n != p->seq || p->seq != C.last + 1)
    C.bad_order++;
  C.last = p->seq;
  C.pushes++;
  if (C.pushes >= C.want_pushes)
    uv_timer_start(&C.done, done_tick, 50, 0); /* after the ack went out */
}

static void done_tick(uv_timer_t *t) {
  (void)t;
  finish_if_done();
}

static void report_and_stop(void) {
  if (C.want_pushes)
    printf("pushes %u in-order %d sessions %u\n", C.pushes, C.bad_order == 0,
           wire_aclient_sessions(C.c));
  fflush(stdout);
  wire_aclient_free(C.c);
  C.c = NULL;
  uv_close((uv_handle_t *)&C.deadline, NULL);
  uv_close((uv_handle_t *)&C.done, NULL);
}

static void finish_if_done(void) {
  if (!C.c)
    return;
  if ((!C.echo || C.echoed) && C.pushes >= C.want_pushes && wire_aclient_sessions(C.c) > 0)
    report_and_stop();
}

static void deadline_hit(uv_timer_t *t) {
  (void)t;
  C.failed = true;
  printf("timeout\n");
  report_and_stop();
}

static int client(int argc, char **argv) {
  struct wire_tls_config cfg = {
      .role = WIRE_TLS_CLIENT,
      .ca_file = opt(argc, argv, "--ca", NULL),
      .cert_file = opt(argc, argv, "--cert", NULL),
      .key_file = opt(argc, argv, "--key", NULL),
  };
  struct wire_tls_ctx *cctx;
  static const struct wire_aclient_cbs cbs = {.on_up = c_up, .on_down = c_down, .on_push = c_push};
  int r;
  if ((r = wire_tls_ctx_new(&cfg, &cctx)) < 0) {
    fprintf(stderr, "wire_session_peer: cannot load the certificates: %s\n", sd_strerror(r));
    return 1;
  }
  C.echo = opt(argc, argv, "--echo", NULL);
  C.op = opt(argc, argv, "--op", "session.echo");
  C.want_pushes = (unsigned)atoi(opt(argc, argv, "--pushes", "0"));
  struct wire_aclient_opts o = {
      .loop = loop,
      .host = "127.0.0.1",
      .port = atoi(opt(argc, argv, "--port", "0")),
      .tls = cctx,
      .server_name = "localhost",
      .versions = versions_of(opt(argc, argv, "--versions", "12")),
      .backoff_min_ms = 50,
      .backoff_max_ms = 500,
  };
  uv_timer_init(loop, &C.deadline);
  uv_timer_init(loop, &C.done);
  uv_timer_start(&C.deadline, deadline_hit, (uint64_t)atoi(opt(argc, argv, "--wait-ms", "10000")), 0);
  if ((r = wire_aclient_new(&o, &cbs, NULL, &C.c)) < 0) {
    fprintf(stderr, "wire_session_peer: %s\n", sd_strerror(r));
    return 1;
  }
  uv_run(loop, UV_RUN_DEFAULT);
  wire_tls_ctx_free(cctx);
  return C.failed ? 1 : 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  loop = uv_default_loop();
  if (argc >= 2 && strcmp(argv[1], "serve") == 0)
    return serve(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "client") == 0)
    return client(argc, argv);
  fprintf(stderr, "usage: wire_session_peer serve|client --ca F --cert F --key F ...\n");
  return 2;
}
