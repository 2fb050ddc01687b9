/*
 * libFuzzer harness for the join-token parser (crypto/join_token.c). The
 * input is the token text, given without a NUL. Invariants, checked with
 * abort(): an accepted token is exactly JOIN_TOKEN_LEN bytes of the strict
 * alphabet, yields a 16-byte secret, and parses again to the same result;
 * a refused one returns one of the documented codes and leaves the outputs
 * untouched; every code has a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/join_token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t digest[JOIN_TOKEN_DIGEST_BYTES], again[JOIN_TOKEN_DIGEST_BYTES];
  memset(digest, 0xa5, sizeof(digest));
  struct secbuf *secret = NULL, *secret2 = NULL;
  /* A copy of exactly size bytes, so ASan sees any over-read. */
  char *text = malloc(size ? size : 1);
  if (!text)
    abort();
  memcpy(text, data, size);
  int r = join_token_parse(text, size, digest, &secret);
  if (!join_token_strerror(r))
    abort();
  if (r == 0) {
    if (size != JOIN_TOKEN_LEN || !secret || secbuf_len(secret) != JOIN_TOKEN_SECRET_BYTES ||
        memcmp(text, "SWMTKN-1-", 9) != 0)
      abort();
    for (size_t i = 9; i < size; i++)
      if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'z') ||
            (i == 59 && text[i] == '-')))
        abort();
    if (join_token_parse(text, size, again, &secret2) != 0 ||
        memcmp(digest, again, sizeof(digest)) != 0 || !secbuf_equal(secret, secret2))
      abort();
    uint8_t h[JOIN_TOKEN_HASH_BYTES];
    if (join_token_hash(secret, NULL, 0, h) != 0 || join_token_check_secret(secret2, NULL, 0, h))
      abort();
  } else {
    if (secret || (r > JT_E_EMPTY || r <= JT_E_LAST))
      abort();
    for (size_t i = 0; i < sizeof(digest); i++)
      if (digest[i] != 0xa5)
        abort();
  }
  secbuf_free(secret);
  secbuf_free(secret2);
  free(text);
  return 0;
}
