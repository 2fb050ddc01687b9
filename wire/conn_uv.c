/*
 * Server side of the protocol over a libuv stream: frames in, requests to the
 * owner, replies out. Lifetime rules are in conn_uv.h; in short the
 * connection is reference counted (owner + each write in flight + the read
 * callback while it dispatches), `dead` means the owner has been told (or
 * said) goodbye, and no owner callback ever runs from inside an owner call.
 */
#include "wire/conn_uv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>


#include "base/error.h"
#include "base/secbuf.h"
#include "wire/frame.h"
#include "wire/session_msg.h"

#define READ_CHUNK (64u * 1024u)

/*
 * One read buffer per loop thread, shared by its connections: libuv calls
 * on_alloc and on_read back to back for one stream, and on_read consumes
 * every byte before it returns, so a connection holds no read buffer of its
 * own (2,000 idle peers cost 2,000 small structs, not 2,000 x 64 KiB). It is
 * secret memory and wiped after each read. Likewise one default budget for
 * incomplete frames per loop thread.
 */
static _Thread_local struct secbuf *tl_rbuf;
static _Thread_local unsigned tl_rbuf_users;
static _Thread_local struct wire_budget *tl_budget;

struct wire_conn {
  uv_stream_t *stream;
  const struct wire_conn_cbs *cbs;
  void *ud;
  struct wire_reader *reader;
  uv_timer_t timer;   /* idle, frame and close-linger deadlines */
  bool timer_live;    /* initialised and not closed yet (holds a reference) */
  uint64_t idle_ms, frame_ms;
  uint64_t last_active; /* uv_now of the last request, reply flushed or touch */
  uint64_t frame_start; /* uv_now of the first byte of the frame under way */
  uint64_t last_byte;   /* uv_now of the last byte received */
  bool timing_frame;
  unsigned refs;
  unsigned inflight;  /* requests given to on_request and not answered yet */
  unsigned writes;    /* uv_write requests in flight */
  bool dead;          /* on_close called or wire_conn_free: nothing more to the owner */
  bool eof;           /* peer finished sending: close once everything is answered */
  bool closing;       /* protocol error: close once the error reply is flushed */
  bool broken;        /* a write failed: nothing more can be sent */
  bool paused;        /* reading paused while too many reply bytes are queued */
};

struct write_req {
  uv_write_t req;
  struct wire_conn *wc;
  struct wire_buf buf;
};

static void conn_ref(struct wire_conn *wc) { wc->refs++; }

static void conn_unref(struct wire_conn *wc) {
  if (--wc->refs > 0)
    return;
  wire_reader_free(wc->reader);
  if (--tl_rbuf_users == 0) { /* the thread's last connection: nothing uses these now */
    secbuf_free(tl_rbuf);
    tl_rbuf = NULL;
    wire_budget_free(tl_budget);
    tl_budget = NULL;
  }
  free(wc);
}

static void timer_closed(uv_handle_t *h) { conn_unref(h->data); }

/* Stop the timers for good (the timer's reference goes with its close). */
static void close_timer(struct wire_conn *wc) {
  if (!wc->timer_live)
    return;
  wc->timer_live = false;
  if (!uv_is_closing((uv_handle_t *)&wc->timer))
    uv_close((uv_handle_t *)&wc->timer, timer_closed);
}

static void stop_reading(struct wire_conn *wc) {
  if (!uv_is_closing((uv_handle_t *)wc->stream))
    uv_read_stop(wc->stream);
}

/* End the connection and tell the owner. Only from libuv callbacks. */
static void finish(struct wire_conn *wc) {
  if (wc->dead)
    return;
  wc->dead = true;
  stop_reading(wc);
  close_timer(wc);
  wc->cbs->on_close(wc, wc->ud);
  conn_unref(wc); /* the owner's reference */
}

