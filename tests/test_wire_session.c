/*
 * wire/session over real sockets in one libuv loop: a test server
 * (sessions over wire/unix_transport and wire/tls with a role resolver and
 * a push queue) against the async client (wire/async_client) and raw stub
 * peers that speak bytes (a version-1 peer, a peer that goes silent, one
 * that stalls mid-frame). TLS uses a P-256 PKI that the test generates
 * (tests/tls_pki.c). TLS-level refusals (TLS 1.2 only, no certificate,
 * stalled handshakes) are covered by test_wire_tls; here the same ends are
 * checked through a session where it matters (a certificate of another CA).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "base/error.h"
#include "tls_pki.h"
#include "wire/async_client.h"
#include "wire/frame.h"
#include "wire/session.h"
#include "wire/tls.h"
#include "wire/unix_transport.h"

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

static char g_dir[64];

/* ---- the test server ---- */

#define MAXS 32

struct srv {
  uv_loop_t loop;
  uv_pipe_t upipe;
  uv_tcp_t tcp;
  int port;
  char path[108];
  struct wire_tls_ctx *sctx;
  struct wire_session_opts so;
  struct wire_pushq *q;
  struct wire_session *sess[MAXS];
  int accepted, closed, requests, refused_role, refused_wire, pushq_attach_err, resumed;
  int last_close_reason;
  uint64_t last_close_ms;
  bool timed_out;
  uv_timer_t guard;
};

static struct srv *g;

static uint32_t resolve_role(const struct wire_peer *p, void *ud) {
  (void)ud;
  g->resumed += p->resumed;
  if (p->kind == WIRE_PEER_UNIX)
    return WIRE_ROLE_ADMIN;
  return p->leaf ? WIRE_ROLE_WORKER : WIRE_ROLE_ANON;
}

static int srv_hello(struct wire_session *s, const struct wire_hello *h, void *ud) {
  (void)h;
  (void)ud;
  if (wire_session_features(s) & WIRE_FEAT_PUSH) {
    int r = wire_session_attach_pushq(s, g->q);
    assert_int_equal(r, 0);
  } else if (wire_session_attach_pushq(s, g->q) == -EPROTO) {
    g->pushq_attach_err++;
  }
  return 0;
}

static void pack_echo(msgpack_packer *pk, void *ud) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_str(pk, "data", ud);
}

static void srv_request(struct wire_session *s, const struct wire_request *req, void *ud) {
  (void)ud;
  g->requests++;
  if (!wire_role_allows(req->opcode, wire_session_role(s))) { /* the one check */
    g->refused_role++;
    wire_session_reply_error(s, req->id, SD_E_DENIED, "not for your role");
    return;
  }
  char data[300] = "";
  if (req->opcode == WIRE_OP_SESSION_ECHO)
    (void)wire_get_str(req->args, "data", data, sizeof(data));
  assert_int_equal(wire_session_reply_ok(s, req->id, pack_echo, data), 0);
}

static void srv_refused(struct wire_session *s, const char *op, int code, void *ud) {
  (void)s;
  (void)op;
  (void)code;
  (void)ud;
  g->refused_wire++;
}

static void srv_close(struct wire_session *s, int reason, void *ud) {
  (void)ud;
  for (int i = 0; i < MAXS; i++)
    if (g->sess[i] == s)
      g->sess[i] = NULL;
  g->closed++;
  g->last_close_reason = reason;
  g->last_close_ms = uv_now(&g->loop);
}

static const struct wire_session_cbs srv_cbs = {
    .on_hello = srv_hello,
    .on_request = srv_request,
    .on_refused = srv_refused,
    .on_close = srv_close,
};

static struct wire_session *new_server_session(void) {
  struct wire_session *s;
  struct wire_session_opts o = g->so;
  o.loop = &g->loop;
  o.side = WIRE_SESSION_SERVER;
  o.resolve_role = resolve_role;
  assert_int_equal(wire_session_new(&o, &srv_cbs, NULL, &s), 0);
  for (int i = 0; i < MAXS; i++)
    if (!g->sess[i]) {
      g->sess[i] = s;
      break;
    }
  g->accepted++;
  return s;
}

static void on_unix_conn(uv_stream_t *l, int status) {
  assert_int_equal(status, 0);
  uv_pipe_t *p = malloc(sizeof(*p));
  struct wire_unix *u;
  assert_non_null(p);
  assert_int_equal(uv_pipe_init(&g->loop, p, 0), 0);
  assert_int_equal(uv_accept(l, (uv_stream_t *)p), 0);
  struct wire_session *s = new_server_session();
  assert_int_equal(wire_unix_new(p, wire_session_transport_cbs(), s, &u), 0);
  wire_session_attach(s, wire_unix_transport(u));
}

static void on_tls_conn(uv_stream_t *l, int status) {
  assert_int_equal(status, 0);
  uv_tcp_t *t = malloc(sizeof(*t));
  struct wire_tls *tls;
  assert_non_null(t);
  assert_int_equal(uv_tcp_init(&g->loop, t), 0);
  assert_int_equal(uv_accept(l, (uv_stream_t *)t), 0);
  struct wire_session *s = new_server_session();
  assert_int_equal(wire_tls_new(g->sctx, (uv_stream_t *)t, NULL, NULL,
                                wire_session_transport_cbs(), s, &tls), 0);
  wire_session_attach(s, wire_tls_transport(tls));
}

static struct wire_tls_ctx *make_ctx(enum wire_tls_role role, const char *ca, const char *name) {
  struct wire_tls_config cfg = {
      .role = role,
      .ca_file = tls_pki_path(g_dir, ca, "pem"),
      .cert_file = tls_pki_path(g_dir, name, "pem"),
      .key_file = tls_pki_path(g_dir, name, "key"),
      .handshake_timeout_ms = 3000,
  };
  struct wire_tls_ctx *ctx;
  assert_int_equal(wire_tls_ctx_new(&cfg, &ctx), 0);
  return ctx;
}

