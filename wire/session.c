/*
 * The session: see session.h. Reference counted (owner, the
 * timer, and each callback into the owner while it runs); `dead` means the
 * owner has been told goodbye (on_close) or said it (free), after which no
 * owner callback runs and the transport is closed.
 */
#include "wire/session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/secbuf.h"
#include "wire/frame.h"

static _Thread_local struct wire_budget *tl_budget;
static _Thread_local unsigned tl_budget_users;

struct pending { /* client: a request sent or waiting for the hello */
  struct pending *next;
  uint64_t id;
  wire_reply_fn cb;
  void *cb_ud;
  struct wire_buf buf; /* the frame while unsent */
  size_t len;
  bool sent;
};

struct push_entry {
  struct push_entry *next;
  uint64_t seq;
  struct wire_buf buf;
  size_t len;
};

struct wire_pushq {
  struct push_entry *head, *tail; /* unacknowledged, in seq order */
  struct push_entry *next_send;   /* first not yet written on the session */
  unsigned n, max;
  uint64_t last, acked, sent; /* last assigned, highest acked, highest written */
  struct wire_session *s;
};

struct wire_session {
  struct wire_session_opts o;
  const struct wire_session_cbs *cbs;
  void *ud;
  struct wire_transport *t;
  struct wire_reader *reader;
  /* Bytes read after a frame whose answer blocked the writer: kept (in
   * secret memory: they may carry values) until the peer reads again, so
   * that a peer that does not read cannot have more answered meanwhile.
   * At most one on_data's worth. */
  struct secbuf *stash;
  uv_timer_t timer;
  unsigned refs;
  bool timer_live, dead, ready, hello_done, eof, blocked, closing;
  uint32_t version, features, role;
  uint32_t hb_ms, hb_missed;
  unsigned inflight;
  uint64_t last_active, last_byte, frame_start, last_hb_sent;
  bool timing_frame;
  struct wire_hello peer_hello;
  struct wire_pushq *pushq;
  /* client */
  struct pending *pend;
  uint64_t next_id, push_seen;
};

static void s_ref(struct wire_session *s) { s->refs++; }

static void s_unref(struct wire_session *s) {
  if (--s->refs > 0)
    return;
  wire_reader_free(s->reader);
  secbuf_free(s->stash);
  if (--tl_budget_users == 0) {
    wire_budget_free(tl_budget);
    tl_budget = NULL;
  }
  free(s);
}

static uint64_t now_ms(const struct wire_session *s) { return uv_now(s->o.loop); }

static void timer_closed(uv_handle_t *h) { s_unref(h->data); }

static void fail_pending(struct wire_session *s, int code) {
  while (s->pend) {
    struct pending *p = s->pend;
    s->pend = p->next;
    wire_buf_release(&p->buf);
    if (p->cb)
      p->cb(s, code, NULL, p->cb_ud);
    free(p);
  }
}

static void pushq_detach(struct wire_session *s) {
  if (s->pushq) {
    s->pushq->s = NULL;
    s->pushq->next_send = NULL;
    s->pushq = NULL;
  }
}

/* Stop everything of ours; the transport closes (flushing what is queued). */
static void teardown(struct wire_session *s) {
  s->dead = true;
  pushq_detach(s);
  if (s->timer_live) {
    s->timer_live = false;
    uv_close((uv_handle_t *)&s->timer, timer_closed);
  }
  wire_transport_close(s->t);
  s->t = NULL;
}

/* The session ends by itself: tell the owner once. Only from the loop. */
static void finish(struct wire_session *s, int reason) {
  if (s->dead)
    return;
  s_ref(s);
  struct wire_transport *t = s->t;
  s->t = NULL;
  s->dead = true;
  fail_pending(s, reason < 0 ? reason : -ECONNRESET);
  s->cbs->on_close(s, reason, s->ud);
  s->t = t;
  teardown(s);
  s_unref(s); /* ours */
  s_unref(s); /* the owner's */
}

void wire_session_free(struct wire_session *s) {
  if (!s || s->dead)
    return;
  fail_pending(s, -ECANCELED);
  teardown(s);
  s_unref(s);
}

/* ---- writing ---- */

static void pump_pushes(struct wire_session *s);

