/*
 * The byte transport under a protocol session: an ordered, reliable,
 * bidirectional byte stream with a known peer identity. The session layer
 * (frames, request ids, pushes, heartbeats) is written once against this
 * interface and runs unchanged over every transport:
 *
 *   - TLS 1.3 over TCP (wire/tls.h): the peer is its verified certificate;
 *   - the Unix socket (wire/unix_transport.h): the peer is its SO_PEERCRED
 *     credentials.
 *
 * A transport is an object whose first member is `struct wire_transport`
 * (so `&x->transport` is a `struct wire_transport *` and back with
 * container_of). The owner drives it through `ops`; the transport reports
 * through the `struct wire_transport_cbs` given when it was created.
 *
 * Life cycle, for every implementation:
 *   1. created (handshake running, if any): nothing can be written yet;
 *   2. on_ready: the peer is authenticated, `peer` and `write` work;
 *   3. on_data ... on_data, in the peer's byte order, never while paused;
 *   4. either the transport ends by itself and calls on_close exactly once
 *      (peer's orderly end, I/O error, handshake failure or timeout), after
 *      which it frees itself: the owner drops its pointer inside on_close;
 *      or the owner calls ops->close first, after which no callback at all
 *      is made and the transport frees itself once its handles are closed.
 * Callbacks are never made from inside an ops call by the owner (a write
 * that fails reports the error in its return value; on_close comes later,
 * from the loop). Everything runs on the loop thread: not thread-safe.
 *
 * Flow control, both ways:
 *   - out: ops->write copies (or encrypts) the bytes at once and queues them
 *     for the socket. It returns 1 once the queue is above the high-water
 *     mark: the owner should stop writing until on_drain (queue back under
 *     the low-water mark). Above a hard limit, write refuses with -ENOBUFS.
 *   - in: ops->pause stops on_data at once (bytes already read stay
 *     buffered, reading from the socket stops); ops->resume delivers the
 *     buffered bytes (later, from the loop) and reads again.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/types.h>

struct wire_transport;

enum wire_peer_kind {
  WIRE_PEER_UNIX = 1, /* credentials of a local peer (SO_PEERCRED) */
  WIRE_PEER_TLS = 2,  /* a certificate that verified to the configured root CA */
};

/*
 * Who is at the other end. Everything is borrowed from the transport and
 * valid until on_close returns or the owner calls ops->close: copy (or
 * X509_up_ref) what you keep longer.
 */
struct wire_peer {
  enum wire_peer_kind kind;
  /* WIRE_PEER_UNIX */
  pid_t pid;
  uid_t uid;
  gid_t gid;
  /* WIRE_PEER_TLS */
  X509 *leaf;            /* the peer's certificate; never NULL once ready, except on a
                            server with client_cert_optional (wire/tls.h): anonymous */
  STACK_OF(X509) *chain; /* leaf ... root as verified in a full handshake;
                            NULL after a resumption (see wire/tls.h) */
  bool resumed;          /* the session was resumed from a ticket */
};

struct wire_transport_cbs {
  /* The peer is authenticated; writes are accepted from now on. Required. */
  void (*on_ready)(struct wire_transport *t, void *ud);
  /*
   * Bytes from the peer, in order. buf is valid only during the call and is
   * wiped right after it returns (it may hold secrets): copy what you keep.
   * May call any op, including pause and close. Required.
   */
  void (*on_data)(struct wire_transport *t, const uint8_t *buf, size_t len, void *ud);
  /* The write queue fell back under the low-water mark after a write
   * returned 1. Optional. */
  void (*on_drain)(struct wire_transport *t, void *ud);
  /*
   * The transport ended by itself. reason is 0 for the peer's orderly end
   * (TLS close_notify, EOF on a Unix socket) or a negative errno:
   * -ETIMEDOUT (handshake not done in time), -EKEYREJECTED (certificate
   * refused, either side), -ENOKEY (peer sent no certificate),
   * -EPROTONOSUPPORT (peer offered no acceptable protocol version), -EPROTO
   * (any other protocol error), -ECONNRESET (peer vanished without an
   * orderly end), -ENOMEM, or an I/O error from the socket.
   * The transport is freed when on_close returns. Required.
   */
  void (*on_close)(struct wire_transport *t, int reason, void *ud);
  /*
   * Optional: the peer finished sending (Unix socket EOF) but may still read.
   * Writes keep working; on_data stops; the owner calls ops->close when it
   * has answered. Without it (or on transports that cannot half-close, like
   * TLS) the end of the peer's sending is on_close(0).
   */
  void (*on_eof)(struct wire_transport *t, void *ud);
};

struct wire_transport_ops {
  /*
   * Queue len bytes for the peer (copied before return). Returns 0 (queued,
   * keep going), 1 (queued, but stop until on_drain), -ENOTCONN (not ready
   * yet or closing), -ENOBUFS (hard queue limit reached: nothing queued),
   * -ENOMEM, or another negative errno from the transport (nothing queued;
   * the transport then ends with on_close).
   */
  int (*write)(struct wire_transport *t, const void *buf, size_t len);
  /* Stop / restart on_data (see flow control above). Idempotent. */
  void (*pause)(struct wire_transport *t);
  void (*resume)(struct wire_transport *t);
  /* Bytes queued for the socket and not yet written. */
  size_t (*queued)(const struct wire_transport *t);
  /* The peer identity: 0, or -ENOTCONN before on_ready. */
  int (*peer)(const struct wire_transport *t, struct wire_peer *ret_peer);
  /*
   * End the transport: an orderly end for the peer (TLS close_notify) after
   * the bytes already queued, bounded by the transport's linger time. No
   * callback is made afterwards; t must not be used again. NULL-safe as
   * wire_transport_close().
   */
  void (*close)(struct wire_transport *t);
};

struct wire_transport {
  const struct wire_transport_ops *ops;
};

static inline int wire_transport_write(struct wire_transport *t, const void *buf, size_t len) {
  return t->ops->write(t, buf, len);
}
static inline void wire_transport_pause(struct wire_transport *t) { t->ops->pause(t); }
static inline void wire_transport_resume(struct wire_transport *t) { t->ops->resume(t); }
static inline size_t wire_transport_queued(const struct wire_transport *t) {
  return t->ops->queued(t);
}
static inline int wire_transport_peer(const struct wire_transport *t, struct wire_peer *ret) {
  return t->ops->peer(t, ret);
}
static inline void wire_transport_close(struct wire_transport *t) {
  if (t)
    t->ops->close(t);
}
