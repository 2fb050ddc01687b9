/*
 * struct secbuf: the one container for secret bytes on the heap (values,
 * keys, tokens, frames that carry them), in every part of the project.
 *
 * The bytes live in the locked, guarded pool of base/secmem.h: mlock()ed
 * (best effort: an unprivileged process over RLIMIT_MEMLOCK gets unlocked
 * memory, counted in sd_secmem_stats), never in a core dump (MADV_DONTDUMP),
 * zeroed in a forked child (MADV_WIPEONFORK), wiped on free. Small buffers
 * cost no system call; a canary after the last byte is checked on free and
 * the process aborts if it was overwritten (a heap overflow of a secret).
 *
 * Never copy the bytes into ordinary heap memory; wipe stack copies with
 * explicit_bzero()/sodium_memzero(). Thread-safe: buffers may be made and
 * freed on any thread (one buffer is not to be used by two at once).
 *
 * In a child made by fork(), buffers inherited from the parent read as empty
 * zeros (WIPEONFORK); freeing them there is allowed and does nothing harmful.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/macro.h"

struct secbuf;

/* The largest buffer secbuf_new accepts (1 GiB). */
#define SECBUF_MAX_LEN ((size_t)1 << 30)

/* Allocate a zero-filled buffer of len bytes (len 0 allowed). On success *ret
 * owns it (free with secbuf_free). Returns 0 or -ENOMEM (also for len over
 * SECBUF_MAX_LEN). */
int secbuf_new(size_t len, struct secbuf **ret);

/* Allocate a buffer holding a copy of data[0..len). Returns 0 or -ENOMEM.
 * The caller remains responsible for wiping its own copy. */
int secbuf_from(const void *data, size_t len, struct secbuf **ret);

/* Read fd to EOF into a new buffer. Returns 0, -EFBIG if more than max bytes
 * arrive (nothing returned, everything read so far wiped), -ENOMEM or -errno
 * from read(2). Retries EINTR. */
int secbuf_read_fd(int fd, size_t max, struct secbuf **ret);

/* Shorten b to len bytes (len <= secbuf_len(b), else -EINVAL): the bytes past
 * len are wiped. Returns 0. */
int secbuf_truncate(struct secbuf *b, size_t len);

/* Access the bytes. NULL buffers are not allowed. */
uint8_t *secbuf_data(struct secbuf *b);
const uint8_t *secbuf_cdata(const struct secbuf *b);
size_t secbuf_len(const struct secbuf *b);

/* Constant-time equality of two buffers (length leaks, contents do not). */
int secbuf_equal(const struct secbuf *a, const struct secbuf *b);

/* Wipe and free. NULL is fine. Aborts the process if the canary after the
 * last byte or the buffer's header was overwritten. */
void secbuf_free(struct secbuf *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct secbuf *, secbuf_free)