/* Write a finished frame; b is released in every case. 0, or a negative
 * errno (the session is then ending: the caller must not go on). */
static int send_frame(struct wire_session *s, struct wire_buf *b, size_t len) {
  int r;
  if (s->dead || !s->t || s->closing) {
    wire_buf_release(b);
    return -EPIPE;
  }
  r = wire_transport_write(s->t, b->data, len);
  wire_buf_release(b);
  if (r == 1 && !s->blocked) {
    s->blocked = true; /* flow control: the peer reads slower than it asks */
    wire_transport_pause(s->t);
  }
  return r < 0 ? r : 0;
}

static int send_error(struct wire_session *s, uint64_t id, int code, const char *msg) {
  struct wire_buf b = {0};
  int n = wire_response_encode_error(&b, id, code, msg);
  if (n < 0) {
    wire_buf_release(&b);
    return n;
  }
  return send_frame(s, &b, (size_t)n);
}

static void arm(struct wire_session *s);

/* The stream cannot be trusted any more: answer once, then end. */
static void protocol_error(struct wire_session *s, int code, const char *msg, const char *op) {
  if (s->dead)
    return;
  send_error(s, 0, code, msg);
  if (s->cbs->on_refused && s->o.side == WIRE_SESSION_SERVER)
    s->cbs->on_refused(s, op ? op : "malformed", code, s->ud);
  finish(s, code);
}

void wire_session_drop(struct wire_session *s, int code, const char *msg) {
  if (!s || s->dead)
    return;
  if (s->t && !s->blocked)
    send_error(s, 0, code, msg);
  wire_session_free(s);
}

static void on_evict(struct wire_reader *r, void *ud) {
  struct wire_session *s = ud;
  (void)r;
  if (s->t && !s->blocked)
    send_error(s, 0, -ENOBUFS, "connection dropped: too many incomplete frames held");
  finish(s, -ENOBUFS);
}

/* ---- timers ---- */

static bool heartbeats(const struct wire_session *s) {
  return (s->features & WIRE_FEAT_HEARTBEAT) && s->hb_ms;
}

static bool busy(const struct wire_session *s) {
  return s->inflight || s->pend || s->timing_frame || s->stash ||
         (s->t && wire_transport_queued(s->t));
}

/* After the peer's end of sending: everything it asked has been answered. */
static bool eof_done(const struct wire_session *s) {
  return s->eof && s->inflight == 0 && !s->stash;
}

static void on_timer(uv_timer_t *t);

static void arm(struct wire_session *s) {
  if (!s->timer_live || s->dead || !s->ready)
    return;
  uint64_t now = now_ms(s), due = UINT64_MAX;
  if (s->timing_frame && s->o.frame_ms != UINT64_MAX)
    due = s->frame_start + s->o.frame_ms;
  if (heartbeats(s)) {
    uint64_t silent = s->last_byte + (uint64_t)s->hb_ms * s->hb_missed;
    uint64_t beat = s->last_hb_sent + s->hb_ms;
    due = silent < due ? silent : due;
    due = beat < due ? beat : due;
  } else if (s->o.idle_ms != UINT64_MAX) {
    uint64_t idle = s->last_active + s->o.idle_ms;
    due = idle < due ? idle : due;
  }
  if (due == UINT64_MAX) {
    uv_timer_stop(&s->timer);
    return;
  }
  uv_timer_start(&s->timer, on_timer, due > now ? due - now : 0, 0);
}

static void send_heartbeat(struct wire_session *s) {
  struct wire_buf b = {0};
  int n = wire_heartbeat_encode(&b);
  s->last_hb_sent = now_ms(s);
  if (n < 0 || s->blocked) { /* a blocked writer: the queue itself shows life */
    wire_buf_release(&b);
    return;
  }
  if (send_frame(s, &b, (size_t)n) < 0)
    finish(s, -ECONNRESET);
}

static void timeout(struct wire_session *s, const char *msg) {
  if (s->t && !s->blocked)
    send_error(s, 0, -ETIMEDOUT, msg);
  finish(s, -ETIMEDOUT);
}