static void srv_start(const struct wire_session_opts *so) {
  static int n;
  struct sockaddr_in a;
  int len = sizeof(a);
  g = calloc(1, sizeof(*g));
  assert_non_null(g);
  if (so)
    g->so = *so;
  assert_int_equal(uv_loop_init(&g->loop), 0);
  assert_int_equal(wire_pushq_new(0, &g->q), 0);
  snprintf(g->path, sizeof(g->path), "%s/sock%d", g_dir, n++);
  assert_int_equal(uv_pipe_init(&g->loop, &g->upipe, 0), 0);
  assert_int_equal(uv_pipe_bind(&g->upipe, g->path), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&g->upipe, 128, on_unix_conn), 0);
  g->sctx = make_ctx(WIRE_TLS_SERVER, "ca", "server");
  assert_int_equal(uv_tcp_init(&g->loop, &g->tcp), 0);
  assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &a), 0);
  assert_int_equal(uv_tcp_bind(&g->tcp, (const struct sockaddr *)&a, 0), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&g->tcp, 128, on_tls_conn), 0);
  assert_int_equal(uv_tcp_getsockname(&g->tcp, (struct sockaddr *)&a, &len), 0);
  g->port = ntohs(a.sin_port);
  assert_int_equal(uv_timer_init(&g->loop, &g->guard), 0);
}

static void walk_close(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void srv_stop(void) {
  for (int i = 0; i < MAXS; i++) {
    wire_session_free(g->sess[i]);
    g->sess[i] = NULL;
  }
  wire_pushq_free(g->q);
  wire_tls_ctx_free(g->sctx);
  uv_close((uv_handle_t *)&g->upipe, NULL);
  uv_close((uv_handle_t *)&g->tcp, NULL);
  uv_close((uv_handle_t *)&g->guard, NULL);
  for (int i = 0; i < 50 && uv_run(&g->loop, UV_RUN_NOWAIT); i++)
    ;
  uv_walk(&g->loop, walk_close, NULL); /* e.g. a stub's pipe */
  uv_run(&g->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&g->loop), 0);
  unlink(g->path);
  free(g);
  g = NULL;
}

static void guard_fired(uv_timer_t *t) {
  (void)t;
  g->timed_out = true;
}

/* Run the loop until cond() or ms pass; returns cond(). */
static bool run_until(bool (*cond)(void *), void *arg, unsigned ms) {
  g->timed_out = false;
  uv_timer_start(&g->guard, guard_fired, ms, 0);
  while (!cond(arg) && !g->timed_out)
    uv_run(&g->loop, UV_RUN_ONCE);
  uv_timer_stop(&g->guard);
  return cond(arg);
}

static bool never(void *arg) {
  (void)arg;
  return false;
}

static void run_for(unsigned ms) { (void)run_until(never, NULL, ms); }

/* ---- an async client and its bookkeeping ---- */

struct cli {
  struct wire_aclient *c;
  int up, down, last_down;
  uint32_t version;
  uint64_t pushes, bad_order, last_seq;
  int replies, last_status, last_code;
  char last_data[300], last_error[256];
};

static void c_up(struct wire_aclient *c, uint32_t v, void *ud) {
  (void)c;
  struct cli *k = ud;
  k->up++;
  k->version = v;
}

static void c_down(struct wire_aclient *c, int reason, void *ud) {
  (void)c;
  struct cli *k = ud;
  k->down++;
  k->last_down = reason;
}

static void c_push(struct wire_aclient *c, const struct wire_push *p, void *ud) {
  (void)c;
  struct cli *k = ud;
  uint64_t n = 0;
  assert_int_equal(wire_get_uint(p->body, "n", &n), 0);
  assert_int_equal(n, p->seq);
  assert_string_equal(p->topic, "test.topic");
  if (p->seq != k->last_seq + 1)
    k->bad_order++;
  k->last_seq = p->seq;
  k->pushes++;
}

static const struct wire_aclient_cbs c_cbs = {.on_up = c_up, .on_down = c_down, .on_push = c_push};

static void c_reply(struct wire_session *s, int status, const struct wire_response *r, void *ud) {
  (void)s;
  struct cli *k = ud;
  k->replies++;
  k->last_status = status;
  k->last_data[0] = 0;
  k->last_error[0] = 0;
  if (r) {
    k->last_code = r->ok ? 0 : r->code;
    snprintf(k->last_error, sizeof(k->last_error), "%s", r->error);
    if (r->ok)
      (void)wire_get_str(r->result, "data", k->last_data, sizeof(k->last_data));
  }
}

static struct wire_tls_ctx *g_cctx;

static void cli_start(struct cli *k, bool tls, uint32_t versions) {
  struct wire_aclient_opts o = {
      .loop = &g->loop,
      .versions = versions,
      .backoff_min_ms = 20,
      .backoff_max_ms = 200,
  };
  if (tls) {
    o.host = "127.0.0.1";
    o.port = g->port;
    o.tls = g_cctx;
    o.server_name = "localhost";
  } else {
    o.unix_path = g->path;
  }
  memset(k, 0, sizeof(*k));
  assert_int_equal(wire_aclient_new(&o, &c_cbs, k, &k->c), 0);
}

static bool is_up(void *arg) { return ((struct cli *)arg)->up > 0 && wire_aclient_session(((struct cli *)arg)->c); }

static struct {
  struct cli *k;
  int want;
} g_wait;

static bool got_replies(void *arg) {
  (void)arg;
  return g_wait.k->replies >= g_wait.want;
}

