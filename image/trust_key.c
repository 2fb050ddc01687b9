/* Signing key files: generation, parsing, opening (see trust_key.h). */
#include "image/trust_key.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "base/macro.h"
#include "base/secbuf.h"

#define KEY_TYPE "secretd-trust-secret-key"
#define PUB_TYPE "secretd-trust-public-key"
#define KDF_ALG "argon2id13"
#define AEAD_ALG "xchacha20poly1305-ietf"
#define AD_DOMAIN "secretd trust key v1"

static void json_putp(json_object **o) { json_object_put(*o); }
#define _cleanup_json_ _cleanup_(json_putp)

int trust_kdf_named(const char *name, struct trust_kdf *ret) {
  if (!strcmp(name, "sensitive"))
    *ret = (struct trust_kdf){crypto_pwhash_OPSLIMIT_SENSITIVE, crypto_pwhash_MEMLIMIT_SENSITIVE};
  else if (!strcmp(name, "moderate"))
    *ret = (struct trust_kdf){crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
  else if (!strcmp(name, "interactive"))
    *ret = (struct trust_kdf){crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
  else if (!strcmp(name, "min"))
    *ret = (struct trust_kdf){1, TRUST_KDF_MIN_MEM};
  else
    return -EINVAL;
  return 0;
}

static bool kdf_in_bounds(const struct trust_kdf *k) {
  return k->opslimit >= 1 && k->opslimit <= TRUST_KDF_MAX_OPS && k->memlimit >= TRUST_KDF_MIN_MEM &&
         k->memlimit <= TRUST_KDF_MAX_MEM;
}

/* The associated data: domain, key id, public key, costs (little endian). */
static void make_ad(const char *keyid, const uint8_t pk[32], const struct trust_kdf *k,
                    uint8_t ad[sizeof AD_DOMAIN + TRUST_KEYID_LEN + 32 + 16]) {
  size_t o = 0;
  memcpy(ad, AD_DOMAIN, sizeof AD_DOMAIN), o += sizeof AD_DOMAIN;
  memcpy(ad + o, keyid, TRUST_KEYID_LEN), o += TRUST_KEYID_LEN;
  memcpy(ad + o, pk, 32), o += 32;
  for (int i = 0; i < 8; i++)
    ad[o + i] = (uint8_t)(k->opslimit >> (8 * i)), ad[o + 8 + i] = (uint8_t)(k->memlimit >> (8 * i));
}

/* Argon2id of pass into a 32-byte key in secret memory. */
static int derive(const struct secbuf *pass, const uint8_t salt[16], const struct trust_kdf *k,
                  struct secbuf **ret) {
  _cleanup_(secbuf_freep) struct secbuf *key = NULL;
  int r = secbuf_new(crypto_aead_xchacha20poly1305_ietf_KEYBYTES, &key);
  if (r < 0)
    return r;
  if (crypto_pwhash(secbuf_data(key), secbuf_len(key), (const char *)secbuf_cdata(pass),
                    secbuf_len(pass), salt, k->opslimit, (size_t)k->memlimit,
                    crypto_pwhash_ALG_ARGON2ID13) != 0)
    return -ENOMEM; /* libsodium fails only when it cannot get the memory */
  *ret = TAKE_PTR(key);
  return 0;
}

static void add_b64(json_object *o, const char *k, const void *p, size_t n) {
  char *s = trust_b64_encode(p, n);
  json_object_object_add(o, k, s ? json_object_new_string(s) : NULL);
  free(s);
}

int trust_key_generate(const struct secbuf *pass, const struct trust_kdf *kdf, char **ret_key,
                       char **ret_pub, char keyid[TRUST_KEYID_LEN + 1]) {
  if (secbuf_len(pass) == 0 || !kdf_in_bounds(kdf))
    return -EINVAL;
  _cleanup_(secbuf_freep) struct secbuf *seed = NULL, *sk = NULL, *key = NULL;
  uint8_t pk[32], salt[16], nonce[24], sealed[48];
  char id[TRUST_KEYID_LEN + 1];
  uint8_t ad[sizeof AD_DOMAIN + TRUST_KEYID_LEN + 32 + 16];
  int r;
  if ((r = secbuf_new(32, &seed)) < 0 || (r = secbuf_new(64, &sk)) < 0)
    return r;
  randombytes_buf(secbuf_data(seed), 32);
  crypto_sign_seed_keypair(pk, secbuf_data(sk), secbuf_cdata(seed));
  trust_keyid(pk, id);
  randombytes_buf(salt, sizeof salt);
  randombytes_buf(nonce, sizeof nonce);
  if ((r = derive(pass, salt, kdf, &key)) < 0)
    return r;
  make_ad(id, pk, kdf, ad);
  crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, NULL, secbuf_cdata(seed), 32, ad, sizeof ad,
                                             NULL, nonce, secbuf_cdata(key));
  _cleanup_json_ json_object *k = json_object_new_object(), *p = json_object_new_object();
  if (!k || !p)
    return -ENOMEM;
  json_object_object_add(k, "type", json_object_new_string(KEY_TYPE));
  json_object_object_add(k, "version", json_object_new_int(1));
  json_object_object_add(k, "keyid", json_object_new_string(id));
  add_b64(k, "public", pk, 32);
  json_object *kd = json_object_new_object();
  json_object_object_add(kd, "alg", json_object_new_string(KDF_ALG));
  json_object_object_add(kd, "opslimit", json_object_new_int64((int64_t)kdf->opslimit));
  json_object_object_add(kd, "memlimit", json_object_new_int64((int64_t)kdf->memlimit));
  add_b64(kd, "salt", salt, sizeof salt);
  json_object_object_add(k, "kdf", kd);
  json_object *ae = json_object_new_object();
  json_object_object_add(ae, "alg", json_object_new_string(AEAD_ALG));
  add_b64(ae, "nonce", nonce, sizeof nonce);
  json_object_object_add(k, "aead", ae);
  add_b64(k, "sealed", sealed, sizeof sealed);
  json_object_object_add(p, "type", json_object_new_string(PUB_TYPE));
  json_object_object_add(p, "keyid", json_object_new_string(id));
  add_b64(p, "public", pk, 32);
  char *kt = trust_json_text(k, true), *pt = trust_json_text(p, true);
  if (!kt || !pt) {
    free(kt), free(pt);
    return -ENOMEM;
  }
  *ret_key = kt;
  *ret_pub = pt;
  memcpy(keyid, id, sizeof id);
  return 0;
}

/* A base64 field decoding to exactly n bytes. */
static bool get_b64(json_object *o, const char *k, uint8_t *out, size_t n) {
  json_object *v = trust_json_get(o, k, json_type_string);
  uint8_t buf[64];
  if (!v || n > sizeof buf)
    return false;
  int r = trust_b64_decode(json_object_get_string(v), buf, sizeof buf);
  if (r != (int)n)
    return false;
  memcpy(out, buf, n);
  return true;
}

static bool get_str_eq(json_object *o, const char *k, const char *want) {
  json_object *v = trust_json_get(o, k, json_type_string);
  return v && !strcmp(json_object_get_string(v), want);
}

/* "keyid" and "public" of o, checked against each other. */
static int get_identity(json_object *o, uint8_t pk[32], char keyid[TRUST_KEYID_LEN + 1],
                        struct img_err *err) {
  json_object *id = trust_json_get(o, "keyid", json_type_string);
  if (!id || !trust_keyid_valid(json_object_get_string(id)))
    return img_fail(err, -EINVAL, "keyid missing or not 64 hex digits");
  if (!get_b64(o, "public", pk, 32))
    return img_fail(err, -EINVAL, "public key missing or not 32 bytes of base64");
  char want[TRUST_KEYID_LEN + 1];
  trust_keyid(pk, want);
  if (strcmp(want, json_object_get_string(id)))
    return img_fail(err, -EINVAL, "keyid does not match the public key (edited file?)");
  memcpy(keyid, want, sizeof want);
  return 0;
}

int trust_key_parse(const char *text, size_t len, struct trust_key_file *ret, struct img_err *err) {
  static const char *const top[] = {"type", "version", "keyid", "public", "kdf", "aead", "sealed", NULL};
  static const char *const kdff[] = {"alg", "opslimit", "memlimit", "salt", NULL};
  static const char *const aeadf[] = {"alg", "nonce", NULL};
  _cleanup_json_ json_object *o = NULL;
  struct trust_key_file k = {0};
  if (len > TRUST_KEY_MAX_TEXT || trust_json_parse(text, len, &o) < 0)
    return img_fail(err, -EINVAL, "not a key file (truncated or not JSON)");
  json_object *ver = trust_json_get(o, "version", json_type_int);
  if (!trust_json_only(o, top) || !get_str_eq(o, "type", KEY_TYPE) || !ver ||
      json_object_get_int64(ver) != 1)
    return img_fail(err, -EINVAL, "not a version 1 secretd signing key file");
  int r = get_identity(o, k.pk, k.keyid, err);
  if (r < 0)
    return r;
  json_object *kd = trust_json_get(o, "kdf", json_type_object);
  json_object *ae = trust_json_get(o, "aead", json_type_object);
  if (!kd || !ae || !trust_json_only(kd, kdff) || !trust_json_only(ae, aeadf) ||
      !get_str_eq(kd, "alg", KDF_ALG) || !get_str_eq(ae, "alg", AEAD_ALG))
    return img_fail(err, -EINVAL, "kdf must be %s and aead %s", KDF_ALG, AEAD_ALG);
  json_object *ops = trust_json_get(kd, "opslimit", json_type_int);
  json_object *mem = trust_json_get(kd, "memlimit", json_type_int);
  if (!ops || !mem || json_object_get_int64(ops) < 0 || json_object_get_int64(mem) < 0)
    return img_fail(err, -EINVAL, "kdf costs missing or negative");
  k.kdf.opslimit = (uint64_t)json_object_get_int64(ops);
  k.kdf.memlimit = (uint64_t)json_object_get_int64(mem);
  if (!kdf_in_bounds(&k.kdf))
    return img_fail(err, -EINVAL, "kdf costs out of bounds (opslimit 1..%d, memlimit %d..%llu bytes)",
                    TRUST_KDF_MAX_OPS, TRUST_KDF_MIN_MEM, (unsigned long long)TRUST_KDF_MAX_MEM);
  if (!get_b64(kd, "salt", k.salt, sizeof k.salt) || !get_b64(ae, "nonce", k.nonce, sizeof k.nonce) ||
      !get_b64(o, "sealed", k.sealed, sizeof k.sealed))
    return img_fail(err, -EINVAL, "salt, nonce or sealed key missing or of the wrong size");
  *ret = k;
  return 0;
}

int trust_key_open(const char *text, size_t len, const struct secbuf *pass, struct secbuf **ret_sk,
                   char keyid[TRUST_KEYID_LEN + 1], struct img_err *err) {
  struct trust_key_file k;
  int r = trust_key_parse(text, len, &k, err);
  if (r < 0)
    return r;
  _cleanup_(secbuf_freep) struct secbuf *key = NULL, *seed = NULL, *sk = NULL;
  uint8_t ad[sizeof AD_DOMAIN + TRUST_KEYID_LEN + 32 + 16], pk[32];
  if ((r = derive(pass, k.salt, &k.kdf, &key)) < 0 || (r = secbuf_new(32, &seed)) < 0 ||
      (r = secbuf_new(64, &sk)) < 0)
    return img_fail(err, r, "out of memory deriving the key (memlimit %llu bytes)",
                    (unsigned long long)k.kdf.memlimit);
  make_ad(k.keyid, k.pk, &k.kdf, ad);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(secbuf_data(seed), NULL, NULL, k.sealed,
                                                 sizeof k.sealed, ad, sizeof ad, k.nonce,
                                                 secbuf_cdata(key)) != 0)
    return img_fail(err, -EKEYREJECTED, "wrong passphrase, or the key file was edited");
  crypto_sign_seed_keypair(pk, secbuf_data(sk), secbuf_cdata(seed));
  if (sodium_memcmp(pk, k.pk, 32) != 0)
    return img_fail(err, -EKEYREJECTED, "the sealed key does not match the file's public key");
  memcpy(keyid, k.keyid, TRUST_KEYID_LEN + 1);
  *ret_sk = TAKE_PTR(sk);
  return 0;
}

int trust_pub_parse(const char *text, size_t len, uint8_t pk[32], char keyid[TRUST_KEYID_LEN + 1],
                    struct img_err *err) {
  static const char *const top[] = {"type", "keyid", "public", NULL};
  _cleanup_json_ json_object *o = NULL;
  if (len > TRUST_KEY_MAX_TEXT || trust_json_parse(text, len, &o) < 0)
    return img_fail(err, -EINVAL, "not a public key file (truncated or not JSON)");
  if (!trust_json_only(o, top) || !get_str_eq(o, "type", PUB_TYPE))
    return img_fail(err, -EINVAL, "not a secretd public key file (a .key file? give the .pub)");
  return get_identity(o, pk, keyid, err);
}
