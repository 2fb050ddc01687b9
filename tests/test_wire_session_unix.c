/*
 * wire/session over wire/unix_transport, against the blocking wire/client,
 * through real Unix sockets: a libuv server in a thread (built like
 * secretd's admin.c: the owner forgets its session in on_close and drops
 * late replies), blocking clients in the test thread. The session's
 * protections as a server: frame errors, in-flight cap, answers after the
 * peer's half-close, replies to a peer gone, a slow reader, idle and
 * slow-frame timeouts, the budget's eviction order, SIGPIPE. The blocking
 * client's own behaviour (connect, timeouts, threads) is checked here too.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "base/error.h"
#include "wire/client.h"
#include "wire/frame.h"
#include "wire/session.h"
#include "wire/unix_transport.h"

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define INC(x) __atomic_add_fetch(&(x), 1, __ATOMIC_SEQ_CST)

struct srv;
struct sconn {
  struct sconn *prev, *next;
  struct srv *s;
  struct wire_session *wc; /* NULL once closed */
  unsigned refs;
};

struct srv {
  char dir[64], path[108];
  uv_loop_t loop;
  uv_pipe_t listener;
  uv_async_t stop;
  pthread_t th;
  struct sconn *conns;
  int defer_ms;   /* 0: reply at once; > 0: after a timer; < 0: never */
  int requests, refused, closed, late_dropped, last_close_reason;
  size_t last_value_len;
  char last_refused_op[48];
};

struct pending {
  uv_timer_t timer;
  struct sconn *c;
  uint64_t id;
  enum wire_op op;
};

static void sconn_unref(struct sconn *c) {
  if (--c->refs == 0)
    free(c);
}

static void unlink_conn(struct sconn *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    c->s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
}

static void pack_version(msgpack_packer *pk, void *ud) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_str(pk, "version", "test");
}

static void pack_len(msgpack_packer *pk, void *ud) {
  struct srv *s = ud;
  msgpack_pack_map(pk, 1);
  wire_pack_kv_uint(pk, "len", s->last_value_len);
}

static void pack_big(msgpack_packer *pk, void *ud) {
  static uint8_t big[1024 * 1024];
  msgpack_pack_map(pk, 1);
  wire_pack_str(pk, "big");
  msgpack_pack_bin(pk, sizeof(big));
  msgpack_pack_bin_body(pk, big, sizeof(big));
}

static void reply(struct sconn *c, uint64_t id, enum wire_op op) {
  if (op == WIRE_OP_SECRET_INSPECT)
    wire_session_reply_ok(c->wc, id, pack_big, NULL);
  else if (op == WIRE_OP_SECRET_CREATE)
    wire_session_reply_ok(c->wc, id, pack_len, c->s);
  else if (op == WIRE_OP_PING)
    wire_session_reply_ok(c->wc, id, pack_version, NULL);
  else
    wire_session_reply_error(c->wc, id, -ENOENT, "no such secret");
}

static void timer_closed(uv_handle_t *h) {
  struct pending *p = (struct pending *)h;
  sconn_unref(p->c);
  free(p);
}

static void timer_fired(uv_timer_t *t) {
  struct pending *p = (struct pending *)t;
  if (p->c->wc)
    reply(p->c, p->id, p->op);
  else
    INC(p->c->s->late_dropped);
  uv_close((uv_handle_t *)t, timer_closed);
}

static void on_request(struct wire_session *wc, const struct wire_request *req, void *ud) {
  struct sconn *c = ud;
  struct srv *s = c->s;
  INC(s->requests);
  if (req->opcode == WIRE_OP_SECRET_CREATE) {
    const uint8_t *v;
    size_t n;
    assert_int_equal(wire_get_bin(req->args, "value", &v, &n), 0);
    s->last_value_len = n;
  }
  if (s->defer_ms == 0) {
    reply(c, req->id, req->opcode);
  } else if (s->defer_ms > 0) {
    struct pending *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    p->c = c;
    p->id = req->id;
    p->op = req->opcode;
    c->refs++;
    uv_timer_init(&s->loop, &p->timer);
    uv_timer_start(&p->timer, timer_fired, (uint64_t)s->defer_ms, 0);
  }
}

