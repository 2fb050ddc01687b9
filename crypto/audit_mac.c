#include "crypto/audit_mac.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "crypto/internal.h"

int sd_audit_mac(const struct sd_key *key, const uint8_t prev[SD_AUDIT_HASH_LEN],
                 const uint8_t *rec, size_t rec_len, uint8_t out[SD_AUDIT_HASH_LEN]) {
  crypto_generichash_blake2b_state st;
  const uint8_t *kb = sd_key_acquire(key);
  crypto_generichash_blake2b_init(&st, kb, SD_KEY_LEN, SD_AUDIT_HASH_LEN);
  sd_key_release(key);
  crypto_generichash_blake2b_update(&st, prev, SD_AUDIT_HASH_LEN);
  crypto_generichash_blake2b_update(&st, rec, rec_len);
  crypto_generichash_blake2b_final(&st, out, SD_AUDIT_HASH_LEN);
  sodium_memzero(&st, sizeof(st));
  return 0;
}

void sd_hash_hex(const uint8_t h[SD_AUDIT_HASH_LEN], char out[2 * SD_AUDIT_HASH_LEN + 1]) {
  sodium_bin2hex(out, 2 * SD_AUDIT_HASH_LEN + 1, h, SD_AUDIT_HASH_LEN);
}

int sd_hash_from_hex(const char *hex, uint8_t out[SD_AUDIT_HASH_LEN]) {
  size_t n = 0;
  const char *end = NULL;
  if (!hex || strlen(hex) != 2 * SD_AUDIT_HASH_LEN)
    return -EINVAL;
  if (sodium_hex2bin(out, SD_AUDIT_HASH_LEN, hex, 2 * SD_AUDIT_HASH_LEN, NULL, &n, &end) != 0 ||
      n != SD_AUDIT_HASH_LEN)
    return -EINVAL;
  return 0;
}
