/*
 * Admin connections: accept, SO_PEERCRED check, request dispatch through the
 * handler table (admin_ops.c) and the group-commit queue, replies after the
 * commit. Every request becomes an audit record: store ops audit themselves,
 * everything else (reads, refused and malformed requests, denied peers) gets
 * a store_audit_note in the next batch, and the reply waits for it.
 */
#include "secretd/admin.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/error.h"
#include "secretd/log.h"
#include "secretd/peer.h"
#include "secretd/serve.h"
#include "wire/conn_uv.h"

struct admin_conn {
  struct admin_conn *prev, *next;
  struct server *server;
  uv_pipe_t pipe;
  struct wire_conn *wc; /* NULL once closed */
  struct peer_cred cred;
  unsigned refs;        /* the link itself + one per request in flight (+ the linger timer) */
  /* A refused peer lingers: see refuse_with(). */
  uv_timer_t linger;
  bool lingering;
  struct admin_conn *lnext;
};

static void conn_unref(struct admin_conn *c) {
  if (--c->refs == 0)
    free(c);
}

/* ---- audit-only items: denied peers ---- */

struct note_item {
  struct cq_item item;
  uint32_t uid;
  char object[64];
};

static int note_run(struct store_batch *b, struct cq_item *it) {
  struct note_item *n = (struct note_item *)it;
  struct store_actor a = {.uid = n->uid};
  return store_audit_note(b, &a, "connect", n->object, SD_E_DENIED);
}

static void note_done(struct cq_item *it, int r) {
  struct note_item *n = (struct note_item *)it;
  if (r < 0 && r != -ECANCELED)
    log_warn("cannot audit a denied connection of uid %u: %s", n->uid, sd_strerror(r));
  free(n);
}

static void audit_denied_peer(struct server *s, const struct peer_cred *cred) {
  struct note_item *n = calloc(1, sizeof(*n));
  if (!n) {
    log_warn("out of memory auditing a denied peer");
    return;
  }
  n->uid = (uint32_t)cred->uid;
  snprintf(n->object, sizeof(n->object), "admin-socket pid:%d gid:%u", (int)cred->pid,
           (unsigned)cred->gid);
  n->item.run = note_run;
  n->item.done = note_done;
  cq_submit(s->cq, &n->item);
}

/* ---- requests ---- */

static void reply_pack(msgpack_packer *pk, void *ud) {
  const struct admin_req *rq = ud;
  rq->op->pack(pk, rq);
}

static void req_done(struct cq_item *it, int r) {
  struct admin_req *rq = (struct admin_req *)it;
  struct admin_conn *c = rq->conn;
  if (c->wc) {
    int w;
    if (r == 0)
      w = wire_conn_reply_ok(c->wc, rq->id, reply_pack, rq);
    else
      w = wire_conn_reply_error(c->wc, rq->id, r, r == rq->code && rq->errmsg ? rq->errmsg
                                                                                : sd_strerror(r));
    if (w < 0)
      log_warn("cannot reply to uid %u: %s", (unsigned)c->cred.uid, sd_strerror(w));
  }
  admin_req_clear(rq);
  free(rq);
  conn_unref(c);
}

static int req_run(struct store_batch *b, struct cq_item *it) {
  struct admin_req *rq = (struct admin_req *)it;
  return rq->op->run(b, rq);
}

/* A refused request (unknown op, bad args) or a read: audit note, then reply. */
static int req_note(struct store_batch *b, struct cq_item *it) {
  struct admin_req *rq = (struct admin_req *)it;
  char object[400];
  admin_req_object(rq, object, sizeof(object));
  int r = store_audit_note(b, &rq->actor, rq->op_name, object, rq->code);
  return r < 0 ? r : rq->code;
}

void admin_submit(struct admin_req *rq, const msgpack_object *args) {
  struct server *s = rq->server;
  rq->item.done = req_done;
  rq->item.run = req_note;
  rq->op = admin_op_find(rq->op_name);
  if (!rq->op) {
    rq->code = SD_E_PROTO;
    rq->errmsg = "unknown op";
  } else {
    rq->code = rq->op->prepare(rq, args);
    if (rq->code == 0 && (rq->op->flags & ADMIN_WRITE))
      rq->item.run = req_run;
  }
  cq_submit(s->cq, &rq->item);
}