static void on_refused(struct wire_session *wc, const char *op, int code, void *ud) {
  struct sconn *c = ud;
  snprintf(c->s->last_refused_op, sizeof(c->s->last_refused_op), "%s", op);
  INC(c->s->refused);
}

static void on_close(struct wire_session *wc, int reason, void *ud) {
  struct sconn *c = ud;
  (void)wc;
  c->s->last_close_reason = reason;
  INC(c->s->closed);
  c->wc = NULL;
  unlink_conn(c);
  sconn_unref(c);
}

static const struct wire_session_cbs cbs = {
    .on_request = on_request,
    .on_refused = on_refused,
    .on_close = on_close,
};
/* Timeouts and budget for the next server's sessions (NULL: defaults). */
static const struct wire_session_opts *conn_opts;

/* The peer is this process, named by SO_PEERCRED: anything else is refused. */
static uint32_t resolve_role(const struct wire_peer *peer, void *ud) {
  (void)ud;
  if (peer->kind != WIRE_PEER_UNIX || peer->pid != getpid() || peer->uid != getuid())
    return 0;
  return WIRE_ROLE_ADMIN;
}

static void on_connection(uv_stream_t *l, int status) {
  struct srv *s = l->data;
  struct sconn *c = calloc(1, sizeof(*c));
  assert_non_null(c);
  struct wire_session_opts o = conn_opts ? *conn_opts : (struct wire_session_opts){0};
  struct wire_unix *u;
  uv_pipe_t *pipe = malloc(sizeof(*pipe));
  assert_non_null(pipe);
  assert_int_equal(status, 0);
  c->s = s;
  c->refs = 1;
  uv_pipe_init(&s->loop, pipe, 0);
  assert_int_equal(uv_accept(l, (uv_stream_t *)pipe), 0);
  o.loop = &s->loop;
  o.side = WIRE_SESSION_SERVER;
  o.resolve_role = resolve_role;
  assert_int_equal(wire_session_new(&o, &cbs, c, &c->wc), 0);
  assert_int_equal(wire_unix_new(pipe, wire_session_transport_cbs(), c->wc, &u), 0);
  wire_session_attach(c->wc, wire_unix_transport(u));
  assert_ptr_equal(wire_session_userdata(c->wc), c);
  c->next = s->conns;
  if (s->conns)
    s->conns->prev = c;
  s->conns = c;
}

static void on_stop(uv_async_t *a) {
  struct srv *s = a->data;
  uv_close((uv_handle_t *)&s->listener, NULL);
  while (s->conns) {
    struct sconn *c = s->conns;
    unlink_conn(c);
    wire_session_free(c->wc);
    c->wc = NULL;
    sconn_unref(c);
  }
  uv_close((uv_handle_t *)a, NULL);
}

static void *loop_main(void *arg) {
  struct srv *s = arg;
  uv_run(&s->loop, UV_RUN_DEFAULT);
  return NULL;
}

static struct srv *srv_start(int defer_ms) {
  struct srv *s = calloc(1, sizeof(*s));
  assert_non_null(s);
  snprintf(s->dir, sizeof(s->dir), "/tmp/test_wire_session_unix.XXXXXX");
  assert_non_null(mkdtemp(s->dir));
  snprintf(s->path, sizeof(s->path), "%s/sock", s->dir);
  s->defer_ms = defer_ms;
  assert_int_equal(uv_loop_init(&s->loop), 0);
  uv_pipe_init(&s->loop, &s->listener, 0);
  s->listener.data = s;
  assert_int_equal(uv_pipe_bind(&s->listener, s->path), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 128, on_connection), 0);
  uv_async_init(&s->loop, &s->stop, on_stop);
  s->stop.data = s;
  assert_int_equal(pthread_create(&s->th, NULL, loop_main, s), 0);
  return s;
}

static void srv_stop(struct srv *s) {
  uv_async_send(&s->stop);
  pthread_join(s->th, NULL);
  assert_int_equal(uv_loop_close(&s->loop), 0); /* every handle closed, nothing leaked */
  unlink(s->path);
  rmdir(s->dir);
  free(s);
}