static void pack_data(msgpack_packer *pk, void *ud) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_str(pk, "data", ud);
}

/* One call, waited for. */
static void call(struct cli *k, const char *op, const char *data) {
  int before = k->replies;
  int64_t id = wire_aclient_call_name(k->c, op, data ? pack_data : NULL, (void *)data, c_reply, k);
  assert_true(id > 0);
  g_wait.k = k;
  g_wait.want = before + 1;
  assert_true(run_until(got_replies, NULL, 5000 * SLACK));
}

/* ---- tests ---- */

static void test_requests_roles_and_unknown_ops_over_unix_and_tls(void **state) {
  (void)state;
  struct cli u, t;
  srv_start(NULL);
  cli_start(&u, false, 0);
  cli_start(&t, true, 0);
  assert_true(run_until(is_up, &u, 5000 * SLACK));
  assert_true(run_until(is_up, &t, 5000 * SLACK));
  assert_int_equal(u.version, 2);
  assert_int_equal(t.version, 2);

  call(&u, "ping", NULL); /* admin over Unix: allowed */
  assert_int_equal(u.last_status, 0);
  assert_int_equal(u.last_code, 0);
  call(&u, "session.echo", "hi"); /* worker-only: refused */
  assert_int_equal(u.last_code, SD_E_DENIED);
  assert_int_equal(g->refused_role, 1);
  call(&u, "no.such.op", NULL); /* unknown op: an error reply, the session goes on */
  assert_true(u.last_code < 0);
  assert_non_null(strstr(u.last_error, "op"));
  call(&u, "ping", NULL);
  assert_int_equal(u.last_code, 0);

  call(&t, "session.echo", "over tls"); /* a worker over TLS */
  assert_int_equal(t.last_code, 0);
  assert_string_equal(t.last_data, "over tls");
  call(&t, "secret.ls", NULL); /* admin-only: refused for a worker */
  assert_int_equal(t.last_code, SD_E_DENIED);
  assert_int_equal(g->refused_role, 2);
  assert_int_equal(u.down + t.down, 0);

  wire_aclient_free(u.c);
  wire_aclient_free(t.c);
  srv_stop();
}

static void pack_n(msgpack_packer *pk, void *ud) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_uint(pk, "n", *(uint64_t *)ud);
}

static void push_some(unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    uint64_t seq = wire_pushq_last(g->q) + 1;
    assert_int_equal(wire_pushq_push(g->q, "test.topic", pack_n, &seq), (int64_t)seq);
  }
}

static struct cli *g_pk;
static uint64_t g_want;
static bool got_pushes(void *arg) {
  (void)arg;
  return g_pk->last_seq >= g_want && wire_pushq_acked(g->q) >= g_want;
}

static void pushes_in_order_and_resume(bool tls) {
  struct cli k;
  srv_start(NULL);
  cli_start(&k, tls, 0);
  assert_true(run_until(is_up, &k, 5000 * SLACK));
  g_pk = &k;

  push_some(200);
  g_want = 200;
  assert_true(run_until(got_pushes, NULL, 5000 * SLACK));

  /* The server loses the session; pushes made meanwhile wait in the queue. */
  for (int i = 0; i < MAXS; i++)
    if (g->sess[i]) {
      wire_session_drop(g->sess[i], -ECONNABORTED, "test: dropped");
      g->sess[i] = NULL;
    }
  push_some(50);
  g_want = 250;
  assert_true(run_until(got_pushes, NULL, 5000 * SLACK));
  assert_true(k.up >= 2); /* it reconnected ... */
  assert_int_equal(k.pushes, 250); /* ... and got each push once, in order */
  assert_int_equal(k.bad_order, 0);

  /* Pushes written but not acknowledged when the session ends are sent
   * again; the client tells (hello "resume") what it has seen, and nothing
   * is delivered twice. */
  push_some(30);
  for (int i = 0; i < MAXS; i++)
    if (g->sess[i]) {
      wire_session_free(g->sess[i]); /* no error frame, right after writing */
      g->sess[i] = NULL;
    }
  g_want = 280;
  bool got = run_until(got_pushes, NULL, 5000 * SLACK);
  if (!got)
    fprintf(stderr, "last_seq %llu acked %llu up %d down %d (%d) sessions %d\n",
            (unsigned long long)k.last_seq, (unsigned long long)wire_pushq_acked(g->q), k.up,
            k.down, k.last_down, g->accepted);
  assert_true(got);
  assert_int_equal(k.pushes, 280);
  assert_int_equal(k.bad_order, 0);
  assert_int_equal(wire_aclient_push_seen(k.c), 280);
  if (tls) /* the reconnections resumed the TLS session from a ticket */
    assert_true(g->resumed >= 1);

  wire_aclient_free(k.c);
  srv_stop();
}

static void test_pushes_arrive_in_order_and_resume_after_reconnect_unix(void **state) {
  (void)state;
  pushes_in_order_and_resume(false);
}

static void test_pushes_arrive_in_order_and_resume_after_reconnect_tls(void **state) {
  (void)state;
  pushes_in_order_and_resume(true);
}

/* ---- raw stub peers over the Unix socket ---- */

struct stub {
  uv_pipe_t pipe;
  uv_connect_t creq;
  bool connected, eof;
  uint64_t eof_ms;
  struct wire_reader *reader;
  msgpack_object frames_root[16];
  struct wire_value *vals[16];
  uint8_t *bytes[16];
  int nframes; /* the first 16 are kept, the rest only counted */
};

static void stub_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)h;
  (void)hint;
  static char buf[65536];
  *b = uv_buf_init(buf, sizeof(buf));
}

/* Feed n bytes to r and hand each complete frame to on_frame (which must
 * not keep it) before it is consumed. */