static void on_timer(uv_timer_t *t) {
  struct wire_session *s = t->data;
  if (s->dead)
    return;
  uint64_t now = now_ms(s);
  if (eof_done(s)) { /* the peer's orderly end, everything answered */
    finish(s, 0);
    return;
  }
  if (s->timing_frame && s->o.frame_ms != UINT64_MAX && now - s->frame_start >= s->o.frame_ms) {
    timeout(s, "frame not completed in time");
    return;
  }
  if (heartbeats(s)) {
    if (now - s->last_byte >= (uint64_t)s->hb_ms * s->hb_missed) {
      timeout(s, "peer silent past the heartbeat allowance");
      return;
    }
    if (now - s->last_hb_sent >= s->hb_ms) {
      send_heartbeat(s);
      if (s->dead)
        return;
    }
  } else if (s->o.idle_ms != UINT64_MAX && now - s->last_active >= s->o.idle_ms) {
    if (!busy(s)) {
      timeout(s, "idle connection closed");
      return;
    }
    s->last_active = now; /* a request in flight is not idleness */
  }
  arm(s);
}

/* ---- pushes (server) ---- */

int wire_pushq_new(unsigned max, struct wire_pushq **ret) {
  struct wire_pushq *q = calloc(1, sizeof(*q));
  if (!q)
    return -ENOMEM;
  q->max = max ? max : WIRE_PUSHQ_DEFAULT_MAX;
  *ret = q;
  return 0;
}

static void pushq_drop_upto(struct wire_pushq *q, uint64_t seq) {
  while (q->head && q->head->seq <= seq) {
    struct push_entry *e = q->head;
    if (q->next_send == e)
      q->next_send = e->next;
    q->head = e->next;
    if (!q->head)
      q->tail = NULL;
    wire_buf_release(&e->buf);
    free(e);
    q->n--;
  }
  if (seq > q->acked)
    q->acked = seq;
}

void wire_pushq_free(struct wire_pushq *q) {
  if (!q)
    return;
  if (q->s)
    q->s->pushq = NULL;
  pushq_drop_upto(q, UINT64_MAX);
  free(q);
}

uint64_t wire_pushq_last(const struct wire_pushq *q) { return q->last; }
uint64_t wire_pushq_acked(const struct wire_pushq *q) { return q->acked; }

static void pump_pushes(struct wire_session *s) {
  struct wire_pushq *q = s->pushq;
  while (q && q->next_send && !s->blocked && !s->dead) {
    struct push_entry *e = q->next_send;
    int r = wire_transport_write(s->t, e->buf.data, e->len);
    if (r < 0) {
      finish(s, r == -ENOBUFS ? -ENOBUFS : -ECONNRESET);
      return;
    }
    q->next_send = e->next;
    if (e->seq > q->sent)
      q->sent = e->seq;
    if (r == 1) {
      s->blocked = true;
      wire_transport_pause(s->t);
    }
  }
}

int64_t wire_pushq_push(struct wire_pushq *q, const char *topic, wire_pack_fn pack_body, void *ud) {
  struct push_entry *e;
  int n;
  if (q->n >= q->max)
    return -ENOBUFS;
  if (!(e = calloc(1, sizeof(*e))))
    return -ENOMEM;
  e->seq = q->last + 1;
  if ((n = wire_push_encode(&e->buf, e->seq, topic, pack_body, ud)) < 0) {
    wire_buf_release(&e->buf);
    free(e);
    return n;
  }
  e->len = (size_t)n;
  q->last = e->seq;
  if (q->tail)
    q->tail->next = e;
  else
    q->head = e;
  q->tail = e;
  q->n++;
  if (!q->next_send && q->s)
    q->next_send = e;
  if (q->s && q->s->hello_done)
    pump_pushes(q->s);
  return (int64_t)e->seq;
}

int wire_session_attach_pushq(struct wire_session *s, struct wire_pushq *q) {
  if (s->o.side != WIRE_SESSION_SERVER || !(s->features & WIRE_FEAT_PUSH))
    return -EPROTO;
  if (q->s && q->s != s)
    pushq_detach(q->s);
  pushq_detach(s);
  q->s = s;
  s->pushq = q;
  /* What the receiver has seen counts as acknowledged; the rest is sent
   * again, in order, from the first it lacks. */
  pushq_drop_upto(q, s->peer_hello.resume < q->last ? s->peer_hello.resume : q->last);
  q->next_send = q->head;
  q->sent = q->acked;
  if (s->hello_done)
    pump_pushes(s);
  return 0;
}

