/*
 * `secretd serve --listen HOST:PORT`: the network listener, TLS 1.3 with the
 * manager certificate from the store (never a PEM file), client certificate
 * optional: a peer without one is anonymous and may only join (node.join);
 * a peer with one must verify to the cluster root and is authorized against
 * the store (identity_authorize) at handshake completion (the session's role
 * resolver) and again for every request (identity_recheck).
 *
 * Each TLS peer is one protocol session (wire/session.h: hello, heartbeats,
 * pushes with resume, flow control); its requests go through the same
 * dispatch as the admin socket (admin_dispatch: the one role check, the op
 * table, the group commit and its audit). Pushes to a node go through a
 * push queue per node id that outlives its sessions (listen_push).
 */
#include "secretd/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/error.h"
#include "secretd/admin.h"
#include "secretd/commit_queue.h"
#include "secretd/identity.h"
#include "secretd/log.h"
#include "secretd/push_hook.h"
#include "secretd/serve.h"
#include "wire/proto.h"
#include "wire/session.h"
#include "wire/tls.h"

#define REFUSED_FLUSH_MS 1000
#define REFUSED_SLOTS 16
/* The role a refused peer holds until it is dropped (on its next message or
 * the next loop turn): no op allows it. */
#define ROLE_REFUSED (1u << 31)

/* The push queue of one node id (outlives its sessions: resume). */
struct node_q {
  struct node_q *next;
  char node_id[CA_ID_LEN + 1];
  struct wire_pushq *q;
};

struct tls_listener {
  struct server *server;
  uv_tcp_t tcp;
  struct wire_tls_ctx *ctx;
  struct admin_conn *conns;
  unsigned n_conns;
  bool stopping;
  uint32_t hb_ms, hb_missed;
  /* peers refused at the handshake, dropped on the next loop turn */
  uv_timer_t reap_timer;
  /* last_seen of live nodes, written at most once per heartbeat interval */
  uv_timer_t seen_timer;
  struct node_q *queues;
  /* refused handshakes and peers, counted per address and audited once a
   * second: at most REFUSED_SLOTS records (one per address, with its count)
   * plus one for every other address together, whatever the flood */
  uv_timer_t refused_timer;
  bool timer_running;
  struct refused_slot {
    char addr[64];
    char reason[48];
    uint64_t count;
  } refused[REFUSED_SLOTS];
  unsigned n_refused;
  uint64_t refused_others;
};

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void conn_unlink(struct admin_conn *c) {
  struct tls_listener *l = c->listener;
  if (c->prev)
    c->prev->next = c->next;
  else if (l->conns == c)
    l->conns = c->next;
  else
    return; /* not linked */
  if (c->next)
    c->next->prev = c->prev;
  c->prev = c->next = NULL;
  l->n_conns--;
}

/* The session is gone (or going): forget it, give back the link's ref. */
static void conn_detach(struct admin_conn *c) {
  if (!c->wc)
    return;
  c->wc = NULL;
  conn_unlink(c);
  admin_conn_unref(c);
}

/* Ours: end the session now (queued replies are flushed first). */
static void conn_drop(struct admin_conn *c) {
  struct wire_session *wc = c->wc;
  conn_detach(c);
  wire_session_free(wc);
}

static void conn_drop_with(struct admin_conn *c, int code, const char *msg) {
  struct wire_session *wc = c->wc;
  conn_detach(c);
  wire_session_drop(wc, code, msg);
}

/* ---- audit of refused peers: bounded, whatever the flood ---- */

struct note_item {
  struct cq_item item;
  char object[200];
};

static int note_run(struct store_batch *b, struct cq_item *it) {
  struct note_item *n = (struct note_item *)it;
  struct store_actor a = {.uid = UINT32_MAX, .node = "network"};
  return store_audit_note(b, &a, "tls.refused", n->object, SD_E_DENIED);
}

static void note_done(struct cq_item *it, int r) {
  if (r < 0 && r != -ECANCELED)
    log_warn("cannot audit refused TLS peers: %s", sd_strerror(r));
  free(it);
}

