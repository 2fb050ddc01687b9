/*
 * Signing keys. A key pair is two files:
 *   NAME.pub  {"type":"secretd-trust-public-key","keyid":ID,"public":B64(pk)}
 *   NAME.key  {"type":"secretd-trust-secret-key","version":1,"keyid":ID,
 *              "public":B64(pk),"kdf":{"alg":"argon2id13","opslimit":N,
 *              "memlimit":N,"salt":B64(16)},"aead":{"alg":"xchacha20poly1305-ietf",
 *              "nonce":B64(24)},"sealed":B64(seed(32) + tag(16))}
 * The Ed25519 seed is sealed with a key derived from the passphrase by
 * Argon2id at the recorded costs; the associated data binds the key id, the
 * public key and the costs, so that editing any of them (or the ciphertext)
 * fails to open just as a wrong passphrase does. Costs in a file are bounded
 * (TRUST_KDF_MAX_*) so that a hostile file cannot demand unbounded memory or
 * time. The key id is the hex sha256 of the public key (trust_util.h).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "image/err.h"
#include "image/trust_util.h"

struct secbuf;

#define TRUST_KEY_MAX_TEXT 4096
#define TRUST_KDF_MAX_OPS 10
#define TRUST_KDF_MAX_MEM ((uint64_t)1 << 30) /* 1 GiB: libsodium's "sensitive" */
#define TRUST_KDF_MIN_MEM 8192
#define TRUST_PASS_MAX 1024

struct trust_kdf {
  uint64_t opslimit, memlimit;
};

/* Named costs: "sensitive" (4, 1 GiB), "moderate" (3, 256 MiB, the default),
 * "interactive" (2, 64 MiB) and "min" (1, 8 KiB: for tests only, it makes a
 * guessed passphrase cheap to try). Returns 0 or -EINVAL. */
int trust_kdf_named(const char *name, struct trust_kdf *ret);

/* Generate a key pair sealed under pass (at least 1 byte) with the costs kdf.
 * *ret_key and *ret_pub are the two files' malloc'd texts (the key file holds
 * no secret in clear); keyid gets the key id. Returns 0, -EINVAL (empty
 * passphrase, costs out of bounds), -ENOMEM. */
int trust_key_generate(const struct secbuf *pass, const struct trust_kdf *kdf, char **ret_key,
                       char **ret_pub, char keyid[TRUST_KEYID_LEN + 1]);

/* The public parts of a key file (no passphrase needed). */
struct trust_key_file {
  char keyid[TRUST_KEYID_LEN + 1];
  uint8_t pk[32];
  struct trust_kdf kdf;
  uint8_t salt[16], nonce[24], sealed[48];
};

/* Parse a key file strictly: fields, types, sizes, key id = sha256 of the
 * public key, costs within bounds. Returns 0 or -EINVAL with err saying why
 * (a truncated or edited file). */
int trust_key_parse(const char *text, size_t len, struct trust_key_file *ret, struct img_err *err);

/* Parse and open a key file with pass: *ret_sk is the 64-byte Ed25519 secret
 * key in secret memory, checked to belong to the file's public key.
 * Returns 0, -EINVAL (malformed: err says why), -EKEYREJECTED (wrong
 * passphrase, or sealed data, key id, public key or costs edited), -ENOMEM. */
int trust_key_open(const char *text, size_t len, const struct secbuf *pass, struct secbuf **ret_sk,
                   char keyid[TRUST_KEYID_LEN + 1], struct img_err *err);

/* Parse a public key file. Returns 0 or -EINVAL with err saying why. */
int trust_pub_parse(const char *text, size_t len, uint8_t pk[32], char keyid[TRUST_KEYID_LEN + 1],
                    struct img_err *err);
