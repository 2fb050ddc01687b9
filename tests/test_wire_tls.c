/*
 * wire/tls over real TCP sockets on 127.0.0.1 with a real P-256 PKI that the
 * test generates into a temporary directory (tests/tls_pki.c): a libuv TLS
 * server and libuv TLS clients in one loop, plus blocking OpenSSL clients in
 * threads for the peers our own module refuses to be (TLS 1.2 only, no
 * client certificate), and raw TCP peers that stall mid-handshake.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <uv.h>

#include "tls_pki.h"
#include "wire/tls.h"
#include "wire/transport.h"

#if defined(__SANITIZE_ADDRESS__)
#define SLACK 3 /* timing slack factor under sanitizers */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLACK 3
#endif
#endif
#ifndef SLACK
#define SLACK 1
#endif

#define MAXC 16
static char g_dir[64];

/* ---- the world: one loop, one server, some clients ---- */

struct world {
  uv_loop_t loop;
  uv_tcp_t listener;
  int port;
  struct wire_tls_ctx *sctx;
  int accepted, s_ready, s_closed, s_resumed;
  int s_reason[MAXC];
  uint64_t s_accept_ms[MAXC], s_close_ms[MAXC];
  bool s_closed_at[MAXC];
  char s_peer_cn[64];
  int s_chain_len;
  bool s_pause_on_ready;
  struct wire_transport *s_last;
  int hook_calls, hook_refuse;
  char hook_cn[64];
  bool timed_out;
};

struct sconn {
  struct world *w;
  int idx;
  struct wire_transport *t;
};

static void cn_of(X509 *x, char *buf, size_t n) {
  buf[0] = 0;
  if (x)
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, (int)n);
}

static void s_ready(struct wire_transport *t, void *ud) {
  struct sconn *c = ud;
  struct wire_peer p;
  assert_int_equal(wire_transport_peer(t, &p), 0);
  assert_int_equal(p.kind, WIRE_PEER_TLS);
  assert_non_null(p.leaf);
  cn_of(p.leaf, c->w->s_peer_cn, sizeof(c->w->s_peer_cn));
  c->w->s_chain_len = p.chain ? sk_X509_num(p.chain) : 0;
  c->w->s_resumed += p.resumed;
  c->w->s_ready++;
  if (c->w->s_pause_on_ready)
    wire_transport_pause(t);
}

static void s_data(struct wire_transport *t, const uint8_t *buf, size_t len, void *ud) {
  int r = wire_transport_write(t, buf, len); /* echo */
  assert_true(r == 0 || r == 1);
}

static void s_close(struct wire_transport *t, int reason, void *ud) {
  struct sconn *c = ud;
  c->w->s_reason[c->idx] = reason;
  c->w->s_close_ms[c->idx] = uv_now(&c->w->loop);
  c->w->s_closed_at[c->idx] = true;
  c->w->s_closed++;
  if (c->w->s_last == t)
    c->w->s_last = NULL;
  free(c);
}

static const struct wire_transport_cbs s_cbs = {
    .on_ready = s_ready, .on_data = s_data, .on_close = s_close};

static void on_conn(uv_stream_t *l, int status) {
  struct world *w = l->data;
  assert_int_equal(status, 0);
  uv_tcp_t *tcp = malloc(sizeof(*tcp));
  struct sconn *c = calloc(1, sizeof(*c));
  assert_non_null(tcp);
  assert_non_null(c);
  assert_int_equal(uv_tcp_init(&w->loop, tcp), 0);
  assert_int_equal(uv_accept(l, (uv_stream_t *)tcp), 0);
  assert_true(w->accepted < MAXC);
  c->w = w;
  c->idx = w->accepted++;
  w->s_accept_ms[c->idx] = uv_now(&w->loop);
  struct wire_tls *tls;
  assert_int_equal(wire_tls_new(w->sctx, (uv_stream_t *)tcp, NULL, NULL, &s_cbs, c, &tls), 0);
  c->t = wire_tls_transport(tls);
  w->s_last = c->t;
}

static int hook(X509 *leaf, int64_t issued, void *ud) {
  struct world *w = ud;
  w->hook_calls++;
  cn_of(leaf, w->hook_cn, sizeof(w->hook_cn));
  assert_true(issued > 0);
  return w->hook_refuse ? -EACCES : 0;
}

static struct wire_tls_ctx *make_ctx(enum wire_tls_role role, const char *ca, const char *name,
                                     unsigned timeout_ms, struct world *w) {
  struct wire_tls_config cfg = {
      .role = role,
      .ca_file = tls_pki_path(g_dir, ca, "pem"),
      .cert_file = tls_pki_path(g_dir, name, "pem"),
      .key_file = tls_pki_path(g_dir, name, "key"),
      .handshake_timeout_ms = timeout_ms,
      .write_high_water = 64 * 1024,
      .check_resumption = role == WIRE_TLS_SERVER ? hook : NULL,
      .check_ud = w,
  };
  struct wire_tls_ctx *ctx = NULL;
  assert_int_equal(wire_tls_ctx_new(&cfg, &ctx), 0);
  return ctx;
}