static void refused_note(struct tls_listener *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void refused_note(struct tls_listener *l, const char *fmt, ...) {
  struct note_item *n = calloc(1, sizeof(*n));
  va_list ap;
  if (!n)
    return;
  va_start(ap, fmt);
  vsnprintf(n->object, sizeof(n->object), fmt, ap);
  va_end(ap);
  n->item.run = note_run;
  n->item.done = note_done;
  cq_submit(l->server->cq, &n->item);
}

static void refused_flush(uv_timer_t *t) {
  struct tls_listener *l = t->data;
  if (!l->n_refused && !l->refused_others) { /* a quiet second: stop */
    uv_timer_stop(t);
    l->timer_running = false;
    return;
  }
  for (unsigned i = 0; i < l->n_refused; i++) {
    const struct refused_slot *r = &l->refused[i];
    refused_note(l, "address:%s refused:%llu last-reason:%s", r->addr,
                 (unsigned long long)r->count, r->reason);
    log_warn("refused %llu TLS peer(s) from %s (last: %s)", (unsigned long long)r->count,
             r->addr, r->reason);
  }
  if (l->refused_others) {
    refused_note(l, "address:others refused:%llu", (unsigned long long)l->refused_others);
    log_warn("refused %llu TLS peer(s) from other addresses",
             (unsigned long long)l->refused_others);
  }
  l->n_refused = 0;
  l->refused_others = 0;
}

static void count_refused(struct tls_listener *l, const char *addr, const char *reason) {
  unsigned i;
  for (i = 0; i < l->n_refused && strcmp(l->refused[i].addr, addr) != 0; i++)
    ;
  if (i == l->n_refused && l->n_refused < REFUSED_SLOTS) {
    snprintf(l->refused[i].addr, sizeof(l->refused[i].addr), "%s", addr);
    l->refused[i].count = 0;
    l->n_refused++;
  }
  if (i < l->n_refused) {
    l->refused[i].count++;
    snprintf(l->refused[i].reason, sizeof(l->refused[i].reason), "%s", reason);
  } else {
    l->refused_others++;
  }
  if (!l->timer_running && !l->stopping) {
    /* the first refusal of a quiet spell is audited at once, later ones once a second */
    uv_timer_start(&l->refused_timer, refused_flush, 0, REFUSED_FLUSH_MS);
    l->timer_running = true;
  }
}

static const char *refusal_word(int r) {
  const char *w = store_identity_audit_code(r);
  if (w)
    return w;
  switch (r) {
  case -EKEYREJECTED: return "certificate_rejected";
  case -ENOKEY: return "no_certificate";
  case -EPROTONOSUPPORT: return "protocol_version";
  case -ETIMEDOUT: return "handshake_timeout";
  case CA_E_VERIFY: return "certificate_not_of_cluster";
  case CA_E_FIELDS: return "certificate_fields";
  default: return "protocol_error";
  }
}

static void drop_refused(struct admin_conn *c);

static void reap(uv_timer_t *t) {
  struct tls_listener *l = t->data;
  for (struct admin_conn *c = l->conns, *next; c; c = next) {
    next = c->next;
    if (c->refused < 0 && c->wc)
      drop_refused(c);
  }
}

/* ---- sessions ---- */

/* The resolver: the peer's role from the store at handshake completion (a
 * resumed session too). A refused peer gets a role no op allows and is
 * dropped with the reason right after (the resolver may not end it). */
static uint32_t resolve_role(const struct wire_peer *p, void *ud) {
  struct admin_conn *c = ud;
  struct tls_listener *l = c->listener;
  int r = identity_authorize(l->server->identity, p->leaf, (int64_t)time(NULL), &c->peer);
  if (r < 0) {
    count_refused(l, c->addr, refusal_word(r));
    c->refused = r;
    uv_timer_start(&l->reap_timer, reap, 0, 0);
    return ROLE_REFUSED;
  }
  if (c->peer.wire_role == WIRE_ROLE_ANON)
    snprintf(c->actor_name, sizeof(c->actor_name), "anonymous@%s", c->addr);
  else
    snprintf(c->actor_name, sizeof(c->actor_name), "%s", c->peer.node_id);
  c->actor = (struct store_actor){.uid = UINT32_MAX, .node = c->actor_name};
  return c->peer.wire_role;
}

static int recheck(struct admin_conn *c, uint32_t *role) {
  if (c->peer.wire_role == WIRE_ROLE_ANON) {
    *role = WIRE_ROLE_ANON;
    return 0;
  }
  int r = identity_recheck(c->listener->server->identity, &c->peer, (int64_t)time(NULL));
  *role = c->peer.wire_role;
  return r;
}

static void drop_refused(struct admin_conn *c) {
  conn_drop_with(c, c->refused, identity_strerror(c->refused));
}

static struct node_q *node_queue(struct tls_listener *l, const char *node_id, bool create) {
  for (struct node_q *n = l->queues; n; n = n->next)
    if (strcmp(n->node_id, node_id) == 0)
      return n;
  if (!create)
    return NULL;
  struct node_q *n = calloc(1, sizeof(*n));
  if (!n || wire_pushq_new(0, &n->q) < 0) {
    free(n);
    return NULL;
  }
  snprintf(n->node_id, sizeof(n->node_id), "%s", node_id);
  n->next = l->queues;
  l->queues = n;
  return n;
}

static int on_hello(struct wire_session *s, const struct wire_hello *h, void *ud) {
  struct admin_conn *c = ud;
  (void)h;
  if (c->refused < 0) {
    drop_refused(c);
    return 0;
  }
  if (c->peer.wire_role == WIRE_ROLE_ANON || !(wire_session_features(s) & WIRE_FEAT_PUSH))
    return 0;
  /* a node's newest session receives its pushes, after what it has seen */
  struct node_q *n = node_queue(c->listener, c->peer.node_id, true);
  if (n)
    (void)wire_session_attach_pushq(s, n->q);
  push_hook_node_back(c->server, c->peer.node_id); /* not down (any more) */
  return 0;
}

static void on_request(struct wire_session *s, const struct wire_request *req, void *ud) {
  struct admin_conn *c = ud;
  struct tls_listener *l = c->listener;
  (void)s;
  if (c->refused < 0) {
    drop_refused(c);
    return;
  }
  if (req->opcode == WIRE_OP_NODE_JOIN && c->peer.wire_role == WIRE_ROLE_ANON) {
    /* failed joins slow an address down: counted, not audited one by one */
    uint64_t retry = 0;
    if (identity_limiter_admit(l->server->identity, c->addr, mono_ms(), &retry) < 0) {
      char msg[160];
      snprintf(msg, sizeof(msg),
               "too many failed joins from this address: slowed down, retry in %llu ms",
               (unsigned long long)retry);
      count_refused(l, c->addr, "join_throttled");
      wire_session_reply_error(c->wc, req->id, -EAGAIN, msg);
      return;
    }
  }
  admin_dispatch(c, req);
}

static void on_refused_frame(struct wire_session *s, const char *op, int code, void *ud) {
  (void)s;
  admin_refused(ud, op, code);
}

static void on_close(struct wire_session *s, int reason, void *ud) {
  struct admin_conn *c = ud;
  (void)s;
  if (reason < 0 && reason != -ECONNRESET && !c->peer.wire_role && !c->refused)
    count_refused(c->listener, c->addr, refusal_word(reason)); /* refused at the handshake */
  /* c may be freed by the detach: what the down hook needs, first */
  struct tls_listener *l = c->listener;
  bool node = c->peer.wire_role && c->peer.wire_role != WIRE_ROLE_ANON && c->refused == 0;
  char node_id[CA_ID_LEN + 1];
  memcpy(node_id, c->peer.node_id, sizeof(node_id));
  conn_detach(c);
  if (node && listen_node_sessions(l, node_id) == 0)
    push_hook_node_gone(l->server, node_id); /* down after the window */
}

static void release(struct admin_conn *c) { free(c); }

static const struct wire_session_cbs session_cbs = {
    .on_hello = on_hello,
    .on_request = on_request,
    .on_refused = on_refused_frame,
    .on_close = on_close,
};

static void peer_address(uv_tcp_t *tcp, char *buf, size_t len) {
  struct sockaddr_storage ss;
  int n = sizeof(ss);
  snprintf(buf, len, "unknown");
  if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &n) < 0)
    return;
  if (ss.ss_family == AF_INET)
    uv_ip4_name((struct sockaddr_in *)&ss, buf, len);
  else if (ss.ss_family == AF_INET6)
    uv_ip6_name((struct sockaddr_in6 *)&ss, buf, len);
}

