#include "crypto/envelope.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "base/error.h"
#include "crypto/internal.h"

#define AD_MAX 128
#define DK_PURPOSE "secretd/dk/v1"
#define VALUE_PURPOSE "secretd/value/v1"

_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == SD_NONCE_LEN, "nonce");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == SD_TAG_LEN, "tag");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == SD_KEY_LEN, "key");

/* ad = purpose || ctx; returns its length or -EINVAL. */
static int build_ad(uint8_t ad[AD_MAX], const char *purpose, const uint8_t *ctx, size_t ctx_len) {
  size_t plen = strlen(purpose);
  if (plen + ctx_len > AD_MAX)
    return -EINVAL;
  memcpy(ad, purpose, plen);
  if (ctx_len)
    memcpy(ad + plen, ctx, ctx_len);
  return (int)(plen + ctx_len);
}

/* ctx = id || version (big endian) */
static void id_ctx(uint8_t ctx[SD_SECRET_ID_LEN + 4], const uint8_t id[SD_SECRET_ID_LEN],
                   uint32_t version) {
  memcpy(ctx, id, SD_SECRET_ID_LEN);
  ctx[16] = (uint8_t)(version >> 24);
  ctx[17] = (uint8_t)(version >> 16);
  ctx[18] = (uint8_t)(version >> 8);
  ctx[19] = (uint8_t)version;
}

static void wrap_raw(const uint8_t *kek, const uint8_t *ad, size_t adlen, const uint8_t raw[SD_KEY_LEN],
                     uint8_t out[SD_WRAPPED_KEY_LEN]) {
  randombytes_buf(out, SD_NONCE_LEN);
  crypto_aead_xchacha20poly1305_ietf_encrypt(out + SD_NONCE_LEN, NULL, raw, SD_KEY_LEN, ad, adlen,
                                             NULL, out, kek);
}

static int unwrap_raw(const uint8_t *kek, const uint8_t *ad, size_t adlen,
                      const uint8_t in[SD_WRAPPED_KEY_LEN], uint8_t raw[SD_KEY_LEN]) {
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(raw, NULL, NULL, in + SD_NONCE_LEN,
                                                 SD_KEY_LEN + SD_TAG_LEN, ad, adlen, in, kek) != 0)
    return SD_E_DECRYPT;
  return 0;
}

int sd_key_wrap(const struct sd_key *kek, const char *purpose, const uint8_t *ctx, size_t ctx_len,
                const struct sd_key *k, uint8_t out[SD_WRAPPED_KEY_LEN]) {
  uint8_t ad[AD_MAX];
  int adlen = build_ad(ad, purpose, ctx, ctx_len);
  if (adlen < 0)
    return adlen;
  const uint8_t *kekb = sd_key_acquire(kek), *kb = sd_key_acquire(k);
  wrap_raw(kekb, ad, (size_t)adlen, kb, out);
  sd_key_release(k);
  sd_key_release(kek);
  return 0;
}

int sd_key_unwrap(const struct sd_key *kek, const char *purpose, const uint8_t *ctx,
                  size_t ctx_len, const uint8_t in[SD_WRAPPED_KEY_LEN], struct sd_key **ret) {
  uint8_t ad[AD_MAX], raw[SD_KEY_LEN];
  int adlen = build_ad(ad, purpose, ctx, ctx_len);
  if (adlen < 0)
    return adlen;
  const uint8_t *kekb = sd_key_acquire(kek);
  int r = unwrap_raw(kekb, ad, (size_t)adlen, in, raw);
  sd_key_release(kek);
  if (r == 0)
    r = sd_key_from_bytes(raw, SD_KEY_LEN, ret);
  sodium_memzero(raw, sizeof(raw));
  return r;
}

int sd_envelope_seal(const struct sd_key *master, const uint8_t id[SD_SECRET_ID_LEN],
                     uint32_t version, const struct secbuf *pt, struct sd_envelope *ret) {
  uint8_t ctx[SD_SECRET_ID_LEN + 4], ad[AD_MAX], dk[SD_KEY_LEN];
  struct sd_envelope e = {0};
  int r = sd_crypto_init();
  if (r < 0)
    return r;
  size_t len = secbuf_len(pt);
  e.ct_len = len + SD_TAG_LEN;
  e.ct = malloc(e.ct_len);
  if (!e.ct)
    return -ENOMEM;
  id_ctx(ctx, id, version);
  crypto_aead_xchacha20poly1305_ietf_keygen(dk);

  int adlen = build_ad(ad, DK_PURPOSE, ctx, sizeof(ctx));
  const uint8_t *mk = sd_key_acquire(master);
  wrap_raw(mk, ad, (size_t)adlen, dk, e.wrapped_dk);
  sd_key_release(master);

  adlen = build_ad(ad, VALUE_PURPOSE, ctx, sizeof(ctx));
  randombytes_buf(e.nonce, SD_NONCE_LEN);
  crypto_aead_xchacha20poly1305_ietf_encrypt(e.ct, NULL, secbuf_cdata(pt), len, ad, (size_t)adlen,
                                             NULL, e.nonce, dk);
  sodium_memzero(dk, sizeof(dk));
  *ret = e;
  return 0;
}