/* Wait (bounded) until *counter reaches want. */
static void wait_for(int *counter, int want) {
  for (int i = 0; i < 500 && LOAD(*counter) < want; i++)
    usleep(10000);
  assert_int_equal(LOAD(*counter), want);
}

static int ping(struct wire_client *c) {
  struct wire_reply *rep = NULL;
  char v[16];
  int r = wire_client_call(c, WIRE_OP_PING, NULL, NULL, &rep);
  if (r < 0)
    return r;
  r = rep->r.ok ? 0 : rep->r.code;
  if (r == 0) {
    assert_int_equal(wire_get_str(rep->r.result, "version", v, sizeof(v)), 0);
    assert_string_equal(v, "test");
  }
  wire_reply_free(rep);
  return r;
}

static void test_ping_round_trip_now_and_deferred(void **state) {
  for (int defer = 0; defer <= 50; defer += 50) {
    struct srv *s = srv_start(defer);
    struct wire_client *c;
    assert_int_equal(wire_client_connect(s->path, 5000, &c), 0);
    for (int i = 0; i < 5; i++)
      assert_int_equal(ping(c), 0);
    wire_client_free(c);
    wait_for(&s->closed, 1);
    srv_stop(s);
  }
}

struct worker {
  const char *path;
  int ok;
};

static void *client_thread(void *arg) {
  struct worker *w = arg;
  struct wire_client *c;
  if (wire_client_connect(w->path, 10000, &c) < 0)
    return NULL;
  for (int i = 0; i < 50; i++)
    if (ping(c) == 0)
      w->ok++;
  wire_client_free(c);
  return NULL;
}

/* The blocking client offers every version; a server that speaks only
 * version 1 answers with 1 and serves it as before. */
static void test_blocking_client_talks_to_a_version1_server(void **state) {
  struct wire_session_opts o = {.versions = WIRE_VERSION_BIT(1)};
  conn_opts = &o;
  struct srv *s = srv_start(0);
  struct wire_client *c;
  assert_int_equal(wire_client_connect(s->path, 5000, &c), 0);
  assert_int_equal(ping(c), 0);
  assert_int_equal(wire_client_version(c), 1);
  wire_client_free(c);
  srv_stop(s);
  conn_opts = NULL;
}

static void test_many_clients_at_once(void **state) {
  struct srv *s = srv_start(1);
  pthread_t th[8];
  struct worker w[8];
  for (int i = 0; i < 8; i++) {
    w[i] = (struct worker){.path = s->path};
    pthread_create(&th[i], NULL, client_thread, &w[i]);
  }
  for (int i = 0; i < 8; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(w[i].ok, 50);
  }
  wait_for(&s->closed, 8);
  srv_stop(s);
}

struct shared {
  struct wire_client *c;
  int ok;
};

static void *shared_thread(void *arg) {
  struct shared *x = arg;
  for (int i = 0; i < 50; i++)
    x->ok += ping(x->c) == 0;
  return NULL;
}

static void test_one_client_shared_by_threads(void **state) {
  struct srv *s = srv_start(0);
  struct wire_client *c;
  pthread_t th[4];
  struct shared sh[4];
  assert_int_equal(wire_client_connect(s->path, 10000, &c), 0);
  for (int i = 0; i < 4; i++) {
    sh[i] = (struct shared){c, 0};
    pthread_create(&th[i], NULL, shared_thread, &sh[i]);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(sh[i].ok, 50);
  }
  wire_client_free(c);
  srv_stop(s);
}

