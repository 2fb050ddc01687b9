/*
 * The hand-over of a detached container's secrets handle. The process that reaps a
 * detached container (its supervisor, see secret-launch(1)) keeps the only writable
 * handle on the container's secrets tmpfs and listens on STATE_DIR/sock (0600 in a 0700
 * root-owned directory). A root peer asks for the handle and receives the mount fd by
 * SCM_RIGHTS; secret bytes never pass through the supervisor. Both sides check the
 * other with SO_PEERCRED: the supervisor serves uid 0 only, the client accepts only the
 * recorded supervisor pid.
 */
#pragma once

#include <sys/types.h>

struct rt_container;
struct rt_state;

/* Bind and listen on dir_fd/sock (SOCK_SEQPACKET, 0600, nonblocking, O_CLOEXEC).
 * Returns 0 or a negative errno. */
int rt_supervisor_listen(int dir_fd, int *ret_fd);

/* Accept one connection on lfd and, for a uid-0 peer that asks, send secrets_fd.
 * Returns 0, -EAGAIN (nothing pending), -EPERM (peer not root; connection closed) or
 * another negative errno. */
int rt_supervisor_serve(int lfd, int secrets_fd);

/* Connect to dir_fd/sock, check the peer is supervisor, receive the secrets mount fd.
 * Returns 0, -ECONNREFUSED/-ENOENT (no supervisor), -EPERM (another process listens),
 * -EPROTO, or a negative errno. */
int rt_supervisor_get_secrets(int dir_fd, pid_t supervisor, int *ret_fd);

/* The supervisor's life once the container runs: hand the secrets handle of c to
 * whoever asks on lfd (see rt_supervisor_serve) until the container exits, then
 * remove dir_fd/sock and record st as stopped with the exit status in dir_fd.
 * c stays the caller's to free. */
void rt_supervisor_run(struct rt_container *c, int lfd, int dir_fd, struct rt_state *st);
