/*
 * A protocol session over any byte transport (wire/transport.h): frames
 * (wire/frame.h, with all of its protections), the hello, requests and
 * responses with ids, acknowledged pushes with sequence numbers, heartbeats
 * and flow control. Written once; runs over the Unix socket
 * (wire/unix_transport.h) and TLS 1.3 (wire/tls.h) alike. Both ends:
 *
 *   server: hello answered, requests handed to on_request (after the role
 *           check is possible: wire_session_role), replies sent any time
 *           later, pushes sent from a push queue (struct wire_pushq) that
 *           outlives the session so that a reconnecting receiver resumes;
 *   client: hello sent first, requests with callbacks, pushes delivered to
 *           on_push and acknowledged once it returns.
 *
 * Set-up, for every transport:
 *     wire_session_new(&opts, &cbs, ud, &s);
 *     <transport>_new(..., wire_session_transport_cbs(), s, &t);   // ud = s
 *     wire_session_attach(s, <the generic transport of t>);
 * If the transport cannot be created, wire_session_free(s).
 *
 * Versions (docs/protocol.md): 1 = requests and responses, the hello is
 * optional (a peer whose first frame is a request is a version-1 peer);
 * 2 = adds pushes and heartbeats, announced as features. The server picks the
 * highest version both offer and the features both name.
 *
 * Deadlines (one timer per session), each ends the session with
 * -ETIMEDOUT after one best-effort error frame:
 *   - a frame not complete frame_ms after its first byte;
 *   - no heartbeat negotiated: idle for idle_ms (nothing received, nothing in
 *     flight, nothing being written);
 *   - heartbeats negotiated: nothing at all received for hb_ms * hb_missed
 *     (whatever is in flight). Each side sends a heartbeat every hb_ms.
 * Incomplete frames of every session of a loop thread share one budget
 * (wire/frame.h); evicted sessions end with -ENOBUFS.
 *
 * Flow control: when the transport's write queue passes its high-water mark
 * the session stops reading (requests stop arriving; frames already read
 * wait, unhandled, in secret memory) and stops sending pushes; both resume
 * on the transport's drain.
 *
 * Server limits: at most WIRE_SESSION_MAX_INFLIGHT requests unanswered;
 * beyond that a request is answered -EBUSY at once (and reported to
 * on_refused). After the peer's end of sending (EOF on a Unix socket) every
 * request already received is still handed over and answered; the session
 * then ends with on_close(0). A request the schema refuses is answered and
 * the session goes on; a frame that cannot be read ends it. Writes never
 * raise SIGPIPE as long as the process ignores it (secretd does).
 *
 * Lifetime: on_close(s, reason, ud) is called exactly once when the session
 * ends by itself (peer gone, protocol error, timeout, eviction, transport
 * failure), never from inside a call by the owner; the session is released
 * when it returns. wire_session_free() ends it early without on_close.
 * Replies to a session that ended are the owner's to drop (keep a NULL
 * pointer set in on_close). Not thread-safe: the loop thread only.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "wire/proto.h"
#include "wire/session_msg.h"
#include "wire/transport.h"

/* Heartbeat defaults: a heartbeat every 10 s each way; a peer silent for 3
 * intervals (30 s) is dropped. */
#define WIRE_HB_DEFAULT_MS 10000u
#define WIRE_HB_DEFAULT_MISSED 3u
#define WIRE_SESSION_IDLE_MS 60000u  /* without heartbeats */
#define WIRE_SESSION_FRAME_MS 20000u
#define WIRE_SESSION_MAX_INFLIGHT 64
/* Pushes held per receiver, unacknowledged. */
#define WIRE_PUSHQ_DEFAULT_MAX 4096u

enum wire_session_side { WIRE_SESSION_SERVER = 1, WIRE_SESSION_CLIENT = 2 };

struct wire_session;
struct wire_budget;
struct wire_pushq;

/*
 * Server: the roles (enum wire_role bits) of the authenticated peer; 0
 * refuses the peer (the session ends with SD_E_DENIED). peer is valid only
 * during the call.
 */
typedef uint32_t (*wire_role_fn)(const struct wire_peer *peer, void *ud);

struct wire_session_opts {
  uv_loop_t *loop; /* required */
  enum wire_session_side side;
  uint32_t versions;     /* WIRE_VERSION_BIT mask spoken; 0: WIRE_VERSIONS_ALL */
  uint32_t features_off; /* enum wire_feature bits not to offer */
  uint64_t idle_ms;      /* 0: WIRE_SESSION_IDLE_MS; UINT64_MAX: never */
  uint64_t frame_ms;     /* 0: WIRE_SESSION_FRAME_MS; UINT64_MAX: never */
  uint32_t hb_ms;        /* server: heartbeat interval announced; 0: default */
  uint32_t hb_missed;    /* server: 0: default */
  struct wire_budget *budget; /* NULL: the loop thread's default budget */
  wire_role_fn resolve_role;  /* server: NULL: every peer gets WIRE_ROLE_ADMIN */
  void *role_ud;
  uint64_t resume;       /* client: last push seq already processed */
  bool no_hello;         /* client: speak version 1 without a hello (old servers) */
};

