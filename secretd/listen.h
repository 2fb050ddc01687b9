/*
 * The network listener of secretd (`serve --listen HOST:PORT`): TLS 1.3
 * with the manager certificate from the store; anonymous peers may only
 * join; peers with a certificate are authorized against the store at the
 * handshake and per request (secretd/identity.h). Loop thread only.
 */
#pragma once

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