static void on_request(struct wire_conn *wc, const struct wire_request *req, void *ud) {
  struct admin_conn *c = ud;
  struct admin_req *rq = calloc(1, sizeof(*rq));
  if (!rq) {
    wire_conn_reply_error(wc, req->id, -ENOMEM, sd_strerror(-ENOMEM));
    return;
  }
  rq->server = c->server;
  rq->conn = c;
  c->refs++;
  rq->id = req->id;
  rq->actor = (struct store_actor){.uid = (uint32_t)c->cred.uid};
  snprintf(rq->op_name, sizeof(rq->op_name), "%s", req->op);
  admin_submit(rq, req->args);
}

static void req_done_silent(struct cq_item *it, int r) {
  struct admin_req *rq = (struct admin_req *)it;
  struct admin_conn *c = rq->conn;
  if (r < 0 && r != rq->code && r != -ECANCELED)
    log_warn("cannot audit a refused request of uid %u: %s", (unsigned)c->cred.uid, sd_strerror(r));
  admin_req_clear(rq);
  free(rq);
  conn_unref(c);
}

/* A frame that decoded far enough to name an op but failed validation: the
 * wire layer replies with its error; the refusal is audited here. */
static void on_bad_request(struct wire_conn *wc, const char *op, int code, void *ud) {
  struct admin_conn *c = ud;
  struct admin_req *rq = calloc(1, sizeof(*rq));
  if (!rq)
    return;
  rq->server = c->server;
  rq->conn = c;
  c->refs++;
  rq->id = 0;
  rq->actor = (struct store_actor){.uid = (uint32_t)c->cred.uid};
  snprintf(rq->op_name, sizeof(rq->op_name), "%s", op);
  rq->op = admin_op_find(op);
  rq->code = code < 0 ? code : SD_E_PROTO;
  rq->item.run = req_note;
  rq->item.done = req_done_silent;
  cq_submit(c->server->cq, &rq->item);
}

/* ---- connection lifecycle ---- */

static void pipe_closed(uv_handle_t *h) {
  /* h->data belongs to the wire layer; find our struct by address. */
  struct admin_conn *c = (struct admin_conn *)((char *)h - offsetof(struct admin_conn, pipe));
  conn_unref(c);
}

static void unlink_conn(struct admin_conn *c) {
  struct server *s = c->server;
  if (c->prev)
    c->prev->next = c->next;
  else if (s->conns == c)
    s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->prev = c->next = NULL;
  s->n_conns--;
}

/* The wire layer is done with the connection (EOF, protocol error, close). */
static void on_conn_close(struct wire_conn *wc, void *ud) {
  struct admin_conn *c = ud;
  if (!c->wc)
    return;
  c->wc = NULL;
  unlink_conn(c);
  uv_close((uv_handle_t *)&c->pipe, pipe_closed);
}

static void refuse(struct admin_conn *c) {
  uv_close((uv_handle_t *)&c->pipe, pipe_closed);
}

/*
 * A refused peer is told why in one error response with id 0 (which the
 * client takes as the answer to whatever it sent). The connection then
 * lingers, reading and discarding (and wiping: a create carries a value),
 * until the peer closes or REFUSE_LINGER_MS pass: closing at once would let a
 * peer whose request is still on its way get a broken pipe instead of the
 * reason. At most REFUSE_MAX peers linger; beyond that they are just closed.
 */
#define REFUSE_LINGER_MS 500
#define REFUSE_MAX 64

static struct admin_conn *lingering; /* the loop thread's list */
static unsigned n_lingering;

static void linger_timer_closed(uv_handle_t *h) {
  conn_unref((struct admin_conn *)((char *)h - offsetof(struct admin_conn, linger)));
}

static void linger_end(struct admin_conn *c) {
  if (!c->lingering)
    return;
  c->lingering = false;
  for (struct admin_conn **p = &lingering; *p; p = &(*p)->lnext)
    if (*p == c) {
      *p = c->lnext;
      break;
    }
  n_lingering--;
  uv_close((uv_handle_t *)&c->linger, linger_timer_closed);
  refuse(c);
}

static void linger_timeout(uv_timer_t *t) {
  linger_end((struct admin_conn *)((char *)t - offsetof(struct admin_conn, linger)));
}

static void discard_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  static char sink[16384];
  *buf = uv_buf_init(sink, sizeof(sink));
}

static void discard_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  if (nread > 0)
    sodium_memzero(buf->base, (size_t)nread);
  if (nread < 0)
    linger_end((struct admin_conn *)((char *)st - offsetof(struct admin_conn, pipe)));
}