static void read_frames(struct wire_reader *r, const uint8_t *p, size_t n,
                        void (*on_frame)(void *ud, const uint8_t *f, size_t len), void *ud) {
  size_t used;
  while (n) {
    int rc = wire_reader_feed(r, p, n, &used);
    assert_true(rc >= 0);
    p += used;
    n -= used;
    if (rc == 1) {
      const uint8_t *f;
      size_t fl;
      wire_reader_frame(r, &f, &fl);
      on_frame(ud, f, fl);
      wire_reader_consume(r);
    }
  }
}

static void stub_frame(void *ud, const uint8_t *f, size_t fl) {
  struct stub *s = ud;
  if (s->nframes >= 16) {
    s->nframes++;
    return;
  }
  uint8_t *copy = malloc(fl);
  memcpy(copy, f, fl);
  s->bytes[s->nframes] = copy;
  assert_int_equal(wire_value_decode(copy, fl, &s->vals[s->nframes]), 0);
  s->frames_root[s->nframes] = *wire_value_root(s->vals[s->nframes]);
  s->nframes++;
}

static void stub_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  struct stub *s = st->data;
  if (n < 0) {
    s->eof = true;
    s->eof_ms = uv_now(&g->loop);
    uv_read_stop(st);
    return;
  }
  read_frames(s->reader, (const uint8_t *)b->base, (size_t)n, stub_frame, s);
}

static void stub_connected(uv_connect_t *req, int status) {
  struct stub *s = req->data;
  assert_int_equal(status, 0);
  s->connected = true;
  assert_int_equal(uv_read_start((uv_stream_t *)&s->pipe, stub_alloc, stub_read), 0);
}

static bool stub_is_connected(void *arg) { return ((struct stub *)arg)->connected; }

static void stub_open(struct stub *s) {
  memset(s, 0, sizeof(*s));
  assert_int_equal(wire_reader_new(0, &s->reader), 0);
  assert_int_equal(uv_pipe_init(&g->loop, &s->pipe, 0), 0);
  s->pipe.data = s;
  s->creq.data = s;
  uv_pipe_connect(&s->creq, &s->pipe, g->path, stub_connected);
  assert_true(run_until(stub_is_connected, s, 3000));
}

static void stub_close(struct stub *s) {
  for (int i = 0; i < s->nframes && i < 16; i++) {
    wire_value_free(s->vals[i]);
    free(s->bytes[i]);
  }
  wire_reader_free(s->reader);
  if (!uv_is_closing((uv_handle_t *)&s->pipe))
    uv_close((uv_handle_t *)&s->pipe, NULL);
  run_for(10);
}

static void stub_send(struct stub *s, const void *p, size_t n) {
  uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
  assert_int_equal(uv_try_write((uv_stream_t *)&s->pipe, &b, 1), (int)n);
}

static void stub_send_buf(struct stub *s, struct wire_buf *b, int n) {
  assert_true(n > 0);
  stub_send(s, b->data, (size_t)n);
  wire_buf_release(b);
}

static struct {
  struct stub *s;
  int n;
} g_sw;
static bool stub_has(void *arg) {
  (void)arg;
  return g_sw.s->nframes >= g_sw.n || g_sw.s->eof;
}
static void stub_wait(struct stub *s, int n) {
  g_sw.s = s;
  g_sw.n = n;
  assert_true(run_until(stub_has, NULL, 3000 * SLACK));
  assert_true(s->nframes >= n);
}

/* ---- an older server: a version-1 stub that answers a hello with
 * version 1 (as secretd's first admin server did) and echoes requests ---- */

struct old_srv {
  uv_pipe_t listener, conn;
  struct wire_reader *reader;
  char path[108];
  bool accepted;
  int hellos, requests;
};

static void old_write(struct old_srv *o, struct wire_buf *b, int n) {
  assert_true(n > 0);
  uv_buf_t ub = uv_buf_init((char *)b->data, (unsigned)n);
  assert_int_equal(uv_try_write((uv_stream_t *)&o->conn, &ub, 1), n);
  wire_buf_release(b);
}

static void old_frame(void *ud, const uint8_t *f, size_t len) {
  struct old_srv *o = ud;
  struct wire_value *v;
  struct wire_buf b = {0};
  char t[16] = "", data[300] = "";
  uint64_t id = 0;
  assert_int_equal(wire_value_decode(f, len, &v), 0);
  const msgpack_object *m = wire_value_root(v);
  if (wire_get_str(m, "t", t, sizeof(t)) == 0 && strcmp(t, "hello") == 0) {
    o->hellos++;
    old_write(o, &b, wire_hello_encode_server(&b, 1, WIRE_VERSION_BIT(1), 0, 0, 0));
  } else {
    const msgpack_object *args;
    o->requests++;
    assert_int_equal(wire_get_uint(m, "id", &id), 0);
    if (wire_get_map(m, "args", &args) == 0)
      (void)wire_get_str(args, "data", data, sizeof(data));
    old_write(o, &b, wire_response_encode_ok(&b, id, pack_echo, data));
  }
  wire_value_free(v);
}

static void old_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  struct old_srv *o = st->data;
  if (n < 0) {
    uv_read_stop(st);
    return;
  }
  read_frames(o->reader, (const uint8_t *)buf->base, (size_t)n, old_frame, o);
}

static void old_accept(uv_stream_t *l, int status) {
  struct old_srv *o = l->data;
  assert_int_equal(status, 0);
  assert_false(o->accepted); /* one connection is all this stub takes */
  assert_int_equal(uv_pipe_init(&g->loop, &o->conn, 0), 0);
  o->conn.data = o;
  assert_int_equal(uv_accept(l, (uv_stream_t *)&o->conn), 0);
  o->accepted = true;
  assert_int_equal(uv_read_start((uv_stream_t *)&o->conn, stub_alloc, old_read), 0);
}

