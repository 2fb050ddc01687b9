/*
 * The agent's non-blocking client: see async_client.h. The struct lives
 * until free() was called and every handle of ours (the retry timer, a
 * socket still connecting) has closed.
 */
#include "wire/async_client.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/error.h"
#include "wire/tls.h"
#include "wire/unix_transport.h"

struct wire_aclient {
  struct wire_aclient_opts o;
  const struct wire_aclient_cbs *cbs;
  void *ud;
  struct sockaddr_storage addr; /* a numeric host */
  bool by_name;                  /* host is a name: resolved before each connection */
  char host[254];                /* our copy: o.host points here */
  char port_str[8];
  uv_getaddrinfo_t *resolving;   /* a resolution under way (ours until its callback) */
  struct addrinfo *addrs;        /* the addresses of this attempt ... */
  struct addrinfo *next_addr;    /* ... and the next to try */
  int addr_err;                  /* why the last address of this attempt failed */
  uv_timer_t retry;
  uv_connect_t creq;
  uv_stream_t *connecting; /* a socket being connected, ours until the transport takes it */
  struct wire_session *s;  /* the current session (NULL: none) */
  struct wire_tls *tls;    /* the current session's TLS transport, if any */
  SSL_SESSION *ticket;     /* the newest TLS ticket, offered once at the next connect */
  bool up, freed;
  unsigned attempt, sessions, handles;
  uint64_t push_seen;
};

static void forget_addrs(struct wire_aclient *c) {
  uv_freeaddrinfo(c->addrs); /* NULL ok */
  c->addrs = c->next_addr = NULL;
}

static void maybe_release(struct wire_aclient *c) {
  if (c->freed && c->handles == 0) {
    forget_addrs(c);
    SSL_SESSION_free(c->ticket);
    free(c);
  }
}

static void handle_closed(uv_handle_t *h) {
  struct wire_aclient *c = h->data;
  if (h != (uv_handle_t *)&c->retry)
    free(h);
  c->handles--;
  maybe_release(c);
}

unsigned wire_aclient_backoff(unsigned min_ms, unsigned max_ms, unsigned n) {
  uint64_t d = min_ms;
  for (unsigned i = 0; i < n && d < max_ms; i++)
    d *= 2;
  if (d > max_ms)
    d = max_ms;
  return (unsigned)(d / 2 + randombytes_uniform((uint32_t)(d - d / 2) + 1));
}

static void start_connect(uv_timer_t *t);
static void connect_next(struct wire_aclient *c);

static void schedule_retry(struct wire_aclient *c, int reason) {
  if (c->freed)
    return;
  if (c->cbs->on_down)
    c->cbs->on_down(c, reason, c->ud);
  if (c->freed)
    return;
  unsigned wait = wire_aclient_backoff(c->o.backoff_min_ms, c->o.backoff_max_ms, c->attempt);
  if (c->attempt < 32)
    c->attempt++;
  uv_timer_start(&c->retry, start_connect, wait, 0);
}

/* ---- the session ---- */

static int s_hello(struct wire_session *s, const struct wire_hello *h, void *ud) {
  struct wire_aclient *c = ud;
  (void)h;
  c->up = true;
  c->attempt = 0;
  c->sessions++;
  /* TLS 1.3 sends its tickets with the server's first bytes: by the hello's
   * answer the ticket for the next reconnection is here. */
  SSL_SESSION *t = NULL;
  if (c->tls && wire_tls_get_session(c->tls, &t) == 0) {
    SSL_SESSION_free(c->ticket);
    c->ticket = t;
  }
  if (c->cbs->on_up)
    c->cbs->on_up(c, wire_session_version(s), c->ud);
  return 0;
}

static void s_push(struct wire_session *s, const struct wire_push *p, void *ud) {
  struct wire_aclient *c = ud;
  (void)s;
  if (c->cbs->on_push)
    c->cbs->on_push(c, p, c->ud);
  c->push_seen = p->seq;
}

static void s_close(struct wire_session *s, int reason, void *ud) {
  struct wire_aclient *c = ud;
  c->push_seen = wire_session_push_seen(s);
  c->s = NULL;
  c->tls = NULL;
  c->up = false;
  schedule_retry(c, reason < 0 ? reason : -ECONNRESET);
}

static const struct wire_session_cbs session_cbs = {
    .on_hello = s_hello,
    .on_push = s_push,
    .on_close = s_close,
};

