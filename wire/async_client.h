/*
 * A non-blocking protocol client on libuv, for the agent: connects over
 * TCP + TLS 1.3 (wire/tls.h; the client certificate is the context's, if it
 * has one) or a Unix socket, says hello, sends requests whose replies come
 * to callbacks, takes pushes (acknowledged when on_push returns), exchanges
 * heartbeats (wire/session.h), and reconnects by itself.
 *
 * Addresses: host is a numeric IPv4 or IPv6 address, or a host name that is
 * resolved (uv_getaddrinfo, IPv4 and IPv6) again before every connection:
 * each address it resolves to is tried in the resolver's order until one
 * connects; only when all fail does the attempt count as failed. A name that
 * does not resolve fails the attempt with SD_E_RESOLVE (on_down), and is
 * tried again like any failed connect (a resolver may come back).
 *
 * Reconnection: after a failed connect or a lost session the client waits,
 * then tries again: the n-th consecutive wait is drawn uniformly from
 * [d/2, d] with d = min(backoff_max_ms, backoff_min_ms * 2^n) ("equal
 * jitter", so that many agents cut off together do not come back together).
 * Defaults 200 ms and 30 s; a session that reaches its hello resets n. The
 * hello of every new session names the last push seq processed, and the
 * server resumes after it: pushes reach on_push in order, each once, across
 * reconnections (as long as this client object lives). Over TLS, a
 * reconnection offers the newest session ticket of the last session (TLS 1.3
 * resumption: no full handshake when the server accepts it).
 *
 * Requests are not retried: a call in flight when the session is lost gets
 * its callback with -ECONNRESET (or the reason), and calls made while no
 * session is up fail at once with -ENOTCONN. Not thread-safe: loop thread.
 */
#pragma once

#include <stdint.h>

#include <uv.h>

#include "wire/session.h"

#define WIRE_ACLIENT_BACKOFF_MIN_MS 200u
#define WIRE_ACLIENT_BACKOFF_MAX_MS 30000u

struct wire_tls_ctx;
struct wire_aclient;

struct wire_aclient_opts {
  uv_loop_t *loop;         /* required */
  const char *unix_path;   /* either a Unix socket ... */
  const char *host;        /* ... or a host name or numeric IPv4/IPv6 address, and a port, with TLS */
  int port;
  struct wire_tls_ctx *tls;   /* a WIRE_TLS_CLIENT context (the caller keeps it alive) */
  const char *server_name;    /* TLS: checked against the server certificate, or NULL */
  uint32_t versions;          /* 0: every version (see wire/session.h) */
  uint32_t features_off;      /* features not to ask for */
  bool no_hello;              /* speak version 1 without a hello (very old servers) */
  unsigned backoff_min_ms, backoff_max_ms; /* 0: the defaults above */
};

struct wire_aclient_cbs {
  /* A session is up (hello answered): calls work from now. Optional. */
  void (*on_up)(struct wire_aclient *c, uint32_t version, void *ud);
  /* The session was lost, or a connect failed (reason: negative errno);
   * a retry is scheduled. Optional. */
  void (*on_down)(struct wire_aclient *c, int reason, void *ud);
  /* A push, in order, each seq once. Optional (pushes are then just acked). */
  void (*on_push)(struct wire_aclient *c, const struct wire_push *p, void *ud);
};

/* Start connecting (from the loop). Returns 0, -EINVAL (no target, TLS
 * without a context, a port outside 1..65535, a host that is neither a
 * numeric address nor a syntactically valid host name) or -ENOMEM. */
int wire_aclient_new(const struct wire_aclient_opts *o, const struct wire_aclient_cbs *cbs,
                     void *ud, struct wire_aclient **ret);
/* Stop: the session ends, pending calls get -ECANCELED, no callback after
 * this returns. NULL ok. */
void wire_aclient_free(struct wire_aclient *c);

/* A request on the current session (see wire_session_call). -ENOTCONN when
 * no session is up. */
int64_t wire_aclient_call(struct wire_aclient *c, enum wire_op op, wire_pack_fn pack_args,
                          void *ud, wire_reply_fn cb, void *cb_ud);
int64_t wire_aclient_call_name(struct wire_aclient *c, const char *op, wire_pack_fn pack_args,
                               void *ud, wire_reply_fn cb, void *cb_ud);
/* The last push seq processed; the current session or NULL; the number of
 * sessions that reached their hello so far. */
uint64_t wire_aclient_push_seen(const struct wire_aclient *c);
struct wire_session *wire_aclient_session(struct wire_aclient *c);
unsigned wire_aclient_sessions(const struct wire_aclient *c);
/* TLS: the context for the next connection (e.g. a renewed client
 * certificate); the current session goes on with the old one. The caller
 * keeps both contexts alive as long as a connection may use them. */
void wire_aclient_set_tls(struct wire_aclient *c, struct wire_tls_ctx *tls);
/* The next backoff wait for attempt n in [0, max] (exposed for tests). */
unsigned wire_aclient_backoff(unsigned min_ms, unsigned max_ms, unsigned n);