static void old_start(struct old_srv *o) {
  memset(o, 0, sizeof(*o));
  snprintf(o->path, sizeof(o->path), "%s/old.sock", g_dir);
  assert_int_equal(wire_reader_new(0, &o->reader), 0);
  assert_int_equal(uv_pipe_init(&g->loop, &o->listener, 0), 0);
  o->listener.data = o;
  assert_int_equal(uv_pipe_bind(&o->listener, o->path), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&o->listener, 8, old_accept), 0);
}

static void old_stop(struct old_srv *o) {
  uv_close((uv_handle_t *)&o->listener, NULL);
  if (o->accepted)
    uv_close((uv_handle_t *)&o->conn, NULL);
  run_for(10);
  wire_reader_free(o->reader);
  unlink(o->path);
}

static uint64_t u64(const msgpack_object *m, const char *k) {
  uint64_t v = 0;
  assert_int_equal(wire_get_uint(m, k, &v), 0);
  return v;
}

static void stub_ping(struct stub *s, uint64_t id) {
  struct wire_buf b = {0};
  stub_send_buf(s, &b, wire_request_encode(&b, id, WIRE_OP_PING, NULL, NULL));
}

static void test_version1_stub_works_against_a_newer_server(void **state) {
  (void)state;
  struct stub s;
  struct wire_buf b = {0};
  srv_start(NULL);

  /* A version-1 peer with a hello: version 1, no features, requests work. */
  stub_open(&s);
  stub_send_buf(&s, &b, wire_hello_encode_client(&b, WIRE_VERSION_BIT(1), 0, 0));
  stub_ping(&s, 7);
  stub_wait(&s, 2);
  const msgpack_object *h = &s.frames_root[0];
  assert_int_equal(u64(h, "version"), 1);
  const msgpack_object *feats;
  assert_int_equal(wire_get_array(h, "features", &feats), 0);
  assert_int_equal(feats->via.array.size, 0);
  assert_int_equal(u64(&s.frames_root[1], "id"), 7);
  bool ok = false;
  assert_int_equal(wire_get_bool(&s.frames_root[1], "ok", &ok), 0);
  assert_true(ok);
  stub_close(&s);

  /* A version-1 peer that predates the hello: its first frame is a request. */
  stub_open(&s);
  stub_ping(&s, 1);
  stub_wait(&s, 1);
  assert_int_equal(u64(&s.frames_root[0], "id"), 1);
  stub_close(&s);

  /* A hello from the future: unknown versions, features and keys are
   * ignored; the highest common version is chosen. */
  stub_open(&s);
  msgpack_packer pk;
  wire_buf_init(&b, &pk);
  msgpack_pack_map(&pk, 6);
  wire_pack_kv_uint(&pk, "v", 1);
  wire_pack_kv_str(&pk, "t", "hello");
  wire_pack_str(&pk, "versions");
  msgpack_pack_array(&pk, 3);
  msgpack_pack_uint32(&pk, 1);
  msgpack_pack_uint32(&pk, 2);
  msgpack_pack_uint32(&pk, 9);
  wire_pack_str(&pk, "features");
  msgpack_pack_array(&pk, 2);
  wire_pack_str(&pk, "push");
  wire_pack_str(&pk, "teleport");
  wire_pack_kv_str(&pk, "colour", "blue");
  wire_pack_kv_uint(&pk, "resume", 0);
  stub_send_buf(&s, &b, wire_buf_finish(&b));
  stub_wait(&s, 1);
  assert_int_equal(u64(&s.frames_root[0], "version"), 2);
  assert_int_equal(wire_get_array(&s.frames_root[0], "features", &feats), 0);
  assert_int_equal(feats->via.array.size, 1); /* push only: it did not ask for heartbeats */
  stub_close(&s);

  /* No common version: a clear error, then the end. */
  stub_open(&s);
  stub_send_buf(&s, &b, wire_hello_encode_client(&b, WIRE_VERSION_BIT(9), 0, 0));
  stub_wait(&s, 1);
  int64_t code = 0;
  assert_int_equal(wire_get_int(&s.frames_root[0], "code", &code), 0);
  assert_int_equal(code, -EPROTONOSUPPORT);
  g_sw.n = 99;
  assert_true(run_until(stub_has, NULL, 3000 * SLACK));
  assert_true(s.eof);
  stub_close(&s);
  srv_stop();
}

static void test_newer_client_talks_to_an_older_server(void **state) {
  (void)state;
  struct wire_session_opts so = {.versions = WIRE_VERSION_BIT(1)}; /* an older server */
  struct cli k;
  srv_start(&so);
  cli_start(&k, true, 0);
  assert_true(run_until(is_up, &k, 5000 * SLACK));
  assert_int_equal(k.version, 1);
  call(&k, "session.echo", "old");
  assert_int_equal(k.last_code, 0);
  assert_string_equal(k.last_data, "old");
  assert_int_equal(g->pushq_attach_err, 1); /* no pushes in version 1 */
  assert_int_equal(wire_session_features(wire_aclient_session(k.c)), 0);
  wire_aclient_free(k.c);

  /* A server that knows version 1 only (a stub: not our session code). */
  struct old_srv old;
  old_start(&old);
  struct wire_aclient_opts o = {.loop = &g->loop, .unix_path = old.path};
  memset(&k, 0, sizeof(k));
  assert_int_equal(wire_aclient_new(&o, &c_cbs, &k, &k.c), 0);
  assert_true(run_until(is_up, &k, 5000 * SLACK));
  assert_int_equal(k.version, 1);
  assert_int_equal(old.hellos, 1);
  call(&k, "session.echo", "older");
  assert_int_equal(k.last_code, 0);
  assert_string_equal(k.last_data, "older");
  assert_int_equal(old.requests, 1);
  assert_int_equal(wire_session_features(wire_aclient_session(k.c)), 0);
  wire_aclient_free(k.c);
  old_stop(&old);
  srv_stop();
}