static void connected(uv_connect_t *req, int status) {
  struct wire_aclient *c = req->data;
  uv_stream_t *st = c->connecting;
  struct wire_transport *t = NULL;
  int r = status;

  c->connecting = NULL;
  if (!st) /* closed by wire_aclient_free: status is UV_ECANCELED; its close releases */
    return;
  if (c->freed || status < 0) {
    uv_close((uv_handle_t *)st, handle_closed);
    if (c->freed)
      return;
    if (c->next_addr) { /* a name with more addresses: the next one, at once */
      c->addr_err = status;
      connect_next(c);
      return;
    }
    forget_addrs(c);
    schedule_retry(c, status == UV_ECANCELED ? -ECANCELED : status);
    return;
  }
  forget_addrs(c);
  struct wire_session_opts so = {
      .loop = c->o.loop,
      .side = WIRE_SESSION_CLIENT,
      .versions = c->o.versions,
      .features_off = c->o.features_off,
      .resume = c->push_seen,
      .no_hello = c->o.no_hello,
  };
  if ((r = wire_session_new(&so, &session_cbs, c, &c->s)) < 0)
    goto fail;
  if (c->o.unix_path) {
    struct wire_unix *u;
    if ((r = wire_unix_new((uv_pipe_t *)st, wire_session_transport_cbs(), c->s, &u)) < 0)
      goto fail;
    t = wire_unix_transport(u);
  } else {
    struct wire_tls *tls;
    /* Requests are small frames written back to back (e.g. one node.deliver per
     * task after a rotation): without TCP_NODELAY, Nagle holds each behind the
     * server's delayed ACK (40 ms). secretd's side sets it too. */
    (void)uv_tcp_nodelay((uv_tcp_t *)st, 1);
    if ((r = wire_tls_new(c->o.tls, st, c->o.server_name, c->ticket,
                          wire_session_transport_cbs(), c->s, &tls)) < 0)
      goto fail;
    SSL_SESSION_free(c->ticket); /* a TLS 1.3 ticket is offered once */
    c->ticket = NULL;
    c->tls = tls;
    t = wire_tls_transport(tls);
  }
  c->handles--; /* the transport owns the socket now */
  wire_session_attach(c->s, t);
  return;
fail:
  wire_session_free(c->s);
  c->s = NULL;
  uv_close((uv_handle_t *)st, handle_closed);
  schedule_retry(c, r);
}

/* Connect a TCP socket to addr; a failure to start is a failed attempt. */
static void connect_tcp(struct wire_aclient *c, const struct sockaddr *addr) {
  int r;
  uv_tcp_t *tcp = malloc(sizeof(*tcp));
  if (!tcp || uv_tcp_init(c->o.loop, tcp) < 0) {
    free(tcp);
    forget_addrs(c);
    schedule_retry(c, -ENOMEM);
    return;
  }
  tcp->data = c;
  c->handles++;
  c->connecting = (uv_stream_t *)tcp;
  c->creq.data = c;
  if ((r = uv_tcp_connect(&c->creq, tcp, addr, connected)) < 0) {
    c->connecting = NULL;
    uv_close((uv_handle_t *)tcp, handle_closed);
    if (c->next_addr) {
      c->addr_err = r;
      connect_next(c);
      return;
    }
    forget_addrs(c);
    schedule_retry(c, r);
  }
}

/* The next resolved address of this attempt (IPv4 or IPv6), or the
 * attempt has failed with the last address's error. */
static void connect_next(struct wire_aclient *c) {
  struct addrinfo *a = c->next_addr;
  while (a && a->ai_family != AF_INET && a->ai_family != AF_INET6)
    a = a->ai_next;
  if (!a) {
    int r = c->addr_err ? c->addr_err : SD_E_RESOLVE;
    forget_addrs(c);
    schedule_retry(c, r);
    return;
  }
  c->next_addr = a->ai_next;
  connect_tcp(c, a->ai_addr);
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  struct wire_aclient *c = req->data;
  free(req);
  c->resolving = NULL;
  c->handles--;
  if (c->freed) {
    uv_freeaddrinfo(res);
    maybe_release(c);
    return;
  }
  if (status < 0) { /* no such name, no address of a usable family, no resolver */
    uv_freeaddrinfo(res);
    schedule_retry(c, status == UV_ENOMEM ? -ENOMEM : SD_E_RESOLVE);
    return;
  }
  forget_addrs(c);
  c->addrs = c->next_addr = res;
  c->addr_err = 0;
  connect_next(c);
}

static void start_connect(uv_timer_t *t) {
  struct wire_aclient *c = t->data;
  int r;
  if (c->freed || c->s || c->connecting || c->resolving)
    return;
  if (c->o.unix_path) {
    uv_pipe_t *p = malloc(sizeof(*p));
    if (!p || uv_pipe_init(c->o.loop, p, 0) < 0) {
      free(p);
      schedule_retry(c, -ENOMEM);
      return;
    }
    p->data = c;
    c->handles++;
    c->connecting = (uv_stream_t *)p;
    c->creq.data = c;
    uv_pipe_connect(&c->creq, p, c->o.unix_path, connected);
    return;
  }
  if (!c->by_name) {
    connect_tcp(c, (const struct sockaddr *)&c->addr);
    return;
  }
  /* A name: resolved again for every connection (its addresses may move). */
  static const struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                        .ai_protocol = IPPROTO_TCP, .ai_flags = AI_NUMERICSERV};
  uv_getaddrinfo_t *req = malloc(sizeof(*req));
  if (!req) {
    schedule_retry(c, -ENOMEM);
    return;
  }
  req->data = c;
  if ((r = uv_getaddrinfo(c->o.loop, req, resolved, c->o.host, c->port_str, &hints)) < 0) {
    free(req);
    schedule_retry(c, r == UV_ENOMEM ? -ENOMEM : SD_E_RESOLVE);
    return;
  }
  c->resolving = req;
  c->handles++; /* the request's: released in resolved() */
}

