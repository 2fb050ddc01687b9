/*
 * libFuzzer harness for the server end of a session (wire/session.c) fed
 * random bytes after a valid hello (version 2, pushes and heartbeats), in
 * chunks whose size the first input byte chooses (its low 6 bits). The
 * transport under it is an in-memory one (the bytes the session writes are
 * counted and dropped); with the first byte's high bits set it reports every
 * 2nd, 3rd or 4th write as over its high-water mark (a slow reader) and is
 * drained before the next chunk:
 * the TLS layer below is fuzzed by fuzz_tls_server. Requests are answered
 * at once or, for every other one, when the input ends; a push queue is
 * attached so that acks reach it. The session must never write after it
 * closed its transport, never hand over a request while its writer is
 * blocked, and must end or be freed without leaks.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "wire/session.h"

struct mem_transport {
  struct wire_transport transport;
  bool closed, paused, above_high;
  size_t written;
  unsigned writes, block_every; /* 0: never blocks */
};

static struct mem_transport *g_mt;

static int m_write(struct wire_transport *t, const void *buf, size_t len) {
  struct mem_transport *m = (struct mem_transport *)t;
  (void)buf;
  if (m->closed)
    abort(); /* the session wrote after closing its transport */
  m->written += len;
  if (m->block_every && ++m->writes % m->block_every == 0) {
    m->above_high = true;
    return 1;
  }
  return 0;
}
static void m_pause(struct wire_transport *t) { ((struct mem_transport *)t)->paused = true; }
static void m_resume(struct wire_transport *t) { ((struct mem_transport *)t)->paused = false; }
static size_t m_queued(const struct wire_transport *t) {
  (void)t;
  return 0;
}
static int m_peer(const struct wire_transport *t, struct wire_peer *ret) {
  (void)t;
  *ret = (struct wire_peer){.kind = WIRE_PEER_UNIX, .uid = 0};
  return 0;
}
static void m_close(struct wire_transport *t) { ((struct mem_transport *)t)->closed = true; }

static const struct wire_transport_ops m_ops = {
    .write = m_write, .pause = m_pause, .resume = m_resume,
    .queued = m_queued, .peer = m_peer, .close = m_close};

static struct {
  struct wire_session *s;
  struct wire_pushq *q;
  bool ended;
  uint64_t deferred[64];
  unsigned n_deferred, requests;
} F;

static int f_hello(struct wire_session *s, const struct wire_hello *h, void *ud) {
  (void)h;
  (void)ud;
  (void)wire_session_attach_pushq(s, F.q);
  return 0;
}

static void f_request(struct wire_session *s, const struct wire_request *req, void *ud) {
  (void)ud;
  if (g_mt->above_high)
    abort(); /* a request handled while the peer does not read */
  if (F.requests++ % 2 == 0 || F.n_deferred == 64)
    wire_session_reply_ok(s, req->id, NULL, NULL);
  else
    F.deferred[F.n_deferred++] = req->id;
}

static void f_close(struct wire_session *s, int reason, void *ud) {
  (void)s;
  (void)reason;
  (void)ud;
  F.ended = true;
}

static const struct wire_session_cbs f_cbs = {
    .on_hello = f_hello, .on_request = f_request, .on_close = f_close};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uv_loop_t loop;
  static bool loop_ready;
  struct mem_transport mt = {.transport.ops = &m_ops};
  g_mt = &mt;
  const struct wire_transport_cbs *tcbs = wire_session_transport_cbs();
  struct wire_session_opts o = {.loop = &loop, .side = WIRE_SESSION_SERVER};
  struct wire_buf hello = {0};
  size_t chunk;
  int n;

  if (!loop_ready) {
    if (uv_loop_init(&loop) < 0)
      abort();
    loop_ready = true;
  }
  memset(&F, 0, sizeof(F));
  if (wire_pushq_new(16, &F.q) < 0 || wire_session_new(&o, &f_cbs, NULL, &F.s) < 0)
    abort();
  wire_session_attach(F.s, &mt.transport);
  tcbs->on_ready(&mt.transport, F.s);
  for (uint64_t i = 1; i <= 3; i++)
    (void)wire_pushq_push(F.q, "fuzz", NULL, NULL);
  if ((n = wire_hello_encode_client(&hello, WIRE_VERSIONS_ALL, WIRE_FEATS_ALL, 0)) < 0)
    abort();
  tcbs->on_data(&mt.transport, hello.data, (size_t)n, F.s);
  wire_buf_release(&hello);
  chunk = size ? (size_t)data[0] % 64 + 1 : 1;
  mt.block_every = size && data[0] >= 64 ? (unsigned)(data[0] >> 6) + 1 : 0;
  for (size_t off = size ? 1 : 0; off < size && !F.ended;) {
    if (mt.above_high) { /* the peer reads everything: the queue drains */
      mt.above_high = false;
      tcbs->on_drain(&mt.transport, F.s);
      continue;
    }
    if (mt.paused)
      abort(); /* paused with nothing queued: it would never read again */
    size_t len = size - off < chunk ? size - off : chunk;
    tcbs->on_data(&mt.transport, data + off, len, F.s);
    off += len;
  }
  while (mt.above_high && !F.ended) { /* what it kept is handled once drained */
    mt.above_high = false;
    tcbs->on_drain(&mt.transport, F.s);
  }
  if (!F.ended) {
    for (unsigned i = 0; i < F.n_deferred; i++)
      wire_session_reply_ok(F.s, F.deferred[i], NULL, NULL);
    wire_session_free(F.s);
  }
  wire_pushq_free(F.q);
  while (uv_run(&loop, UV_RUN_NOWAIT)) /* the session's timer closes */
    ;
  return 0;
}
