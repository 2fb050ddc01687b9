/* sha256 digest strings and hashing helpers. */
#include "image/digest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool img_hex_valid(const char *s) {
  size_t i;
  for (i = 0; s[i]; i++) {
    char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  }
  return i == IMG_HEX_LEN;
}

int img_digest_parse(const char *s, char hex[IMG_HEX_LEN + 1]) {
  if (strncmp(s, "sha256:", 7) != 0 || !img_hex_valid(s + 7))
    return -EINVAL;
  memcpy(hex, s + 7, IMG_HEX_LEN + 1);
  return 0;
}

void img_hex_encode(const uint8_t d[IMG_DIGEST_LEN], char out[IMG_HEX_LEN + 1]) {
  static const char x[] = "0123456789abcdef";
  for (size_t i = 0; i < IMG_DIGEST_LEN; i++) {
    out[2 * i] = x[d[i] >> 4];
    out[2 * i + 1] = x[d[i] & 15];
  }
  out[IMG_HEX_LEN] = '\0';
}

void img_sha256_hex(const void *p, size_t n, char out[IMG_HEX_LEN + 1]) {
  uint8_t d[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (EVP_Digest(p, n, d, &len, EVP_sha256(), NULL) != 1 || len != IMG_DIGEST_LEN)
    abort(); /* sha256 of memory cannot fail short of a broken libcrypto */
  img_hex_encode(d, out);
}

int img_hasher_init(struct img_hasher *h) {
  h->ctx = EVP_MD_CTX_new();
  if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
    img_hasher_free(h);
    return -ENOMEM;
  }
  return 0;
}

void img_hasher_update(struct img_hasher *h, const void *p, size_t n) {
  if (EVP_DigestUpdate(h->ctx, p, n) != 1)
    abort();
}

void img_hasher_final(struct img_hasher *h, char out[IMG_HEX_LEN + 1]) {
  uint8_t d[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (EVP_DigestFinal_ex(h->ctx, d, &len) != 1 || len != IMG_DIGEST_LEN)
    abort();
  img_hex_encode(d, out);
  img_hasher_free(h);
}

void img_hasher_free(struct img_hasher *h) {
  EVP_MD_CTX_free(h->ctx);
  h->ctx = NULL;
}

int img_sha256_fd(int fd, char out[IMG_HEX_LEN + 1], uint64_t *ret_size) {
  struct img_hasher h;
  uint8_t buf[128 * 1024];
  uint64_t total = 0;
  if (img_hasher_init(&h) < 0)
    return -ENOMEM;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int r = -errno;
      img_hasher_free(&h);
      return r;
    }
    if (n == 0)
      break;
    img_hasher_update(&h, buf, (size_t)n);
    total += (uint64_t)n;
  }
  img_hasher_final(&h, out);
  if (ret_size)
    *ret_size = total;
  return 0;
}
