/*
 * TLS 1.3 transport over a libuv stream (wire/transport.h), with OpenSSL 3
 * driven through memory BIOs: ciphertext read from the stream is fed into
 * the SSL object, plaintext comes out through on_data; plaintext written is
 * encrypted into a memory BIO and handed to uv_write.
 *
 * Policy (not configurable on purpose):
 *   - TLS 1.3 only: a peer offering only TLS 1.2 or older is refused
 *     (-EPROTONOSUPPORT);
 *   - mutual authentication: the server requires a client certificate
 *     (-ENOKEY without one); both sides verify the peer's chain to the
 *     configured root CA(s) (-EKEYREJECTED otherwise), with the purpose
 *     checks of OpenSSL (clientAuth / serverAuth where the certificate
 *     names extended key usages); a client given a server name also checks
 *     it against the server certificate;
 *   - a handshake that has not finished after handshake_timeout_ms is
 *     dropped (-ETIMEDOUT), whatever the peer sends or does not send;
 *   - session resumption with TLS 1.3 tickets (stateless, encrypted with a
 *     key that lives in the server's context and dies with it): the server
 *     refuses a ticket whose certificate has expired and asks the owner's
 *     check_resumption hook about every other one; a refused ticket falls
 *     back to a full handshake (the chain is verified again and on_ready
 *     sees a fresh, non-resumed peer), it never fails the connection;
 *   - decrypted plaintext is wiped from OpenSSL's buffers
 *     (SSL_OP_CLEANSE_PLAINTEXT) and from ours after on_data; idle
 *     connections release their record buffers (SSL_MODE_RELEASE_BUFFERS).
 *
 * OpenSSL's error queue is read and translated into negative errno values
 * only inside this module; wire_tls_error_detail() keeps OpenSSL's static
 * reason string for logs (it never holds secrets).
 *
 * Not thread-safe: a context may be shared by the connections of one loop
 * thread only. The process must ignore SIGPIPE.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "wire/transport.h"

enum wire_tls_role {
  WIRE_TLS_SERVER = 1,
  WIRE_TLS_CLIENT = 2,
};

#define WIRE_TLS_DEFAULT_HANDSHAKE_TIMEOUT_MS 5000u
#define WIRE_TLS_DEFAULT_HIGH_WATER (256u * 1024u)
#define WIRE_TLS_MAX_QUEUED (8u * 1024u * 1024u)
#define WIRE_TLS_DEFAULT_TICKET_LIFETIME_S 3600u

/*
 * Called by the server for each ticket a client presents that decrypted and
 * whose certificate is still within its validity period. leaf is the
 * certificate verified when the session was first established (borrowed);
 * issued is when that session (or its last renewal) began, in seconds since
 * the epoch. Return 0 to resume, a negative errno to refuse the ticket (the
 * connection continues with a full handshake). E.g. consult a deny list.
 */
typedef int (*wire_tls_resume_check_fn)(X509 *leaf, int64_t issued, void *ud);

struct wire_tls_config {
  enum wire_tls_role role;
  const char *ca_file;   /* PEM root certificate(s) the peer must chain to */
  const char *cert_file; /* PEM: our certificate, then any intermediates */
  const char *key_file;  /* PEM: our private key, unencrypted */
  /* 0 means the default. Also bounds how long close lingers to flush. */
  unsigned handshake_timeout_ms;
  /* write returns 1 above this many queued bytes; 0 means the default.
   * on_drain comes once the queue is at or under a quarter of it. */
  size_t write_high_water;
  /* Server: ticket lifetime in seconds (0: default; TLS 1.3 caps it at 7 days). */
  unsigned ticket_lifetime_s;
  /* Server: optional resumption check, and its user data. */
  wire_tls_resume_check_fn check_resumption;
  void *check_ud;
  /*
   * In-memory alternative to the three files (all three or none; then the
   * *_file fields are ignored): the root, our certificate and our private
   * key, borrowed (the context takes its own references). For secretd,
   * whose keys live only in its store, never in PEM files. The root is sent
   * with our certificate (a joining agent checks it against its token).
   */
  X509 *ca_cert;
  X509 *cert;
  EVP_PKEY *key;
  /* Server: accept a peer without a client certificate (it is then
   * anonymous: wire_peer.leaf is NULL, and the owner decides what it may
   * do, e.g. only join). A certificate that is sent must still verify. */
  bool client_cert_optional;
  /*
   * Client: an extra check of the server's certificate, called during the
   * handshake right after OpenSSL's verification of its chain to the root
   * (leaf, and the verified chain or NULL when that verification failed;
   * borrowed for the call). Return 0 to accept, a negative errno to refuse:
   * the handshake then fails with -EKEYREJECTED before our own certificate
   * or any byte of ours is sent (wire_tls_error_detail(): "application
   * verification failure"). A chain OpenSSL refused fails the handshake
   * whatever the check returns (it is called so that its owner can say why).
   * Not called on a resumed session (its server passed the check when the
   * session began). Optional.
   */
  int (*check_server)(X509 *leaf, STACK_OF(X509) *chain, void *ud);
  void *check_server_ud;
};