/* ---- frames ---- */

static int answer_hello(struct wire_session *s, const struct wire_smsg *m) {
  struct wire_buf b = {0};
  int n, r;
  uint32_t v = wire_version_pick(s->o.versions, m->hello.versions);
  if (!v) {
    char msg[120];
    snprintf(msg, sizeof(msg), "no common protocol version (this server speaks %u to %u)",
             WIRE_PROTO_MIN, WIRE_PROTO_MAX);
    protocol_error(s, -EPROTONOSUPPORT, msg, "session");
    return -EPROTONOSUPPORT;
  }
  s->peer_hello = m->hello;
  s->version = v;
  s->features = m->hello.features & ~s->o.features_off & wire_features_for_version(v);
  if (s->features & WIRE_FEAT_HEARTBEAT) {
    s->hb_ms = s->o.hb_ms;
    s->hb_missed = s->o.hb_missed;
  }
  if (s->cbs->on_hello) {
    s_ref(s);
    r = s->cbs->on_hello(s, &m->hello, s->ud);
    bool gone = s->dead;
    s_unref(s);
    if (gone)
      return -EPIPE;
    if (r < 0) {
      protocol_error(s, r, "hello refused", "session");
      return r;
    }
  }
  n = wire_hello_encode_server(&b, v, s->o.versions, s->features, s->hb_ms, s->hb_missed);
  if (n < 0 || send_frame(s, &b, (size_t)n) < 0) {
    wire_buf_release(&b);
    finish(s, n < 0 ? n : -ECONNRESET);
    return -EPIPE;
  }
  s->hello_done = true;
  s->last_hb_sent = now_ms(s);
  pump_pushes(s);
  arm(s);
  return 0;
}

static void flush_pending(struct wire_session *s) {
  for (struct pending *p = s->pend; p && !s->dead; p = p->next)
    if (!p->sent) {
      p->sent = true;
      if (send_frame(s, &p->buf, p->len) < 0) {
        finish(s, -ECONNRESET);
        return;
      }
    }
}

static void send_ack(struct wire_session *s, uint64_t seq) {
  struct wire_buf b = {0};
  int n = wire_ack_encode(&b, seq);
  if (n < 0 || send_frame(s, &b, (size_t)n) < 0) {
    wire_buf_release(&b);
    finish(s, -ECONNRESET);
  }
}

static void client_hello_reply(struct wire_session *s, const struct wire_smsg *m) {
  if (s->hello_done || !m->reply || !(s->o.versions & WIRE_VERSION_BIT(m->hello.version))) {
    protocol_error(s, SD_E_PROTO, "unexpected hello from the server", "session");
    return;
  }
  s->version = m->hello.version;
  s->features = m->hello.features & ~s->o.features_off & wire_features_for_version(s->version);
  s->hb_ms = m->hello.hb_ms;
  s->hb_missed = m->hello.hb_missed ? m->hello.hb_missed : WIRE_HB_DEFAULT_MISSED;
  s->hello_done = true;
  s->last_hb_sent = now_ms(s);
  if (s->cbs->on_hello) {
    s_ref(s);
    s->cbs->on_hello(s, &m->hello, s->ud);
    s_unref(s);
    if (s->dead)
      return;
  }
  flush_pending(s);
  arm(s);
}

static void client_push(struct wire_session *s, const struct wire_smsg *m) {
  if (!(s->features & WIRE_FEAT_PUSH)) {
    protocol_error(s, SD_E_PROTO, "push without the push feature", "session");
    return;
  }
  if (m->push.seq <= s->push_seen) { /* sent again after a reconnect: seen already */
    send_ack(s, s->push_seen);
    return;
  }
  if (m->push.seq != s->push_seen + 1 && s->push_seen != 0) {
    protocol_error(s, SD_E_PROTO, "push out of sequence", "session");
    return;
  }
  if (s->cbs->on_push) {
    s_ref(s);
    s->cbs->on_push(s, &m->push, s->ud);
    s_unref(s);
    if (s->dead)
      return;
  }
  s->push_seen = m->push.seq;
  send_ack(s, m->push.seq);
}