static void world_init(struct world *w, unsigned timeout_ms) {
  memset(w, 0, sizeof(*w));
  assert_int_equal(uv_loop_init(&w->loop), 0);
  w->sctx = make_ctx(WIRE_TLS_SERVER, "ca", "server", timeout_ms, w);
  assert_int_equal(uv_tcp_init(&w->loop, &w->listener), 0);
  w->listener.data = w;
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  assert_int_equal(uv_tcp_bind(&w->listener, (struct sockaddr *)&a, 0), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&w->listener, 64, on_conn), 0);
  int len = sizeof(a);
  assert_int_equal(uv_tcp_getsockname(&w->listener, (struct sockaddr *)&a, &len), 0);
  w->port = ntohs(a.sin_port);
}

static void guard_fired(uv_timer_t *t) { ((struct world *)t->data)->timed_out = true; }
static void tick(uv_timer_t *t) {} /* wakes the loop to look at threads' flags */

/* Run the loop until pred(arg) holds or ms pass. Returns whether it held. */
static bool run_until(struct world *w, bool (*pred)(void *), void *arg, unsigned ms) {
  uv_timer_t guard;
  uv_timer_init(&w->loop, &guard);
  guard.data = w;
  w->timed_out = false;
  uv_timer_start(&guard, guard_fired, ms, 0);
  uv_timer_t ticker;
  uv_timer_init(&w->loop, &ticker);
  uv_timer_start(&ticker, tick, 10, 10);
  bool ok;
  while (!(ok = pred(arg)) && !w->timed_out)
    uv_run(&w->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&guard, NULL);
  uv_close((uv_handle_t *)&ticker, NULL);
  uv_run(&w->loop, UV_RUN_NOWAIT);
  return ok;
}

static void world_done(struct world *w) {
  uv_close((uv_handle_t *)&w->listener, NULL);
  wire_tls_ctx_free(w->sctx);
  /* Whatever is still open ends by itself (peers gone) or is closed by
   * its client above; nothing may stay behind. */
  for (int i = 0; i < 200 && uv_loop_alive(&w->loop); i++)
    uv_run(&w->loop, UV_RUN_ONCE);
  assert_int_equal(uv_loop_close(&w->loop), 0);
}

/* ---- a libuv TLS client ---- */

struct cli {
  struct world *w;
  struct wire_tls_ctx *ctx;
  SSL_SESSION *session;
  uv_connect_t creq;
  struct wire_tls *tls;
  struct wire_transport *t;
  bool ready, closed, resumed;
  int reason;
  char peer_cn[64];
  uint8_t *rx; /* capacity rx_cap, allocated once (realloc is slow under ASan) */
  size_t rx_len, rx_cap;
  const uint8_t *tx;
  size_t tx_len, tx_off;
  int write_ret_1, drains;
  uint64_t done_ms;
};

static void c_push(struct cli *c) {
  /* Write tx in 4 KiB pieces until the transport asks to wait. */
  while (c->tx_off < c->tx_len) {
    size_t n = c->tx_len - c->tx_off < 4096 ? c->tx_len - c->tx_off : 4096;
    int r = wire_transport_write(c->t, c->tx + c->tx_off, n);
    assert_true(r == 0 || r == 1);
    c->tx_off += n;
    if (r == 1) {
      c->write_ret_1++;
      return;
    }
  }
}

static void c_ready(struct wire_transport *t, void *ud) {
  struct cli *c = ud;
  struct wire_peer p;
  assert_int_equal(wire_transport_peer(t, &p), 0);
  c->resumed = p.resumed;
  cn_of(p.leaf, c->peer_cn, sizeof(c->peer_cn));
  c->ready = true;
  c_push(c);
}

static void c_data(struct wire_transport *t, const uint8_t *buf, size_t len, void *ud) {
  struct cli *c = ud;
  assert_true(c->rx_len + len <= c->rx_cap);
  memcpy(c->rx + c->rx_len, buf, len);
  c->rx_len += len;
  if (c->rx_len == c->tx_len && c->tx_len > 0)
    c->done_ms = uv_now(&c->w->loop);
}

static void c_drain(struct wire_transport *t, void *ud) {
  struct cli *c = ud;
  c->drains++;
  c_push(c);
}

static void c_close(struct wire_transport *t, int reason, void *ud) {
  struct cli *c = ud;
  c->closed = true;
  c->reason = reason;
  c->t = NULL;
  c->tls = NULL;
}

