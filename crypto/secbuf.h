/*
 * struct secbuf: the one container for secret bytes on the heap. Memory comes
 * from sodium_malloc() (guard pages, canary, mlock()ed where the rlimit
 * allows) and is wiped by sodium_free() on release. Never copy the bytes into
 * ordinary heap memory; wipe stack copies with sodium_memzero().
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/macro.h"

struct secbuf;

/* Allocate a zero-filled buffer of len bytes (len 0 allowed). On success *ret
 * owns it (free with secbuf_free). Returns 0 or -ENOMEM. */
int secbuf_new(size_t len, struct secbuf **ret);

/* Allocate a buffer holding a copy of data[0..len). Returns 0 or -ENOMEM.
 * The caller remains responsible for wiping its own copy. */
int secbuf_from(const void *data, size_t len, struct secbuf **ret);

/* Read fd to EOF into a new buffer. Returns 0, -EFBIG if more than max bytes
 * arrive (nothing returned, everything read so far wiped), -ENOMEM or -errno
 * from read(2). Retries EINTR. */
int secbuf_read_fd(int fd, size_t max, struct secbuf **ret);

/* Access the bytes. NULL buffers are not allowed. */
uint8_t *secbuf_data(struct secbuf *b);
const uint8_t *secbuf_cdata(const struct secbuf *b);
size_t secbuf_len(const struct secbuf *b);

/* Constant-time equality of two buffers (length leaks, contents do not). */
int secbuf_equal(const struct secbuf *a, const struct secbuf *b);

/* Wipe and free. NULL is fine. */
void secbuf_free(struct secbuf *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct secbuf *, secbuf_free)