static void test_bad_frame_length_gets_error_then_close_and_others_keep_working(void **state) {
  static const uint32_t lens[] = {0xffffffffu, 0, WIRE_MAX_FRAME + 1};
  for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
    struct srv *s = srv_start(0);
    struct wire_client *bad, *good;
    struct wire_reply *rep = NULL;
    uint8_t h[4];
    wire_frame_header(lens[i], h);
    assert_int_equal(wire_client_connect(s->path, 5000, &good), 0);
    assert_int_equal(wire_client_connect(s->path, 5000, &bad), 0);
    assert_int_equal(wire_client_send_raw(bad, h, sizeof(h)), 0);
    assert_int_equal(wire_client_read_reply(bad, &rep), 0);
    assert_false(rep->r.ok);
    assert_int_equal(rep->r.id, 0);
    assert_int_equal(rep->r.code, SD_E_PROTO);
    wire_reply_free(rep);
    assert_int_equal(wire_client_read_reply(bad, &rep), -ECONNRESET); /* closed */
    wait_for(&s->closed, 1);
    assert_int_equal(LOAD(s->refused), 1);
    assert_string_equal(s->last_refused_op, "malformed");
    assert_int_equal(ping(good), 0);
    wire_client_free(bad);
    wire_client_free(good);
    srv_stop(s);
  }
}

static void test_garbage_message_closes_and_truncated_frame_is_dropped(void **state) {
  struct srv *s = srv_start(0);
  struct wire_client *c;
  struct wire_reply *rep = NULL;
  static const uint8_t junk[] = {0, 0, 0, 3, 0xc1, 0xc1, 0xc1};
  assert_int_equal(wire_client_connect(s->path, 5000, &c), 0);
  assert_int_equal(wire_client_send_raw(c, junk, sizeof(junk)), 0);
  assert_int_equal(wire_client_read_reply(c, &rep), 0);
  assert_int_equal(rep->r.code, SD_E_PROTO);
  wire_reply_free(rep);
  wire_client_free(c);
  wait_for(&s->closed, 1);

  /* a frame cut short, then the client goes away */
  static const uint8_t cut[] = {0, 0, 0, 100, 0x84, 0xa1};
  assert_int_equal(wire_client_connect(s->path, 5000, &c), 0);
  assert_int_equal(wire_client_send_raw(c, cut, sizeof(cut)), 0);
  wire_client_free(c);
  wait_for(&s->closed, 2);
  assert_int_equal(LOAD(s->requests), 0);
  srv_stop(s);
}

/* One hand-made request frame with the given op and an empty args map. */
static size_t raw_request(uint8_t *out, size_t cap, uint64_t id, const char *op) {
  struct wire_buf b;
  msgpack_packer pk;
  wire_buf_init(&b, &pk);
  msgpack_pack_map(&pk, 4);
  wire_pack_kv_uint(&pk, "v", 1);
  wire_pack_kv_uint(&pk, "id", id);
  wire_pack_kv_str(&pk, "op", op);
  wire_pack_str(&pk, "args");
  msgpack_pack_map(&pk, 0);
  int n = wire_buf_finish(&b);
  assert_true(n > 0 && (size_t)n <= cap);
  memcpy(out, b.data, (size_t)n);
  wire_buf_release(&b);
  return (size_t)n;
}

static void test_unknown_op_is_refused_and_connection_stays(void **state) {
  struct srv *s = srv_start(0);
  struct wire_client *c;
  struct wire_reply *rep = NULL;
  uint8_t f[128];
  size_t n = raw_request(f, sizeof(f), 77, "secret.explode");
  assert_int_equal(wire_client_connect(s->path, 5000, &c), 0);
  assert_int_equal(wire_client_send_raw(c, f, n), 0);
  assert_int_equal(wire_client_read_reply(c, &rep), 0);
  assert_false(rep->r.ok);
  assert_int_equal(rep->r.id, 77);
  assert_int_equal(rep->r.code, SD_E_UNSUPPORTED);
  assert_string_equal(rep->r.error, "unsupported operation 'secret.explode'");
  wire_reply_free(rep);
  wait_for(&s->refused, 1);
  assert_string_equal(s->last_refused_op, "secret.explode");
  assert_int_equal(ping(c), 0);
  assert_int_equal(LOAD(s->closed), 0);
  wire_client_free(c);
  srv_stop(s);
}

static void test_reply_after_client_left_is_dropped_safely(void **state) {
  struct srv *s = srv_start(100);
  struct wire_client *c;
  uint8_t f[128];
  size_t n = raw_request(f, sizeof(f), 1, "ping");
  assert_int_equal(wire_client_connect(s->path, 5000, &c), 0);
  assert_int_equal(wire_client_send_raw(c, f, n), 0);
  wait_for(&s->requests, 1);
  wire_client_free(c); /* gone before the reply */
  /* the late reply either fails to write (connection then closes) or is
   * dropped by the owner after on_close: both without touching freed memory */
  wait_for(&s->closed, 1);
  usleep(150000);
  assert_int_equal(LOAD(s->requests), 1);
  srv_stop(s);
}

