/*
 * `secretd serve --listen HOST:PORT`: the network listener, TLS 1.3 with the
 * manager certificate from the store (never a PEM file), client certificate
 * optional: a peer without one is anonymous and may only join (node.join);
 * a peer with one must verify to the cluster root and is authorized against
 * the store (identity_authorize) at handshake completion and again for
 * every request. Requests use the frame format and schema of the admin
 * socket (wire/proto.h); their audit records go through the group commit.
 *
 * Deliberately small: the session layer (hello, pushes, heartbeats, renewal
 * over a live connection) replaces the per-connection code here later; the
 * identity decisions stay in identity.c.
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
#include <sodium.h>

#include "base/error.h"
#include "crypto/secbuf.h"
#include "secretd/admin.h"
#include "secretd/commit_queue.h"
#include "secretd/identity.h"
#include "secretd/log.h"
#include "secretd/serve.h"
#include "wire/frame.h"
#include "wire/msg.h"
#include "wire/proto.h"
#include "wire/tls.h"

#define REFUSED_FLUSH_MS 1000
#define REFUSED_SLOTS 16

struct tls_conn;

struct tls_listener {
  struct server *server;
  uv_tcp_t tcp;
  struct wire_tls_ctx *ctx;
  struct tls_conn *conns;
  bool stopping;
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

struct tls_conn {
  struct tls_conn *prev, *next;
  struct tls_listener *l;
  struct wire_transport *t; /* NULL once closed */
  struct wire_reader *reader;
  char addr[64];            /* peer IP address */
  struct identity_peer peer;
  unsigned refs;
};

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void conn_unref(struct tls_conn *c) {
  if (--c->refs == 0) {
    wire_reader_free(c->reader);
    free(c);
  }
}

static void conn_unlink(struct tls_conn *c) {
  if (c->prev)
    c->prev->next = c->next;
  else if (c->l->conns == c)
    c->l->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->prev = c->next = NULL;
}