int sd_envelope_dk_unwrap(const struct sd_key *master, const uint8_t id[SD_SECRET_ID_LEN],
                          uint32_t version, const uint8_t wrapped_dk[SD_WRAPPED_KEY_LEN],
                          uint8_t dk[SD_KEY_LEN]) {
  uint8_t ctx[SD_SECRET_ID_LEN + 4], ad[AD_MAX];
  id_ctx(ctx, id, version);
  int adlen = build_ad(ad, DK_PURPOSE, ctx, sizeof(ctx));
  const uint8_t *mk = sd_key_acquire(master);
  int r = unwrap_raw(mk, ad, (size_t)adlen, wrapped_dk, dk);
  sd_key_release(master);
  return r;
}

int sd_envelope_open_dk(const uint8_t dk[SD_KEY_LEN], const uint8_t id[SD_SECRET_ID_LEN],
                        uint32_t version, const uint8_t nonce[SD_NONCE_LEN], const uint8_t *ct,
                        size_t ct_len, struct secbuf **ret) {
  uint8_t ctx[SD_SECRET_ID_LEN + 4], ad[AD_MAX];
  _cleanup_(secbuf_freep) struct secbuf *pt = NULL;
  int r;
  if (ct_len < SD_TAG_LEN)
    return -EINVAL;
  if ((r = secbuf_new(ct_len - SD_TAG_LEN, &pt)) < 0)
    return r;
  id_ctx(ctx, id, version);
  int adlen = build_ad(ad, VALUE_PURPOSE, ctx, sizeof(ctx));
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(secbuf_data(pt), NULL, NULL, ct, ct_len, ad,
                                                 (size_t)adlen, nonce, dk) != 0)
    return SD_E_DECRYPT;
  *ret = TAKE_PTR(pt);
  return 0;
}

int sd_envelope_open(const struct sd_key *master, const uint8_t id[SD_SECRET_ID_LEN],
                     uint32_t version, const uint8_t wrapped_dk[SD_WRAPPED_KEY_LEN],
                     const uint8_t nonce[SD_NONCE_LEN], const uint8_t *ct, size_t ct_len,
                     struct secbuf **ret) {
  uint8_t dk[SD_KEY_LEN];
  int r;
  if (ct_len < SD_TAG_LEN)
    return -EINVAL;
  if ((r = sd_crypto_init()) < 0)
    return r;
  if ((r = sd_envelope_dk_unwrap(master, id, version, wrapped_dk, dk)) == 0)
    r = sd_envelope_open_dk(dk, id, version, nonce, ct, ct_len, ret);
  sodium_memzero(dk, sizeof(dk));
  return r;
}

int sd_envelope_rewrap(const struct sd_key *old_master, const struct sd_key *new_master,
                       const uint8_t id[SD_SECRET_ID_LEN], uint32_t version,
                       uint8_t wrapped_dk[SD_WRAPPED_KEY_LEN]) {
  uint8_t ctx[SD_SECRET_ID_LEN + 4], ad[AD_MAX], dk[SD_KEY_LEN];
  id_ctx(ctx, id, version);
  int adlen = build_ad(ad, DK_PURPOSE, ctx, sizeof(ctx));
  const uint8_t *ok = sd_key_acquire(old_master);
  int r = unwrap_raw(ok, ad, (size_t)adlen, wrapped_dk, dk);
  sd_key_release(old_master);
  if (r == 0) {
    const uint8_t *nk = sd_key_acquire(new_master);
    wrap_raw(nk, ad, (size_t)adlen, dk, wrapped_dk);
    sd_key_release(new_master);
  }
  sodium_memzero(dk, sizeof(dk));
  return r;
}

void sd_envelope_clear(struct sd_envelope *e) {
  if (!e)
    return;
  free(e->ct);
  memset(e, 0, sizeof(*e));
}