static void test_half_closed_client_still_gets_its_reply(void **state) {
  struct srv *s = srv_start(50);
  struct wire_client *c;
  struct wire_reply *rep = NULL;
  uint8_t f[128];
  size_t n = raw_request(f, sizeof(f), 5, "ping");
  assert_int_equal(wire_client_connect(s->path, 5000, &c), 0);
  assert_int_equal(wire_client_send_raw(c, f, n), 0);
  assert_int_equal(shutdown(wire_client_fd(c), SHUT_WR), 0);
  assert_int_equal(wire_client_read_reply(c, &rep), 0);
  assert_true(rep->r.ok);
  assert_int_equal(rep->r.id, 5);
  wire_reply_free(rep);
  wait_for(&s->closed, 1);
  wire_client_free(c);
  srv_stop(s);
}

static void test_too_many_requests_in_flight_are_refused(void **state) {
  struct srv *s = srv_start(200);
  struct wire_client *c;
  const int total = WIRE_SESSION_MAX_INFLIGHT + 6;
  uint8_t *all = malloc((size_t)total * 64), f[64];
  size_t len = 0;
  assert_non_null(all);
  for (int i = 0; i < total; i++) {
    size_t n = raw_request(f, sizeof(f), (uint64_t)i + 1, "ping");
    memcpy(all + len, f, n);
    len += n;
  }
  assert_int_equal(wire_client_connect(s->path, 5000, &c), 0);
  assert_int_equal(wire_client_send_raw(c, all, len), 0);
  int ok = 0, busy = 0;
  for (int i = 0; i < total; i++) {
    struct wire_reply *rep = NULL;
    assert_int_equal(wire_client_read_reply(c, &rep), 0);
    ok += rep->r.ok;
    busy += rep->r.code == -EBUSY;
    wire_reply_free(rep);
  }
  assert_int_equal(ok, WIRE_SESSION_MAX_INFLIGHT);
  assert_int_equal(busy, 6);
  wire_client_free(c);
  free(all);
  srv_stop(s);
}

static void pack_ref(msgpack_packer *pk, void *ud) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_str(pk, "ref", "x");
}

/* total requests for replies of 1 MiB, sent at once without reading. */
static void send_inspect_burst(struct wire_client *c, int total) {
  struct wire_buf b = {0};
  for (int i = 0; i < total; i++) {
    int n = wire_request_encode(&b, (uint64_t)i + 100, WIRE_OP_SECRET_INSPECT, pack_ref, NULL);
    assert_true(n > 0);
    assert_int_equal(wire_client_send_raw(c, b.data, (size_t)n), 0);
    wire_buf_release(&b);
  }
}

/* Each of them answered, in order, in full. */
static void read_inspect_replies(struct wire_client *c, int total) {
  for (int i = 0; i < total; i++) {
    struct wire_reply *rep = NULL;
    const uint8_t *p;
    size_t n;
    assert_int_equal(wire_client_read_reply(c, &rep), 0);
    assert_true(rep->r.ok);
    assert_int_equal(rep->r.id, (uint64_t)i + 100);
    assert_int_equal(wire_get_bin(rep->r.result, "big", &p, &n), 0);
    assert_int_equal(n, 1024 * 1024);
    wire_reply_free(rep);
  }
}

/* 20 requests for replies of 1 MiB arrive at once, unread: the session
 * answers until the write queue passes its high-water mark, then keeps the
 * rest of what it read and reads nothing more (otherwise the replies would
 * pass the transport's hard limit and be lost); the client drains them all,
 * each answered, and the connection still works. */
static void test_slow_reader_pauses_and_resumes(void **state) {
  struct srv *s = srv_start(0);
  struct wire_client *c;
  assert_int_equal(wire_client_connect(s->path, 10000, &c), 0);
  send_inspect_burst(c, 20);
  usleep(200000);
  read_inspect_replies(c, 20);
  assert_int_equal(ping(c), 0);
  wire_client_free(c);
  srv_stop(s);
}