/* Close once the conditions of an orderly end hold. Only from libuv callbacks. */
static void maybe_finish(struct wire_conn *wc) {
  if (wc->dead || wc->writes)
    return;
  if (wc->closing || (wc->eof && wc->inflight == 0))
    finish(wc);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void write_done(uv_write_t *req, int status) {
  struct write_req *wr = (struct write_req *)req;
  struct wire_conn *wc = wr->wc;
  wire_buf_release(&wr->buf);
  free(wr);
  wc->writes--;
  if (!wc->dead) {
    if (status < 0) {
      wc->broken = true;
      finish(wc);
    } else {
      wc->last_active = uv_now(wc->stream->loop);
      if (wc->paused && !wc->closing && !wc->eof &&
          wc->stream->write_queue_size < WIRE_CONN_MAX_QUEUED / 8) {
        wc->paused = false;
        uv_read_start(wc->stream, on_alloc, on_read);
      }
      maybe_finish(wc);
    }
  }
  conn_unref(wc);
}

/* Queue a finished frame; takes the bytes out of b in every case. */
static int send_buf(struct wire_conn *wc, struct wire_buf *b, size_t len) {
  struct write_req *wr;
  int r;

  if (wc->dead || wc->broken) {
    wire_buf_release(b);
    return -EPIPE;
  }
  if (!(wr = calloc(1, sizeof(*wr)))) {
    wire_buf_release(b);
    return -ENOMEM;
  }
  wr->wc = wc;
  wr->buf = *b;
  *b = (struct wire_buf){0};
  uv_buf_t ub = uv_buf_init((char *)wr->buf.data, (unsigned)len);
  if ((r = uv_write(&wr->req, wc->stream, &ub, 1, write_done)) < 0) {
    wire_buf_release(&wr->buf);
    free(wr);
    wc->broken = true;
    return r;
  }
  wc->writes++;
  conn_ref(wc);
  if (!wc->paused && wc->stream->write_queue_size > WIRE_CONN_MAX_QUEUED) {
    wc->paused = true;
    stop_reading(wc);
  }
  return 0;
}

static int send_error(struct wire_conn *wc, uint64_t id, int code, const char *msg) {
  struct wire_buf b = {0};
  int n = wire_response_encode_error(&b, id, code, msg);
  if (n < 0) {
    wire_buf_release(&b);
    return n;
  }
  return send_buf(wc, &b, (size_t)n);
}

static void answered(struct wire_conn *wc) {
  if (wc->inflight)
    wc->inflight--;
}

int wire_conn_reply_error(struct wire_conn *conn, uint64_t id, int code, const char *msg) {
  answered(conn);
  return send_error(conn, id, code, msg);
}

int wire_conn_reply_ok(struct wire_conn *conn, uint64_t id, wire_pack_fn pack_result, void *ud) {
  struct wire_buf b = {0};
  int n;

  answered(conn);
  if (conn->dead || conn->broken)
    return -EPIPE;
  n = wire_response_encode_ok(&b, id, pack_result, ud);
  if (n < 0) {
    int e = n;
    wire_buf_release(&b);
    n = send_error(conn, id, e, e == -EMSGSIZE ? "result too large for one frame" : NULL);
    return n < 0 ? n : e;
  }
  return send_buf(conn, &b, (size_t)n);
}

int wire_conn_send(struct wire_conn *conn, struct wire_buf *b) {
  answered(conn);
  return send_buf(conn, b, b->len);
}

/* ---- reading ---- */

static void refused(struct wire_conn *wc, const char *op, int code) {
  if (!wc->dead && wc->cbs->on_refused)
    wc->cbs->on_refused(wc, op, code, wc->ud);
}

/* The byte stream cannot be trusted any more: answer once, then close. */
static void arm(struct wire_conn *wc);

static void protocol_error(struct wire_conn *wc, int code, const char *msg) {
  wc->closing = true;
  stop_reading(wc);
  send_error(wc, 0, code, msg);
  refused(wc, "malformed", code);
  maybe_finish(wc);
  if (!wc->dead) /* a peer that does not read its error reply is not waited for */
    arm(wc);
}

/* ---- timers and eviction: close without waiting for the peer ---- */

/* One best-effort error frame that never queues behind a peer that does not
 * read, then the end. */
static void drop_now(struct wire_conn *wc, int code, const char *msg) {
  if (wc->dead)
    return;
  struct wire_buf b = {0};
  int n = wire_response_encode_error(&b, 0, code, msg);
  if (n > 0 && !wc->writes && !uv_is_closing((uv_handle_t *)wc->stream)) {
    uv_buf_t ub = uv_buf_init((char *)b.data, (unsigned)n);
    (void)uv_try_write(wc->stream, &ub, 1);
  }
  wire_buf_release(&b);
  wc->broken = true;
  finish(wc);
}

static bool busy(const struct wire_conn *wc) {
  return wc->inflight || wc->writes || wc->timing_frame;
}

static void on_timer(uv_timer_t *t);

/* Start the timer for the nearest deadline. */
static void arm(struct wire_conn *wc) {
  if (!wc->timer_live || wc->dead)
    return;
  uint64_t now = uv_now(wc->stream->loop), due = UINT64_MAX;
  if (wc->closing)
    due = now + WIRE_CLOSE_LINGER_MS;
  if (wc->timing_frame && wc->frame_ms != UINT64_MAX && wc->frame_start + wc->frame_ms < due)
    due = wc->frame_start + wc->frame_ms;
  if (wc->idle_ms != UINT64_MAX && wc->last_active + wc->idle_ms < due)
    due = wc->last_active + wc->idle_ms; /* checked when due; busy ones re-arm */
  if (due == UINT64_MAX) {
    uv_timer_stop(&wc->timer);
    return;
  }
  uv_timer_start(&wc->timer, on_timer, due > now ? due - now : 0, 0);
}

static void on_timer(uv_timer_t *t) {
  struct wire_conn *wc = t->data;
  if (wc->dead)
    return;
  uint64_t now = uv_now(wc->stream->loop);
  if (wc->closing) {
    finish(wc); /* the error reply had its chance */
    return;
  }
  if (wc->timing_frame && wc->frame_ms != UINT64_MAX && now - wc->frame_start >= wc->frame_ms) {
    drop_now(wc, -ETIMEDOUT, "frame not completed in time");
    return;
  }
  if (wc->idle_ms != UINT64_MAX && !busy(wc) && now - wc->last_active >= wc->idle_ms) {
    drop_now(wc, -ETIMEDOUT, "idle connection closed");
    return;
  }
  if (busy(wc) && wc->idle_ms != UINT64_MAX && wc->last_active + wc->idle_ms <= now)
    wc->last_active = now; /* a request in flight is not idleness: count from now */
  arm(wc);
}

static void on_evict(struct wire_reader *r, void *ud) {
  struct wire_conn *wc = ud;
  conn_ref(wc);
  drop_now(wc, -ENOBUFS, "connection dropped: too many incomplete frames held");
  conn_unref(wc);
}

uint64_t wire_conn_last_seen(const struct wire_conn *conn) {
  return conn->last_active > conn->last_byte ? conn->last_active : conn->last_byte;
}

unsigned wire_conn_inflight(const struct wire_conn *conn) { return conn->inflight; }

void wire_conn_drop(struct wire_conn *conn, int code, const char *msg) {
  if (!conn || conn->dead)
    return;
  struct wire_buf b = {0};
  int n = wire_response_encode_error(&b, 0, code, msg);
  if (n > 0 && !conn->writes && !uv_is_closing((uv_handle_t *)conn->stream)) {
    uv_buf_t ub = uv_buf_init((char *)b.data, (unsigned)n);
    (void)uv_try_write(conn->stream, &ub, 1);
  }
  wire_buf_release(&b);
  wire_conn_free(conn);
}

void wire_conn_touch(struct wire_conn *conn) {
  if (conn && !conn->dead)
    conn->last_active = uv_now(conn->stream->loop);
}

void wire_conn_set_idle_timeout(struct wire_conn *conn, uint64_t idle_ms) {
  if (!conn || conn->dead)
    return;
  conn->idle_ms = idle_ms ? idle_ms : WIRE_IDLE_TIMEOUT_MS;
  arm(conn);
}

/* A hello (wire/session_msg.h): this connection speaks version 1 only, with
 * no features (no pushes, no heartbeats). The session of wire/session.h
 * speaks every version. */
static bool answer_hello(struct wire_conn *wc, const uint8_t *frame, size_t len) {
  struct wire_value *val = NULL;
  struct wire_smsg m;
  struct wire_error err;
  if (wire_smsg_decode(frame, len, &val, &m, &err) < 0 || m.kind == WIRE_SMSG_NONE)
    return false; /* a request (or garbage, which the request decoder refuses) */
  wire_value_free(val);
  if (m.kind != WIRE_SMSG_HELLO || m.reply || !(m.hello.versions & WIRE_VERSION_BIT(1))) {
    protocol_error(wc, -EPROTONOSUPPORT, "only a version-1 hello is understood here");
    return true;
  }
  struct wire_buf b = {0};
  int n = wire_hello_encode_server(&b, 1, WIRE_VERSION_BIT(1), 0, 0, 0);
  if (n < 0)
    wire_buf_release(&b);
  else
    send_buf(wc, &b, (size_t)n);
  return true;
}

static void handle_frame(struct wire_conn *wc, const uint8_t *frame, size_t len) {
  struct wire_value *val = NULL;
  struct wire_request req;
  struct wire_error err;
  if (answer_hello(wc, frame, len))
    return;
  int r = wire_request_decode(frame, len, &val, &req, &err);

  if (r < 0) {
    if (r == -ENOMEM || strcmp(err.op, "malformed") != 0 || err.id != 0) {
      /* The frame was intact: refuse this request, keep the connection. */
      send_error(wc, err.id, r, err.msg);
      refused(wc, err.op, r);
    } else {
      protocol_error(wc, r, err.msg);
    }
    return;
  }
  wc->last_active = uv_now(wc->stream->loop);
  if (wc->inflight >= WIRE_CONN_MAX_INFLIGHT) {
    send_error(wc, req.id, -EBUSY, "too many requests in flight on this connection");
    refused(wc, req.op, -EBUSY);
  } else {
    wc->inflight++;
    wc->cbs->on_request(wc, &req, wc->ud);
  }
  wire_value_free(val);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct wire_conn *wc = h->data;
  *buf = wc && tl_rbuf ? uv_buf_init((char *)secbuf_data(tl_rbuf), READ_CHUNK)
                       : uv_buf_init(NULL, 0);
}

static const char *feed_error(int r) {
  switch (r) {
  case SD_E_PROTO: return "frame length is 0 or over the maximum";
  case -ENOBUFS: return "frame does not fit the memory for incomplete frames";
  default: return "out of memory";
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct wire_conn *wc = s->data;
  if (!wc || wc->dead) {
    if (nread > 0)
      explicit_bzero(buf->base, (size_t)nread);
    return;
  }
  conn_ref(wc);
  if (nread > 0) {
    wc->last_byte = uv_now(s->loop);
    const uint8_t *p = (const uint8_t *)buf->base;
    size_t n = (size_t)nread, used;
    bool completed = false;
    while (n && !wc->dead && !wc->closing) {
      int r = wire_reader_feed(wc->reader, p, n, &used);
      p += used;
      n -= used;
      if (r < 0) {
        protocol_error(wc, r, feed_error(r));
        break;
      }
      if (r == 1) {
        const uint8_t *f;
        size_t fl;
        completed = true;
        wire_reader_frame(wc->reader, &f, &fl);
        handle_frame(wc, f, fl);
        wire_reader_consume(wc->reader); /* wipes the frame */
      }
    }
    explicit_bzero(buf->base, (size_t)nread);
    if (!wc->dead && !wc->closing) {
      bool in_frame = wire_reader_in_frame(wc->reader);
      if (in_frame && (!wc->timing_frame || completed)) {
        wc->timing_frame = true; /* a new frame began in this read */
        wc->frame_start = uv_now(s->loop);
        arm(wc);
      } else if (!in_frame) {
        wc->timing_frame = false;
      }
    }
  } else if (nread == UV_EOF) {
    wc->eof = true;
    stop_reading(wc);
    maybe_finish(wc);
  } else if (nread < 0) {
    wc->broken = true;
    finish(wc);
  }
  conn_unref(wc);
}

int wire_conn_new_opts(uv_stream_t *stream, const struct wire_conn_cbs *cbs, void *ud,
                       const struct wire_conn_opts *o, struct wire_conn **ret) {
  struct wire_conn *wc;
  struct wire_budget *budget = o ? o->budget : NULL;
  int r;

  if (!stream || !cbs || !cbs->on_request || !cbs->on_close || !ret)
    return -EINVAL;
  if (!budget && !tl_budget && (r = wire_budget_new(0, &tl_budget)) < 0)
    return r;
  if (!budget)
    budget = tl_budget;
  if (!tl_rbuf && (r = secbuf_new(READ_CHUNK, &tl_rbuf)) < 0)
    return r;
  if (!(wc = calloc(1, sizeof(*wc))))
    return -ENOMEM;
  tl_rbuf_users++;
  wc->refs = 1;
  wc->stream = stream;
  wc->cbs = cbs;
  wc->ud = ud;
  wc->idle_ms = o && o->idle_ms ? o->idle_ms : WIRE_IDLE_TIMEOUT_MS;
  wc->frame_ms = o && o->frame_ms ? o->frame_ms : WIRE_FRAME_TIMEOUT_MS;
  if ((r = wire_reader_new(0, &wc->reader)) < 0)
    goto fail;
  wire_reader_set_budget(wc->reader, budget, on_evict, wc);
  if ((r = uv_timer_init(stream->loop, &wc->timer)) < 0)
    goto fail;
  wc->timer.data = wc;
  wc->timer_live = true;
  wc->refs++; /* the timer's, dropped when its close completes */
  wc->last_active = wc->last_byte = uv_now(stream->loop);
  stream->data = wc;
  if ((r = uv_read_start(stream, on_alloc, on_read)) < 0) {
    stream->data = NULL;
    goto fail;
  }
  arm(wc);
  *ret = wc;
  return 0;
fail:
  close_timer(wc);
  conn_unref(wc);
  return r;
}

int wire_conn_new(uv_stream_t *stream, const struct wire_conn_cbs *cbs, void *ud,
                  struct wire_conn **ret) {
  return wire_conn_new_opts(stream, cbs, ud, NULL, ret);
}

void wire_conn_free(struct wire_conn *conn) {
  if (!conn || conn->dead)
    return;
  conn->dead = true;
  stop_reading(conn);
  close_timer(conn);
  conn->stream->data = NULL;
  conn_unref(conn);
}

int wire_conn_fileno(const struct wire_conn *conn, int *ret_fd) {
  uv_os_fd_t fd;
  int r = uv_fileno((const uv_handle_t *)conn->stream, &fd);
  if (r < 0)
    return r;
  *ret_fd = fd;
  return 0;
}

void *wire_conn_userdata(const struct wire_conn *conn) { return conn->ud; }