static void client_response(struct wire_session *s, const uint8_t *f, size_t len) {
  struct wire_value *val = NULL;
  struct wire_response resp;
  struct wire_error err;
  int r = wire_response_decode(f, len, &val, &resp, &err);
  if (r < 0) {
    protocol_error(s, r, err.msg, NULL);
    return;
  }
  if (resp.id == 0) { /* the server ends the session, and says why */
    wire_value_free(val);
    finish(s, resp.code < 0 ? resp.code : -ECONNRESET);
    return;
  }
  struct pending **pp = &s->pend;
  while (*pp && (*pp)->id != resp.id)
    pp = &(*pp)->next;
  if (!*pp || !(*pp)->sent) {
    wire_value_free(val);
    protocol_error(s, SD_E_PROTO, "reply to no request", NULL);
    return;
  }
  struct pending *p = *pp;
  *pp = p->next;
  s->last_active = now_ms(s);
  s_ref(s);
  if (p->cb)
    p->cb(s, 0, &resp, p->cb_ud);
  s_unref(s);
  wire_value_free(val);
  free(p);
}

static void server_request(struct wire_session *s, const uint8_t *f, size_t len) {
  struct wire_value *val = NULL;
  struct wire_request req;
  struct wire_error err;
  int r = wire_request_decode(f, len, &val, &req, &err);
  if (r < 0) {
    if (r == -ENOMEM || strcmp(err.op, "malformed") != 0 || err.id != 0) {
      send_error(s, err.id, r, err.msg); /* an intact frame: refuse it, go on */
      if (s->cbs->on_refused)
        s->cbs->on_refused(s, err.op, r, s->ud);
    } else {
      protocol_error(s, r, err.msg, NULL);
    }
    return;
  }
  s->last_active = now_ms(s);
  if (s->inflight >= WIRE_SESSION_MAX_INFLIGHT) {
    send_error(s, req.id, -EBUSY, "too many requests in flight on this connection");
    if (s->cbs->on_refused)
      s->cbs->on_refused(s, req.op, -EBUSY, s->ud);
  } else {
    s->inflight++;
    s->cbs->on_request(s, &req, s->ud);
  }
  wire_value_free(val);
}

static void handle_frame(struct wire_session *s, const uint8_t *f, size_t len) {
  struct wire_value *val = NULL;
  struct wire_smsg m;
  struct wire_error err;
  bool server = s->o.side == WIRE_SESSION_SERVER;
  int r = wire_smsg_decode(f, len, &val, &m, &err);

  if (r < 0) {
    protocol_error(s, r, err.msg, strcmp(err.op, "session") == 0 ? "session" : NULL);
    return;
  }
  if (m.kind == WIRE_SMSG_NONE) {
    if (server) {
      if (!s->hello_done) { /* a request first: a version-1 peer without a hello */
        if (!(s->o.versions & WIRE_VERSION_BIT(1))) {
          protocol_error(s, -EPROTONOSUPPORT, "a hello must come first (version 1 not spoken)",
                         "session");
          return;
        }
        s->hello_done = true;
        s->version = 1;
      }
      server_request(s, f, len);
    } else {
      client_response(s, f, len);
    }
    return;
  }
  switch (m.kind) {
  case WIRE_SMSG_HELLO:
    if (server) {
      if (s->hello_done || m.reply)
        protocol_error(s, SD_E_PROTO, "hello only as the first message of a client", "session");
      else
        answer_hello(s, &m);
    } else {
      client_hello_reply(s, &m);
    }
    break;
  case WIRE_SMSG_PUSH:
    if (server)
      protocol_error(s, SD_E_PROTO, "a client cannot push", "session");
    else
      client_push(s, &m);
    break;
  case WIRE_SMSG_ACK:
    if (!server || !(s->features & WIRE_FEAT_PUSH))
      protocol_error(s, SD_E_PROTO, "ack without pushes", "session");
    else if (s->pushq && m.ack > s->pushq->sent)
      protocol_error(s, SD_E_PROTO, "ack of a push not sent", "session");
    else if (s->pushq) {
      pushq_drop_upto(s->pushq, m.ack);
      if (s->cbs->on_ack) {
        s_ref(s);
        s->cbs->on_ack(s, m.ack, s->ud);
        s_unref(s);
        if (s->dead) { /* wire_session_free from inside: the tree is still ours */
          wire_value_free(val);
          return;
        }
      }
    }
    break;
  case WIRE_SMSG_HEARTBEAT:
    if (!(s->features & WIRE_FEAT_HEARTBEAT))
      protocol_error(s, SD_E_PROTO, "heartbeat without the heartbeat feature", "session");
    break;
  default:
    break;
  }
  wire_value_free(val);
}

