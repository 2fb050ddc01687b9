/*
 * sha256 digests as OCI writes them ("sha256:" + 64 lowercase hex digits), and
 * a streaming hasher. Hashing is OpenSSL's (SHA-NI where the CPU has it: about
 * 6x libsodium's portable sha256 on this machine kind, which matters for
 * hashing whole images at import and in verify --deep).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define IMG_DIGEST_LEN 32
#define IMG_HEX_LEN 64 /* without NUL */

/* Parse "sha256:<64 lowercase hex>" into hex (65 bytes with NUL). Returns 0 or
 * -EINVAL (other algorithm, wrong length, upper case or non-hex). */
int img_digest_parse(const char *s, char hex[IMG_HEX_LEN + 1]);

/* True if s is exactly 64 lowercase hex digits. */
bool img_hex_valid(const char *s);

/* Lowercase hex of 32 bytes into out (65 bytes with NUL). */
void img_hex_encode(const uint8_t d[IMG_DIGEST_LEN], char out[IMG_HEX_LEN + 1]);

/* sha256 of a buffer as hex. */
void img_sha256_hex(const void *p, size_t n, char out[IMG_HEX_LEN + 1]);

/* Hash an open file from its current offset to EOF. Returns 0 and the size read
 * in *ret_size, or -errno. */
int img_sha256_fd(int fd, char out[IMG_HEX_LEN + 1], uint64_t *ret_size);

/* A streaming sha256. img_hasher_init returns 0 or -ENOMEM; img_hasher_final
 * writes the hex digest and frees the state; img_hasher_free (also after
 * final, and on a zeroed hasher) frees it. */
struct img_hasher {
  EVP_MD_CTX *ctx;
};
int img_hasher_init(struct img_hasher *h);
void img_hasher_update(struct img_hasher *h, const void *p, size_t n);
void img_hasher_final(struct img_hasher *h, char out[IMG_HEX_LEN + 1]);
void img_hasher_free(struct img_hasher *h);