/* The same burst, then the client half-closes at once: every request it
 * sent is still answered (those kept while the writer was blocked too),
 * and only then does the server end the session. */
static void test_half_closed_slow_reader_gets_every_reply(void **state) {
  struct srv *s = srv_start(0);
  struct wire_client *c;
  assert_int_equal(wire_client_connect(s->path, 10000, &c), 0);
  assert_int_equal(ping(c), 0); /* the hello's answer is read */
  send_inspect_burst(c, 20);
  assert_int_equal(shutdown(wire_client_fd(c), SHUT_WR), 0);
  usleep(200000);
  assert_int_equal(LOAD(s->closed), 0); /* replies still to write */
  read_inspect_replies(c, 20);
  wait_for(&s->closed, 1);
  assert_int_equal(LOAD(s->last_close_reason), 0); /* the peer's orderly end */
  assert_int_equal(LOAD(s->requests), 21);
  wire_client_free(c);
  srv_stop(s);
}

struct value_args {
  uint8_t *v;
  size_t n;
};

static void pack_create(msgpack_packer *pk, void *ud) {
  struct value_args *a = ud;
  msgpack_pack_map(pk, 2);
  wire_pack_kv_str(pk, "name", "big");
  wire_pack_str(pk, "value");
  msgpack_pack_bin(pk, a->n);
  msgpack_pack_bin_body(pk, a->v, a->n);
}

static void test_largest_value_passes_and_oversized_request_is_refused_locally(void **state) {
  struct srv *s = srv_start(0);
  struct wire_client *c;
  struct wire_reply *rep = NULL;
  struct value_args a = {.n = 500 * 1024};
  uint64_t len = 0;
  a.v = calloc(1, WIRE_MAX_FRAME + 1);
  assert_non_null(a.v);
  assert_int_equal(wire_client_connect(s->path, 5000, &c), 0);
  assert_int_equal(wire_client_call(c, WIRE_OP_SECRET_CREATE, pack_create, &a, &rep), 0);
  assert_true(rep->r.ok);
  assert_int_equal(wire_get_uint(rep->r.result, "len", &len), 0);
  assert_int_equal(len, 500 * 1024);
  wire_reply_free(rep);
  a.n = WIRE_MAX_FRAME + 1;
  assert_int_equal(wire_client_call(c, WIRE_OP_SECRET_CREATE, pack_create, &a, &rep), -EMSGSIZE);
  assert_int_equal(ping(c), 0); /* nothing was sent: the client still works */
  wire_client_free(c);
  free(a.v);
  srv_stop(s);
}

static void test_error_reply_reaches_client(void **state) {
  struct srv *s = srv_start(0);
  struct wire_client *c;
  struct wire_reply *rep = NULL;
  assert_int_equal(wire_client_connect(s->path, 5000, &c), 0);
  assert_int_equal(wire_client_call(c, WIRE_OP_SECRET_LS, NULL, NULL, &rep), 0);
  assert_false(rep->r.ok);
  assert_int_equal(rep->r.code, -ENOENT);
  assert_string_equal(rep->r.error, "no such secret");
  wire_reply_free(rep);
  wire_client_free(c);
  srv_stop(s);
}

static void test_client_timeout_when_no_reply(void **state) {
  struct srv *s = srv_start(-1);
  struct wire_client *c;
  struct wire_reply *rep = NULL;
  assert_int_equal(wire_client_connect(s->path, 200, &c), 0);
  assert_int_equal(wire_client_call(c, WIRE_OP_PING, NULL, NULL, &rep), -ETIMEDOUT);
  assert_int_equal(wire_client_call(c, WIRE_OP_PING, NULL, NULL, &rep), -ENOTCONN);
  wire_client_free(c);
  srv_stop(s);
}