static void refuse_with(struct admin_conn *c, int code, const char *msg) {
  struct wire_buf b = {0};
  int n = wire_response_encode_error(&b, 0, code, msg);
  if (n > 0) {
    uv_buf_t buf = uv_buf_init((char *)b.data, (unsigned)n);
    (void)uv_try_write((uv_stream_t *)&c->pipe, &buf, 1);
  }
  wire_buf_release(&b);
  if (c->server->stopping || n_lingering >= REFUSE_MAX ||
      uv_timer_init(c->server->loop, &c->linger) < 0) {
    refuse(c);
    return;
  }
  c->refs++; /* the timer's */
  c->lingering = true;
  c->lnext = lingering;
  lingering = c;
  n_lingering++;
  uv_timer_start(&c->linger, linger_timeout, REFUSE_LINGER_MS, 0);
  if (uv_read_start((uv_stream_t *)&c->pipe, discard_alloc, discard_read) < 0)
    linger_end(c);
}

/* At the connection cap, a new client is still served: the quietest
 * connection with no request in flight (idle, or stalled mid-frame) makes
 * room. If every connection has a request in flight, the newcomer is refused. */
static void make_room(struct server *s) {
  struct admin_conn *victim = NULL;
  uint64_t oldest = UINT64_MAX;
  for (struct admin_conn *c = s->conns; c; c = c->next)
    if (c->wc && wire_conn_inflight(c->wc) == 0 && wire_conn_last_seen(c->wc) < oldest) {
      oldest = wire_conn_last_seen(c->wc);
      victim = c;
    }
  if (!victim)
    return;
  /* At most one line a second: a flood of connections must not flood the log. */
  static uint64_t last_log;
  static unsigned unlogged;
  uint64_t now = uv_now(s->loop);
  if (now - last_log >= 1000 || last_log == 0) {
    log_warn("connection limit (%u) reached: closed the quietest connection (uid %u, quiet %llu "
             "ms; %u more since the last such line)",
             s->max_conns, (unsigned)victim->cred.uid, (unsigned long long)(now - oldest),
             unlogged);
    last_log = now;
    unlogged = 0;
  } else {
    unlogged++;
  }
  struct wire_conn *wc = victim->wc;
  wire_conn_drop(wc, -EBUSY, "connection closed to make room for a new client");
  on_conn_close(wc, victim);
}

void admin_accept(struct server *s) {
  struct admin_conn *c = calloc(1, sizeof(*c));
  uv_os_fd_t fd;
  int r;
  if (!c) {
    log_warn("out of memory accepting a connection");
    return;
  }
  c->server = s;
  c->refs = 1;
  if ((r = uv_pipe_init(s->loop, &c->pipe, 0)) < 0) {
    free(c);
    return;
  }
  c->pipe.data = c;
  if ((r = uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&c->pipe)) < 0 ||
      (r = uv_fileno((uv_handle_t *)&c->pipe, &fd)) < 0 || (r = peer_cred_get(fd, &c->cred)) < 0) {
    log_warn("cannot accept a connection: %s", r < -4095 ? sd_strerror(r) : uv_strerror(r));
    refuse(c);
    return;
  }
  r = peer_authorized(fd, &c->cred, s->have_group, s->admin_gid);
  if (r <= 0) {
    log_warn("refused admin connection from uid %u gid %u pid %d", (unsigned)c->cred.uid,
             (unsigned)c->cred.gid, (int)c->cred.pid);
    audit_denied_peer(s, &c->cred);
    char why[120];
    snprintf(why, sizeof(why), "permission denied: uid %u is neither root nor in the admin group",
             (unsigned)c->cred.uid);
    refuse_with(c, SD_E_DENIED, why);
    return;
  }
  if (!s->stopping && s->n_conns >= s->max_conns)
    make_room(s);
  if (s->stopping || s->n_conns >= s->max_conns) {
    log_warn("too many admin connections (%u); refusing uid %u", s->n_conns,
             (unsigned)c->cred.uid);
    refuse_with(c, -EBUSY, s->stopping ? "secretd is stopping" : "too many admin connections");
    return;
  }
  static const struct wire_conn_cbs cbs = {
      .on_request = on_request,
      .on_refused = on_bad_request,
      .on_close = on_conn_close,
  };
  if ((r = wire_conn_new((uv_stream_t *)&c->pipe, &cbs, c, &c->wc)) < 0) {
    log_warn("cannot set up a connection: %s", sd_strerror(r));
    refuse(c);
    return;
  }
  c->next = s->conns;
  if (s->conns)
    s->conns->prev = c;
  s->conns = c;
  s->n_conns++;
}

void admin_close_all(struct server *s) {
  while (lingering)
    linger_end(lingering);
  while (s->conns) {
    struct admin_conn *c = s->conns;
    struct wire_conn *wc = c->wc;
    on_conn_close(wc, c);
    wire_conn_free(wc);
  }
}