static void on_connection(uv_stream_t *server, int status) {
  struct tls_listener *l = server->data;
  if (status < 0 || l->stopping)
    return;
  uv_tcp_t *tcp = malloc(sizeof(*tcp));
  struct admin_conn *c = calloc(1, sizeof(*c));
  struct wire_tls *tls;
  if (!tcp || !c || uv_tcp_init(l->server->loop, tcp) < 0) {
    free(tcp);
    free(c);
    return;
  }
  if (uv_accept(server, (uv_stream_t *)tcp) < 0) {
    uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
    free(c);
    return;
  }
  uv_tcp_nodelay(tcp, 1);
  peer_address(tcp, c->addr, sizeof(c->addr));
  snprintf(c->actor_name, sizeof(c->actor_name), "anonymous@%s", c->addr);
  c->actor = (struct store_actor){.uid = UINT32_MAX, .node = c->actor_name};
  c->server = l->server;
  c->listener = l;
  c->refs = 1;
  c->drop = conn_drop;
  c->release = release;
  c->recheck = recheck;
  const struct wire_session_opts o = {
      .loop = l->server->loop,
      .side = WIRE_SESSION_SERVER,
      .hb_ms = l->hb_ms,
      .hb_missed = l->hb_missed,
      .resolve_role = resolve_role,
      .role_ud = c,
  };
  int r = wire_session_new(&o, &session_cbs, c, &c->wc);
  if (r == 0 &&
      (r = wire_tls_new(l->ctx, (uv_stream_t *)tcp, NULL, NULL, wire_session_transport_cbs(),
                        c->wc, &tls)) < 0) {
    wire_session_free(c->wc);
  }
  if (r < 0) {
    uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
    free(c);
    return;
  }
  wire_session_attach(c->wc, wire_tls_transport(tls));
  c->next = l->conns;
  if (l->conns)
    l->conns->prev = c;
  l->conns = c;
  l->n_conns++;
}