static const struct wire_transport_cbs c_cbs = {
    .on_ready = c_ready, .on_data = c_data, .on_drain = c_drain, .on_close = c_close};

static void c_connected(uv_connect_t *req, int status) {
  struct cli *c = req->data;
  assert_int_equal(status, 0);
  assert_int_equal(wire_tls_new(c->ctx, req->handle, "localhost", c->session, &c_cbs, c, &c->tls),
                   0);
  c->t = wire_tls_transport(c->tls);
}

static void cli_start(struct world *w, struct cli *c, struct wire_tls_ctx *ctx,
                      SSL_SESSION *session, const uint8_t *tx, size_t tx_len) {
  memset(c, 0, sizeof(*c));
  c->w = w;
  c->ctx = ctx;
  c->session = session;
  c->tx = tx;
  c->tx_len = tx_len;
  c->rx_cap = tx_len + 4096;
  c->rx = malloc(c->rx_cap);
  assert_non_null(c->rx);
  uv_tcp_t *tcp = malloc(sizeof(*tcp));
  assert_non_null(tcp);
  assert_int_equal(uv_tcp_init(&w->loop, tcp), 0);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", w->port, &a);
  c->creq.data = c;
  assert_int_equal(uv_tcp_connect(&c->creq, tcp, (struct sockaddr *)&a, c_connected), 0);
}

static void cli_done(struct cli *c) {
  wire_transport_close(c->t);
  c->t = NULL;
  free(c->rx);
  c->rx = NULL;
}

static bool echoed(void *arg) {
  struct cli *c = arg;
  return c->rx_len == c->tx_len || c->closed;
}
static bool cli_closed(void *arg) { return ((struct cli *)arg)->closed; }

static uint8_t *pattern(size_t n, unsigned seed) {
  uint8_t *p = malloc(n);
  assert_non_null(p);
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)((i * 131 + seed) ^ (i >> 8));
  return p;
}

static bool server_closed_n(void *arg) {
  struct world *w = arg;
  return w->s_closed >= 1;
}

/* ---- tests ---- */

static void test_echo_both_ways_over_tls13(void **state) {
  struct world w;
  world_init(&w, 0);
  struct wire_tls_ctx *cctx = make_ctx(WIRE_TLS_CLIENT, "ca", "client", 0, NULL);
  size_t n = 200 * 1024; /* many records, both ways */
  uint8_t *tx = pattern(n, 7);
  struct cli c;
  cli_start(&w, &c, cctx, NULL, tx, n);
  assert_true(run_until(&w, echoed, &c, 5000 * SLACK));
  assert_false(c.closed);
  assert_int_equal(c.rx_len, n);
  assert_memory_equal(c.rx, tx, n);
  /* Both sides know who they talk to. */
  assert_string_equal(w.s_peer_cn, "client");
  assert_int_equal(w.s_chain_len, 2); /* leaf and root, as verified */
  assert_string_equal(c.peer_cn, "server");
  assert_false(c.resumed);
  assert_int_equal(w.s_resumed, 0);
  struct wire_tls *tls = wire_tls_from_transport(c.t);
  assert_ptr_equal(tls, c.tls);
  assert_string_equal(wire_tls_error_detail(tls), "");
  /* An orderly end from the client is an orderly end for the server. */
  cli_done(&c);
  assert_true(run_until(&w, server_closed_n, &w, 5000 * SLACK));
  assert_int_equal(w.s_reason[0], 0);
  free(tx);
  wire_tls_ctx_free(cctx);
  world_done(&w);
  assert_int_equal(w.s_closed, 1);
}

static void test_client_cert_from_other_ca_is_refused(void **state) {
  struct world w;
  world_init(&w, 0);
  struct wire_tls_ctx *cctx = make_ctx(WIRE_TLS_CLIENT, "ca", "other-client", 0, NULL);
  uint8_t msg[] = "hello";
  struct cli c;
  cli_start(&w, &c, cctx, NULL, msg, sizeof(msg));
  assert_true(run_until(&w, cli_closed, &c, 5000 * SLACK));
  assert_true(run_until(&w, server_closed_n, &w, 5000 * SLACK));
  assert_int_equal(w.s_ready, 0);
  assert_int_equal(w.s_reason[0], -EKEYREJECTED);
  assert_int_equal(c.reason, -EKEYREJECTED); /* the server's unknown_ca alert */
  assert_int_equal(c.rx_len, 0);
  cli_done(&c);
  wire_tls_ctx_free(cctx);
  world_done(&w);
}

