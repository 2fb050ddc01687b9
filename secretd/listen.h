/*
 * The network listener of secretd (`serve --listen HOST:PORT`): TLS 1.3
 * with the manager certificate from the store; anonymous peers may only
 * join; peers with a certificate are authorized against the store at the
 * handshake and per request (secretd/identity.h). Loop thread only.
 */
#pragma once

#include <stdint.h>

#include "wire/proto.h"

struct server;
struct tls_listener;

/* Listen on hostport ("10.0.0.1:4443", "[::1]:4443"). Returns 0 with *ret
 * set, or a negative errno after logging why; on a bind/listen failure *ret
 * is still set (its handles are closing): listen_free() it after the loop
 * ran. */
int listen_start(struct server *s, const char *hostport, struct tls_listener **ret);
/* Stop accepting and close every connection (at shutdown). NULL ok. */
void listen_stop(struct tls_listener *l);
/* Free after the loop closed the handles. NULL ok. */
void listen_free(struct tls_listener *l);
/* The manager certificate and key changed (identity_reload_manager): new
 * connections get them; live ones go on with the previous context (their
 * session tickets then fall back to a full handshake). Returns 0, or
 * -ENOTCONN (stopped) or a wire_tls_ctx_new error (the previous stays). */
int listen_reload_cert(struct tls_listener *l);

/*
 * Push a message to node_id: it goes to the node's newest live session (if
 * any, and as soon as flow control allows) and waits, up to the queue's cap,
 * for a session that resumes (a node that reconnects gets what it has not
 * acknowledged, in order). Returns the push's seq (> 0), -ENOTCONN (no
 * listener), -ENOBUFS (the node's queue is full) or another negative errno
 * (see wire_pushq_push).
 */
int64_t listen_push(struct tls_listener *l, const char *node_id, const char *topic,
                    wire_pack_fn pack_body, void *ud);
/* Pushes queued for node_id and not yet acknowledged (0 for an unknown node). */
uint64_t listen_push_unacked(const struct tls_listener *l, const char *node_id);
/* Live sessions of node_id. */
unsigned listen_node_sessions(const struct tls_listener *l, const char *node_id);
/* End every live session of node_id now (one error frame with code and
 * msg each) and drop its push queue; returns how many sessions ended.
 * Later handshakes and requests are the store's to refuse. NULL l ok. */
unsigned listen_cut_node(struct tls_listener *l, const char *node_id, int code, const char *msg);
/* How long a node may be silent before it is `down`: the heartbeat interval
 * times the missed count (the session drops such a peer at the same point). */
uint64_t listen_down_after_ms(const struct tls_listener *l);
