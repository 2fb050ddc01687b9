/*
 * DSSE envelopes (https://github.com/secure-systems-lab/dsse, protocol v1):
 *   {"payloadType": TYPE, "payload": BASE64(BODY),
 *    "signatures": [{"keyid": KEYID, "sig": BASE64(Ed25519(PAE(TYPE, BODY)))}]}
 * where PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body and
 * LEN is the byte count in ASCII decimal without leading zeros. Signatures are
 * over the PAE, never over the JSON, so the envelope's whitespace and order do
 * not matter. Key ids are ours (trust_util.h), 64 hex digits.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "image/err.h"
#include "image/trust_util.h"

struct secbuf;

#define TRUST_PAYLOAD_TYPE "application/vnd.secretd.statement.v1+json"
#define TRUST_DSSE_MAX_TEXT 65536  /* an envelope file is at most this long */
#define TRUST_DSSE_MAX_PAYLOAD 8192
#define TRUST_DSSE_MAX_SIGS 16

struct trust_dsse_sig {
  char keyid[TRUST_KEYID_LEN + 1];
  uint8_t sig[64];
};

struct trust_dsse {
  char payload_type[128];
  uint8_t payload[TRUST_DSSE_MAX_PAYLOAD];
  size_t payload_len;
  struct trust_dsse_sig sigs[TRUST_DSSE_MAX_SIGS];
  size_t n_sigs;
};

/* The PAE of (type, body) into a malloc'd buffer *ret of *ret_len bytes.
 * Returns 0 or -ENOMEM. */
int trust_pae(const char *type, const uint8_t *body, size_t len, uint8_t **ret, size_t *ret_len);

/* Decode an envelope from len bytes of JSON. Strict: exactly the three fields
 * (an unknown field, a wrong type, bad base64, an empty or too long payload,
 * no or more than TRUST_DSSE_MAX_SIGS signatures, a signature that is not 64
 * bytes or a key id that is not ours are refused). Returns 0 or -EINVAL with
 * err saying why. */
int trust_dsse_decode(const char *text, size_t len, struct trust_dsse *ret, struct img_err *err);

/* The envelope as JSON text (malloc'd, newline-terminated) in *ret.
 * Returns 0 or -ENOMEM. */
int trust_dsse_encode(const struct trust_dsse *d, char **ret);

/* Append a signature by the Ed25519 secret key sk (64 bytes, libsodium's
 * layout) with key id keyid. Returns 0, -ENOSPC (full), -EINVAL (sk not 64
 * bytes), -ENOMEM. */
int trust_dsse_sign(struct trust_dsse *d, const char *keyid, const struct secbuf *sk);

/* Verify signature i against the public key pk. Returns 0 or -EBADMSG. */
int trust_dsse_verify(const struct trust_dsse *d, size_t i, const uint8_t pk[32]);
