/* Blocking client: one Unix-socket connection, requests with increasing ids. */
#include "wire/client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/macro.h"
#include "base/secbuf.h"
#include "wire/frame.h"
#include "wire/session_msg.h"

#define RBUF 16384

struct wire_client {
  int fd;
  int timeout_ms;
  uint64_t next_id;
  bool broken;
  pthread_mutex_t lock;
  struct wire_reader *reader;
  struct secbuf *rmem; /* RBUF bytes of secret memory */
  uint8_t *rbuf;       /* = secbuf_data(rmem) */
  size_t rpos, rlen;   /* unread bytes in rbuf */
  uint32_t version;    /* from the server's hello (0: not read yet) */
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int send_all(struct wire_client *c, const uint8_t *p, size_t n, int64_t deadline);

int wire_client_connect(const char *path, int timeout_ms, struct wire_client **ret) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  _cleanup_close_ int fd = -1;
  struct wire_client *c;
  size_t n;

  if (!path || !ret)
    return -EINVAL;
  n = strlen(path);
  if (n == 0)
    return -ENOENT;
  if (n >= sizeof(sa.sun_path))
    return -ENAMETOOLONG;
  memcpy(sa.sun_path, path, n + 1);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -errno;
  /* A Unix socket connects at once or fails at once; EAGAIN means the
   * listener's backlog is full: retry until the timeout. */
  int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : WIRE_CLIENT_TIMEOUT_MS);
  while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN)
      return -errno;
    if (now_ms() >= deadline)
      return -ETIMEDOUT;
    usleep(5000);
  }
  if (!(c = calloc(1, sizeof(*c))))
    return -ENOMEM;
  if (wire_reader_new(0, &c->reader) < 0 || secbuf_new(RBUF, &c->rmem) < 0) {
    wire_reader_free(c->reader);
    free(c);
    return -ENOMEM;
  }
  c->rbuf = secbuf_data(c->rmem);
  pthread_mutex_init(&c->lock, NULL);
  c->timeout_ms = timeout_ms > 0 ? timeout_ms : WIRE_CLIENT_TIMEOUT_MS;
  c->fd = TAKE_FD(fd);
  /* The hello goes out now; its answer is read before the first reply. A
   * server that refuses us may have closed already: the first call reads
   * its reason, so a failed send here is not an error yet. This client
   * takes neither pushes nor heartbeats: it names no feature. */
  struct wire_buf hb = {0};
  int hn = wire_hello_encode_client(&hb, WIRE_VERSIONS_ALL, 0, 0);
  if (hn > 0)
    (void)send_all(c, hb.data, (size_t)hn, now_ms() + c->timeout_ms);
  wire_buf_release(&hb);
  *ret = c;
  return 0;
}

uint32_t wire_client_version(const struct wire_client *c) { return c->version; }

void wire_client_free(struct wire_client *c) {
  if (!c)
    return;
  if (c->fd >= 0)
    close(c->fd);
  wire_reader_free(c->reader);
  secbuf_free(c->rmem); /* wipes */
  pthread_mutex_destroy(&c->lock);
  free(c);
}

int wire_client_fd(const struct wire_client *c) { return c->fd; }

void wire_reply_free(struct wire_reply *rep) {
  if (!rep)
    return;
  wire_value_free(rep->val);
  secbuf_free(rep->frame_mem); /* wipes */
  free(rep);
}

/* Wait for events on the socket until the deadline: 0, -ETIMEDOUT or -errno. */
static int wait_fd(struct wire_client *c, short events, int64_t deadline) {
  for (;;) {
    int64_t left = deadline - now_ms();
    if (left <= 0)
      return -ETIMEDOUT;
    struct pollfd p = {.fd = c->fd, .events = events};
    int k = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
    if (k > 0)
      return 0;
    if (k < 0 && errno != EINTR)
      return -errno;
  }
}

static int send_all(struct wire_client *c, const uint8_t *p, size_t n, int64_t deadline) {
  while (n) {
    ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
    if (k > 0) {
      p += k;
      n -= (size_t)k;
      continue;
    }
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0 && errno == EAGAIN) {
      int r = wait_fd(c, POLLOUT, deadline);
      if (r < 0)
        return r;
      continue;
    }
    return errno == EPIPE ? -ECONNRESET : -errno;
  }
  return 0;
}