static const char *feed_error(int r) {
  switch (r) {
  case SD_E_PROTO: return "frame length is 0 or over the maximum";
  case -ENOBUFS: return "frame does not fit the memory for incomplete frames";
  default: return "out of memory";
  }
}

/* ---- transport callbacks ---- */

static void t_ready(struct wire_transport *t, void *ud) {
  struct wire_session *s = ud;
  struct wire_peer peer;
  (void)t;
  if (s->dead)
    return;
  s->ready = true;
  s->last_active = s->last_byte = now_ms(s);
  if (s->o.side == WIRE_SESSION_SERVER) {
    if (wire_transport_peer(s->t, &peer) < 0) {
      finish(s, -ENOTCONN);
      return;
    }
    s->role = s->o.resolve_role ? s->o.resolve_role(&peer, s->o.role_ud) : WIRE_ROLE_ADMIN;
    if (!s->role) {
      send_error(s, 0, SD_E_DENIED, "permission denied: this peer has no role here");
      finish(s, SD_E_DENIED);
      return;
    }
  } else if (s->o.no_hello) {
    s->hello_done = true;
    s->version = 1;
    flush_pending(s);
  } else {
    struct wire_buf b = {0};
    uint32_t feats = WIRE_FEATS_ALL & ~s->o.features_off;
    int n = wire_hello_encode_client(&b, s->o.versions, feats, s->o.resume);
    if (n < 0 || send_frame(s, &b, (size_t)n) < 0) {
      wire_buf_release(&b);
      finish(s, n < 0 ? n : -ECONNRESET);
      return;
    }
  }
  arm(s);
}

/* Keep n bytes after those stashed already (none, as long as the
 * transport keeps its word to deliver nothing while paused). */
static int stash_add(struct wire_session *s, const uint8_t *p, size_t n) {
  size_t had = s->stash ? secbuf_len(s->stash) : 0;
  struct secbuf *b;
  int r = secbuf_new(had + n, &b);
  if (r < 0)
    return r;
  if (had)
    memcpy(secbuf_data(b), secbuf_cdata(s->stash), had);
  memcpy(secbuf_data(b) + had, p, n);
  secbuf_free(s->stash);
  s->stash = b;
  return 0;
}

/* Frames out of n bytes, until they run out or an answer blocks the writer
 * (the rest goes to the stash). The caller holds a reference. */
static void feed(struct wire_session *s, const uint8_t *p, size_t n) {
  bool completed = false;
  while (n && !s->dead) {
    if (s->blocked) {
      if (stash_add(s, p, n) < 0)
        protocol_error(s, -ENOMEM, "out of memory", NULL);
      break;
    }
    size_t used;
    int r = wire_reader_feed(s->reader, p, n, &used);
    p += used;
    n -= used;
    if (r < 0) {
      protocol_error(s, r, feed_error(r), NULL);
      break;
    }
    if (r == 1) {
      const uint8_t *f;
      size_t fl;
      completed = true;
      wire_reader_frame(s->reader, &f, &fl);
      handle_frame(s, f, fl);
      if (!s->dead)
        wire_reader_consume(s->reader); /* wipes the frame */
    }
  }
  if (!s->dead && !s->stash) {
    bool in_frame = wire_reader_in_frame(s->reader);
    if (in_frame && (!s->timing_frame || completed)) {
      s->timing_frame = true;
      s->frame_start = now_ms(s);
    } else if (!in_frame) {
      s->timing_frame = false;
    }
  }
  if (!s->dead)
    arm(s);
}

