/*
 * Admin connections: accept, SO_PEERCRED check, request dispatch through the
 * handler table (admin_ops.c) and the group-commit queue, replies after the
 * commit. Every request becomes an audit record: store ops audit themselves,
 * everything else (reads, refused and malformed requests, denied peers) gets
 * a store_audit_note in the next batch, and the reply waits for it.
 *
 * A connection is a protocol session (wire/session.h) over the Unix-socket
 * transport (wire/unix_transport.h); its peer has the admin role, and every
 * request's op must allow that role (checked in on_request, before any
 * handler; a refusal is audited like any refused request).
 */
#include "secretd/admin.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/error.h"
#include "secretd/dispatch_hook.h"
#include "secretd/identity.h"
#include "secretd/log.h"
#include "secretd/peer.h"
#include "secretd/serve.h"
#include "wire/session.h"
#include "wire/unix_transport.h"

void admin_conn_ref(struct admin_conn *c) { c->refs++; }

void admin_conn_unref(struct admin_conn *c) {
  if (--c->refs == 0) {
    if (c->release)
      c->release(c);
    else
      free(c);
  }
}

static void conn_unref(struct admin_conn *c) { admin_conn_unref(c); }

/* ---- audit-only items: denied peers, aggregated ----
 *
 * A refused peer can connect thousands of times a second; one audit record
 * (and one log line) per connect would let it fill the disk and crowd the
 * commit queue. Refusals are counted per uid and flushed once a second:
 * at most DENIED_SLOTS records (one per uid, with the count) plus one for
 * every other uid together, so the audit grows by a bounded number of
 * records per second whatever the flood. Loop thread only. */

#define DENIED_SLOTS 16
#define DENIED_FLUSH_MS 1000

struct denied_slot {
  uint32_t uid, gid;
  int32_t pid; /* the last one seen */
  uint64_t count;
};

static struct {
  struct denied_slot slot[DENIED_SLOTS];
  unsigned n;
  uint64_t others; /* refusals of uids beyond the slots */
  bool timer_ready, timer_running;
  uv_timer_t timer;
} denied;

struct note_item {
  struct cq_item item;
  uint32_t uid;
  char object[120];
};

static int note_run(struct store_batch *b, struct cq_item *it) {
  struct note_item *n = (struct note_item *)it;
  struct store_actor a = {.uid = n->uid};
  return store_audit_note(b, &a, "connect", n->object, SD_E_DENIED);
}

static void note_done(struct cq_item *it, int r) {
  struct note_item *n = (struct note_item *)it;
  if (r < 0 && r != -ECANCELED)
    log_warn("cannot audit denied connections of uid %u: %s", n->uid, sd_strerror(r));
  free(n);
}

