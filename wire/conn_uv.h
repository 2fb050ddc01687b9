/*
 * A server-side protocol connection over a libuv stream, version 1 only (it
 * answers a hello with version 1 and no features). secretd now serves its
 * admin socket with wire/session.h over wire/unix_transport.h, which keeps
 * every protection described here for any transport; this module remains
 * for its tests and as the reference version-1 ("older") server. It reads frames, decodes and validates requests
 * against the schema (wire/proto.h), hands each valid one to on_request, and
 * sends replies, possibly much later (e.g. after a group commit), always
 * from the loop thread. Invalid requests get an error reply from the wire
 * layer itself; a broken frame (bad length, undecodable message) gets an
 * error reply with id 0 and then the connection is closed.
 *
 * Ownership and lifetime:
 * - The caller owns the stream: it initialises and accepts it, and closes it
 *   (uv_close) itself, normally from on_close. The wire layer sets
 *   stream->data to the connection and starts/stops reading; it never closes
 *   or frees the stream.
 * - on_close(conn, ud) is called exactly once when the connection ends by
 *   itself: peer EOF (after every request in flight was answered and the
 *   replies flushed), read or write error, or a protocol error (after the
 *   error reply was flushed). It is never called from inside a wire_conn_*
 *   call made by the owner. When on_close returns the wire layer releases the
 *   connection: the owner must drop its pointer there and must not call
 *   wire_conn_free() or anything else on it.
 * - wire_conn_free(conn) ends a connection early (server shutdown); on_close
 *   is then not called. Replies still being written are cancelled safely
 *   when the owner closes the stream.
 * - A reply for a connection that already ended is the owner's to drop: keep
 *   a flag/NULL pointer set in on_close (see secretd/admin.c). Internally the
 *   connection is reference counted, so write completions arriving after
 *   on_close or wire_conn_free never touch freed memory.
 *
 * Limits: at most WIRE_CONN_MAX_INFLIGHT requests handed to on_request and
 * not yet answered (more are refused with -EBUSY); reading pauses while more
 * than WIRE_CONN_MAX_QUEUED bytes of replies wait to be written.
 *
 * Starvation: the frame reader (wire/frame.h) spends memory only as bytes
 * arrive, and all connections of one loop thread share a budget for bytes of
 * incomplete frames (WIRE_BUDGET_DEFAULT unless the owner gives its own):
 * when it is full, the connections that have gone longest without sending a
 * byte of their frame are closed first. Two timers close a connection
 * without waiting for the peer: a frame (from its first header byte) not
 * complete within frame_ms, and an idle connection (no request received, none
 * in flight, no reply being written, no frame under way) for idle_ms. A
 * later heartbeat resets the idle time with wire_conn_touch(). A timed-out or
 * evicted peer gets one best-effort error frame (-ETIMEDOUT or -ENOBUFS,
 * never blocking on a peer that does not read) and on_close is called.
 *
 * Not thread-safe: every call from the loop thread. libuv writes with
 * write(2): the process must ignore SIGPIPE (secretd does, in harden.c), or a
 * peer that leaves before its reply kills it.
 */
#pragma once

#include <stdint.h>

#include <msgpack.h>
#include <uv.h>

#include "wire/proto.h"

#define WIRE_CONN_MAX_INFLIGHT 64
#define WIRE_CONN_MAX_QUEUED (8u * 1024u * 1024u)
#define WIRE_IDLE_TIMEOUT_MS 60000u
#define WIRE_FRAME_TIMEOUT_MS 20000u
/* After a protocol error, how long the error reply may take to flush before
 * the connection is closed anyway. */
#define WIRE_CLOSE_LINGER_MS 1000u

struct wire_budget;

struct wire_conn_opts {
  uint64_t idle_ms;  /* 0: WIRE_IDLE_TIMEOUT_MS; UINT64_MAX: never */
  uint64_t frame_ms; /* 0: WIRE_FRAME_TIMEOUT_MS; UINT64_MAX: never */
  /* Budget for incomplete frames, shared with the other connections of the
   * same loop thread; NULL: that thread's default budget. Must outlive the
   * connection. */
  struct wire_budget *budget;
};

