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

#include <sodium.h>

#include "base/error.h"
#include "wire/frame.h"

#define READ_CHUNK (64u * 1024u)

struct wire_conn {
  uv_stream_t *stream;
  const struct wire_conn_cbs *cbs;
  void *ud;
  struct wire_reader *reader;
  uint8_t *rbuf;      /* READ_CHUNK bytes handed to libuv; wiped after each read */
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
  if (wc->rbuf) {
    sodium_memzero(wc->rbuf, READ_CHUNK);
    free(wc->rbuf);
  }
  free(wc);
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
static void protocol_error(struct wire_conn *wc, int code, const char *msg) {
  wc->closing = true;
  stop_reading(wc);
  send_error(wc, 0, code, msg);
  refused(wc, "malformed", code);
  maybe_finish(wc);
}

static void handle_frame(struct wire_conn *wc, const uint8_t *frame, size_t len) {
  struct wire_value *val = NULL;
  struct wire_request req;
  struct wire_error err;
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
  *buf = wc ? uv_buf_init((char *)wc->rbuf, READ_CHUNK) : uv_buf_init(NULL, 0);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct wire_conn *wc = s->data;
  if (!wc || wc->dead)
    return;
  conn_ref(wc);
  if (nread > 0) {
    const uint8_t *p = (const uint8_t *)buf->base;
    size_t n = (size_t)nread, used;
    while (n && !wc->dead && !wc->closing) {
      int r = wire_reader_feed(wc->reader, p, n, &used);
      p += used;
      n -= used;
      if (r < 0) {
        protocol_error(wc, r, r == SD_E_PROTO ? "frame length is 0 or over the maximum"
                                              : "out of memory");
        break;
      }
      if (r == 1) {
        const uint8_t *f;
        size_t fl;
        wire_reader_frame(wc->reader, &f, &fl);
        handle_frame(wc, f, fl);
        wire_reader_consume(wc->reader); /* wipes the frame */
      }
    }
    sodium_memzero(buf->base, (size_t)nread);
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

int wire_conn_new(uv_stream_t *stream, const struct wire_conn_cbs *cbs, void *ud,
                  struct wire_conn **ret) {
  struct wire_conn *wc;
  int r;

  if (!stream || !cbs || !cbs->on_request || !cbs->on_close || !ret)
    return -EINVAL;
  if (!(wc = calloc(1, sizeof(*wc))))
    return -ENOMEM;
  wc->refs = 1;
  wc->stream = stream;
  wc->cbs = cbs;
  wc->ud = ud;
  if (!(wc->rbuf = malloc(READ_CHUNK)) || (r = wire_reader_new(0, &wc->reader)) < 0) {
    r = -ENOMEM;
    goto fail;
  }
  stream->data = wc;
  if ((r = uv_read_start(stream, on_alloc, on_read)) < 0) {
    stream->data = NULL;
    goto fail;
  }
  *ret = wc;
  return 0;
fail:
  conn_unref(wc);
  return r;
}

void wire_conn_free(struct wire_conn *conn) {
  if (!conn || conn->dead)
    return;
  conn->dead = true;
  stop_reading(conn);
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