static void conn_close(struct tls_conn *c) {
  if (!c->t)
    return;
  struct wire_transport *t = c->t;
  c->t = NULL;
  conn_unlink(c);
  wire_transport_close(t);
  conn_unref(c);
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

/* ---- replies ---- */

static void send_frame(struct tls_conn *c, struct wire_buf *b, int n) {
  if (n > 0 && c->t && wire_transport_write(c->t, b->data, (size_t)n) < 0)
    conn_close(c);
  wire_buf_release(b);
}

static void reply_error(struct tls_conn *c, uint64_t id, int code, const char *msg) {
  struct wire_buf b = {0};
  send_frame(c, &b, wire_response_encode_error(&b, id, code, msg ? msg : identity_strerror(code)));
}

/* ---- node.join ---- */

struct join_item {
  struct cq_item item;
  struct tls_conn *conn;
  uint64_t id;
  struct store_actor actor;
  char actor_name[80];
  char addr[64];
  char hostname[STORE_HOSTNAME_MAX + 1];
  struct secbuf *token;
  uint8_t *csr, *old_cert, *pop;
  size_t csr_len, old_cert_len, pop_len;
  struct identity_issued issued;
  const struct store_cluster *cluster;
};

static int join_run(struct store_batch *b, struct cq_item *it) {
  struct join_item *j = (struct join_item *)it;
  struct identity_join_req req = {
      .token = secbuf_cdata(j->token),
      .token_len = secbuf_len(j->token),
      .csr = j->csr,
      .csr_len = j->csr_len,
      .address = j->addr,
      .hostname = j->hostname[0] ? j->hostname : NULL,
      .old_cert = j->old_cert,
      .old_cert_len = j->old_cert_len,
      .pop = j->pop,
      .pop_len = j->pop_len,
  };
  int r = identity_join(j->conn->l->server->identity, b, &j->actor, &req, (int64_t)time(NULL),
                        &j->issued);
  /* libuv's pool threads never exit, so OpenSSL's per-thread state (the
   * thread's DRBGs) would outlive every join: release it now. */
  OPENSSL_thread_stop();
  return r;
}

static void pack_joined(msgpack_packer *pk, void *ud) {
  const struct join_item *j = ud;
  const struct store_cluster *c = identity_cluster(j->conn->l->server->identity);
  msgpack_pack_map(pk, 6);
  wire_pack_kv_str(pk, "node_id", j->issued.node_id);
  wire_pack_kv_str(pk, "role", ca_role_name(j->issued.role));
  wire_pack_kv_str(pk, "cluster_id", c->cluster_id);
  wire_pack_str(pk, "cert");
  msgpack_pack_bin(pk, j->issued.cert_len);
  msgpack_pack_bin_body(pk, j->issued.cert, j->issued.cert_len);
  wire_pack_str(pk, "ca");
  msgpack_pack_bin(pk, c->ca_cert_len);
  msgpack_pack_bin_body(pk, c->ca_cert, c->ca_cert_len);
  wire_pack_str(pk, "kept_id");
  j->issued.kept_id ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
}

static void join_done(struct cq_item *it, int r) {
  struct join_item *j = (struct join_item *)it;
  struct tls_conn *c = j->conn;
  identity_limiter_record(c->l->server->identity, j->addr, mono_ms(), r < 0);
  if (r == 0)
    log_info("node %s joined from %s%s", j->issued.node_id, j->addr,
             j->issued.kept_id ? " (returning, kept its id)" : "");
  else if (r != -ECANCELED)
    log_warn("join from %s refused: %s", j->addr, identity_strerror(r));
  if (c->t) {
    struct wire_buf b = {0};
    int n = r == 0 ? wire_response_encode_ok(&b, j->id, pack_joined, j)
                   : wire_response_encode_error(&b, j->id, r, identity_strerror(r));
    send_frame(c, &b, n);
  }
  secbuf_free(j->token);
  free(j->csr);
  free(j->old_cert);
  free(j->pop);
  identity_issued_clear(&j->issued);
  conn_unref(c);
  free(j);
}

static int bin_dup(const msgpack_object *args, const char *key, uint8_t **ret, size_t *ret_len) {
  const msgpack_object *o = wire_map_get(args, key);
  if (!o)
    return 0;
  if (!(*ret = malloc(o->via.bin.size ? o->via.bin.size : 1)))
    return -ENOMEM;
  memcpy(*ret, o->via.bin.ptr, o->via.bin.size);
  *ret_len = o->via.bin.size;
  return 0;
}

static void handle_join(struct tls_conn *c, const struct wire_request *req) {
  struct identity *id = c->l->server->identity;
  uint64_t retry = 0;
  if (identity_limiter_admit(id, c->addr, mono_ms(), &retry) < 0) {
    char msg[160];
    snprintf(msg, sizeof(msg),
             "too many failed joins from this address: slowed down, retry in %llu ms",
             (unsigned long long)retry);
    count_refused(c->l, c->addr, "join_throttled");
    reply_error(c, req->id, -EAGAIN, msg);
    return;
  }
  struct join_item *j = calloc(1, sizeof(*j));
  if (!j) {
    reply_error(c, req->id, -ENOMEM, NULL);
    return;
  }
  const msgpack_object *tok = wire_map_get(req->args, "token");
  const msgpack_object *host = wire_map_get(req->args, "hostname");
  int r = secbuf_from(tok->via.bin.ptr, tok->via.bin.size, &j->token);
  if (r == 0)
    r = bin_dup(req->args, "csr", &j->csr, &j->csr_len);
  if (r == 0)
    r = bin_dup(req->args, "old_cert", &j->old_cert, &j->old_cert_len);
  if (r == 0)
    r = bin_dup(req->args, "pop", &j->pop, &j->pop_len);
  if (r == 0 && !j->old_cert != !j->pop) {
    reply_error(c, req->id, SD_E_PROTO, "old_cert and pop go together");
    r = 1;
  }
  if (r != 0) {
    if (r < 0)
      reply_error(c, req->id, r, NULL);
    secbuf_free(j->token);
    free(j->csr);
    free(j->old_cert);
    free(j->pop);
    free(j);
    return;
  }
  if (host) {
    size_t n = host->via.str.size < STORE_HOSTNAME_MAX ? host->via.str.size : STORE_HOSTNAME_MAX;
    memcpy(j->hostname, host->via.str.ptr, n);
  }
  snprintf(j->addr, sizeof(j->addr), "%s", c->addr);
  snprintf(j->actor_name, sizeof(j->actor_name), "anonymous@%s", c->addr);
  j->actor = (struct store_actor){.uid = UINT32_MAX, .node = j->actor_name};
  j->conn = c;
  j->id = req->id;
  c->refs++;
  j->item.run = join_run;
  j->item.done = join_done;
  cq_submit(c->l->server->cq, &j->item);
}

/* ---- node.renew: a new certificate for the peer's own node ---- */

struct renew_item {
  struct cq_item item;
  struct tls_conn *conn;
  uint64_t id;
  char node_id[CA_ID_LEN + 1];
  char actor_name[80];
  struct store_actor actor;
  uint8_t *csr;
  size_t csr_len;
  struct identity_issued issued;
};

static int renew_run(struct store_batch *b, struct cq_item *it) {
  struct renew_item *j = (struct renew_item *)it;
  int r = identity_renew(j->conn->l->server->identity, b, &j->actor, j->node_id, j->csr,
                         j->csr_len, (int64_t)time(NULL), &j->issued);
  OPENSSL_thread_stop(); /* as join_run */
  return r;
}

static void pack_renewed(msgpack_packer *pk, void *ud) {
  const struct renew_item *j = ud;
  msgpack_pack_map(pk, 2);
  wire_pack_kv_str(pk, "node_id", j->issued.node_id);
  wire_pack_str(pk, "cert");
  msgpack_pack_bin(pk, j->issued.cert_len);
  msgpack_pack_bin_body(pk, j->issued.cert, j->issued.cert_len);
}

static void renew_done(struct cq_item *it, int r) {
  struct renew_item *j = (struct renew_item *)it;
  struct tls_conn *c = j->conn;
  if (r == 0)
    log_info("node %s renewed its certificate", j->node_id);
  else if (r != -ECANCELED)
    log_warn("renewal of node %s refused: %s", j->node_id, identity_strerror(r));
  if (c->t) {
    struct wire_buf b = {0};
    int n = r == 0 ? wire_response_encode_ok(&b, j->id, pack_renewed, j)
                   : wire_response_encode_error(&b, j->id, r, identity_strerror(r));
    send_frame(c, &b, n);
  }
  free(j->csr);
  identity_issued_clear(&j->issued);
  conn_unref(c);
  free(j);
}

static void handle_renew(struct tls_conn *c, const struct wire_request *req) {
  struct renew_item *j = calloc(1, sizeof(*j));
  if (!j || bin_dup(req->args, "csr", &j->csr, &j->csr_len) < 0) {
    free(j);
    reply_error(c, req->id, -ENOMEM, NULL);
    return;
  }
  memcpy(j->node_id, c->peer.node_id, sizeof(j->node_id));
  snprintf(j->actor_name, sizeof(j->actor_name), "%s", c->peer.node_id);
  j->actor = (struct store_actor){.uid = UINT32_MAX, .node = j->actor_name};
  j->conn = c;
  j->id = req->id;
  c->refs++;
  j->item.run = renew_run;
  j->item.done = renew_done;
  cq_submit(c->l->server->cq, &j->item);
}

/* ---- requests ---- */

/* Audit a refused request (role, unknown node) through the queue. */
struct deny_item {
  struct cq_item item;
  char actor[80];
  const char *action;
  char object[120];
  int code;
};

static int deny_run(struct store_batch *b, struct cq_item *it) {
  struct deny_item *d = (struct deny_item *)it;
  struct store_actor a = {.uid = UINT32_MAX, .node = d->actor};
  return store_audit_note(b, &a, d->action, d->object, d->code);
}

static void audit_deny(struct tls_conn *c, const char *action, int code) {
  struct deny_item *d = calloc(1, sizeof(*d));
  if (!d)
    return;
  snprintf(d->actor, sizeof(d->actor), "%.26s@%.45s", c->peer.node_id[0] ? c->peer.node_id : "anonymous",
           c->addr);
  d->action = action;
  snprintf(d->object, sizeof(d->object), "address:%s role:%s", c->addr,
           c->peer.wire_role == WIRE_ROLE_ANON ? "anonymous"
                                               : ca_role_name(c->peer.role) ?: "unknown");
  d->code = code;
  d->item.run = deny_run;
  d->item.done = note_done;
  cq_submit(c->l->server->cq, &d->item);
}

static void handle_request(struct tls_conn *c, const struct wire_request *req) {
  /* Per request: the peer's certificate is checked against the store again
   * (a node removed or renewed since the handshake is refused now). */
  if (c->peer.wire_role != WIRE_ROLE_ANON) {
    int r = identity_recheck(c->l->server->identity, &c->peer, (int64_t)time(NULL));
    if (r < 0) {
      audit_deny(c, req->op, r);
      reply_error(c, req->id, r, NULL);
      conn_close(c);
      return;
    }
  }
  const struct admin_op *op = admin_op_get(req->opcode);
  if (!op || !wire_role_allows(req->opcode, c->peer.wire_role)) {
    char msg[120];
    snprintf(msg, sizeof(msg), "permission denied: %s may not call %s",
             c->peer.wire_role == WIRE_ROLE_ANON ? "an anonymous peer"
                                                 : ca_role_name(c->peer.role) ?: "this peer",
             req->op);
    audit_deny(c, req->op, SD_E_DENIED);
    reply_error(c, req->id, SD_E_DENIED, msg);
    return;
  }
  if (req->opcode == WIRE_OP_NODE_JOIN) {
    handle_join(c, req);
    return;
  }
  if (req->opcode == WIRE_OP_NODE_RENEW) {
    handle_renew(c, req);
    return;
  }
  reply_error(c, req->id, -ENOSYS, "not served on this listener yet");
}

static void on_data(struct wire_transport *t, const uint8_t *buf, size_t len, void *ud) {
  struct tls_conn *c = ud;
  c->refs++;
  while (len > 0 && c->t) {
    size_t used = 0;
    int r = wire_reader_feed(c->reader, buf, len, &used);
    buf += used;
    len -= used;
    if (r < 0) {
      reply_error(c, 0, r, "malformed frame");
      conn_close(c);
      break;
    }
    if (r == 0)
      continue;
    const uint8_t *p;
    size_t n;
    struct wire_value *val = NULL;
    struct wire_request req;
    struct wire_error err;
    wire_reader_frame(c->reader, &p, &n);
    if (wire_request_decode(p, n, &val, &req, &err) < 0)
      reply_error(c, err.id, err.code, err.msg);
    else
      handle_request(c, &req);
    wire_value_free(val);
    wire_reader_consume(c->reader);
  }
  conn_unref(c);
}

static void on_ready(struct wire_transport *t, void *ud) {
  struct tls_conn *c = ud;
  struct wire_peer p;
  int r = wire_transport_peer(t, &p);
  if (r == 0)
    r = identity_authorize(c->l->server->identity, p.leaf, (int64_t)time(NULL), &c->peer);
  if (r < 0) {
    count_refused(c->l, c->addr, refusal_word(r));
    reply_error(c, 0, r, NULL);
    conn_close(c);
  }
}

static void on_close(struct wire_transport *t, int reason, void *ud) {
  struct tls_conn *c = ud;
  if (reason < 0 && reason != -ECONNRESET && !c->peer.wire_role)
    count_refused(c->l, c->addr, refusal_word(reason)); /* refused at the handshake */
  c->t = NULL;
  conn_unlink(c);
  conn_unref(c);
}

static const struct wire_transport_cbs cbs = {
    .on_ready = on_ready,
    .on_data = on_data,
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
  struct tls_conn *c = calloc(1, sizeof(*c));
  struct wire_tls *tls;
  if (!tcp || !c || uv_tcp_init(l->server->loop, tcp) < 0) {
    free(tcp);
    free(c);
    return;
  }
  if (uv_accept(server, (uv_stream_t *)tcp) < 0 || wire_reader_new(64 * 1024, &c->reader) < 0) {
    uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
    wire_reader_free(c->reader);
    free(c);
    return;
  }
  uv_tcp_nodelay(tcp, 1);
  peer_address(tcp, c->addr, sizeof(c->addr));
  c->l = l;
  c->refs = 1;
  if (wire_tls_new(l->ctx, (uv_stream_t *)tcp, NULL, NULL, &cbs, c, &tls) < 0) {
    uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
    wire_reader_free(c->reader);
    free(c);
    return;
  }
  c->t = wire_tls_transport(tls);
  c->next = l->conns;
  if (l->conns)
    l->conns->prev = c;
  l->conns = c;
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
  if ((r = make_ctx(s->identity, &l->ctx)) < 0) {
    log_err("cannot set up TLS with the manager certificate: %s", sd_strerror(r));
    free(l);
    return r;
  }
  uv_tcp_init(s->loop, &l->tcp);
  l->tcp.data = l;
  uv_timer_init(s->loop, &l->refused_timer);
  l->refused_timer.data = l;
  if ((r = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0)) < 0 ||
      (r = uv_listen((uv_stream_t *)&l->tcp, 256, on_connection)) < 0) {
    log_err("cannot listen on %s: %s", hostport, uv_strerror(r));
    l->stopping = true;
    uv_close((uv_handle_t *)&l->tcp, NULL);
    uv_close((uv_handle_t *)&l->refused_timer, NULL);
    wire_tls_ctx_free(l->ctx);
    /* the handles close on the next loop turn: the caller keeps l until
     * its loop has run to completion, then listen_free()s it */
    *ret = l;
    return r;
  }
  log_info("listening for nodes on %s (TLS 1.3; cluster %s)", hostport,
           identity_cluster(s->identity)->cluster_id);
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
  while (l->conns)
    conn_close(l->conns);
  wire_tls_ctx_free(l->ctx);
  l->ctx = NULL;
}

void listen_free(struct tls_listener *l) { free(l); }
