/*
 * Unix-socket transport: see unix_transport.h. Life: the struct is freed
 * once both handles (pipe and timer) have closed; `dead` means the owner
 * has been told goodbye (on_close) or said it (ops->close), after which no
 * callback is made.
 */
#include "wire/unix_transport.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/secbuf.h"

#define READ_CHUNK (64u * 1024u)

/* One read buffer per loop thread (libuv calls on_alloc and on_read
 * back to back, and every byte is handed over and wiped before on_read
 * returns). */
static _Thread_local struct secbuf *tl_rbuf;
static _Thread_local unsigned tl_rbuf_users;

struct wire_unix {
  struct wire_transport transport; /* first */
  uv_pipe_t *pipe;
  uv_timer_t timer; /* on_ready, then the close linger */
  const struct wire_transport_cbs *cbs;
  void *ud;
  struct ucred cred;
  size_t queued;
  unsigned handles; /* handles not closed yet */
  bool ready, paused, reading, dead, closing, above_high, eof;
};

struct write_req {
  uv_write_t req;
  struct wire_unix *u;
  struct secbuf *mem;
};

static void handle_closed(uv_handle_t *h) {
  struct wire_unix *u = h->data;
  if (h == (uv_handle_t *)u->pipe)
    free(u->pipe);
  if (--u->handles == 0) {
    if (--tl_rbuf_users == 0) {
      secbuf_free(tl_rbuf);
      tl_rbuf = NULL;
    }
    free(u);
  }
}

static void close_handles(struct wire_unix *u) {
  if (!uv_is_closing((uv_handle_t *)&u->timer))
    uv_close((uv_handle_t *)&u->timer, handle_closed);
  if (!uv_is_closing((uv_handle_t *)u->pipe))
    uv_close((uv_handle_t *)u->pipe, handle_closed);
}

static void stop_reading(struct wire_unix *u) {
  if (u->reading && !uv_is_closing((uv_handle_t *)u->pipe))
    uv_read_stop((uv_stream_t *)u->pipe);
  u->reading = false;
}

/* The transport ends by itself: tell the owner once, then go. */
static void end(struct wire_unix *u, int reason) {
  if (u->dead)
    return;
  u->dead = true;
  stop_reading(u);
  u->cbs->on_close(&u->transport, reason, u->ud);
  close_handles(u);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h;
  (void)hint;
  *buf = tl_rbuf ? uv_buf_init((char *)secbuf_data(tl_rbuf), READ_CHUNK) : uv_buf_init(NULL, 0);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct wire_unix *u = s->data;
  if (nread > 0) {
    if (!u->dead)
      u->cbs->on_data(&u->transport, (const uint8_t *)buf->base, (size_t)nread, u->ud);
    explicit_bzero(buf->base, (size_t)nread);
    return;
  }
  if (u->dead || nread == 0)
    return;
  if (nread == UV_EOF) {
    u->eof = true;
    stop_reading(u);
    if (u->cbs->on_eof)
      u->cbs->on_eof(&u->transport, u->ud);
    else
      end(u, 0);
    return;
  }
  end(u, nread == UV_ECONNRESET ? -ECONNRESET : (int)nread);
}

static void start_reading(struct wire_unix *u) {
  if (u->dead || u->closing || u->paused || u->eof || u->reading || !u->ready)
    return;
  int r = uv_read_start((uv_stream_t *)u->pipe, on_alloc, on_read);
  if (r < 0) {
    end(u, r);
    return;
  }
  u->reading = true;
}

static void ready_cb(uv_timer_t *t) {
  struct wire_unix *u = t->data;
  if (u->dead)
    return;
  u->ready = true;
  u->cbs->on_ready(&u->transport, u->ud);
  start_reading(u);
}

static void linger_cb(uv_timer_t *t) { close_handles(t->data); }

static void write_done(uv_write_t *req, int status) {
  struct write_req *wr = (struct write_req *)req;
  struct wire_unix *u = wr->u;
  u->queued -= secbuf_len(wr->mem);
  secbuf_free(wr->mem);
  free(wr);
  if (u->closing) { /* the owner closed: flush, then go */
    if (status < 0 || u->queued == 0)
      close_handles(u);
    return;
  }
  if (u->dead)
    return;
  if (status < 0) {
    end(u, status == UV_EPIPE ? -ECONNRESET : status);
    return;
  }
  if (u->above_high && u->queued <= WIRE_UNIX_HIGH_WATER / 4) {
    u->above_high = false;
    if (u->cbs->on_drain)
      u->cbs->on_drain(&u->transport, u->ud);
  }
}

