/*
 * The Unix-socket transport (wire/transport.h) over a libuv pipe: plain
 * bytes, the peer named by its SO_PEERCRED credentials (read once, when the
 * transport is created: the credentials of the process that connected).
 *
 * Nothing to negotiate: on_ready comes from the loop right after creation.
 * Writes are copied into secret memory (base/secbuf.h) and wiped once
 * written; bytes read are wiped after on_data. A peer's end of sending (EOF)
 * is reported through on_eof when the owner gives one (replies can still be
 * written; the owner closes when done), otherwise as on_close(0).
 *
 * Not thread-safe. The process must ignore SIGPIPE.
 */
#pragma once

#include <stddef.h>

#include <uv.h>

#include "wire/transport.h"

#define WIRE_UNIX_HIGH_WATER (256u * 1024u)
#define WIRE_UNIX_MAX_QUEUED (8u * 1024u * 1024u)
/* How long ops->close waits for queued bytes to be written. */
#define WIRE_UNIX_LINGER_MS 1000u

struct wire_unix;

/*
 * Start the transport on a connected pipe (accepted by a server, or
 * connected by a client). The pipe must have been allocated with malloc()
 * and initialised on its loop; on success the transport owns it (sets
 * pipe->data, closes and free()s it). Reading starts with on_ready.
 * Returns 0 and *ret, -ENOMEM, or a negative errno from getsockopt /
 * uv_timer_init; on failure the pipe is untouched and still the caller's.
 */
int wire_unix_new(uv_pipe_t *pipe, const struct wire_transport_cbs *cbs, void *ud,
                  struct wire_unix **ret);

/* The generic transport, and back. */
struct wire_transport *wire_unix_transport(struct wire_unix *u);
struct wire_unix *wire_unix_from_transport(struct wire_transport *t);