struct wire_tls_ctx;
struct wire_tls;

/* OpenSSL's secure heap: 1 MiB, smallest block 32 bytes (docs/secret-memory.md). */
#define WIRE_TLS_SECURE_HEAP_SIZE ((size_t)1 << 20)
#define WIRE_TLS_SECURE_HEAP_MINSIZE 32

/*
 * Set up OpenSSL's secure heap (CRYPTO_secure_malloc_init) for the private
 * keys this process will load: one arena between guard pages, locked
 * (mlock2 MLOCK_ONFAULT, so never swapped out), MADV_DONTDUMP (never in a
 * core dump), wiped on free. OpenSSL then keeps the private scalars of EC
 * keys, Ed25519 private keys and signing nonces there. Call once at start,
 * before any key is loaded (secretd's main does); a later call does nothing.
 * Returns 0, 1 (the arena exists but could not be locked or excluded from
 * dumps, e.g. over RLIMIT_MEMLOCK: the caller warns), or -ENOMEM (no arena:
 * the caller refuses to start). Not thread-safe.
 */
int wire_tls_secure_heap_init(void);

/*
 * Load a context: the key pair and the root CA are read now (the files can
 * go afterwards). The private key lives in OpenSSL's secure heap if the
 * process initialised one (CRYPTO_secure_malloc_init) before this call.
 * Returns 0 and *ret_ctx, or -EINVAL (bad config: missing file name or
 * role, a resumption hook on a client, key not matching the certificate),
 * -ENOENT / -EACCES (a file cannot be opened), -EBADMSG (a file is not the
 * PEM it should be, or OpenSSL refuses what it holds, e.g. a key too weak for
 * its security level), -ENOMEM. *ret_ctx untouched on failure.
 */
int wire_tls_ctx_new(const struct wire_tls_config *cfg, struct wire_tls_ctx **ret_ctx);
/* Free a context. Connections made from it keep it alive (reference
 * counted), so it may be freed while they run. NULL ok. */
void wire_tls_ctx_free(struct wire_tls_ctx *ctx);

/*
 * Start TLS on a connected stream (accepted by a server, or connected by a
 * client). The stream must have been allocated with malloc() and initialised
 * on its loop; on success the transport owns it: it starts reading, sets
 * stream->data, and later closes it (uv_close) and free()s it. On failure
 * the stream is untouched and still the caller's.
 *
 * Client only: server_name, if not NULL, is sent as SNI and must match the
 * server certificate (DNS SAN); session, if not NULL, is offered for
 * resumption (the caller keeps its reference). Offer each ticket once
 * (TLS 1.3 tickets are meant for single use): take the newest one from the
 * last connection with wire_tls_get_session().
 *
 * Returns 0 and *ret (use wire_tls_transport() for the generic interface),
 * -EINVAL (server_name or session given to a server), -ENOMEM, or a libuv
 * error from uv_read_start / uv_timer_init.
 */
int wire_tls_new(struct wire_tls_ctx *ctx, uv_stream_t *stream, const char *server_name,
                 SSL_SESSION *session, const struct wire_transport_cbs *cbs, void *ud,
                 struct wire_tls **ret);

/* The generic transport of a TLS connection, and back. */
struct wire_transport *wire_tls_transport(struct wire_tls *t);
struct wire_tls *wire_tls_from_transport(struct wire_transport *t);

/*
 * Client: the newest session ticket the server sent on this connection, for
 * a later wire_tls_new(..., session, ...). On success *ret_session holds a
 * reference the caller frees with SSL_SESSION_free(). Returns 0 or -ENOENT
 * (no ticket yet: in TLS 1.3 it arrives just after the handshake, with the
 * server's first bytes). The session holds a resumption secret: keep it in
 * the process, never write it out.
 */
int wire_tls_get_session(struct wire_tls *t, SSL_SESSION **ret_session);

/*
 * For logs: a static human string about why the connection failed
 * (OpenSSL's reason or the certificate verification error), "" if none.
 * Valid to call in on_close. Never holds secrets; never NULL.
 */
const char *wire_tls_error_detail(const struct wire_tls *t);
