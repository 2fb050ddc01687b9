/*
 * Envelope encryption (DESIGN.md section 3), XChaCha20-Poly1305 IETF with a
 * random 24-byte nonce for every encryption.
 *
 * Key wrapping: a wrapped key is nonce(24) || ciphertext(32) || tag(16). The
 * associated data is purpose || context, e.g. "secretd/master/v1" || cluster
 * id, so a wrapped key cannot be replayed in another role.
 *
 * Values: each secret version gets a fresh data key, wrapped by the store
 * master key with AD "secretd/dk/v1" || id(16) || version(4, big endian); the
 * value is encrypted with AD "secretd/value/v1" || id || version. Moving a
 * ciphertext or a wrapped data key to another secret or version fails
 * authentication. Rotating the master key rewraps data keys only.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "crypto/keys.h"
#include "crypto/secbuf.h"

#define SD_NONCE_LEN 24
#define SD_TAG_LEN 16
#define SD_WRAPPED_KEY_LEN (SD_NONCE_LEN + SD_KEY_LEN + SD_TAG_LEN) /* 72 */
#define SD_SECRET_ID_LEN 16

#define SD_WRAP_MASTER "secretd/master/v1"
#define SD_WRAP_AUDIT "secretd/audit/v1"

/* Wrap key k under kek; AD = purpose || ctx. out receives SD_WRAPPED_KEY_LEN
 * bytes. Returns 0 or -ENOMEM. */
int sd_key_wrap(const struct sd_key *kek, const char *purpose, const uint8_t *ctx,
                size_t ctx_len, const struct sd_key *k, uint8_t out[SD_WRAPPED_KEY_LEN]);

/* Unwrap. On success *ret owns the key. Returns 0, SD_E_DECRYPT (wrong kek,
 * purpose, context or tampered bytes), -ENOMEM. */
int sd_key_unwrap(const struct sd_key *kek, const char *purpose, const uint8_t *ctx,
                  size_t ctx_len, const uint8_t in[SD_WRAPPED_KEY_LEN], struct sd_key **ret);

/* One sealed secret version. ct holds plaintext length + SD_TAG_LEN bytes of
 * ciphertext (not secret; ordinary heap, owned by the envelope). */
struct sd_envelope {
  uint8_t wrapped_dk[SD_WRAPPED_KEY_LEN];
  uint8_t nonce[SD_NONCE_LEN];
  uint8_t *ct;
  size_t ct_len;
};

/* Seal pt for (id, version) under master with a fresh data key. On success
 * *ret is filled (release with sd_envelope_clear). Returns 0 or -ENOMEM. */
int sd_envelope_seal(const struct sd_key *master, const uint8_t id[SD_SECRET_ID_LEN],
                     uint32_t version, const struct secbuf *pt, struct sd_envelope *ret);

/* Open the parts of an envelope (they may point into LMDB memory). On success
 * *ret owns the plaintext. Returns 0, SD_E_DECRYPT, -EINVAL (ct shorter than
 * a tag), -ENOMEM. */
int sd_envelope_open(const struct sd_key *master, const uint8_t id[SD_SECRET_ID_LEN],
                     uint32_t version, const uint8_t wrapped_dk[SD_WRAPPED_KEY_LEN],
                     const uint8_t nonce[SD_NONCE_LEN], const uint8_t *ct, size_t ct_len,
                     struct secbuf **ret);

/* The two halves of sd_envelope_open, for a caller that keeps unwrapped data
 * keys (store/dkcache.c). dk_unwrap: on success dk holds the data key of
 * (id, version); the caller wipes it. Returns 0 or SD_E_DECRYPT. open_dk:
 * decrypts with that data key, as sd_envelope_open. */
int sd_envelope_dk_unwrap(const struct sd_key *master, const uint8_t id[SD_SECRET_ID_LEN],
                          uint32_t version, const uint8_t wrapped_dk[SD_WRAPPED_KEY_LEN],
                          uint8_t dk[SD_KEY_LEN]);
int sd_envelope_open_dk(const uint8_t dk[SD_KEY_LEN], const uint8_t id[SD_SECRET_ID_LEN],
                        uint32_t version, const uint8_t nonce[SD_NONCE_LEN], const uint8_t *ct,
                        size_t ct_len, struct secbuf **ret);

/* Rewrap a data key from old_master to new_master in place (values are not
 * touched). Returns 0, SD_E_DECRYPT (wrapped_dk unchanged), -ENOMEM. */
int sd_envelope_rewrap(const struct sd_key *old_master, const struct sd_key *new_master,
                       const uint8_t id[SD_SECRET_ID_LEN], uint32_t version,
                       uint8_t wrapped_dk[SD_WRAPPED_KEY_LEN]);

/* Free ct and zero the struct. NULL is fine. */
void sd_envelope_clear(struct sd_envelope *e);