static void test_server_cert_from_other_ca_is_refused_by_client(void **state) {
  struct world w;
  world_init(&w, 0);
  struct wire_tls_ctx *cctx = make_ctx(WIRE_TLS_CLIENT, "other-ca", "client", 0, NULL);
  uint8_t msg[] = "hello";
  struct cli c;
  cli_start(&w, &c, cctx, NULL, msg, sizeof(msg));
  assert_true(run_until(&w, cli_closed, &c, 5000 * SLACK));
  assert_false(c.ready);
  assert_int_equal(c.reason, -EKEYREJECTED);
  assert_true(run_until(&w, server_closed_n, &w, 5000 * SLACK));
  assert_int_equal(w.s_ready, 0);
  assert_int_equal(w.s_reason[0], -EKEYREJECTED);
  cli_done(&c);
  wire_tls_ctx_free(cctx);
  world_done(&w);
}

/* The client's check_server hook: sees the server's leaf and verified chain
 * (or NULL chain when OpenSSL refused it), may refuse before anything of
 * the client's is sent. */
struct check_rec {
  int calls, refuse, chain_len;
  char cn[64];
};

static int check_server_hook(X509 *leaf, STACK_OF(X509) *chain, void *ud) {
  struct check_rec *r = ud;
  r->calls++;
  cn_of(leaf, r->cn, sizeof(r->cn));
  r->chain_len = chain ? sk_X509_num(chain) : -1;
  return r->refuse ? -EPERM : 0;
}

static struct wire_tls_ctx *checking_client(const char *ca, struct check_rec *rec) {
  struct wire_tls_config cfg = {
      .role = WIRE_TLS_CLIENT,
      .ca_file = tls_pki_path(g_dir, ca, "pem"),
      .cert_file = tls_pki_path(g_dir, "client", "pem"),
      .key_file = tls_pki_path(g_dir, "client", "key"),
      .check_server = check_server_hook,
      .check_server_ud = rec,
  };
  struct wire_tls_ctx *ctx = NULL;
  assert_int_equal(wire_tls_ctx_new(&cfg, &ctx), 0);
  return ctx;
}

static void test_client_check_server_hook_accepts_or_refuses_before_sending(void **state) {
  uint8_t msg[] = "hello";
  struct check_rec rec = {0};
  struct cli c;
  struct world w;
  /* accepted: the session works, the hook saw the server and its chain */
  world_init(&w, 0);
  struct wire_tls_ctx *cctx = checking_client("ca", &rec);
  cli_start(&w, &c, cctx, NULL, msg, sizeof(msg));
  assert_true(run_until(&w, echoed, &c, 5000 * SLACK));
  assert_int_equal(rec.calls, 1);
  assert_string_equal(rec.cn, "server");
  assert_int_equal(rec.chain_len, 2);
  assert_string_equal(w.s_peer_cn, "client");
  cli_done(&c);
  assert_true(run_until(&w, server_closed_n, &w, 5000 * SLACK));
  /* refused: the client ends with -EKEYREJECTED, the server never gets the
   * client's certificate (it was not sent) nor a byte of data */
  rec = (struct check_rec){.refuse = 1};
  cli_start(&w, &c, cctx, NULL, msg, sizeof(msg));
  assert_true(run_until(&w, cli_closed, &c, 5000 * SLACK));
  assert_false(c.ready);
  assert_int_equal(c.reason, -EKEYREJECTED);
  assert_int_equal(rec.calls, 1);
  assert_true(run_until(&w, server_closed_n, &w, 5000 * SLACK));
  assert_int_equal(w.s_ready, 1); /* the first connection only */
  assert_int_not_equal(w.s_reason[1], 0);
  cli_done(&c);
  wire_tls_ctx_free(cctx);
  /* a chain OpenSSL refuses: the hook is told (NULL chain), the handshake
   * fails whatever it returns */
  rec = (struct check_rec){0};
  cctx = checking_client("other-ca", &rec);
  cli_start(&w, &c, cctx, NULL, msg, sizeof(msg));
  assert_true(run_until(&w, cli_closed, &c, 5000 * SLACK));
  assert_int_equal(c.reason, -EKEYREJECTED);
  assert_int_equal(rec.calls, 1);
  assert_int_equal(rec.chain_len, -1);
  cli_done(&c);
  wire_tls_ctx_free(cctx);
  world_done(&w);
  /* a server cannot have one */
  struct wire_tls_config cfg = {
      .role = WIRE_TLS_SERVER,
      .ca_file = tls_pki_path(g_dir, "ca", "pem"),
      .cert_file = tls_pki_path(g_dir, "server", "pem"),
      .key_file = tls_pki_path(g_dir, "server", "key"),
      .check_server = check_server_hook,
  };
  struct wire_tls_ctx *bad = NULL;
  assert_int_equal(wire_tls_ctx_new(&cfg, &bad), -EINVAL);
  assert_null(bad);
}

/* ---- blocking OpenSSL peers in a thread ---- */

