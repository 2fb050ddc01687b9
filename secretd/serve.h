/*
 * The serving state shared by serve.c (process, socket, signals), admin.c
 * (connections and request dispatch) and admin_ops.c (one handler per op).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

struct store;
struct commit_queue;
struct admin_conn;
struct identity;
struct dispatch_tracker;
struct dispatch_node_change;

struct server {
  uv_loop_t *loop;
  uv_pipe_t listener;
  uv_signal_t sig_term, sig_int;
  struct store *store;
  struct identity *identity; /* NULL: the store has no cluster identity */
  struct tls_listener *tls_listener; /* --listen (listen.c), or NULL */
  struct commit_queue *cq;
  bool have_group;
  gid_t admin_gid;
  bool stopping;
  struct admin_conn *conns; /* live connections (doubly linked) */
  unsigned n_conns;
  unsigned max_conns;
  /* Delivery (secretd/dispatch_hook.h): the change tracker, and who pushes the
   * nodes a write changed (the session layer; NULL: agents converge when they ask). */
  struct dispatch_tracker *tracker;
  void (*on_nodes_changed)(struct server *s, const struct dispatch_node_change *c, size_t n,
                           void *ud);
  void *on_nodes_changed_ud;
  uint32_t hb_ms, hb_missed; /* --listen heartbeats (0: wire/session.h defaults) */
  struct manager_cert_watch *mcert; /* renewal of the manager certificate, or NULL */
};

/* admin.c: accept one connection on s->listener, check the peer, and serve
 * it. A refused peer is audited (action "connect", outcome denied) and
 * closed. Never fails the server; errors are logged. */
void admin_accept(struct server *s);
/* admin.c: close every connection (at shutdown). */
void admin_close_all(struct server *s);
