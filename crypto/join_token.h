/*
 * Join tokens in Docker Swarm's four-field form (issue 9 section 2):
 *
 *   SWMTKN-1-<digest>-<secret>
 *
 * digest: SHA-256 of the cluster's root CA certificate (DER) as a base-36
 *         number, lowercase, zero-padded on the left to 50 characters
 *         (ceil(256 / log2 36)), as swarmkit writes it;
 * secret: 16 random bytes (128 bits) as a base-36 number, lowercase,
 *         zero-padded to 25 characters (ceil(128 / log2 36)).
 * The whole token is JOIN_TOKEN_LEN (85) characters. The "SWMTKN-" prefix lets
 * leak scanners recognise it.
 *
 * The parser is strict: it takes exactly the token bytes (no trailing newline:
 * a caller reading a token file strips one final "\n" itself and nothing else)
 * and refuses everything else with a distinct JT_E_* code; see
 * join_token_strerror(). Messages never contain the token.
 *
 * The secret is encoded and decoded in constant time (no branch or table index
 * on secret digits) and lives only in struct secbuf. secretd stores only
 * join_token_hash() of a secret: keyed BLAKE2b-256 (libsodium) with domain
 * separation; join_token_check_secret() compares with sodium_memcmp().
 * All functions are thread-safe.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/secbuf.h"

#define JOIN_TOKEN_PREFIX "SWMTKN-"
#define JOIN_TOKEN_VERSION "1"
#define JOIN_TOKEN_DIGEST_CHARS 50
#define JOIN_TOKEN_SECRET_CHARS 25
#define JOIN_TOKEN_DIGEST_BYTES 32
#define JOIN_TOKEN_SECRET_BYTES 16
#define JOIN_TOKEN_HASH_BYTES 32
#define JOIN_TOKEN_HASH_KEY_MAX 64 /* crypto_generichash_KEYBYTES_MAX */
/* "SWMTKN-1-" + digest + "-" + secret, without the NUL */
#define JOIN_TOKEN_LEN (sizeof(JOIN_TOKEN_PREFIX JOIN_TOKEN_VERSION "-") - 1 + \
                        JOIN_TOKEN_DIGEST_CHARS + 1 + JOIN_TOKEN_SECRET_CHARS)

/* Own error band of join tokens (below base/error.h's SD_E_* band). */
#define JT_ERR_BASE (SD_ERR_BASE + 200)
enum join_token_error {
  JT_E_EMPTY = -(JT_ERR_BASE + 1),      /* no token at all */
  JT_E_SPACE = -(JT_ERR_BASE + 2),      /* whitespace or control character in the token */
  JT_E_CASE = -(JT_ERR_BASE + 3),       /* letters in the wrong case */
  JT_E_PREFIX = -(JT_ERR_BASE + 4),     /* does not start with SWMTKN- */
  JT_E_VERSION = -(JT_ERR_BASE + 5),    /* token version other than 1 */
  JT_E_FIELDS = -(JT_ERR_BASE + 6),     /* not exactly four '-'-separated fields */
  JT_E_DIGEST_LEN = -(JT_ERR_BASE + 7), /* digest field not 50 characters (truncated?) */
  JT_E_SECRET_LEN = -(JT_ERR_BASE + 8), /* secret field not 25 characters (truncated?) */
  JT_E_CHAR = -(JT_ERR_BASE + 9),       /* a character outside [0-9a-z] */
  JT_E_RANGE = -(JT_ERR_BASE + 10),     /* a field's value exceeds its bit width */
  JT_E_CA_MISMATCH = -(JT_ERR_BASE + 11), /* digest does not match the CA certificate */
  JT_E_SECRET = -(JT_ERR_BASE + 12),    /* secret does not match (wrong or rotated) */
  JT_E_LAST = -(JT_ERR_BASE + 13),
};

/* A static string for r: JT_E_* here, everything else via sd_strerror(). */
const char *join_token_strerror(int r);

/*
 * Make a new token for the root CA certificate ca_der. *ret_token is a secbuf
 * of JOIN_TOKEN_LEN + 1 bytes holding the token and a NUL. When ret_hash is
 * not NULL it receives join_token_hash() of the new secret under key/keylen.
 * Returns 0, -EINVAL (no certificate, key too long), -ENOMEM.
 */
int join_token_generate(const uint8_t *ca_der, size_t ca_len, const uint8_t *key, size_t keylen,
                        struct secbuf **ret_token, uint8_t ret_hash[JOIN_TOKEN_HASH_BYTES]);

/*
 * Parse text[0..len) strictly. Checks, in order: empty (JT_E_EMPTY), any
 * whitespace or control byte (JT_E_SPACE), any uppercase letter after the
 * prefix or a prefix in another case (JT_E_CASE), prefix (JT_E_PREFIX),
 * version (JT_E_VERSION), field count (JT_E_FIELDS), field lengths
 * (JT_E_DIGEST_LEN, JT_E_SECRET_LEN), alphabet (JT_E_CHAR), value range
 * (JT_E_RANGE). On success ret_digest gets the 32-byte CA digest and
 * *ret_secret a secbuf of JOIN_TOKEN_SECRET_BYTES; both untouched on failure.
 * Returns 0, one of those codes, -EINVAL (NULL) or -ENOMEM.
 */
int join_token_parse(const char *text, size_t len, uint8_t ret_digest[JOIN_TOKEN_DIGEST_BYTES],
                     struct secbuf **ret_secret);

/* The agent's check before it sends anything: 0 when digest is the SHA-256 of
 * ca_der, JT_E_CA_MISMATCH otherwise, -EINVAL for NULL/empty. */
int join_token_check_ca(const uint8_t digest[JOIN_TOKEN_DIGEST_BYTES], const uint8_t *ca_der,
                        size_t ca_len);

/* SHA-256 of ca_der into ret (what the token carries). Returns 0 or -EINVAL. */
int join_token_ca_digest(const uint8_t *ca_der, size_t ca_len,
                         uint8_t ret[JOIN_TOKEN_DIGEST_BYTES]);

/* The stored form of a secret: BLAKE2b-256 keyed with key[0..keylen) (keylen
 * 0 = unkeyed; at most JOIN_TOKEN_HASH_KEY_MAX) over a domain string and the
 * secret. Returns 0, -EINVAL (wrong secret size, key too long). */
int join_token_hash(const struct secbuf *secret, const uint8_t *key, size_t keylen,
                    uint8_t ret[JOIN_TOKEN_HASH_BYTES]);

/* Hash secret as above and compare with stored in constant time. Returns 0
 * when they match, JT_E_SECRET when not, -EINVAL. */
int join_token_check_secret(const struct secbuf *secret, const uint8_t *key, size_t keylen,
                            const uint8_t stored[JOIN_TOKEN_HASH_BYTES]);