/* A host name as DNS allows it: labels of letters, digits and '-' (not at
 * either end), 1 to 63 bytes each, dot-separated, 253 bytes at most (a final
 * dot allowed). Anything else is refused before a resolver sees it. */
static bool host_name_ok(const char *h) {
  size_t n = strlen(h), label = 0;
  if (n == 0 || n > 253)
    return false;
  for (size_t i = 0; i < n; i++) {
    char ch = h[i];
    if (ch == '.') {
      if (label == 0 || h[i - 1] == '-')
        return false;
      label = 0;
      continue;
    }
    bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    if (!alnum && (ch != '-' || label == 0))
      return false;
    if (++label > 63)
      return false;
  }
  return h[n - 1] != '-';
}

int wire_aclient_new(const struct wire_aclient_opts *o, const struct wire_aclient_cbs *cbs,
                     void *ud, struct wire_aclient **ret) {
  static const struct wire_aclient_cbs no_cbs = {0};
  struct wire_aclient *c;
  if (!o || !o->loop || !ret ||
      (!o->unix_path && (!o->host || !o->tls || o->port <= 0 || o->port > 65535)))
    return -EINVAL;
  if (!(c = calloc(1, sizeof(*c))))
    return -ENOMEM;
  c->o = *o;
  c->cbs = cbs ? cbs : &no_cbs;
  c->ud = ud;
  if (!c->o.backoff_min_ms)
    c->o.backoff_min_ms = WIRE_ACLIENT_BACKOFF_MIN_MS;
  if (!c->o.backoff_max_ms)
    c->o.backoff_max_ms = WIRE_ACLIENT_BACKOFF_MAX_MS;
  if (c->o.backoff_max_ms < c->o.backoff_min_ms)
    c->o.backoff_max_ms = c->o.backoff_min_ms;
  if (!o->unix_path && uv_ip4_addr(o->host, o->port, (struct sockaddr_in *)&c->addr) < 0 &&
      uv_ip6_addr(o->host, o->port, (struct sockaddr_in6 *)&c->addr) < 0) {
    if (!host_name_ok(o->host)) {
      free(c);
      return -EINVAL;
    }
    c->by_name = true;
    snprintf(c->host, sizeof(c->host), "%s", o->host);
    c->o.host = c->host;
    snprintf(c->port_str, sizeof(c->port_str), "%d", o->port);
  }
  if (uv_timer_init(o->loop, &c->retry) < 0) {
    free(c);
    return -ENOMEM;
  }
  c->retry.data = c;
  c->handles = 1;
  uv_timer_start(&c->retry, start_connect, 0, 0);
  *ret = c;
  return 0;
}

void wire_aclient_free(struct wire_aclient *c) {
  if (!c || c->freed)
    return;
  c->freed = true;
  struct wire_session *s = c->s;
  c->s = NULL;
  c->tls = NULL;
  wire_session_free(s);
  uv_close((uv_handle_t *)&c->retry, handle_closed);
  /* a resolution under way ends in resolved(), cancelled if not started */
  if (c->resolving)
    (void)uv_cancel((uv_req_t *)c->resolving);
  /* a socket still connecting is closed by its connect callback (cancelled) */
  if (c->connecting && !uv_is_closing((uv_handle_t *)c->connecting)) {
    uv_stream_t *st = c->connecting;
    c->connecting = NULL;
    uv_close((uv_handle_t *)st, handle_closed);
  }
}

int64_t wire_aclient_call(struct wire_aclient *c, enum wire_op op, wire_pack_fn pack_args,
                          void *ud, wire_reply_fn cb, void *cb_ud) {
  if (!c->s || !c->up)
    return -ENOTCONN;
  return wire_session_call(c->s, op, pack_args, ud, cb, cb_ud);
}

int64_t wire_aclient_call_name(struct wire_aclient *c, const char *op, wire_pack_fn pack_args,
                               void *ud, wire_reply_fn cb, void *cb_ud) {
  if (!c->s || !c->up)
    return -ENOTCONN;
  return wire_session_call_name(c->s, op, pack_args, ud, cb, cb_ud);
}

uint64_t wire_aclient_push_seen(const struct wire_aclient *c) {
  return c->s ? wire_session_push_seen(c->s) : c->push_seen;
}
struct wire_session *wire_aclient_session(struct wire_aclient *c) { return c->s; }
unsigned wire_aclient_sessions(const struct wire_aclient *c) { return c->sessions; }

void wire_aclient_set_tls(struct wire_aclient *c, struct wire_tls_ctx *tls) {
  if (!c || !tls || !c->o.tls)
    return;
  c->o.tls = tls;
  SSL_SESSION_free(c->ticket); /* a ticket of the old identity would only be refused */
  c->ticket = NULL;
}
