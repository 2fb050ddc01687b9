/*
 * struct sd_key: one 32-byte symmetric key in sodium_malloc() memory that is
 * PROT_NONE while nobody uses it. Used for the unlock key (KEK), the store
 * master key and the audit chain key. Thread-safe: concurrent users share one
 * reference-counted read-only window (sd_key_acquire/sd_key_release).
 *
 * Unlock-key token (shown once with --autolock, also the key-file content):
 *   "SDUNLOCK-1-" + base64url(32 bytes), no padding  (54 characters)
 * Encoding and decoding are constant time (sodium_bin2base64/base642bin).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/macro.h"

#define SD_KEY_LEN 32
#define SD_KEY_TOKEN_PREFIX "SDUNLOCK-1-"
#define SD_KEY_TOKEN_LEN (sizeof(SD_KEY_TOKEN_PREFIX) - 1 + 43) /* without NUL */

struct sd_key;

/* A fresh random key. Returns 0 or -ENOMEM. */
int sd_key_generate(struct sd_key **ret);

/* Copy n bytes into a new key. Returns 0, -EINVAL unless n == SD_KEY_LEN,
 * -ENOMEM. The caller wipes its copy of b. */
int sd_key_from_bytes(const uint8_t *b, size_t n, struct sd_key **ret);

/* Write the token plus NUL into out. Returns 0 or -ENOBUFS if outlen <=
 * SD_KEY_TOKEN_LEN. The caller wipes out after use. */
int sd_key_to_token(const struct sd_key *k, char *out, size_t outlen);

/* Parse a token (trailing whitespace/newline allowed). Returns 0, -EINVAL
 * (wrong prefix, bad base64, wrong length), -ENOMEM. */
int sd_key_from_token(const char *token, struct sd_key **ret);

/* Read a key file holding a token. Returns 0, -EINVAL (not a token), -EFBIG
 * (file over 4 KiB) or -errno from open/read. */
int sd_key_read_file(const char *path, struct sd_key **ret);

/* Write the token to path durably: "<path>.tmp" created O_EXCL mode 0600 (a
 * stale one is removed first), fsync, rename over path, fsync of the
 * directory. Returns 0 or -errno. */
int sd_key_write_file(const char *path, const struct sd_key *k);

/* Constant-time comparison. Returns 1 when equal, 0 otherwise. */
int sd_key_equal(const struct sd_key *a, const struct sd_key *b);

/* Map the key bytes readable and return them; every acquire is paired with
 * one release. Thread-safe. For crypto/ internals and tests. */
const uint8_t *sd_key_acquire(const struct sd_key *k);
void sd_key_release(const struct sd_key *k);

/*
 * A hot key (the store's master key, read on every secret read) can linger:
 * after its last release it stays mapped read-only instead of costing an
 * mprotect() pair per use, until sd_key_seal_idle() makes it PROT_NONE again
 * (a long-running process calls that from a timer, e.g. secretd every second,
 * so an idle key is sealed within that period). While a lingering key is
 * open, acquire and release take no lock. Turning lingering off seals the key
 * now if nobody holds it (one still in use by other threads is sealed by the
 * next sd_key_seal_idle). Thread-safe.
 */
void sd_key_set_lingering(struct sd_key *k, bool on);
/* Make k PROT_NONE if nobody holds it. NULL is fine. Thread-safe. */
void sd_key_seal_idle(const struct sd_key *k);

/* Wipe and free; NULL is fine. */
void sd_key_free(struct sd_key *k);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct sd_key *, sd_key_free)