/* ---- liveness: last_seen follows the sessions ----
 * Once per heartbeat interval, every node whose session showed a sign of
 * life (a heartbeat, a request) since the previous tick gets last_seen =
 * now, all in one queue item (no audit record: a heartbeat must not grow the
 * chain). So a node's writes are at most one per interval, and a node whose
 * session went silent stops being refreshed and turns `down` after the
 * window (listen_down_after_ms), when the session drops it too. */

struct seen_item {
  struct cq_item item;
  size_t n;
  uint64_t now_ns;
  char (*ids)[CA_ID_LEN + 1];
};

static int seen_run(struct store_batch *b, struct cq_item *it) {
  struct seen_item *si = (struct seen_item *)it;
  for (size_t i = 0; i < si->n; i++)
    (void)store_node_seen(b, si->ids[i], si->now_ns, NULL, NULL); /* a removed node: ignored */
  return 0;
}

static void seen_done(struct cq_item *it, int r) {
  struct seen_item *si = (struct seen_item *)it;
  if (r < 0 && r != -ECANCELED)
    log_warn("cannot record the nodes' heartbeats: %s", sd_strerror(r));
  free(si->ids);
  free(si);
}

static void seen_tick(uv_timer_t *t) {
  struct tls_listener *l = t->data;
  size_t n = 0, i = 0;
  for (struct admin_conn *c = l->conns; c; c = c->next)
    if (c->wc && c->refused == 0 && c->peer.wire_role && c->peer.wire_role != WIRE_ROLE_ANON)
      n++;
  if (!n)
    return;
  struct seen_item *si = calloc(1, sizeof(*si));
  if (!si || !(si->ids = calloc(n, sizeof(*si->ids)))) {
    free(si);
    return;
  }
  for (struct admin_conn *c = l->conns; c && i < n; c = c->next) {
    if (!c->wc || c->refused || !c->peer.wire_role || c->peer.wire_role == WIRE_ROLE_ANON)
      continue;
    uint64_t seen = wire_session_last_seen(c->wc);
    if (seen == c->seen_written)
      continue;
    c->seen_written = seen;
    memcpy(si->ids[i++], c->peer.node_id, sizeof(si->ids[0]));
  }
  if (!(si->n = i)) {
    free(si->ids);
    free(si);
    return;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  si->now_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
  si->item.run = seen_run;
  si->item.done = seen_done;
  cq_submit(l->server->cq, &si->item);
}

/* ---- pushes, cut-off, liveness ---- */

int64_t listen_push(struct tls_listener *l, const char *node_id, const char *topic,
                    wire_pack_fn pack_body, void *ud) {
  if (!l || l->stopping)
    return -ENOTCONN;
  struct node_q *n = node_queue(l, node_id, true);
  if (!n)
    return -ENOMEM;
  return wire_pushq_push(n->q, topic, pack_body, ud);
}

uint64_t listen_push_unacked(const struct tls_listener *l, const char *node_id) {
  for (const struct node_q *n = l ? l->queues : NULL; n; n = n->next)
    if (strcmp(n->node_id, node_id) == 0)
      return wire_pushq_last(n->q) - wire_pushq_acked(n->q);
  return 0;
}

unsigned listen_node_sessions(const struct tls_listener *l, const char *node_id) {
  unsigned n = 0;
  for (const struct admin_conn *c = l ? l->conns : NULL; c; c = c->next)
    if (c->wc && c->peer.wire_role != WIRE_ROLE_ANON && c->refused == 0 &&
        strcmp(c->peer.node_id, node_id) == 0)
      n++;
  return n;
}

unsigned listen_cut_node(struct tls_listener *l, const char *node_id, int code, const char *msg) {
  unsigned n = 0;
  if (!l)
    return 0;
  for (struct admin_conn *c = l->conns, *next; c; c = next) {
    next = c->next;
    if (c->wc && c->peer.wire_role != WIRE_ROLE_ANON && strcmp(c->peer.node_id, node_id) == 0) {
      conn_drop_with(c, code, msg);
      n++;
    }
  }
  for (struct node_q **p = &l->queues; *p; p = &(*p)->next)
    if (strcmp((*p)->node_id, node_id) == 0) {
      struct node_q *q = *p;
      *p = q->next;
      wire_pushq_free(q->q);
      free(q);
      break;
    }
  return n;
}

uint64_t listen_down_after_ms(const struct tls_listener *l) {
  uint32_t hb = l && l->hb_ms ? l->hb_ms : WIRE_HB_DEFAULT_MS;
  uint32_t missed = l && l->hb_missed ? l->hb_missed : WIRE_HB_DEFAULT_MISSED;
  return (uint64_t)hb * missed;
}

/* ---- start / stop ---- */

static int parse_hostport(const char *s, struct sockaddr_storage *ss) {
  char host[128];
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s || !colon[1])
    return -EINVAL;
  size_t hl = (size_t)(colon - s);
  if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
    s++;
    hl -= 2;
  }
  if (hl >= sizeof(host))
    return -EINVAL;
  memcpy(host, s, hl);
  host[hl] = 0;
  char *end;
  unsigned long port = strtoul(colon + 1, &end, 10);
  if (*end || port == 0 || port > 65535)
    return -EINVAL;
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0)
    return 0;
  if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
    return 0;
  return -EINVAL;
}