static bool stub_eof(void *arg) { return ((struct stub *)arg)->eof; }

static void test_silent_peer_is_dropped_on_heartbeat_while_others_are_served(void **state) {
  (void)state;
  struct wire_session_opts so = {.hb_ms = 100, .hb_missed = 3};
  struct stub s;
  struct cli k;
  struct wire_buf b = {0};
  srv_start(&so);
  cli_start(&k, false, 0);
  assert_true(run_until(is_up, &k, 5000 * SLACK));

  stub_open(&s);
  stub_send_buf(&s, &b, wire_hello_encode_client(&b, WIRE_VERSIONS_ALL, WIRE_FEAT_HEARTBEAT, 0));
  stub_wait(&s, 1);
  uint64_t t0 = uv_now(&g->loop);
  assert_int_equal(u64(&s.frames_root[0], "hb_ms"), 100);
  assert_int_equal(u64(&s.frames_root[0], "hb_missed"), 3);
  /* The stub reads (and gets heartbeats) but never sends one. */
  assert_true(run_until(stub_eof, &s, 2000 * SLACK));
  uint64_t took = s.eof_ms - t0;
  assert_true(took >= 250);
  assert_true(took <= 300 + 300 * SLACK);
  assert_int_equal(g->last_close_reason, -ETIMEDOUT);

  /* The async client heartbeats by itself: still up and served after many
   * heartbeat intervals. */
  run_for(700);
  assert_int_equal(k.down, 0);
  call(&k, "ping", NULL);
  assert_int_equal(k.last_code, 0);
  stub_close(&s);
  wire_aclient_free(k.c);
  srv_stop();
}

static void test_peer_stalling_mid_frame_or_idle_is_dropped_on_time(void **state) {
  (void)state;
  struct wire_session_opts so = {.frame_ms = 200, .idle_ms = 300};
  struct stub s, idle;
  struct cli k;
  srv_start(&so);
  cli_start(&k, false, 0);
  assert_true(run_until(is_up, &k, 5000 * SLACK));

  stub_open(&s);
  stub_open(&idle);
  uint64_t t0 = uv_now(&g->loop);
  static const uint8_t half[] = {0, 0, 0, 40, 0x85, 0xa1};
  stub_send(&s, half, sizeof(half));
  assert_true(run_until(stub_eof, &s, 2000 * SLACK));
  assert_true(s.eof_ms - t0 >= 150 && s.eof_ms - t0 <= 200 + 300 * SLACK);
  assert_true(run_until(stub_eof, &idle, 2000 * SLACK));
  assert_true(idle.eof_ms - t0 >= 250 && idle.eof_ms - t0 <= 300 + 300 * SLACK);
  /* the client, which asks meanwhile, is served */
  call(&k, "ping", NULL);
  assert_int_equal(k.last_code, 0);
  stub_close(&s);
  stub_close(&idle);
  wire_aclient_free(k.c);
  srv_stop();
}

static char g_big[1001];
static void pack_big(msgpack_packer *pk, void *ud) {
  (void)ud;
  msgpack_pack_map(pk, 1);
  wire_pack_kv_str(pk, "x", g_big);
}

static void test_slow_reader_blocks_pushes_until_it_reads_again(void **state) {
  (void)state;
  struct stub s;
  struct wire_buf b = {0};
  srv_start(NULL);
  memset(g_big, 'b', 1000);
  stub_open(&s);
  stub_send_buf(&s, &b, wire_hello_encode_client(&b, WIRE_VERSIONS_ALL, WIRE_FEAT_PUSH, 0));
  stub_wait(&s, 1);
  uv_read_stop((uv_stream_t *)&s.pipe); /* the receiver stops reading */
  struct wire_session *ss = NULL;
  for (int i = 0; i < MAXS; i++)
    if (g->sess[i])
      ss = g->sess[i];
  assert_non_null(ss);
  for (int i = 0; i < 4000; i++) /* about 4 MB: more than the socket buffers */
    assert_true(wire_pushq_push(g->q, "big", pack_big, NULL) > 0);
  run_for(200);
  assert_true(wire_session_blocked(ss)); /* the rest waits in the push queue */
  assert_int_equal(g->closed, 0);
  assert_int_equal(uv_read_start((uv_stream_t *)&s.pipe, stub_alloc, stub_read), 0);
  stub_wait(&s, 1 + 4000);
  assert_int_equal(s.nframes, 1 + 4000);
  assert_false(wire_session_blocked(ss));
  stub_close(&s);
  srv_stop();
}

/* A server stub that answers the hello (heartbeats every 100 ms, 3 may be
 * missed) and then says nothing. */
static uv_pipe_t g_mute_listener, g_mute_conn;
static bool g_mute_accepted;
static char g_mute_path[128];

static void mute_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)h;
  (void)hint;
  static char buf[4096];
  *b = uv_buf_init(buf, sizeof(buf));
}

static void mute_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  (void)b;
  static bool answered;
  if (n > 0 && !answered) { /* the client's hello came: answer once, then silence */
    struct wire_buf hb = {0};
    int len = wire_hello_encode_server(&hb, 2, WIRE_VERSIONS_ALL, WIRE_FEAT_HEARTBEAT, 100, 3);
    assert_true(len > 0);
    uv_buf_t ub = uv_buf_init((char *)hb.data, (unsigned)len);
    assert_int_equal(uv_try_write(st, &ub, 1), len);
    wire_buf_release(&hb);
    answered = true;
  }
  if (n < 0)
    uv_read_stop(st);
}