static void test_connect_fails_at_once_without_a_listener(void **state) {
  struct wire_client *c = NULL;
  char dir[] = "/tmp/test_wire_client.XXXXXX", path[64];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/none", dir);
  assert_int_equal(wire_client_connect(path, 0, &c), -ENOENT);
  /* a stale socket file: bound once, nobody listening */
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  close(fd);
  assert_int_equal(wire_client_connect(path, 0, &c), -ECONNREFUSED);
  unlink(path);
  rmdir(dir);
  char longp[200];
  memset(longp, 'a', sizeof(longp) - 1);
  longp[sizeof(longp) - 1] = 0;
  assert_int_equal(wire_client_connect(longp, 0, &c), -ENAMETOOLONG);
  assert_null(c);
  wire_client_free(NULL);
  wire_reply_free(NULL);
  wire_session_free(NULL);
}

/* A listener that never accepts: once its backlog is full, connect waits
 * (bounded by the timeout) instead of failing as if nobody listened. */
static void test_connect_waits_while_backlog_is_full(void **state) {
  char dir[] = "/tmp/test_wire_client.XXXXXX";
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  struct wire_client *c[8] = {0};
  int got_timeout = 0, connected = 0;
  assert_non_null(mkdtemp(dir));
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s", dir);
  int l = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(listen(l, 0), 0);
  for (int i = 0; i < 8; i++) {
    int r = wire_client_connect(sa.sun_path, 100, &c[i]);
    if (r == 0)
      connected++;
    else if (r == -ETIMEDOUT)
      got_timeout++;
    else
      fail_msg("unexpected %d", r);
    if (got_timeout)
      break;
  }
  assert_true(connected >= 1);
  assert_int_equal(got_timeout, 1);
  for (int i = 0; i < 8; i++)
    wire_client_free(c[i]);
  close(l);
  unlink(sa.sun_path);
  rmdir(dir);
}

/* ---- starvation: timeouts and the budget for incomplete frames ---- */

static uint8_t filler[128 * 1024];

/* The next frame from the server must be an error with this code, then EOF. */
static void expect_dropped_with(struct wire_client *c, int code) {
  struct wire_reply *rep = NULL;
  assert_int_equal(wire_client_read_reply(c, &rep), 0);
  assert_false(rep->r.ok);
  assert_int_equal(rep->r.code, code);
  wire_reply_free(rep);
  assert_int_equal(wire_client_read_reply(c, &rep), -ECONNRESET);
}

static void test_idle_connection_is_closed_and_an_active_one_is_not(void **state) {
  struct wire_session_opts o = {.idle_ms = 250};
  conn_opts = &o;
  struct srv *s = srv_start(0);
  struct wire_client *idle, *busy;
  assert_int_equal(wire_client_connect(s->path, 3000, &idle), 0);
  assert_int_equal(wire_client_connect(s->path, 3000, &busy), 0);
  for (int i = 0; i < 12; i++) { /* 720 ms of pings, 60 ms apart */
    assert_int_equal(ping(busy), 0);
    usleep(60000);
  }
  expect_dropped_with(idle, -ETIMEDOUT);
  assert_int_equal(LOAD(s->closed), 1);
  assert_int_equal(ping(busy), 0);
  wire_client_free(idle);
  wire_client_free(busy);
  srv_stop(s);
  conn_opts = NULL;
}

static void test_frame_sent_too_slowly_is_closed(void **state) {
  struct wire_session_opts o = {.frame_ms = 300, .idle_ms = 10000};
  conn_opts = &o;
  struct srv *s = srv_start(0);
  struct wire_client *slow;
  assert_int_equal(wire_client_connect(s->path, 3000, &slow), 0);
  uint8_t h[4];
  wire_frame_header(1000, h);
  assert_int_equal(wire_client_send_raw(slow, h, sizeof(h)), 0);
  /* one byte every 50 ms: alive, but the frame would take 50 s */
  int sent = 0;
  for (int i = 0; i < 40; i++) {
    if (wire_client_send_raw(slow, filler, 1) < 0)
      break;
    sent++;
    usleep(50000);
    if (LOAD(s->closed))
      break;
  }
  assert_true(sent < 20); /* closed after about 300 ms, not 2 s */
  expect_dropped_with(slow, -ETIMEDOUT);
  wire_client_free(slow);
  srv_stop(s);
  conn_opts = NULL;
}