static int t_write(struct wire_transport *t, const void *buf, size_t len) {
  struct wire_unix *u = (struct wire_unix *)t;
  struct write_req *wr;
  int r;

  if (!u->ready || u->dead || u->closing)
    return -ENOTCONN;
  if (len == 0)
    return u->above_high;
  if (u->queued + len > WIRE_UNIX_MAX_QUEUED)
    return -ENOBUFS;
  if (!(wr = calloc(1, sizeof(*wr))))
    return -ENOMEM;
  if ((r = secbuf_from(buf, len, &wr->mem)) < 0) {
    free(wr);
    return r;
  }
  wr->u = u;
  uv_buf_t ub = uv_buf_init((char *)secbuf_data(wr->mem), (unsigned)len);
  if ((r = uv_write(&wr->req, (uv_stream_t *)u->pipe, &ub, 1, write_done)) < 0) {
    secbuf_free(wr->mem);
    free(wr);
    return r;
  }
  u->queued += len;
  if (u->queued > WIRE_UNIX_HIGH_WATER)
    u->above_high = true;
  return u->above_high ? 1 : 0;
}

static void t_pause(struct wire_transport *t) {
  struct wire_unix *u = (struct wire_unix *)t;
  u->paused = true;
  stop_reading(u);
}

static void t_resume(struct wire_transport *t) {
  struct wire_unix *u = (struct wire_unix *)t;
  u->paused = false;
  start_reading(u);
}

static size_t t_queued(const struct wire_transport *t) {
  return ((const struct wire_unix *)t)->queued;
}

static int t_peer(const struct wire_transport *t, struct wire_peer *ret) {
  const struct wire_unix *u = (const struct wire_unix *)t;
  if (!u->ready)
    return -ENOTCONN;
  *ret = (struct wire_peer){
      .kind = WIRE_PEER_UNIX, .pid = u->cred.pid, .uid = u->cred.uid, .gid = u->cred.gid};
  return 0;
}

static void t_close(struct wire_transport *t) {
  struct wire_unix *u = (struct wire_unix *)t;
  if (!u || u->closing)
    return;
  u->closing = true;
  u->dead = true;
  stop_reading(u);
  if (u->queued == 0) {
    close_handles(u);
    return;
  }
  uv_timer_stop(&u->timer);
  uv_timer_start(&u->timer, linger_cb, WIRE_UNIX_LINGER_MS, 0);
}

static const struct wire_transport_ops unix_ops = {
    .write = t_write,
    .pause = t_pause,
    .resume = t_resume,
    .queued = t_queued,
    .peer = t_peer,
    .close = t_close,
};

int wire_unix_new(uv_pipe_t *pipe, const struct wire_transport_cbs *cbs, void *ud,
                  struct wire_unix **ret) {
  struct wire_unix *u;
  socklen_t len = sizeof(struct ucred);
  uv_os_fd_t fd;
  int r;

  if (!pipe || !cbs || !cbs->on_ready || !cbs->on_data || !cbs->on_close || !ret)
    return -EINVAL;
  if (!tl_rbuf && (r = secbuf_new(READ_CHUNK, &tl_rbuf)) < 0)
    return r;
  if (!(u = calloc(1, sizeof(*u))))
    return -ENOMEM;
  tl_rbuf_users++;
  u->transport.ops = &unix_ops;
  u->pipe = pipe;
  u->cbs = cbs;
  u->ud = ud;
  if ((r = uv_fileno((uv_handle_t *)pipe, &fd)) < 0)
    goto fail;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &u->cred, &len) < 0) {
    r = -errno;
    goto fail;
  }
  if ((r = uv_timer_init(pipe->loop, &u->timer)) < 0)
    goto fail;
  u->timer.data = u;
  pipe->data = u;
  u->handles = 2;
  uv_timer_start(&u->timer, ready_cb, 0, 0);
  *ret = u;
  return 0;
fail:
  if (--tl_rbuf_users == 0) {
    secbuf_free(tl_rbuf);
    tl_rbuf = NULL;
  }
  free(u);
  return r;
}

struct wire_transport *wire_unix_transport(struct wire_unix *u) { return &u->transport; }
struct wire_unix *wire_unix_from_transport(struct wire_transport *t) {
  return (struct wire_unix *)t;
}
