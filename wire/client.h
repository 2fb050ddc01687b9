/*
 * A blocking protocol client over a Unix socket, for the CLI, tests and
 * benchmarks. One client is one connection. A client has no shared state:
 * use one client per thread, or share one between threads (every call takes
 * the client's lock, so calls are serialised). Requests get increasing ids;
 * the answer with the matching id is returned. SIGPIPE is never raised.
 * The client sends a hello (wire/session_msg.h) offering every version and no
 * feature: it takes no pushes and no heartbeats.
 */
#pragma once

#include <stdint.h>

#include "wire/proto.h"

struct secbuf;

struct wire_client;

#define WIRE_CLIENT_TIMEOUT_MS 60000

/*
 * Connect to the Unix socket at path. timeout_ms bounds every later call
 * (0 = WIRE_CLIENT_TIMEOUT_MS), and the wait while the listener's backlog is
 * full. Fails at once when nothing listens: returns 0, -ENOENT (no socket),
 * -ECONNREFUSED (nobody listens), -EACCES, -ENAMETOOLONG, -ETIMEDOUT, -ENOMEM
 * or another negative errno from socket/connect.
 */
int wire_client_connect(const char *path, int timeout_ms, struct wire_client **ret);
/* The protocol version the server chose in its answer to our hello (sent
 * by wire_client_connect; read with the first reply): 0 before that. */
uint32_t wire_client_version(const struct wire_client *c);
/* Close and free (wipes the buffers). NULL ok. */
void wire_client_free(struct wire_client *c);

/*
 * A decoded reply that owns its memory (frame and tree): free with
 * wire_reply_free(). r.result points into it.
 */
struct wire_reply {
  struct wire_response r;
  struct wire_value *val; /* private */
  uint8_t *frame;         /* private: the payload, in frame_mem */
  size_t frame_len;       /* private */
  struct secbuf *frame_mem; /* private: secret memory (base/secbuf.h) */
};
void wire_reply_free(struct wire_reply *rep); /* NULL ok */

/*
 * Send one request of op with an args map packed by pack_args(pk, ud)
 * (NULL: empty map) and wait for its reply. The request bytes are wiped after
 * sending. On success *ret is the reply (which may carry ok == false: the
 * daemon's error is in ret->r.code/error). Returns 0, -ETIMEDOUT,
 * -ECONNRESET (daemon closed the connection), -EMSGSIZE (request too large),
 * SD_E_PROTO (malformed reply), -ENOMEM or another negative errno. After a
 * transport error the client is unusable (every later call fails -ENOTCONN).
 */
int wire_client_call(struct wire_client *c, enum wire_op op, wire_pack_fn pack_args, void *ud,
                     struct wire_reply **ret);

/* Send raw bytes (tests: malformed frames). Returns 0 or a negative errno. */
int wire_client_send_raw(struct wire_client *c, const void *p, size_t n);
/* Read the next frame whatever its id (tests). Returns like wire_client_call. */
int wire_client_read_reply(struct wire_client *c, struct wire_reply **ret);
/* The socket fd (poll, tests). */
int wire_client_fd(const struct wire_client *c);