static void mute_conn(uv_stream_t *l, int status) {
  assert_int_equal(status, 0);
  if (g_mute_accepted) { /* a reconnection: leave it pending */
    uv_pipe_t *extra = malloc(sizeof(*extra));
    uv_pipe_init(&g->loop, extra, 0);
    uv_accept(l, (uv_stream_t *)extra);
    uv_close((uv_handle_t *)extra, (uv_close_cb)free);
    return;
  }
  g_mute_accepted = true;
  assert_int_equal(uv_pipe_init(&g->loop, &g_mute_conn, 0), 0);
  assert_int_equal(uv_accept(l, (uv_stream_t *)&g_mute_conn), 0);
  assert_int_equal(uv_read_start((uv_stream_t *)&g_mute_conn, mute_alloc, mute_read), 0);
}

static bool is_down(void *arg);

static void test_client_drops_a_server_silent_past_the_heartbeat_allowance(void **state) {
  (void)state;
  struct cli k;
  srv_start(NULL);
  snprintf(g_mute_path, sizeof(g_mute_path), "%s/mute", g_dir);
  assert_int_equal(uv_pipe_init(&g->loop, &g_mute_listener, 0), 0);
  assert_int_equal(uv_pipe_bind(&g_mute_listener, g_mute_path), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&g_mute_listener, 8, mute_conn), 0);
  struct wire_aclient_opts o = {.loop = &g->loop, .unix_path = g_mute_path,
                                .backoff_min_ms = 1000, .backoff_max_ms = 1000};
  memset(&k, 0, sizeof(k));
  assert_int_equal(wire_aclient_new(&o, &c_cbs, &k, &k.c), 0);
  assert_true(run_until(is_up, &k, 3000 * SLACK));
  uint64_t t0 = uv_now(&g->loop);
  assert_true(run_until(is_down, &k, 3000 * SLACK));
  uint64_t took = uv_now(&g->loop) - t0;
  assert_int_equal(k.last_down, -ETIMEDOUT);
  assert_true(took >= 250 && took <= 300 + 300 * SLACK);
  wire_aclient_free(k.c);
  uv_close((uv_handle_t *)&g_mute_listener, NULL);
  unlink(g_mute_path);
  srv_stop();
}

static bool is_down(void *arg) { return ((struct cli *)arg)->down > 0; }

static void test_client_cert_from_another_ca_never_gets_a_session(void **state) {
  (void)state;
  struct cli k;
  srv_start(NULL);
  struct wire_tls_ctx *saved = g_cctx;
  g_cctx = make_ctx(WIRE_TLS_CLIENT, "ca", "other-client");
  cli_start(&k, true, 0);
  assert_true(run_until(is_down, &k, 5000 * SLACK));
  assert_int_equal(k.up, 0);
  assert_true(k.last_down < 0);
  run_for(100);
  assert_int_equal(k.up, 0);
  assert_int_equal(g->requests, 0);
  wire_aclient_free(k.c);
  wire_tls_ctx_free(g_cctx);
  g_cctx = saved;
  srv_stop();
}

/* Over TLS: a peer that stops sending after its handshake and hello (no
 * heartbeats negotiated, so the idle limit applies) is dropped on time,
 * while another TLS client that keeps asking is served throughout. */
static void test_silent_tls_peer_is_dropped_on_time_while_others_are_served(void **state) {
  (void)state;
  struct wire_session_opts so = {.idle_ms = 300};
  struct cli quiet, busy;
  srv_start(&so);
  struct wire_aclient_opts o = {
      .loop = &g->loop,
      .host = "127.0.0.1",
      .port = g->port,
      .tls = g_cctx,
      .server_name = "localhost",
      .features_off = WIRE_FEATS_ALL,
      .backoff_min_ms = 5000,
      .backoff_max_ms = 5000,
  };
  memset(&quiet, 0, sizeof(quiet));
  assert_int_equal(wire_aclient_new(&o, &c_cbs, &quiet, &quiet.c), 0);
  cli_start(&busy, true, 0);
  assert_true(run_until(is_up, &busy, 5000 * SLACK));
  assert_true(run_until(is_up, &quiet, 5000 * SLACK));
  uint64_t t0 = uv_now(&g->loop);
  int served = 0;
  while (!quiet.down && uv_now(&g->loop) - t0 < 5000u * SLACK) {
    call(&busy, "ping", NULL);
    assert_int_equal(busy.last_code, 0);
    served++;
    run_for(50);
  }
  uint64_t took = uv_now(&g->loop) - t0;
  assert_int_equal(quiet.down, 1);
  assert_int_equal(quiet.last_down, -ETIMEDOUT);
  /* t0 is when the client saw the hello's answer, a little after the server's
   * idle clock started; each turn of the loop is a ping plus 50 ms. */
  assert_true(took >= 150 && took <= 300 + 1000 * SLACK);
  assert_true(served >= 2);
  assert_int_equal(busy.down, 0); /* asking is not idleness */
  call(&busy, "ping", NULL);
  assert_int_equal(busy.last_code, 0);
  wire_aclient_free(quiet.c);
  wire_aclient_free(busy.c);
  srv_stop();
}

static bool went_down(void *arg) { return ((struct cli *)arg)->down >= 1; }
static bool down_twice(void *arg) { return ((struct cli *)arg)->down >= 2; }

/* Host names: resolved (IPv4 and IPv6) before each connection, every
 * address tried in turn. `localhost` reaches the TLS server on 127.0.0.1
 * (where localhost also names ::1, that address is refused first and the
 * next one taken); a name that cannot resolve is refused with a clear
 * error, again at each retry; a host that is no name at all is refused at
 * once; a client freed while resolving leaks nothing. */