/* Read one whole frame into a fresh reply. */
static int read_frame(struct wire_client *c, int64_t deadline, struct wire_reply **ret) {
  for (;;) {
    while (c->rpos < c->rlen) {
      size_t used;
      int r = wire_reader_feed(c->reader, c->rbuf + c->rpos, c->rlen - c->rpos, &used);
      c->rpos += used;
      if (r < 0)
        return r;
      if (r == 1) {
        const uint8_t *f;
        size_t fl;
        wire_reader_frame(c->reader, &f, &fl);
        struct wire_reply *rep = calloc(1, sizeof(*rep));
        if (!rep || secbuf_from(f, fl, &rep->frame_mem) < 0) {
          free(rep);
          return -ENOMEM;
        }
        rep->frame = secbuf_data(rep->frame_mem);
        rep->frame_len = fl;
        wire_reader_consume(c->reader);
        *ret = rep;
        return 0;
      }
    }
    explicit_bzero(c->rbuf, c->rlen);
    c->rpos = c->rlen = 0;
    ssize_t k = recv(c->fd, c->rbuf, sizeof(c->rbuf), 0);
    if (k > 0) {
      c->rlen = (size_t)k;
      continue;
    }
    if (k == 0)
      return -ECONNRESET;
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN)
      return -errno;
    int r = wait_fd(c, POLLIN, deadline);
    if (r < 0)
      return r;
  }
}

static int read_reply(struct wire_client *c, int64_t deadline, struct wire_reply **ret) {
  struct wire_reply *rep = NULL;
  struct wire_error err;
  struct wire_smsg m;
  int r;
  for (;;) { /* session messages (the hello's answer) are taken here */
    if ((r = read_frame(c, deadline, &rep)) < 0)
      return r;
    if ((r = wire_smsg_decode(rep->frame, rep->frame_len, &rep->val, &m, &err)) < 0) {
      wire_reply_free(rep);
      return r;
    }
    if (m.kind == WIRE_SMSG_NONE)
      break;
    if (m.kind == WIRE_SMSG_HELLO && m.reply)
      c->version = m.hello.version;
    wire_reply_free(rep);
    rep = NULL;
  }
  if ((r = wire_response_decode(rep->frame, rep->frame_len, &rep->val, &rep->r, &err)) < 0) {
    wire_reply_free(rep);
    return r;
  }
  *ret = rep;
  return 0;
}

int wire_client_read_reply(struct wire_client *c, struct wire_reply **ret) {
  int r;
  pthread_mutex_lock(&c->lock);
  r = c->broken ? -ENOTCONN : read_reply(c, now_ms() + c->timeout_ms, ret);
  if (r < 0 && r != SD_E_PROTO)
    c->broken = true;
  pthread_mutex_unlock(&c->lock);
  return r;
}

int wire_client_send_raw(struct wire_client *c, const void *p, size_t n) {
  int r;
  pthread_mutex_lock(&c->lock);
  r = c->broken ? -ENOTCONN : send_all(c, p, n, now_ms() + c->timeout_ms);
  if (r < 0)
    c->broken = true;
  pthread_mutex_unlock(&c->lock);
  return r;
}

static int call_locked(struct wire_client *c, enum wire_op op, wire_pack_fn pack_args, void *ud,
                       struct wire_reply **ret) {
  struct wire_buf b = {0};
  int64_t deadline = now_ms() + c->timeout_ms;
  uint64_t id = ++c->next_id;
  int r, n;

  n = wire_request_encode(&b, id, op, pack_args, ud);
  if (n < 0) {
    wire_buf_release(&b);
    return n;
  }
  r = send_all(c, b.data, (size_t)n, deadline);
  wire_buf_release(&b); /* wipes the value, if the request carried one */
  if (r < 0) {
    c->broken = true;
    /* A server that refuses the connection answers with an id-0 error and
     * closes; our send may then fail first. Read that reason if it is there. */
    struct wire_reply *rep = NULL;
    if (r == -ECONNRESET && read_reply(c, now_ms() + 200, &rep) == 0) {
      if (rep->r.id == 0 && !rep->r.ok) {
        *ret = rep;
        return 0;
      }
      wire_reply_free(rep);
    }
    return r;
  }
  for (;;) {
    struct wire_reply *rep = NULL;
    if ((r = read_reply(c, deadline, &rep)) < 0) {
      c->broken = true;
      return r;
    }
    /* id 0: the server refused the stream itself (and closes it). */
    if (rep->r.id == id || (rep->r.id == 0 && !rep->r.ok)) {
      *ret = rep;
      return 0;
    }
    wire_reply_free(rep); /* a stale reply to an earlier, abandoned request */
  }
}

int wire_client_call(struct wire_client *c, enum wire_op op, wire_pack_fn pack_args, void *ud,
                     struct wire_reply **ret) {
  int r;
  if (!c || !ret)
    return -EINVAL;
  pthread_mutex_lock(&c->lock);
  r = c->broken ? -ENOTCONN : call_locked(c, op, pack_args, ud, ret);
  pthread_mutex_unlock(&c->lock);
  return r;
}