static void t_data(struct wire_transport *t, const uint8_t *p, size_t n, void *ud) {
  struct wire_session *s = ud;
  (void)t;
  if (s->dead)
    return;
  s_ref(s);
  s->last_byte = now_ms(s);
  feed(s, p, n);
  s_unref(s);
}

/* The writer drained: the frames read while it was blocked, first. */
static void feed_stash(struct wire_session *s) {
  struct secbuf *b = s->stash;
  s->stash = NULL;
  s_ref(s);
  feed(s, secbuf_cdata(b), secbuf_len(b));
  secbuf_free(b); /* wipes */
  s_unref(s);
}

static void t_drain(struct wire_transport *t, void *ud) {
  struct wire_session *s = ud;
  if (s->dead || !s->blocked)
    return;
  s->blocked = false;
  s->last_active = now_ms(s);
  s_ref(s);
  if (s->stash)
    feed_stash(s);
  if (!s->dead)
    pump_pushes(s);
  if (!s->dead && !s->blocked && !s->eof)
    wire_transport_resume(t);
  if (!s->dead && s->eof && !busy(s))
    finish(s, 0);
  s_unref(s);
}

static void t_eof(struct wire_transport *t, void *ud) {
  struct wire_session *s = ud;
  (void)t;
  if (s->dead)
    return;
  s->eof = true;
  if (s->o.side == WIRE_SESSION_CLIENT || eof_done(s))
    finish(s, 0);
}

static void t_close(struct wire_transport *t, int reason, void *ud) {
  struct wire_session *s = ud;
  (void)t;
  s->t = NULL; /* freed when this returns */
  if (!s->dead)
    finish(s, reason);
}

static const struct wire_transport_cbs session_tcbs = {
    .on_ready = t_ready,
    .on_data = t_data,
    .on_drain = t_drain,
    .on_close = t_close,
    .on_eof = t_eof,
};

const struct wire_transport_cbs *wire_session_transport_cbs(void) { return &session_tcbs; }

/* ---- server replies ---- */

static void answered(struct wire_session *s) {
  if (s->inflight)
    s->inflight--;
  s->last_active = now_ms(s);
}

/* After a reply: an orderly end waits for the last answer. */
static void after_reply(struct wire_session *s) {
  if (!s->dead && eof_done(s) && s->timer_live) /* from the loop, not here */
    uv_timer_start(&s->timer, on_timer, 0, 0);
}

int wire_session_reply_error(struct wire_session *s, uint64_t id, int code, const char *msg) {
  answered(s);
  int r = send_error(s, id, code, msg);
  after_reply(s);
  return r;
}

int wire_session_reply_ok(struct wire_session *s, uint64_t id, wire_pack_fn pack_result, void *ud) {
  struct wire_buf b = {0};
  int n;
  answered(s);
  if (s->dead || !s->t)
    return -EPIPE;
  n = wire_response_encode_ok(&b, id, pack_result, ud);
  if (n < 0) {
    int e = n;
    wire_buf_release(&b);
    n = send_error(s, id, e, e == -EMSGSIZE ? "result too large for one frame" : NULL);
    after_reply(s);
    return n < 0 ? n : e;
  }
  n = send_frame(s, &b, (size_t)n);
  after_reply(s);
  return n;
}

/* ---- client calls ---- */

static void pack_req_name(msgpack_packer *pk, uint64_t id, const char *op, wire_pack_fn pack_args,
                          void *ud) {
  msgpack_pack_map(pk, 4);
  wire_pack_kv_uint(pk, "v", 1);
  wire_pack_kv_uint(pk, "id", id);
  wire_pack_kv_str(pk, "op", op);
  wire_pack_str(pk, "args");
  if (pack_args)
    pack_args(pk, ud);
  else
    msgpack_pack_map(pk, 0);
}

