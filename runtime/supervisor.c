/*
 * Secrets handle hand-over over a unix socket (see runtime/supervisor.h).
 *
 * Why this is safe: the socket lives in a root-owned 0700 directory and is 0600; the
 * supervisor additionally refuses any peer whose SO_PEERCRED uid is not 0, and the
 * client refuses a listener that is not the recorded supervisor pid, so neither a
 * stale socket file nor a process that took over the path can hand out or receive the
 * handle. The path is reached through /proc/self/fd/N of the directory fd, never by a
 * walk that a rename could redirect.
 */
#include "runtime/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/macro.h"
#include "runtime/runtime.h"
#include "runtime/secrets_fs.h"
#include "runtime/state.h"

#define REQ_SECRETS 'S'

static int sock_addr(int dir_fd, struct sockaddr_un *sa) {
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  int n = snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/sock", dir_fd);
  return n < 0 || (size_t)n >= sizeof sa->sun_path ? -ENAMETOOLONG : 0;
}

int rt_supervisor_listen(int dir_fd, int *ret_fd) {
  struct sockaddr_un sa;
  int r = sock_addr(dir_fd, &sa);
  if (r < 0)
    return r;
  _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -errno;
  unlinkat(dir_fd, "sock", 0);
  mode_t old = umask(0177);
  r = bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ? -errno : 0;
  umask(old);
  if (r < 0)
    return r;
  if (listen(fd, 16) < 0)
    return -errno;
  *ret_fd = TAKE_FD(fd);
  return 0;
}

int rt_supervisor_serve(int lfd, int secrets_fd) {
  _cleanup_close_ int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0)
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  struct ucred cr;
  socklen_t len = sizeof cr;
  if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
    return -errno;
  if (cr.uid != 0)
    return -EPERM;
  /* The request is one byte; a peer that sends nothing within 1 s is dropped. */
  struct timeval tv = {.tv_sec = 1};
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char req;
  if (recv(c, &req, 1, 0) != 1 || req != REQ_SECRETS)
    return -EPROTO;
  char ok = 'O';
  struct iovec iov = {.iov_base = &ok, .iov_len = 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                     .msg_controllen = sizeof u.buf};
  struct cmsghdr *h = CMSG_FIRSTHDR(&m);
  h->cmsg_level = SOL_SOCKET;
  h->cmsg_type = SCM_RIGHTS;
  h->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(h), &secrets_fd, sizeof(int));
  if (sendmsg(c, &m, MSG_NOSIGNAL) != 1)
    return -errno;
  return 0;
}

int rt_supervisor_get_secrets(int dir_fd, pid_t supervisor, int *ret_fd) {
  struct sockaddr_un sa;
  int r = sock_addr(dir_fd, &sa);
  if (r < 0)
    return r;
  _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
    return -errno;
  struct ucred cr;
  socklen_t len = sizeof cr;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
    return -errno;
  if (cr.pid != supervisor || cr.uid != 0)
    return -EPERM;
  struct timeval tv = {.tv_sec = 5};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char req = REQ_SECRETS;
  if (send(fd, &req, 1, MSG_NOSIGNAL) != 1)
    return -errno;
  char ok = 0;
  struct iovec iov = {.iov_base = &ok, .iov_len = 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                     .msg_controllen = sizeof u.buf};
  ssize_t n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
  if (n < 0)
    return -errno;
  struct cmsghdr *h = CMSG_FIRSTHDR(&m);
  if (n != 1 || ok != 'O' || !h || h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS ||
      h->cmsg_len != CMSG_LEN(sizeof(int)))
    return -EPROTO;
  int got;
  memcpy(&got, CMSG_DATA(h), sizeof got);
  *ret_fd = got;
  return 0;
}

void rt_supervisor_run(struct rt_container *c, int lfd, int dir_fd, struct rt_state *st) {
  struct rt_exit ex = {0};
  for (;;) {
    struct pollfd p[2] = {{.fd = rt_container_pidfd(c), .events = POLLIN},
                          {.fd = lfd, .events = POLLIN}};
    if (poll(p, 2, -1) < 0 && errno != EINTR)
      break;
    if (p[1].revents & POLLIN)
      (void)rt_supervisor_serve(lfd, rt_secrets_fs_fd(rt_container_secrets(c)));
    if (p[0].revents & POLLIN) {
      int r = rt_container_wait(c, false, &ex);
      if (r == 0 || r == -ECHILD)
        break;
    }
  }
  unlinkat(dir_fd, "sock", 0);
  st->status = RT_STATUS_STOPPED;
  st->exited = true;
  st->exit_code = ex.code;
  st->exit_signal = ex.signal;
  st->oom_killed = ex.oom_killed;
  rt_state_write(dir_fd, st);
}
