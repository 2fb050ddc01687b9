/* DSSE envelopes and their pre-authentication encoding (see trust_dsse.h). */
#include "image/trust_dsse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "base/macro.h"
#include "base/secbuf.h"

static void json_putp(json_object **o) { json_object_put(*o); }
#define _cleanup_json_ _cleanup_(json_putp)

int trust_pae(const char *type, const uint8_t *body, size_t len, uint8_t **ret, size_t *ret_len) {
  size_t tl = strlen(type);
  char head[128];
  int hn = snprintf(head, sizeof head, "DSSEv1 %zu ", tl);
  char mid[32];
  int mn = snprintf(mid, sizeof mid, " %zu ", len);
  size_t n = (size_t)hn + tl + (size_t)mn + len;
  uint8_t *p = malloc(n ? n : 1);
  if (!p)
    return -ENOMEM;
  memcpy(p, head, (size_t)hn);
  memcpy(p + hn, type, tl);
  memcpy(p + hn + tl, mid, (size_t)mn);
  if (len)
    memcpy(p + hn + tl + mn, body, len);
  *ret = p;
  *ret_len = n;
  return 0;
}

int trust_dsse_decode(const char *text, size_t len, struct trust_dsse *ret, struct img_err *err) {
  static const char *const top[] = {"payloadType", "payload", "signatures", NULL};
  static const char *const sigf[] = {"keyid", "sig", NULL};
  _cleanup_json_ json_object *o = NULL;
  if (len > TRUST_DSSE_MAX_TEXT)
    return img_fail(err, -EINVAL, "envelope longer than %d bytes", TRUST_DSSE_MAX_TEXT);
  if (trust_json_parse(text, len, &o) < 0)
    return img_fail(err, -EINVAL, "envelope is not a JSON object");
  if (!trust_json_only(o, top))
    return img_fail(err, -EINVAL, "envelope has a field other than payloadType, payload, signatures");
  const char *pts = trust_json_str(o, "payloadType"), *pl = trust_json_str(o, "payload");
  json_object *sigs = trust_json_get(o, "signatures", json_type_array);
  if (!pts || !pl || !sigs)
    return img_fail(err, -EINVAL, "envelope lacks payloadType, payload or signatures (strings without NUL)");
  memset(ret, 0, sizeof *ret);
  if (!*pts || strlen(pts) >= sizeof ret->payload_type)
    return img_fail(err, -EINVAL, "envelope payloadType is empty or too long");
  strcpy(ret->payload_type, pts);
  int n = trust_b64_decode(pl, ret->payload, sizeof ret->payload);
  if (n <= 0)
    return img_fail(err, -EINVAL, "envelope payload is not base64 of 1..%d bytes", TRUST_DSSE_MAX_PAYLOAD);
  ret->payload_len = (size_t)n;
  size_t ns = json_object_array_length(sigs);
  if (ns == 0 || ns > TRUST_DSSE_MAX_SIGS)
    return img_fail(err, -EINVAL, "envelope has %zu signatures (1..%d allowed)", ns, TRUST_DSSE_MAX_SIGS);
  for (size_t i = 0; i < ns; i++) {
    json_object *s = json_object_array_get_idx(sigs, i);
    if (!json_object_is_type(s, json_type_object) || !trust_json_only(s, sigf))
      return img_fail(err, -EINVAL, "envelope signature %zu is not {keyid, sig}", i);
    const char *k = trust_json_str(s, "keyid"), *g = trust_json_str(s, "sig");
    if (!k || !g || !trust_keyid_valid(k))
      return img_fail(err, -EINVAL, "envelope signature %zu: keyid must be 64 hex digits", i);
    uint8_t sig[65];
    if (trust_b64_decode(g, sig, sizeof sig) != 64)
      return img_fail(err, -EINVAL, "envelope signature %zu: sig is not 64 bytes of base64", i);
    memcpy(ret->sigs[i].sig, sig, 64);
    strcpy(ret->sigs[i].keyid, k);
  }
  ret->n_sigs = ns;
  return 0;
}

int trust_dsse_encode(const struct trust_dsse *d, char **ret) {
  _cleanup_json_ json_object *o = json_object_new_object();
  _cleanup_free_ char *pl = trust_b64_encode(d->payload, d->payload_len);
  if (!o || !pl)
    return -ENOMEM;
  json_object_object_add(o, "payloadType", json_object_new_string(d->payload_type));
  json_object_object_add(o, "payload", json_object_new_string(pl));
  json_object *a = json_object_new_array();
  json_object_object_add(o, "signatures", a);
  for (size_t i = 0; i < d->n_sigs; i++) {
    _cleanup_free_ char *sig = trust_b64_encode(d->sigs[i].sig, 64);
    json_object *s = json_object_new_object();
    if (!sig || !s)
      return -ENOMEM;
    json_object_object_add(s, "keyid", json_object_new_string(d->sigs[i].keyid));
    json_object_object_add(s, "sig", json_object_new_string(sig));
    json_object_array_add(a, s);
  }
  char *t = trust_json_text(o, false);
  if (!t)
    return -ENOMEM;
  *ret = t;
  return 0;
}

int trust_dsse_sign(struct trust_dsse *d, const char *keyid, const struct secbuf *sk) {
  if (d->n_sigs >= TRUST_DSSE_MAX_SIGS)
    return -ENOSPC;
  if (secbuf_len(sk) != crypto_sign_SECRETKEYBYTES || !trust_keyid_valid(keyid))
    return -EINVAL;
  _cleanup_free_ uint8_t *pae = NULL;
  size_t n;
  int r = trust_pae(d->payload_type, d->payload, d->payload_len, &pae, &n);
  if (r < 0)
    return r;
  struct trust_dsse_sig *s = &d->sigs[d->n_sigs];
  crypto_sign_detached(s->sig, NULL, pae, n, secbuf_cdata(sk));
  snprintf(s->keyid, sizeof s->keyid, "%s", keyid);
  d->n_sigs++;
  return 0;
}

int trust_dsse_verify(const struct trust_dsse *d, size_t i, const uint8_t pk[32]) {
  if (i >= d->n_sigs)
    return -EBADMSG;
  _cleanup_free_ uint8_t *pae = NULL;
  size_t n;
  if (trust_pae(d->payload_type, d->payload, d->payload_len, &pae, &n) < 0)
    return -EBADMSG; /* fail closed */
  return crypto_sign_verify_detached(d->sigs[i].sig, pae, n, pk) == 0 ? 0 : -EBADMSG;
}