/* A session ticket is honoured only for a node the store still accepts
 * (deny list, latest serial); a refused ticket falls back to a full
 * handshake, which on_ready authorizes again anyway. */
static int resume_check(X509 *leaf, int64_t issued, void *ud) {
  struct identity_peer p;
  (void)issued;
  return identity_authorize(ud, leaf, (int64_t)time(NULL), &p);
}

static int make_ctx(struct identity *id, struct wire_tls_ctx **ret) {
  const struct store_cluster *c = identity_cluster(id);
  const struct secbuf *kd = identity_manager_key(id);
  const uint8_t *p;
  X509 *ca = NULL, *cert = NULL;
  EVP_PKEY *key = NULL;
  int r = -EBADMSG;
  p = c->ca_cert;
  ca = d2i_X509(NULL, &p, (long)c->ca_cert_len);
  p = c->manager_cert;
  cert = d2i_X509(NULL, &p, (long)c->manager_cert_len);
  p = secbuf_cdata(kd);
  key = d2i_AutoPrivateKey(NULL, &p, (long)secbuf_len(kd));
  if (ca && cert && key) {
    struct wire_tls_config cfg = {
        .role = WIRE_TLS_SERVER,
        .ca_cert = ca,
        .cert = cert,
        .key = key,
        .client_cert_optional = true,
        .check_resumption = resume_check,
        .check_ud = id,
    };
    r = wire_tls_ctx_new(&cfg, ret);
  }
  X509_free(ca);
  X509_free(cert);
  EVP_PKEY_free(key);
  return r;
}