struct wire_session_cbs {
  /* Server: the peer's hello, before the answer is sent (h->resume is the
   * last push it has seen): attach its push queue here. A negative return
   * refuses the peer with that code. Client: the server's answer. Optional. */
  int (*on_hello)(struct wire_session *s, const struct wire_hello *h, void *ud);
  /* Server: a valid request; answer with wire_session_reply_*, now or later. */
  void (*on_request)(struct wire_session *s, const struct wire_request *req, void *ud);
  /* Server: a request refused by the wire layer (already answered), for the
   * audit: op is one of our op names, "malformed" or "session". Optional. */
  void (*on_refused)(struct wire_session *s, const char *op, int code, void *ud);
  /* Server: the peer acknowledged every push up to seq (they left the
   * queue). Optional. */
  void (*on_ack)(struct wire_session *s, uint64_t seq, void *ud);
  /* Client: a push, in order, each seq once; acknowledged when this returns. */
  void (*on_push)(struct wire_session *s, const struct wire_push *p, void *ud);
  /* The session ended by itself (see above). Required. */
  void (*on_close)(struct wire_session *s, int reason, void *ud);
};

/* Create a session (no transport yet). cbs must outlive it. Returns 0,
 * -EINVAL or -ENOMEM. */
int wire_session_new(const struct wire_session_opts *o, const struct wire_session_cbs *cbs,
                     void *ud, struct wire_session **ret);
/* The callbacks to create the transport with (its ud must be the session). */
const struct wire_transport_cbs *wire_session_transport_cbs(void);
/* Give the session its transport; from now on the session owns it. */
void wire_session_attach(struct wire_session *s, struct wire_transport *t);
/* End now: no on_close; the transport closes after flushing what is queued
 * (bounded by its linger). NULL ok. */
void wire_session_free(struct wire_session *s);
/* As wire_session_free, after one best-effort error frame (id 0). */
void wire_session_drop(struct wire_session *s, int code, const char *msg);

/* The owner's ud. */
void *wire_session_userdata(const struct wire_session *s);
/* Negotiated version (0 before the first exchange) and features. */
uint32_t wire_session_version(const struct wire_session *s);
uint32_t wire_session_features(const struct wire_session *s);
/* Server: the peer's roles (0 before the transport is ready). */
uint32_t wire_session_role(const struct wire_session *s);
/* The peer (see wire/transport.h for what is borrowed). 0 or -ENOTCONN. */
int wire_session_peer(const struct wire_session *s, struct wire_peer *ret);
/* Requests handed to on_request and not answered yet. */
unsigned wire_session_inflight(const struct wire_session *s);
/* True while the transport's write queue is above its high-water mark:
 * reading and pushing wait for it to drain (a slow reader). */
bool wire_session_blocked(const struct wire_session *s);
/* Loop time (ms) of the last sign of life (a byte, a request, a reply). */
uint64_t wire_session_last_seen(const struct wire_session *s);

/* ---- server: replies ---- */

/*
 * Answer request id with a result (packed now by pack_result) or an error.
 * Returns 0, -EMSGSIZE (an error reply was sent instead), -EPIPE (session
 * ended), -ENOBUFS (the peer does not read: drop it), -ENOMEM.
 */
int wire_session_reply_ok(struct wire_session *s, uint64_t id, wire_pack_fn pack_result, void *ud);
int wire_session_reply_error(struct wire_session *s, uint64_t id, int code, const char *msg);

/* ---- server: pushes ---- */

/*
 * The outbox of one receiver (e.g. one node), across its sessions: pushes
 * get sequence numbers 1, 2, ... and stay until acknowledged, so that a
 * receiver that reconnects and says (hello "resume") what it has seen gets
 * the rest, in order. Up to max unacknowledged pushes (0: default).
 */
int wire_pushq_new(unsigned max, struct wire_pushq **ret);
/* Detaches from its session. NULL ok. */
void wire_pushq_free(struct wire_pushq *q);
/*
 * Queue a push (body packed now by pack_body) and send it if a session is
 * attached and not blocked. Returns its seq (> 0), -ENOBUFS (max
 * unacknowledged reached), -EINVAL (topic), -EMSGSIZE or -ENOMEM.
 */
int64_t wire_pushq_push(struct wire_pushq *q, const char *topic, wire_pack_fn pack_body, void *ud);
/* The last seq assigned, and the highest acknowledged. */
uint64_t wire_pushq_last(const struct wire_pushq *q);
uint64_t wire_pushq_acked(const struct wire_pushq *q);
/*
 * Server, from on_hello (or later): deliver q's pushes on s, starting after
 * the peer's resume point (pushes up to it count as acknowledged). A queue
 * is attached to one session at a time: attaching moves it. -EPROTO when
 * the session did not negotiate pushes.
 */
int wire_session_attach_pushq(struct wire_session *s, struct wire_pushq *q);

/* ---- client: requests ---- */

/* The reply to a call, or status < 0 (resp NULL) when the session ended
 * before it came (-ECONNRESET, -ETIMEDOUT, ...). */
typedef void (*wire_reply_fn)(struct wire_session *s, int status, const struct wire_response *resp,
                              void *ud);
/*
 * Send a request of op (args packed now). Before the hello is answered the
 * request waits and is sent right after. Returns the id (> 0), -EMSGSIZE,
 * -ENOMEM, -EPIPE (session ended). cb is called exactly once, from the loop.
 */
int64_t wire_session_call(struct wire_session *s, enum wire_op op, wire_pack_fn pack_args,
                          void *ud, wire_reply_fn cb, void *cb_ud);
/* The same with an op name this build may not know (tests, newer peers). */
int64_t wire_session_call_name(struct wire_session *s, const char *op, wire_pack_fn pack_args,
                               void *ud, wire_reply_fn cb, void *cb_ud);
/* Last push seq processed (client). */
uint64_t wire_session_push_seen(const struct wire_session *s);
