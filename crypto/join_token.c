/* Swarm-format join tokens: generation, strict parsing, CA digest check and
 * hashed secrets. Contracts in join_token.h. */
#include "crypto/join_token.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>

#include "crypto/internal.h"

#define HASH_DOMAIN "secretd join token v1"
#define PREFIX_LEN (sizeof(JOIN_TOKEN_PREFIX) - 1)

const char *join_token_strerror(int r) {
  switch (r) {
  case JT_E_EMPTY: return "join token is empty";
  case JT_E_SPACE: return "join token contains whitespace or control characters";
  case JT_E_CASE: return "join token has letters in the wrong case (tokens are case-sensitive)";
  case JT_E_PREFIX: return "not a join token (expected the prefix SWMTKN-)";
  case JT_E_VERSION: return "unsupported join token version (expected SWMTKN-1-)";
  case JT_E_FIELDS: return "malformed join token (expected SWMTKN-1-<digest>-<secret>)";
  case JT_E_DIGEST_LEN: return "join token CA digest has the wrong length (truncated token?)";
  case JT_E_SECRET_LEN: return "join token secret has the wrong length (truncated token?)";
  case JT_E_CHAR: return "join token contains characters outside 0-9 and a-z";
  case JT_E_RANGE: return "join token field out of range";
  case JT_E_CA_MISMATCH: return "join token does not match the cluster CA (wrong cluster or impostor manager)";
  case JT_E_SECRET: return "join token secret is not valid (wrong, rotated or expired token)";
  default: return sd_strerror(r);
  }
}

/* Encode the big-endian number in[0..n) as exactly w base-36 digits, zero-
 * padded. Constant time in the value: fixed loop counts, division by a
 * constant, branch-free digit mapping. work must hold n bytes (wiped here). */
static void base36_encode(const uint8_t *in, size_t n, uint8_t *work, char *out, size_t w) {
  memcpy(work, in, n);
  for (size_t k = 0; k < w; k++) {
    unsigned rem = 0;
    for (size_t i = 0; i < n; i++) {
      unsigned cur = (rem << 8) | work[i];
      work[i] = (uint8_t)(cur / 36);
      rem = cur % 36;
    }
    int d = (int)rem;
    /* '0'+d for d < 10, 'a'+d-10 otherwise: add 39 when 9-d is negative. */
    out[w - 1 - k] = (char)('0' + d + (((9 - d) >> 8) & 39));
  }
  sodium_memzero(work, n);
}

/* Decode exactly w base-36 digits into the big-endian out[0..n). Returns 0,
 * JT_E_CHAR (a byte outside [0-9a-z]) or JT_E_RANGE (value >= 2^(8n)). Only
 * the final verdict depends on the digits, not the flow. */
static int base36_decode(const char *in, size_t w, uint8_t *out, size_t n) {
  unsigned bad = 0, over = 0;
  memset(out, 0, n);
  for (size_t k = 0; k < w; k++) {
    int c = (unsigned char)in[k];
    int d0 = c - '0', da = c - 'a';
    unsigned m0 = ~(unsigned)((d0 | (9 - d0)) >> 31) & 1u;   /* c in '0'..'9' */
    unsigned ma = ~(unsigned)((da | (25 - da)) >> 31) & 1u;  /* c in 'a'..'z' */
    unsigned digit = ((unsigned)d0 & (0u - m0)) | ((unsigned)(da + 10) & (0u - ma));
    bad |= (m0 | ma) ^ 1u;
    unsigned carry = digit & (0u - (m0 | ma));
    for (size_t i = n; i-- > 0;) {
      unsigned cur = out[i] * 36u + carry;
      out[i] = (uint8_t)cur;
      carry = cur >> 8;
    }
    over |= carry;
  }
  if (bad)
    return JT_E_CHAR;
  return over ? JT_E_RANGE : 0;
}

int join_token_ca_digest(const uint8_t *ca_der, size_t ca_len,
                         uint8_t ret[JOIN_TOKEN_DIGEST_BYTES]) {
  if (!ca_der || ca_len == 0 || !ret)
    return -EINVAL;
  if (sd_crypto_init() < 0)
    return -EIO;
  crypto_hash_sha256(ret, ca_der, ca_len);
  return 0;
}

int join_token_hash(const struct secbuf *secret, const uint8_t *key, size_t keylen,
                    uint8_t ret[JOIN_TOKEN_HASH_BYTES]) {
  if (!secret || secbuf_len(secret) != JOIN_TOKEN_SECRET_BYTES || !ret ||
      (keylen && (!key || keylen < crypto_generichash_KEYBYTES_MIN ||
                  keylen > crypto_generichash_KEYBYTES_MAX)))
    return -EINVAL;
  if (sd_crypto_init() < 0)
    return -EIO;
  crypto_generichash_state st;
  crypto_generichash_init(&st, keylen ? key : NULL, keylen, JOIN_TOKEN_HASH_BYTES);
  crypto_generichash_update(&st, (const uint8_t *)HASH_DOMAIN, sizeof(HASH_DOMAIN));
  crypto_generichash_update(&st, secbuf_cdata(secret), secbuf_len(secret));
  crypto_generichash_final(&st, ret, JOIN_TOKEN_HASH_BYTES);
  sodium_memzero(&st, sizeof(st));
  return 0;
}

int join_token_check_secret(const struct secbuf *secret, const uint8_t *key, size_t keylen,
                            const uint8_t stored[JOIN_TOKEN_HASH_BYTES]) {
  uint8_t h[JOIN_TOKEN_HASH_BYTES];
  if (!stored)
    return -EINVAL;
  int r = join_token_hash(secret, key, keylen, h);
  if (r < 0)
    return r;
  r = sodium_memcmp(h, stored, sizeof(h)) == 0 ? 0 : JT_E_SECRET;
  sodium_memzero(h, sizeof(h));
  return r;
}