struct raw {
  int port;
  int max_version;      /* 0: any */
  bool with_cert;
  int connect_ret, read_ret;
  unsigned long err;
  int done;
};

static void *raw_main(void *arg) {
  struct raw *r = arg;
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  assert_non_null(ctx);
  if (r->max_version)
    SSL_CTX_set_max_proto_version(ctx, r->max_version);
  SSL_CTX_load_verify_locations(ctx, tls_pki_path(g_dir, "ca", "pem"), NULL);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  if (r->with_cert) {
    SSL_CTX_use_certificate_file(ctx, tls_pki_path(g_dir, "client", "pem"), SSL_FILETYPE_PEM);
    SSL_CTX_use_PrivateKey_file(ctx, tls_pki_path(g_dir, "client", "key"), SSL_FILETYPE_PEM);
  }
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(r->port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  SSL *ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  r->connect_ret = SSL_connect(ssl);
  if (r->connect_ret == 1) {
    char buf[64];
    SSL_write(ssl, "ping", 4);
    r->read_ret = SSL_read(ssl, buf, sizeof(buf));
  }
  r->err = ERR_peek_error();
  SSL_free(ssl);
  close(fd);
  SSL_CTX_free(ctx);
  __atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

struct raw_wait {
  struct world *w;
  struct raw *r;
};
static bool raw_done_and_closed(void *arg) {
  struct raw_wait *rw = arg;
  return __atomic_load_n(&rw->r->done, __ATOMIC_SEQ_CST) && rw->w->s_closed >= 1;
}

static void run_raw(struct world *w, struct raw *r) {
  pthread_t th;
  r->port = w->port;
  assert_int_equal(pthread_create(&th, NULL, raw_main, r), 0);
  struct raw_wait rw = {w, r};
  assert_true(run_until(w, raw_done_and_closed, &rw, 5000 * SLACK));
  pthread_join(th, NULL);
}

static void test_tls12_only_client_is_refused(void **state) {
  struct world w;
  world_init(&w, 0);
  struct raw r = {.max_version = TLS1_2_VERSION, .with_cert = true};
  run_raw(&w, &r);
  assert_int_not_equal(r.connect_ret, 1);
  assert_int_equal(ERR_GET_REASON(r.err), SSL_R_TLSV1_ALERT_PROTOCOL_VERSION);
  assert_int_equal(w.s_ready, 0);
  assert_int_equal(w.s_reason[0], -EPROTONOSUPPORT);
  world_done(&w);
}

static void test_client_without_certificate_is_refused(void **state) {
  struct world w;
  world_init(&w, 0);
  struct raw r = {.max_version = 0, .with_cert = false};
  run_raw(&w, &r);
  /* TLS 1.3: the client finishes first, then reads the server's alert. */
  assert_true(r.connect_ret != 1 || r.read_ret <= 0);
  assert_int_equal(ERR_GET_REASON(r.err), SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED);
  assert_int_equal(w.s_ready, 0);
  assert_int_equal(w.s_reason[0], -ENOKEY);
  world_done(&w);
}

static void test_control_blocking_client_with_certificate_is_served(void **state) {
  /* The two tests above must fail for the reason they name, not because
   * the blocking peer cannot work at all. */
  struct world w;
  world_init(&w, 0);
  struct raw r = {.max_version = 0, .with_cert = true};
  pthread_t th;
  r.port = w.port;
  assert_int_equal(pthread_create(&th, NULL, raw_main, &r), 0);
  struct raw_wait rw = {&w, &r};
  /* The server echoes "ping"; the client then closes without close_notify. */
  assert_true(run_until(&w, raw_done_and_closed, &rw, 5000 * SLACK));
  pthread_join(th, NULL);
  assert_int_equal(r.connect_ret, 1);
  assert_int_equal(r.read_ret, 4);
  assert_int_equal(w.s_ready, 1);
  world_done(&w);
}

/* ---- raw TCP peers that stall ---- */

struct stall {
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_write_t wreq;
  uint8_t *data;
  size_t len;
  bool eof;
  uint64_t eof_ms;
  char rbuf[4096];
};

static void st_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  struct stall *st = h->data;
  *b = uv_buf_init(st->rbuf, sizeof(st->rbuf));
}
static void st_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  struct stall *st = s->data;
  if (n < 0) {
    st->eof = true;
    st->eof_ms = uv_now(s->loop);
    uv_read_stop(s);
  }
}
static void st_written(uv_write_t *req, int status) {}
static void st_connected(uv_connect_t *req, int status) {
  struct stall *st = req->data;
  assert_int_equal(status, 0);
  if (st->len) {
    uv_buf_t b = uv_buf_init((char *)st->data, (unsigned)st->len);
    assert_int_equal(uv_write(&st->wreq, (uv_stream_t *)&st->tcp, &b, 1, st_written), 0);
  }
  uv_read_start((uv_stream_t *)&st->tcp, st_alloc, st_read);
}