static void test_async_client_resolves_host_names(void **state) {
  (void)state;
  struct cli k;
  srv_start(NULL);
  struct wire_aclient_opts o = {
      .loop = &g->loop,
      .host = "localhost",
      .port = g->port,
      .tls = g_cctx,
      .server_name = "localhost",
      .backoff_min_ms = 20,
      .backoff_max_ms = 50,
  };
  memset(&k, 0, sizeof(k));
  assert_int_equal(wire_aclient_new(&o, &c_cbs, &k, &k.c), 0);
  assert_true(run_until(is_up, &k, 5000 * SLACK));
  assert_int_equal(k.down, 0);
  call(&k, "session.echo", "by name");
  assert_int_equal(k.last_code, 0);
  assert_string_equal(k.last_data, "by name");
  /* the server drops the session: the name is resolved again */
  for (int i = 0; i < MAXS; i++)
    if (g->sess[i]) {
      wire_session_free(g->sess[i]);
      g->sess[i] = NULL;
    }
  assert_true(run_until(went_down, &k, 3000 * SLACK));
  k.up = 0;
  assert_true(run_until(is_up, &k, 5000 * SLACK));
  assert_int_equal(wire_aclient_sessions(k.c), 2);
  wire_aclient_free(k.c);

  /* .invalid never resolves (RFC 6761) */
  char host[] = "no-such-host.invalid";
  o.host = host;
  memset(&k, 0, sizeof(k));
  assert_int_equal(wire_aclient_new(&o, &c_cbs, &k, &k.c), 0);
  host[0] = 'X'; /* the client keeps its own copy */
  assert_true(run_until(down_twice, &k, 10000 * SLACK));
  assert_int_equal(k.last_down, SD_E_RESOLVE);
  assert_int_equal(k.up, 0);
  assert_string_equal(sd_strerror(SD_E_RESOLVE), "host name does not resolve to an address");
  wire_aclient_free(k.c);

  /* not a host name: refused before any resolver sees it */
  static const char *const bad[] = {"", "bad host", "-a.example", "a-.example", "a..b",
                                    "a/b", "x\n"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    o.host = bad[i];
    assert_int_equal(wire_aclient_new(&o, &c_cbs, &k, &k.c), -EINVAL);
  }
  char longname[300];
  memset(longname, 'a', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = 0;
  o.host = longname;
  assert_int_equal(wire_aclient_new(&o, &c_cbs, &k, &k.c), -EINVAL);
  o.host = "localhost";
  o.port = 70000;
  assert_int_equal(wire_aclient_new(&o, &c_cbs, &k, &k.c), -EINVAL);

  /* freed while the name is being resolved */
  o.port = g->port;
  memset(&k, 0, sizeof(k));
  assert_int_equal(wire_aclient_new(&o, &c_cbs, &k, &k.c), 0);
  run_for(1); /* the retry timer fires: resolution starts */
  wire_aclient_free(k.c);
  run_for(50);
  assert_int_equal(k.up, 0);
  srv_stop();
}

static void test_backoff_is_jittered_exponential_and_bounded(void **state) {
  (void)state;
  for (unsigned n = 0; n < 40; n++)
    for (int i = 0; i < 50; i++) {
      unsigned d = 200u << (n < 8 ? n : 8);
      if (d > 30000)
        d = 30000;
      unsigned w = wire_aclient_backoff(200, 30000, n);
      assert_true(w >= d / 2 && w <= d);
    }
}

static int setup(void **state) {
  (void)state;
  signal(SIGPIPE, SIG_IGN);
  snprintf(g_dir, sizeof(g_dir), "/tmp/test_wire_session.XXXXXX");
  if (!mkdtemp(g_dir))
    return -1;
  if (tls_pki_ca(g_dir, "ca") < 0 || tls_pki_ca(g_dir, "other-ca") < 0 ||
      tls_pki_leaf(g_dir, "ca", "server", TLS_PKI_SERVER, 86400) < 0 ||
      tls_pki_leaf(g_dir, "ca", "client", TLS_PKI_CLIENT, 86400) < 0 ||
      tls_pki_leaf(g_dir, "other-ca", "other-client", TLS_PKI_CLIENT, 86400) < 0)
    return -1;
  struct wire_tls_config cfg = {
      .role = WIRE_TLS_CLIENT,
      .ca_file = tls_pki_path(g_dir, "ca", "pem"),
      .cert_file = tls_pki_path(g_dir, "client", "pem"),
      .key_file = tls_pki_path(g_dir, "client", "key"),
  };
  return wire_tls_ctx_new(&cfg, &g_cctx);
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  wire_tls_ctx_free(g_cctx);
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_requests_roles_and_unknown_ops_over_unix_and_tls),
      cmocka_unit_test(test_pushes_arrive_in_order_and_resume_after_reconnect_unix),
      cmocka_unit_test(test_pushes_arrive_in_order_and_resume_after_reconnect_tls),
      cmocka_unit_test(test_version1_stub_works_against_a_newer_server),
      cmocka_unit_test(test_newer_client_talks_to_an_older_server),
      cmocka_unit_test(test_silent_peer_is_dropped_on_heartbeat_while_others_are_served),
      cmocka_unit_test(test_peer_stalling_mid_frame_or_idle_is_dropped_on_time),
      cmocka_unit_test(test_client_cert_from_another_ca_never_gets_a_session),
      cmocka_unit_test(test_slow_reader_blocks_pushes_until_it_reads_again),
      cmocka_unit_test(test_client_drops_a_server_silent_past_the_heartbeat_allowance),
      cmocka_unit_test(test_silent_tls_peer_is_dropped_on_time_while_others_are_served),
      cmocka_unit_test(test_async_client_resolves_host_names),
      cmocka_unit_test(test_backoff_is_jittered_exponential_and_bounded),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