int join_token_generate(const uint8_t *ca_der, size_t ca_len, const uint8_t *key, size_t keylen,
                        struct secbuf **ret_token, uint8_t ret_hash[JOIN_TOKEN_HASH_BYTES]) {
  uint8_t digest[JOIN_TOKEN_DIGEST_BYTES], work[JOIN_TOKEN_DIGEST_BYTES];
  if (!ret_token)
    return -EINVAL;
  int r = join_token_ca_digest(ca_der, ca_len, digest);
  if (r < 0)
    return r;
  _cleanup_(secbuf_freep) struct secbuf *secret = NULL, *tok = NULL;
  if ((r = secbuf_new(JOIN_TOKEN_SECRET_BYTES, &secret)) < 0 ||
      (r = secbuf_new(JOIN_TOKEN_LEN + 1, &tok)) < 0)
    return r;
  randombytes_buf(secbuf_data(secret), JOIN_TOKEN_SECRET_BYTES);
  uint8_t h[JOIN_TOKEN_HASH_BYTES];
  if (ret_hash && (r = join_token_hash(secret, key, keylen, h)) < 0)
    return r;

  char *t = (char *)secbuf_data(tok);
  memcpy(t, JOIN_TOKEN_PREFIX JOIN_TOKEN_VERSION "-", PREFIX_LEN + 2);
  char *p = t + PREFIX_LEN + 2;
  base36_encode(digest, sizeof(digest), work, p, JOIN_TOKEN_DIGEST_CHARS);
  p += JOIN_TOKEN_DIGEST_CHARS;
  *p++ = '-';
  base36_encode(secbuf_cdata(secret), JOIN_TOKEN_SECRET_BYTES, work, p, JOIN_TOKEN_SECRET_CHARS);
  p += JOIN_TOKEN_SECRET_CHARS;
  *p = '\0';
  if (ret_hash) {
    memcpy(ret_hash, h, sizeof(h));
    sodium_memzero(h, sizeof(h));
  }
  *ret_token = TAKE_PTR(tok);
  return 0;
}

int join_token_parse(const char *text, size_t len, uint8_t ret_digest[JOIN_TOKEN_DIGEST_BYTES],
                     struct secbuf **ret_secret) {
  if (!text || !ret_digest || !ret_secret)
    return -EINVAL;
  if (len == 0)
    return JT_E_EMPTY;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    if (c <= ' ' || c == 0x7f)
      return JT_E_SPACE;
  }
  if (len >= PREFIX_LEN && strncasecmp(text, JOIN_TOKEN_PREFIX, PREFIX_LEN) == 0 &&
      memcmp(text, JOIN_TOKEN_PREFIX, PREFIX_LEN) != 0)
    return JT_E_CASE;
  if (len < PREFIX_LEN || memcmp(text, JOIN_TOKEN_PREFIX, PREFIX_LEN) != 0)
    return JT_E_PREFIX;
  for (size_t i = PREFIX_LEN; i < len; i++)
    if (text[i] >= 'A' && text[i] <= 'Z')
      return JT_E_CASE;

  const char *end = text + len;
  const char *ver = text + PREFIX_LEN;
  const char *dash1 = memchr(ver, '-', (size_t)(end - ver));
  if (!dash1)
    return JT_E_FIELDS;
  if ((size_t)(dash1 - ver) != sizeof(JOIN_TOKEN_VERSION) - 1 ||
      memcmp(ver, JOIN_TOKEN_VERSION, sizeof(JOIN_TOKEN_VERSION) - 1) != 0)
    return JT_E_VERSION;
  const char *dig = dash1 + 1;
  const char *dash2 = memchr(dig, '-', (size_t)(end - dig));
  if (!dash2)
    return JT_E_FIELDS;
  const char *sec = dash2 + 1;
  if (memchr(sec, '-', (size_t)(end - sec)))
    return JT_E_FIELDS;
  if (dash2 - dig != JOIN_TOKEN_DIGEST_CHARS)
    return JT_E_DIGEST_LEN;
  if (end - sec != JOIN_TOKEN_SECRET_CHARS)
    return JT_E_SECRET_LEN;

  uint8_t digest[JOIN_TOKEN_DIGEST_BYTES];
  _cleanup_(secbuf_freep) struct secbuf *secret = NULL;
  int r = secbuf_new(JOIN_TOKEN_SECRET_BYTES, &secret);
  if (r < 0)
    return r;
  int rd = base36_decode(dig, JOIN_TOKEN_DIGEST_CHARS, digest, sizeof(digest));
  int rs = base36_decode(sec, JOIN_TOKEN_SECRET_CHARS, secbuf_data(secret),
                         JOIN_TOKEN_SECRET_BYTES);
  if (rd == JT_E_CHAR || rs == JT_E_CHAR)
    return JT_E_CHAR;
  if (rd < 0 || rs < 0)
    return JT_E_RANGE;
  memcpy(ret_digest, digest, sizeof(digest));
  *ret_secret = TAKE_PTR(secret);
  return 0;
}

int join_token_check_ca(const uint8_t digest[JOIN_TOKEN_DIGEST_BYTES], const uint8_t *ca_der,
                        size_t ca_len) {
  uint8_t want[JOIN_TOKEN_DIGEST_BYTES];
  if (!digest)
    return -EINVAL;
  int r = join_token_ca_digest(ca_der, ca_len, want);
  if (r < 0)
    return r;
  return sodium_memcmp(want, digest, sizeof(want)) == 0 ? 0 : JT_E_CA_MISMATCH;
}
