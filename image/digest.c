/* sha256 digest strings and hashing helpers. */
#include "image/digest.h"

#include <errno.h>
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
  uint8_t d[IMG_DIGEST_LEN];
  crypto_hash_sha256(d, p, n);
  img_hex_encode(d, out);
}

int img_sha256_fd(int fd, char out[IMG_HEX_LEN + 1], uint64_t *ret_size) {
  crypto_hash_sha256_state st;
  uint8_t buf[128 * 1024], d[IMG_DIGEST_LEN];
  uint64_t total = 0;
  crypto_hash_sha256_init(&st);
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0)
      break;
    crypto_hash_sha256_update(&st, buf, (size_t)n);
    total += (uint64_t)n;
  }
  crypto_hash_sha256_final(&st, d);
  img_hex_encode(d, out);
  if (ret_size)
    *ret_size = total;
  return 0;
}