static void stall_start(struct world *w, struct stall *st, const uint8_t *data, size_t len) {
  memset(st, 0, sizeof(*st));
  st->data = (uint8_t *)data;
  st->len = len;
  uv_tcp_init(&w->loop, &st->tcp);
  st->tcp.data = st;
  st->creq.data = st;
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", w->port, &a);
  assert_int_equal(uv_tcp_connect(&st->creq, &st->tcp, (struct sockaddr *)&a, st_connected), 0);
}

/* The first flight of a real TLS 1.3 client: a ClientHello. */
static size_t client_hello(uint8_t *buf, size_t cap) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  SSL *ssl = SSL_new(ctx);
  BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, rb, wb);
  assert_int_equal(SSL_connect(ssl), -1);
  int n = BIO_read(wb, buf, (int)cap);
  assert_true(n > 100);
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ERR_clear_error();
  return (size_t)n;
}

struct stall_wait {
  struct world *w;
  struct stall *a, *b;
};
static bool stalls_dropped(void *arg) {
  struct stall_wait *sw = arg;
  return sw->a->eof && sw->b->eof;
}

static void test_stalled_handshakes_are_dropped_on_time_while_others_are_served(void **state) {
  /* The good client must be served well inside the deadline: x SLACK. */
  const unsigned timeout_ms = 600 * SLACK;
  struct world w;
  world_init(&w, timeout_ms);
  struct wire_tls_ctx *cctx = make_ctx(WIRE_TLS_CLIENT, "ca", "client", 0, NULL);
  uint8_t hello[2048];
  size_t hl = client_hello(hello, sizeof(hello));
  struct stall silent, half;
  stall_start(&w, &silent, NULL, 0);
  stall_start(&w, &half, hello, hl / 2);
  uint64_t t0 = uv_now(&w.loop);
  /* Meanwhile, a well-behaved client is served at once. */
  uint8_t *tx = pattern(4096, 3);
  struct cli c;
  cli_start(&w, &c, cctx, NULL, tx, 4096);
  assert_true(run_until(&w, echoed, &c, 5000 * SLACK));
  assert_int_equal(c.rx_len, 4096);
  assert_true(c.done_ms - t0 < timeout_ms);
  struct stall_wait sw = {&w, &silent, &half};
  assert_true(run_until(&w, stalls_dropped, &sw, 5000 * SLACK));
  /* Dropped when the deadline passes: not before, and not much later. */
  for (int i = 0; i < 3; i++) {
    if (w.s_reason[i] != -ETIMEDOUT)
      continue;
    uint64_t d = w.s_close_ms[i] - w.s_accept_ms[i];
    assert_true(d >= timeout_ms - 5);
    assert_true(d <= timeout_ms + 400 * SLACK);
  }
  int timeouts = 0;
  for (int i = 0; i < 3; i++)
    timeouts += w.s_closed_at[i] && w.s_reason[i] == -ETIMEDOUT;
  assert_int_equal(timeouts, 2);
  assert_true(silent.eof_ms - t0 >= timeout_ms - 5);
  assert_true(half.eof_ms - t0 <= timeout_ms + 400 * SLACK);
  /* The good client was not dropped by the deadline. */
  assert_false(c.closed);
  cli_done(&c);
  uv_close((uv_handle_t *)&silent.tcp, NULL);
  uv_close((uv_handle_t *)&half.tcp, NULL);
  free(tx);
  wire_tls_ctx_free(cctx);
  world_done(&w);
}

/* ---- resumption ---- */