struct wire_conn;

struct wire_conn_cbs {
  /*
   * A valid request. req and everything it points to (args, bin values in
   * the frame) are valid only during the call: copy what you keep (secret
   * values into guarded memory). Answer exactly once, now or later, with
   * wire_conn_reply_ok() or wire_conn_reply_error() using req->id.
   */
  void (*on_request)(struct wire_conn *conn, const struct wire_request *req, void *ud);
  /*
   * Optional: a request that the wire layer refused and already answered
   * (unknown op, bad args, too many in flight, malformed frame). op is the op
   * name if one could be read, else "malformed"; code is the error sent.
   * For audit records. Do not reply.
   */
  void (*on_refused)(struct wire_conn *conn, const char *op, int code, void *ud);
  /* The connection ended (see above). Required. */
  void (*on_close)(struct wire_conn *conn, void *ud);
};

/*
 * Start serving requests on an accepted stream. cbs must outlive the
 * connection (use a static const table). On success *ret is the connection
 * and reading has started. Returns 0, -ENOMEM or a libuv error (negative
 * errno) from uv_read_start; on failure nothing was started and the stream is
 * untouched (still the caller's to close).
 */
int wire_conn_new(uv_stream_t *stream, const struct wire_conn_cbs *cbs, void *ud,
                  struct wire_conn **ret);

/* Like wire_conn_new with timeouts and a budget of the owner's (o may be
 * NULL: the defaults). */
int wire_conn_new_opts(uv_stream_t *stream, const struct wire_conn_cbs *cbs, void *ud,
                       const struct wire_conn_opts *o, struct wire_conn **ret);

/* A heartbeat (or any sign of life the owner recognises): the idle time
 * starts again now. */
void wire_conn_touch(struct wire_conn *conn);

/* Change the idle timeout (ms; UINT64_MAX: never), effective now. */
void wire_conn_set_idle_timeout(struct wire_conn *conn, uint64_t idle_ms);

/* The loop time (uv_now, ms) of the connection's last sign of life: a byte
 * received, a request, a reply flushed, a touch. For an owner that must
 * choose whom to close (the quietest first). */
uint64_t wire_conn_last_seen(const struct wire_conn *conn);
/* Requests handed to on_request and not answered yet. */
unsigned wire_conn_inflight(const struct wire_conn *conn);

/* End the connection now: one best-effort error frame (code, msg; never
 * waits for the peer), then as wire_conn_free (on_close is not called; the
 * owner closes the stream). NULL ok. */
void wire_conn_drop(struct wire_conn *conn, int code, const char *msg);

/* End the connection without calling on_close; see above. NULL ok. */
void wire_conn_free(struct wire_conn *conn);

/*
 * Reply ok to request id with a "result" map packed by pack_result(pk, ud)
 * (NULL: an empty map). pack_result runs synchronously. Returns 0, -ENOMEM,
 * -EMSGSIZE (result too large: an error reply is sent instead), -EPIPE if the
 * connection can no longer send, or a libuv error.
 */
int wire_conn_reply_ok(struct wire_conn *conn, uint64_t id, wire_pack_fn pack_result, void *ud);

/* Reply with an error: code (negative errno or SD_E_*), msg a human line
 * without secrets (NULL: sd_strerror(code)). Returns like wire_conn_reply_ok. */
int wire_conn_reply_error(struct wire_conn *conn, uint64_t id, int code, const char *msg);
/* Alias kept for readers of the first draft of the contract. */
#define wire_conn_reply_err wire_conn_reply_error

/*
 * Send already encoded frames (e.g. built with wire_response_encode_ok into
 * a wire_buf): takes the bytes out of b (b is empty afterwards). Counts as
 * one reply for the in-flight limit. Returns like wire_conn_reply_ok.
 */
int wire_conn_send(struct wire_conn *conn, struct wire_buf *b);

/* The stream's file descriptor (for SO_PEERCRED): 0 or a negative errno. */
int wire_conn_fileno(const struct wire_conn *conn, int *ret_fd);
/* The owner's ud given to wire_conn_new. */
void *wire_conn_userdata(const struct wire_conn *conn);