int64_t wire_session_call_name(struct wire_session *s, const char *op, wire_pack_fn pack_args,
                               void *ud, wire_reply_fn cb, void *cb_ud) {
  struct pending *p;
  msgpack_packer pk;
  int n;
  if (s->dead || s->o.side != WIRE_SESSION_CLIENT)
    return -EPIPE;
  if (!(p = calloc(1, sizeof(*p))))
    return -ENOMEM;
  p->id = ++s->next_id;
  p->cb = cb;
  p->cb_ud = cb_ud;
  wire_buf_init(&p->buf, &pk);
  pack_req_name(&pk, p->id, op, pack_args, ud);
  if ((n = wire_buf_finish(&p->buf)) < 0) {
    wire_buf_release(&p->buf);
    free(p);
    return n;
  }
  p->len = (size_t)n;
  struct pending **tail = &s->pend;
  while (*tail)
    tail = &(*tail)->next;
  *tail = p;
  if (s->hello_done && s->ready) {
    p->sent = true;
    if ((n = send_frame(s, &p->buf, p->len)) < 0) {
      *tail = NULL;
      free(p);
      return n;
    }
  }
  return (int64_t)p->id;
}

int64_t wire_session_call(struct wire_session *s, enum wire_op op, wire_pack_fn pack_args,
                          void *ud, wire_reply_fn cb, void *cb_ud) {
  const char *name = wire_op_name(op);
  if (!name)
    return -EINVAL;
  return wire_session_call_name(s, name, pack_args, ud, cb, cb_ud);
}

/* ---- set-up and accessors ---- */

int wire_session_new(const struct wire_session_opts *o, const struct wire_session_cbs *cbs,
                     void *ud, struct wire_session **ret) {
  struct wire_session *s;
  struct wire_budget *budget;
  int r;
  if (!o || !o->loop || !cbs || !cbs->on_close || !ret ||
      (o->side != WIRE_SESSION_SERVER && o->side != WIRE_SESSION_CLIENT) ||
      (o->side == WIRE_SESSION_SERVER && !cbs->on_request))
    return -EINVAL;
  if (!o->budget && !tl_budget && (r = wire_budget_new(0, &tl_budget)) < 0)
    return r;
  budget = o->budget ? o->budget : tl_budget;
  if (!(s = calloc(1, sizeof(*s)))) {
    if (!tl_budget_users) {
      wire_budget_free(tl_budget);
      tl_budget = NULL;
    }
    return -ENOMEM;
  }
  tl_budget_users++;
  s->refs = 1;
  s->o = *o;
  if (!s->o.versions)
    s->o.versions = WIRE_VERSIONS_ALL;
  s->o.versions &= WIRE_VERSIONS_ALL;
  if (!s->o.idle_ms)
    s->o.idle_ms = WIRE_SESSION_IDLE_MS;
  if (!s->o.frame_ms)
    s->o.frame_ms = WIRE_SESSION_FRAME_MS;
  if (!s->o.hb_ms)
    s->o.hb_ms = WIRE_HB_DEFAULT_MS;
  if (!s->o.hb_missed)
    s->o.hb_missed = WIRE_HB_DEFAULT_MISSED;
  s->push_seen = o->resume;
  s->cbs = cbs;
  s->ud = ud;
  if ((r = wire_reader_new(0, &s->reader)) < 0)
    goto fail;
  wire_reader_set_budget(s->reader, budget, on_evict, s);
  if ((r = uv_timer_init(o->loop, &s->timer)) < 0)
    goto fail;
  s->timer.data = s;
  s->timer_live = true;
  s->refs++; /* the timer's */
  *ret = s;
  return 0;
fail:
  s_unref(s);
  return r;
}

void wire_session_attach(struct wire_session *s, struct wire_transport *t) { s->t = t; }

void *wire_session_userdata(const struct wire_session *s) { return s->ud; }
uint32_t wire_session_version(const struct wire_session *s) { return s->version; }
uint32_t wire_session_features(const struct wire_session *s) { return s->features; }
uint32_t wire_session_role(const struct wire_session *s) { return s->role; }
unsigned wire_session_inflight(const struct wire_session *s) { return s->inflight; }
uint64_t wire_session_push_seen(const struct wire_session *s) { return s->push_seen; }
bool wire_session_blocked(const struct wire_session *s) { return s->blocked; }

uint64_t wire_session_last_seen(const struct wire_session *s) {
  return s->last_active > s->last_byte ? s->last_active : s->last_byte;
}

int wire_session_peer(const struct wire_session *s, struct wire_peer *ret) {
  if (!s->t || s->dead)
    return -ENOTCONN;
  return wire_transport_peer(s->t, ret);
}