int listen_start(struct server *s, const char *hostport, struct tls_listener **ret) {
  struct sockaddr_storage ss = {0};
  int r;
  if (!s->identity)
    return log_err("--listen needs a cluster identity"), -EINVAL;
  if (parse_hostport(hostport, &ss) < 0)
    return log_err("--listen %s: want HOST:PORT (an IP address)", hostport), -EINVAL;
  struct tls_listener *l = calloc(1, sizeof(*l));
  if (!l)
    return -ENOMEM;
  l->server = s;
  l->hb_ms = s->hb_ms;
  l->hb_missed = s->hb_missed;
  if ((r = make_ctx(s->identity, &l->ctx)) < 0) {
    log_err("cannot set up TLS with the manager certificate: %s", sd_strerror(r));
    free(l);
    return r;
  }
  uv_tcp_init(s->loop, &l->tcp);
  l->tcp.data = l;
  uv_timer_init(s->loop, &l->refused_timer);
  l->refused_timer.data = l;
  uv_timer_init(s->loop, &l->reap_timer);
  l->reap_timer.data = l;
  uv_timer_init(s->loop, &l->seen_timer);
  l->seen_timer.data = l;
  if ((r = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0)) < 0 ||
      (r = uv_listen((uv_stream_t *)&l->tcp, 256, on_connection)) < 0) {
    log_err("cannot listen on %s: %s", hostport, uv_strerror(r));
    l->stopping = true;
    uv_close((uv_handle_t *)&l->tcp, NULL);
    uv_close((uv_handle_t *)&l->refused_timer, NULL);
    uv_close((uv_handle_t *)&l->reap_timer, NULL);
    uv_close((uv_handle_t *)&l->seen_timer, NULL);
    wire_tls_ctx_free(l->ctx);
    /* the handles close on the next loop turn: the caller keeps l until
     * its loop has run to completion, then listen_free()s it */
    *ret = l;
    return r;
  }
  uint32_t hb = l->hb_ms ? l->hb_ms : WIRE_HB_DEFAULT_MS;
  uv_timer_start(&l->seen_timer, seen_tick, hb, hb);
  log_info("listening for nodes on %s (TLS 1.3; cluster %s; heartbeat %u ms, down after %llu ms)",
           hostport, identity_cluster(s->identity)->cluster_id,
           l->hb_ms ? l->hb_ms : WIRE_HB_DEFAULT_MS, (unsigned long long)listen_down_after_ms(l));
  *ret = l;
  return 0;
}

void listen_stop(struct tls_listener *l) {
  if (!l || l->stopping)
    return;
  l->stopping = true;
  uv_close((uv_handle_t *)&l->tcp, NULL);
  if (l->n_refused || l->refused_others)
    refused_flush(&l->refused_timer); /* the last second's counts */
  uv_close((uv_handle_t *)&l->refused_timer, NULL);
  uv_close((uv_handle_t *)&l->reap_timer, NULL);
  uv_close((uv_handle_t *)&l->seen_timer, NULL);
  while (l->conns)
    conn_drop(l->conns);
  while (l->queues) {
    struct node_q *q = l->queues;
    l->queues = q->next;
    wire_pushq_free(q->q);
    free(q);
  }
  wire_tls_ctx_free(l->ctx);
  l->ctx = NULL;
}

int listen_reload_cert(struct tls_listener *l) {
  struct wire_tls_ctx *ctx = NULL;
  if (!l || l->stopping)
    return -ENOTCONN;
  int r = make_ctx(l->server->identity, &ctx);
  if (r < 0)
    return r;
  wire_tls_ctx_free(l->ctx); /* live connections hold their own references */
  l->ctx = ctx;
  return 0;
}

void listen_free(struct tls_listener *l) { free(l); }