static void test_resumption_works_and_the_hook_can_refuse(void **state) {
  struct world w;
  world_init(&w, 0);
  struct wire_tls_ctx *cctx = make_ctx(WIRE_TLS_CLIENT, "ca", "client", 0, NULL);
  uint8_t msg[] = "first";
  struct cli c1, c2, c3;
  cli_start(&w, &c1, cctx, NULL, msg, sizeof(msg));
  assert_true(run_until(&w, echoed, &c1, 5000 * SLACK));
  SSL_SESSION *sess = NULL;
  /* The ticket came with the server's first bytes, before the echo. */
  assert_int_equal(wire_tls_get_session(c1.tls, &sess), 0);
  assert_false(c1.resumed);
  /* The connection then dies abruptly (no close_notify): the ticket the
   * owner kept must still resume, that is what reconnecting is for. */
  uv_os_fd_t fd;
  assert_int_equal(uv_fileno((uv_handle_t *)c1.creq.handle, &fd), 0);
  assert_int_equal(shutdown(fd, SHUT_RDWR), 0);
  assert_true(run_until(&w, cli_closed, &c1, 5000 * SLACK));
  assert_int_equal(c1.reason, -ECONNRESET);
  cli_done(&c1);

  cli_start(&w, &c2, cctx, sess, msg, sizeof(msg));
  assert_true(run_until(&w, echoed, &c2, 5000 * SLACK));
  assert_int_equal(c2.rx_len, sizeof(msg));
  assert_true(c2.resumed);
  assert_int_equal(w.s_resumed, 1);
  assert_int_equal(w.hook_calls, 1);
  assert_string_equal(w.hook_cn, "client");
  assert_string_equal(w.s_peer_cn, "client"); /* the leaf survives resumption */
  assert_int_equal(w.s_chain_len, 0);          /* as documented: no chain */
  /* A resumed session brings a fresh ticket too: tickets are single-use. */
  SSL_SESSION *sess2 = NULL;
  assert_int_equal(wire_tls_get_session(c2.tls, &sess2), 0);
  assert_ptr_not_equal(sess2, sess);
  cli_done(&c2);

  /* The owner's hook refuses (say the node is now on a deny list): the
   * ticket is ignored and a full handshake verifies the chain again. */
  w.hook_refuse = 1;
  cli_start(&w, &c3, cctx, sess2, msg, sizeof(msg));
  assert_true(run_until(&w, echoed, &c3, 5000 * SLACK));
  assert_int_equal(c3.rx_len, sizeof(msg));
  assert_false(c3.resumed);
  assert_int_equal(w.s_resumed, 1);
  assert_int_equal(w.hook_calls, 2);
  assert_int_equal(w.s_chain_len, 2);
  cli_done(&c3);
  SSL_SESSION_free(sess);
  SSL_SESSION_free(sess2);
  wire_tls_ctx_free(cctx);
  world_done(&w);
}

/* ---- flow control ---- */

struct resume_when {
  struct world *w;
  struct cli *c;
};

/* Resume the paused server once the client has felt the backpressure. */
static void resume_server(uv_timer_t *t) {
  struct resume_when *rw = t->data;
  if (!rw->w->s_last || rw->w->s_ready < 1 || rw->c->write_ret_1 < 1) {
    uv_timer_start(t, resume_server, 50, 0);
    return;
  }
  wire_transport_resume(rw->w->s_last);
}

static void test_paused_reader_backpressures_writer_then_drains(void **state) {
  struct world w;
  world_init(&w, 0);
  w.s_pause_on_ready = true;
  struct wire_tls_ctx *cctx = make_ctx(WIRE_TLS_CLIENT, "ca", "client", 0, NULL);
  size_t n = 8 * 1024 * 1024;
  uint8_t *tx = pattern(n, 11);
  struct cli c;
  cli_start(&w, &c, cctx, NULL, tx, n);
  /* The server does not read: the client's queue grows past high water. */
  uv_timer_t later;
  struct resume_when rw = {&w, &c};
  uv_timer_init(&w.loop, &later);
  later.data = &rw;
  uv_timer_start(&later, resume_server, 300, 0);
  assert_true(run_until(&w, echoed, &c, 20000 * SLACK));
  assert_true(c.write_ret_1 >= 1);
  assert_true(c.drains >= 1);
  assert_int_equal(c.rx_len, n);
  assert_memory_equal(c.rx, tx, n);
  cli_done(&c);
  uv_close((uv_handle_t *)&later, NULL);
  free(tx);
  wire_tls_ctx_free(cctx);
  world_done(&w);
}

static void test_owner_close_during_handshake_makes_no_callback(void **state) {
  struct world w;
  world_init(&w, 0);
  struct wire_tls_ctx *cctx = make_ctx(WIRE_TLS_CLIENT, "ca", "client", 0, NULL);
  struct cli c;
  cli_start(&w, &c, cctx, NULL, NULL, 0);
  while (!c.t)
    uv_run(&w.loop, UV_RUN_ONCE);
  assert_int_equal(wire_transport_write(c.t, "x", 1), -ENOTCONN); /* not ready yet */
  struct wire_peer p;
  assert_int_equal(wire_transport_peer(c.t, &p), -ENOTCONN);
  cli_done(&c);
  wire_tls_ctx_free(cctx);
  world_done(&w);
  assert_false(c.closed);
  assert_int_equal(w.s_ready, 0);
}

/* ---- contexts ---- */