static void denied_note(struct server *s, uint32_t uid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void denied_note(struct server *s, uint32_t uid, const char *fmt, ...) {
  struct note_item *n = calloc(1, sizeof(*n));
  va_list ap;
  if (!n) {
    log_warn("out of memory auditing denied peers");
    return;
  }
  n->uid = uid;
  va_start(ap, fmt);
  vsnprintf(n->object, sizeof(n->object), fmt, ap);
  va_end(ap);
  n->item.run = note_run;
  n->item.done = note_done;
  cq_submit(s->cq, &n->item);
}

static void denied_flush(uv_timer_t *t) {
  struct server *s = t->data;
  for (unsigned i = 0; i < denied.n; i++) {
    const struct denied_slot *d = &denied.slot[i];
    log_warn("refused %llu admin connection(s) from uid %u (last: gid %u pid %d)",
             (unsigned long long)d->count, d->uid, d->gid, (int)d->pid);
    denied_note(s, d->uid, "admin-socket refused:%llu last-pid:%d gid:%u",
                (unsigned long long)d->count, (int)d->pid, d->gid);
  }
  if (denied.others) {
    log_warn("refused %llu more admin connection(s) from other uids",
             (unsigned long long)denied.others);
    denied_note(s, UINT32_MAX, "admin-socket refused:%llu other-uids",
                (unsigned long long)denied.others);
  }
  bool any = denied.n || denied.others;
  denied.n = 0;
  denied.others = 0;
  if (!any) { /* a quiet second: stop until the next refusal */
    uv_timer_stop(t);
    denied.timer_running = false;
  }
}

static void audit_denied_peer(struct server *s, const struct peer_cred *cred) {
  unsigned i;
  for (i = 0; i < denied.n && denied.slot[i].uid != (uint32_t)cred->uid; i++)
    ;
  if (i == denied.n && denied.n < DENIED_SLOTS)
    denied.slot[denied.n++] = (struct denied_slot){.uid = (uint32_t)cred->uid};
  if (i < denied.n) {
    denied.slot[i].count++;
    denied.slot[i].gid = (uint32_t)cred->gid;
    denied.slot[i].pid = (int32_t)cred->pid;
  } else {
    denied.others++;
  }
  if (!denied.timer_ready) {
    if (uv_timer_init(s->loop, &denied.timer) < 0)
      return;
    denied.timer.data = s;
    uv_unref((uv_handle_t *)&denied.timer);
    denied.timer_ready = true;
  }
  if (!denied.timer_running && !s->stopping) {
    /* the first refusal of a quiet spell is flushed at once, later ones once a second */
    uv_timer_start(&denied.timer, denied_flush, 0, DENIED_FLUSH_MS);
    denied.timer_running = true;
  }
}

/* ---- requests ---- */

static void reply_pack(msgpack_packer *pk, void *ud) {
  const struct admin_req *rq = ud;
  rq->op->pack(pk, rq);
}

static void on_conn_close(struct wire_session *wc, int reason, void *ud);

/* End a connection now, from our side (its reply could not be written). */
static void conn_drop(struct admin_conn *c) {
  if (c->wc && c->drop)
    c->drop(c);
}

/* The admin socket's drop. */
static void admin_socket_drop(struct admin_conn *c) {
  struct wire_session *wc = c->wc;
  on_conn_close(wc, 0, c);
  wire_session_free(wc);
}

/* For logs: "uid 1000" or the node / anonymous peer. */
static const char *who(const struct admin_conn *c) {
  static char buf[100];
  if (c->actor.node)
    snprintf(buf, sizeof(buf), "%s", c->actor.node);
  else
    snprintf(buf, sizeof(buf), "uid %u", (unsigned)c->cred.uid);
  return buf;
}

static void req_done(struct cq_item *it, int r) {
  struct admin_req *rq = (struct admin_req *)it;
  struct admin_conn *c = rq->conn;
  admin_after_fn after = rq->op ? admin_op_after(rq->opcode) : NULL;
  if (after)
    after(rq, r);
  if (r == -EBADMSG)
    log_err("%s refused: a stored record failed its integrity check (changed outside "
            "secretd); the audit chain has a store.tamper record", rq->action);
  if (c->wc) {
    int w;
    const char *msg = r == rq->code && rq->errmsg ? rq->errmsg : identity_strerror(r);
    if (r == -EBADMSG)
      msg = "a stored record failed its integrity check (changed outside secretd); "
            "refused: see the audit (action store.tamper)";
    if (r == 0)
      w = wire_session_reply_ok(c->wc, rq->id, reply_pack, rq);
    else
      w = wire_session_reply_error(c->wc, rq->id, r, msg);
    /* -EMSGSIZE: the result did not fit a frame and an error reply went out
     * instead. Any other failure: the reply is lost, so the connection must
     * not go on answering later requests as if nothing happened. */
    if (w < 0 && w != -EMSGSIZE) {
      log_warn("cannot reply to %s: %s; closing the connection", who(c), sd_strerror(w));
      conn_drop(c);
    }
  }
  dispatch_hook_after(rq, r); /* which nodes it changed, in a following batch */
  if (rq->drop_after) /* refused by the recheck: this peer is done */
    conn_drop(c);
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
  int r = store_audit_note(b, &rq->actor, rq->action, object, rq->code);
  return r < 0 ? r : rq->code;
}

/* ---- slow reads (audit.verify) on the thread pool, one at a time ----
 * The loop thread keeps serving meanwhile; one at a time so that a client
 * cannot fill the pool that the group commit also runs on. */

static struct admin_req *slow_head, **slow_tail = &slow_head;
static bool slow_busy;

static void slow_start(struct server *s);

static void slow_work(uv_work_t *w) {
  struct admin_req *rq = w->data;
  rq->code = rq->op->slow(rq);
}

static void slow_after(uv_work_t *w, int status) {
  struct admin_req *rq = w->data;
  struct server *s = rq->server;
  if (status < 0)
    rq->code = status == UV_ECANCELED ? -ECANCELED : status;
  slow_busy = false;
  cq_submit(s->cq, &rq->item); /* the audit note, then the reply */
  slow_start(s);
}

static void slow_start(struct server *s) {
  while (!slow_busy && slow_head) {
    struct admin_req *rq = slow_head;
    if (!(slow_head = rq->slow_next))
      slow_tail = &slow_head;
    rq->work.data = rq;
    int r = s->stopping ? -ECANCELED : uv_queue_work(s->loop, &rq->work, slow_work, slow_after);
    if (r == 0) {
      slow_busy = true;
      return;
    }
    rq->code = r;
    cq_submit(s->cq, &rq->item);
  }
}

static void slow_submit(struct admin_req *rq) {
  rq->slow_next = NULL;
  *slow_tail = rq;
  slow_tail = &rq->slow_next;
  slow_start(rq->server);
}

static void admin_submit(struct admin_req *rq, const msgpack_object *args) {
  struct server *s = rq->server;
  rq->item.done = req_done;
  rq->item.run = req_note;
  rq->code = rq->op->prepare(rq, args);
  if (rq->code == 0 && (rq->op->flags & ADMIN_WRITE)) {
    rq->item.run = req_run;
    dispatch_hook_before(rq); /* the nodes it can touch, before it runs */
  }
  if (rq->code == 0 && (rq->op->flags & ADMIN_SLOW)) {
    slow_submit(rq);
    return;
  }
  cq_submit(s->cq, &rq->item);
}

/* The permission message of a refused op: the admin socket's words are
 * fixed; a network peer is told which role may not call which op. */
static void denied_message(struct admin_req *rq, uint32_t role) {
  if (!rq->conn->actor.node) {
    rq->errmsg = "permission denied: this operation is not for your role";
    return;
  }
  const char *w = role & WIRE_ROLE_ANON ? "an anonymous peer" : wire_role_name(role);
  snprintf(rq->errbuf, sizeof(rq->errbuf), "permission denied: %s may not call %s", w, rq->action);
  rq->errmsg = rq->errbuf;
}

void admin_dispatch(struct admin_conn *c, const struct wire_request *req) {
  struct wire_session *wc = c->wc;
  const struct admin_op *op = admin_op_get(req->opcode);
  struct admin_req *rq = op ? calloc(1, sizeof(*rq)) : NULL;
  if (!wc)
    return;
  if (!rq) {
    /* An op of the schema that this daemon does not serve is answered like
     * an op the schema does not know (field evolution, docs/protocol.md). */
    char msg[WIRE_OP_NAME_MAX + 32];
    snprintf(msg, sizeof(msg), "unsupported operation '%s'", req->op);
    wire_session_reply_error(wc, req->id, op ? -ENOMEM : SD_E_UNSUPPORTED, op ? NULL : msg);
    return;
  }
  rq->server = c->server;
  rq->conn = c;
  c->refs++;
  rq->id = req->id;
  rq->op = op;
  rq->opcode = req->opcode;
  rq->action = wire_op_name(req->opcode); /* static */
  rq->actor = c->actor;
  uint32_t role = wire_session_role(wc);
  /* A network peer: the store is asked again (removed, renewed since the
   * handshake); refused, the request is audited and answered, and the
   * connection ends after the reply. */
  int r = c->recheck ? c->recheck(c, &role) : 0;
  if (r < 0) {
    log_warn("refused %s from %s: %s", rq->action, who(c), identity_strerror(r));
    rq->code = r;
    rq->drop_after = true;
    rq->item.run = req_note;
    rq->item.done = req_done;
    cq_submit(c->server->cq, &rq->item);
    return;
  }
  /* Roles: the one check, before any handler. A refusal is a refused
   * request like any other: audited (note), then answered. */
  if (!wire_role_allows(req->opcode, role)) {
    log_warn("refused %s from %s: not an operation for the %s role", rq->action, who(c),
             wire_role_name(role));
    rq->code = SD_E_DENIED;
    denied_message(rq, role);
    rq->item.run = req_note;
    rq->item.done = req_done;
    cq_submit(c->server->cq, &rq->item);
    return;
  }
  /* A node's request: the caller is its verified certificate's node id
   * (worker ops act on it, never on an argument). */
  if (c->listener && role != WIRE_ROLE_ANON && c->peer.node_id[0])
    snprintf(rq->node_id, sizeof(rq->node_id), "%s", c->peer.node_id);
  admin_submit(rq, req->args);
}

static void on_request(struct wire_session *wc, const struct wire_request *req, void *ud) {
  (void)wc;
  admin_dispatch(ud, req);
}

static void req_done_silent(struct cq_item *it, int r) {
  struct admin_req *rq = (struct admin_req *)it;
  struct admin_conn *c = rq->conn;
  if (r < 0 && r != rq->code && r != -ECANCELED)
    log_warn("cannot audit a refused request of %s: %s", who(c), sd_strerror(r));
  admin_req_clear(rq);
  free(rq);
  conn_unref(c);
}

/* A frame that the wire layer refused (and answered). The audit record names
 * one of our ops or a fixed word: never the bytes the peer sent as op. */
void admin_refused(struct admin_conn *c, const char *op, int code) {
  struct admin_req *rq = calloc(1, sizeof(*rq));
  if (!rq)
    return;
  rq->server = c->server;
  rq->conn = c;
  c->refs++;
  rq->id = 0;
  rq->actor = c->actor;
  int opcode = wire_op_lookup(op, strlen(op));
  if (opcode >= 0) {
    rq->op = admin_op_get((enum wire_op)opcode);
    rq->opcode = (enum wire_op)opcode;
    rq->action = wire_op_name((enum wire_op)opcode);
  } else {
    /* "session": a broken session message (e.g. a bad hello) is malformed too */
    rq->action = strcmp(op, "malformed") == 0 || strcmp(op, "session") == 0 ? ADMIN_ACTION_MALFORMED
                                                                             : ADMIN_ACTION_UNKNOWN;
  }
  rq->code = code < 0 ? code : SD_E_PROTO;
  rq->item.run = req_note;
  rq->item.done = req_done_silent;
  cq_submit(c->server->cq, &rq->item);
}

static void on_bad_request(struct wire_session *wc, const char *op, int code, void *ud) {
  (void)wc;
  admin_refused(ud, op, code);
}

/* ---- connection lifecycle ---- */

/* Only a pipe that never became a transport is closed here. */
static void pipe_closed(uv_handle_t *h) {
  struct admin_conn *c = h->data;
  free(h);
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
static void on_conn_close(struct wire_session *wc, int reason, void *ud) {
  struct admin_conn *c = ud;
  (void)reason;
  if (!c->wc)
    return;
  c->wc = NULL;
  unlink_conn(c);
  conn_unref(c); /* the link's; the transport closes the socket itself */
}

static void refuse(struct admin_conn *c) {
  uv_pipe_t *p = c->pipe;
  c->pipe = NULL;
  uv_close((uv_handle_t *)p, pipe_closed);
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
    linger_end(st->data);
}

static void refuse_with(struct admin_conn *c, int code, const char *msg) {
  struct wire_buf b = {0};
  int n = wire_response_encode_error(&b, 0, code, msg);
  if (n > 0) {
    uv_buf_t buf = uv_buf_init((char *)b.data, (unsigned)n);
    (void)uv_try_write((uv_stream_t *)c->pipe, &buf, 1);
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
  if (uv_read_start((uv_stream_t *)c->pipe, discard_alloc, discard_read) < 0)
    linger_end(c);
}

/* At the connection cap, a new client is still served: the quietest
 * connection with no request in flight (idle, or stalled mid-frame) makes
 * room. If every connection has a request in flight, the newcomer is refused. */
static void make_room(struct server *s) {
  struct admin_conn *victim = NULL;
  uint64_t oldest = UINT64_MAX;
  for (struct admin_conn *c = s->conns; c; c = c->next)
    if (c->wc && wire_session_inflight(c->wc) == 0 && wire_session_last_seen(c->wc) < oldest) {
      oldest = wire_session_last_seen(c->wc);
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
  struct wire_session *wc = victim->wc;
  on_conn_close(wc, 0, victim);
  wire_session_drop(wc, -EBUSY, "connection closed to make room for a new client");
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
  c->drop = admin_socket_drop;
  if (!(c->pipe = malloc(sizeof(*c->pipe))) || (r = uv_pipe_init(s->loop, c->pipe, 0)) < 0) {
    log_warn("out of memory accepting a connection");
    free(c->pipe);
    free(c);
    return;
  }
  c->pipe->data = c;
  if ((r = uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)c->pipe)) < 0 ||
      (r = uv_fileno((uv_handle_t *)c->pipe, &fd)) < 0 || (r = peer_cred_get(fd, &c->cred)) < 0) {
    log_warn("cannot accept a connection: %s", r < -4095 ? sd_strerror(r) : uv_strerror(r));
    refuse(c);
    return;
  }
  c->actor = (struct store_actor){.uid = (uint32_t)c->cred.uid};
  r = peer_authorized(fd, &c->cred, s->have_group, s->admin_gid);
  if (r <= 0) {
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
  static const struct wire_session_cbs cbs = {
      .on_request = on_request,
      .on_refused = on_bad_request,
      .on_close = on_conn_close,
  };
  /* The peer passed the credential check above: it is the local admin. */
  const struct wire_session_opts o = {.loop = s->loop, .side = WIRE_SESSION_SERVER};
  struct wire_unix *u;
  if ((r = wire_session_new(&o, &cbs, c, &c->wc)) < 0 ||
      (r = wire_unix_new(c->pipe, wire_session_transport_cbs(), c->wc, &u)) < 0) {
    log_warn("cannot set up a connection: %s", sd_strerror(r));
    wire_session_free(c->wc);
    c->wc = NULL;
    refuse(c);
    return;
  }
  c->pipe = NULL; /* the transport's now */
  wire_session_attach(c->wc, wire_unix_transport(u));
  c->next = s->conns;
  if (s->conns)
    s->conns->prev = c;
  s->conns = c;
  s->n_conns++;
}

void admin_close_all(struct server *s) {
  while (slow_head) { /* not started: answered -ECANCELED by the stopped queue */
    struct admin_req *rq = slow_head;
    slow_head = rq->slow_next;
    rq->code = -ECANCELED;
    cq_submit(s->cq, &rq->item);
  }
  slow_tail = &slow_head;
  if (denied.timer_ready && !uv_is_closing((uv_handle_t *)&denied.timer))
    uv_close((uv_handle_t *)&denied.timer, NULL);
  while (lingering)
    linger_end(lingering);
  while (s->conns) {
    struct admin_conn *c = s->conns;
    struct wire_session *wc = c->wc;
    on_conn_close(wc, 0, c);
    wire_session_free(wc);
  }
}