static void send_partial(struct wire_client *c, size_t declared, size_t n) {
  uint8_t h[4];
  wire_frame_header((uint32_t)declared, h);
  assert_int_equal(wire_client_send_raw(c, h, sizeof(h)), 0);
  assert_int_equal(wire_client_send_raw(c, filler, n), 0);
  usleep(100000); /* let the server read it */
}

static void test_full_budget_closes_the_longest_stalled_connection(void **state) {
  struct wire_budget *b;
  assert_int_equal(wire_budget_new(256 * 1024, &b), 0);
  struct wire_session_opts o = {.budget = b};
  conn_opts = &o;
  struct srv *s = srv_start(0);
  struct wire_client *first, *stalled, *last, *normal;
  assert_int_equal(wire_client_connect(s->path, 3000, &first), 0);
  assert_int_equal(wire_client_connect(s->path, 3000, &stalled), 0);
  assert_int_equal(wire_client_connect(s->path, 3000, &last), 0);
  send_partial(first, 1u << 20, 100 * 1024);   /* holds 128 KiB */
  send_partial(stalled, 1u << 20, 100 * 1024); /* holds 128 KiB: budget full */
  assert_int_equal(wire_client_send_raw(first, filler, 1024), 0); /* first progresses */
  usleep(100000);
  assert_int_equal(LOAD(s->closed), 0);
  send_partial(last, 1u << 20, 100 * 1024); /* needs room: `stalled` goes */
  expect_dropped_with(stalled, -ENOBUFS);
  wait_for(&s->closed, 1);
  assert_int_equal(wire_budget_evictions(b), 1);
  assert_true(wire_budget_used(b) <= 256 * 1024);
  /* A normal client is still served: its small frame needs room too, and
   * the next longest stalled (`first`) makes it. `last` stays. */
  assert_int_equal(wire_client_connect(s->path, 3000, &normal), 0);
  assert_int_equal(ping(normal), 0);
  expect_dropped_with(first, -ENOBUFS);
  assert_int_equal(wire_budget_evictions(b), 2);
  assert_int_equal(ping(normal), 0);
  assert_int_equal(LOAD(s->closed), 2);
  wire_client_free(first);
  wire_client_free(stalled);
  wire_client_free(last);
  wire_client_free(normal);
  srv_stop(s);
  assert_int_equal(wire_budget_used(b), 0);
  wire_budget_free(b);
  conn_opts = NULL;
}

int main(void) {
  signal(SIGPIPE, SIG_IGN); /* as secretd does: see wire/unix_transport.h */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ping_round_trip_now_and_deferred),
      cmocka_unit_test(test_blocking_client_talks_to_a_version1_server),
      cmocka_unit_test(test_many_clients_at_once),
      cmocka_unit_test(test_one_client_shared_by_threads),
      cmocka_unit_test(test_bad_frame_length_gets_error_then_close_and_others_keep_working),
      cmocka_unit_test(test_garbage_message_closes_and_truncated_frame_is_dropped),
      cmocka_unit_test(test_unknown_op_is_refused_and_connection_stays),
      cmocka_unit_test(test_reply_after_client_left_is_dropped_safely),
      cmocka_unit_test(test_half_closed_client_still_gets_its_reply),
      cmocka_unit_test(test_too_many_requests_in_flight_are_refused),
      cmocka_unit_test(test_largest_value_passes_and_oversized_request_is_refused_locally),
      cmocka_unit_test(test_error_reply_reaches_client),
      cmocka_unit_test(test_slow_reader_pauses_and_resumes),
      cmocka_unit_test(test_half_closed_slow_reader_gets_every_reply),
      cmocka_unit_test(test_client_timeout_when_no_reply),
      cmocka_unit_test(test_connect_fails_at_once_without_a_listener),
      cmocka_unit_test(test_connect_waits_while_backlog_is_full),
      cmocka_unit_test(test_idle_connection_is_closed_and_an_active_one_is_not),
      cmocka_unit_test(test_frame_sent_too_slowly_is_closed),
      cmocka_unit_test(test_full_budget_closes_the_longest_stalled_connection),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