static void test_ctx_errors_are_clear(void **state) {
  struct wire_tls_ctx *ctx = NULL;
  struct wire_tls_config cfg = {
      .role = WIRE_TLS_SERVER,
      .ca_file = tls_pki_path(g_dir, "ca", "pem"),
      .cert_file = tls_pki_path(g_dir, "server", "pem"),
      .key_file = tls_pki_path(g_dir, "nope", "key"),
  };
  assert_int_equal(wire_tls_ctx_new(&cfg, &ctx), -ENOENT);
  cfg.key_file = tls_pki_path(g_dir, "client", "key"); /* not the server's key */
  assert_int_equal(wire_tls_ctx_new(&cfg, &ctx), -EINVAL);
  cfg.key_file = tls_pki_path(g_dir, "server", "key");
  cfg.cert_file = tls_pki_path(g_dir, "garbage", "pem");
  assert_int_equal(wire_tls_ctx_new(&cfg, &ctx), -EBADMSG);
  cfg.cert_file = tls_pki_path(g_dir, "server", "pem");
  cfg.ca_file = tls_pki_path(g_dir, "garbage", "pem");
  assert_int_equal(wire_tls_ctx_new(&cfg, &ctx), -EBADMSG);
  cfg.ca_file = NULL;
  assert_int_equal(wire_tls_ctx_new(&cfg, &ctx), -EINVAL);
  assert_null(ctx);
  assert_int_equal(ERR_peek_error(), 0); /* the queue is left clean */
  wire_tls_ctx_free(NULL);
}

/* True when /proc/self/smaps has a mapping of exactly kib KiB that is locked
 * ("lo": mlock, on fault or not) and excluded from core dumps ("dd"). */
static bool locked_undumpable_mapping(size_t kib) {
  FILE *f = fopen("/proc/self/smaps", "r");
  char line[512];
  size_t size = 0;
  bool hit = false;
  assert_non_null(f);
  while (!hit && fgets(line, sizeof(line), f)) {
    if (sscanf(line, "Size: %zu kB", &size) == 1)
      continue;
    if (strncmp(line, "VmFlags:", 8) == 0 && size == kib)
      hit = strstr(line, " lo") && strstr(line, " dd");
  }
  fclose(f);
  return hit;
}

static void test_private_key_lives_in_the_secure_heap(void **state) {
  /* What secretd's main does before any key is loaded: the secure heap
   * keeps the private scalar in locked, undumpable pages. */
  assert_false(locked_undumpable_mapping(WIRE_TLS_SECURE_HEAP_SIZE / 1024));
  assert_int_equal(wire_tls_secure_heap_init(), 0); /* root here: RLIMIT_MEMLOCK is no limit */
  assert_true(CRYPTO_secure_malloc_initialized());
  assert_true(locked_undumpable_mapping(WIRE_TLS_SECURE_HEAP_SIZE / 1024));
  assert_int_equal(wire_tls_secure_heap_init(), 0); /* a second call does nothing */
  size_t before = CRYPTO_secure_used();
  struct wire_tls_ctx *ctx = make_ctx(WIRE_TLS_SERVER, "ca", "server", 0, NULL);
  assert_true(CRYPTO_secure_used() > before);
  wire_tls_ctx_free(ctx);
  assert_int_equal(CRYPTO_secure_used(), before);
}

static int setup(void **state) {
  signal(SIGPIPE, SIG_IGN);
  snprintf(g_dir, sizeof(g_dir), "/tmp/test_wire_tls.XXXXXX");
  if (!mkdtemp(g_dir))
    return -1;
  if (tls_pki_ca(g_dir, "ca") < 0 || tls_pki_ca(g_dir, "other-ca") < 0 ||
      tls_pki_leaf(g_dir, "ca", "server", TLS_PKI_SERVER, 86400) < 0 ||
      tls_pki_leaf(g_dir, "ca", "client", TLS_PKI_CLIENT, 86400) < 0 ||
      tls_pki_leaf(g_dir, "other-ca", "other-client", TLS_PKI_CLIENT, 86400) < 0)
    return -1;
  FILE *f = fopen(tls_pki_path(g_dir, "garbage", "pem"), "w");
  if (!f)
    return -1;
  fputs("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n", f);
  fclose(f);
  return 0;
}

static int teardown(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_echo_both_ways_over_tls13),
      cmocka_unit_test(test_client_cert_from_other_ca_is_refused),
      cmocka_unit_test(test_server_cert_from_other_ca_is_refused_by_client),
      cmocka_unit_test(test_client_check_server_hook_accepts_or_refuses_before_sending),
      cmocka_unit_test(test_tls12_only_client_is_refused),
      cmocka_unit_test(test_client_without_certificate_is_refused),
      cmocka_unit_test(test_control_blocking_client_with_certificate_is_served),
      cmocka_unit_test(test_stalled_handshakes_are_dropped_on_time_while_others_are_served),
      cmocka_unit_test(test_resumption_works_and_the_hook_can_refuse),
      cmocka_unit_test(test_paused_reader_backpressures_writer_then_drains),
      cmocka_unit_test(test_owner_close_during_handshake_makes_no_callback),
      cmocka_unit_test(test_ctx_errors_are_clear),
      cmocka_unit_test(test_private_key_lives_in_the_secure_heap),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
