/* Unit tests of image/trust_key.c: key files sealed with Argon2id + AEAD. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <sodium.h>

#include "base/secbuf.h"
#include "image/trust_key.h"

static struct secbuf *pass(const char *s) {
  struct secbuf *b;
  assert_int_equal(secbuf_from(s, strlen(s), &b), 0);
  return b;
}

static void gen(const char *pw, char **key, char **pub, char keyid[TRUST_KEYID_LEN + 1]) {
  struct trust_kdf k;
  assert_int_equal(trust_kdf_named("min", &k), 0);
  struct secbuf *p = pass(pw);
  assert_int_equal(trust_key_generate(p, &k, key, pub, keyid), 0);
  secbuf_free(p);
}

static int open_key(const char *text, const char *pw) {
  struct secbuf *p = pass(pw), *sk = NULL;
  char id[TRUST_KEYID_LEN + 1];
  struct img_err err = {0};
  int r = trust_key_open(text, strlen(text), p, &sk, id, &err);
  if (r == 0)
    assert_int_equal(secbuf_len(sk), 64);
  else
    assert_true(err.msg[0] != '\0');
  secbuf_free(sk);
  secbuf_free(p);
  return r;
}

static void test_generated_key_opens_with_its_passphrase_only(void **st) {
  (void)st;
  char *key, *pub, id[TRUST_KEYID_LEN + 1];
  gen("secret one", &key, &pub, id);
  assert_int_equal(open_key(key, "secret one"), 0);
  assert_int_equal(open_key(key, "secret two"), -EKEYREJECTED);
  assert_null(strstr(key, "secret one"));
  uint8_t pk[32];
  char pid[TRUST_KEYID_LEN + 1];
  struct img_err err = {0};
  assert_int_equal(trust_pub_parse(pub, strlen(pub), pk, pid, &err), 0);
  assert_string_equal(pid, id);
  /* the key signs for the public key in the .pub file */
  struct secbuf *p = pass("secret one"), *sk;
  assert_int_equal(trust_key_open(key, strlen(key), p, &sk, pid, &err), 0);
  uint8_t sig[64];
  crypto_sign_detached(sig, NULL, (const uint8_t *)"m", 1, secbuf_cdata(sk));
  assert_int_equal(crypto_sign_verify_detached(sig, (const uint8_t *)"m", 1, pk), 0);
  secbuf_free(sk), secbuf_free(p);
  /* a .key is not a .pub and a .pub not a .key */
  assert_int_equal(trust_pub_parse(key, strlen(key), pk, pid, &err), -EINVAL);
  assert_int_equal(open_key(pub, "secret one"), -EINVAL);
  free(key), free(pub);
}

/* Replace field path (a.b) of the key file with the JSON value v. */
static char *edit(const char *key, const char *obj, const char *field, json_object *v) {
  json_object *o = json_tokener_parse(key), *t = o;
  if (obj)
    json_object_object_get_ex(o, obj, &t);
  json_object_object_add(t, field, v);
  char *s = strdup(json_object_to_json_string(o));
  json_object_put(o);
  return s;
}

static void test_truncated_and_edited_files_are_refused(void **st) {
  (void)st;
  char *key, *pub, id[TRUST_KEYID_LEN + 1];
  gen("pw", &key, &pub, id);
  for (size_t n = 0; n < strlen(key) - 2; n += 37) { /* every truncation */
    char *t = strndup(key, n);
    assert_int_equal(open_key(t, "pw"), -EINVAL);
    free(t);
  }
  char *e = edit(key, "kdf", "opslimit", json_object_new_int(2)); /* costs are bound */
  assert_int_equal(open_key(e, "pw"), -EKEYREJECTED);
  free(e);
  e = edit(key, "kdf", "memlimit", json_object_new_int64((int64_t)1 << 40)); /* hostile */
  assert_int_equal(open_key(e, "pw"), -EINVAL);
  free(e);
  e = edit(key, "kdf", "opslimit", json_object_new_int(1000));
  assert_int_equal(open_key(e, "pw"), -EINVAL);
  free(e);
  e = edit(key, NULL, "keyid", json_object_new_string("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"));
  assert_int_equal(open_key(e, "pw"), -EINVAL);
  free(e);
  e = edit(key, NULL, "sealed", json_object_new_string("AAAA"));
  assert_int_equal(open_key(e, "pw"), -EINVAL);
  free(e);
  e = edit(key, NULL, "extra", json_object_new_int(1));
  assert_int_equal(open_key(e, "pw"), -EINVAL);
  free(e);
  e = edit(key, "aead", "alg", json_object_new_string("aes256gcm"));
  assert_int_equal(open_key(e, "pw"), -EINVAL);
  free(e);
  /* another key's identity over this key's sealed seed */
  char *key2, *pub2, id2[TRUST_KEYID_LEN + 1];
  gen("pw", &key2, &pub2, id2);
  json_object *k2 = json_tokener_parse(key2), *pkv, *idv;
  json_object_object_get_ex(k2, "public", &pkv);
  json_object_object_get_ex(k2, "keyid", &idv);
  char *a = edit(key, NULL, "public", json_object_get(pkv));
  char *b = edit(a, NULL, "keyid", json_object_get(idv));
  assert_int_equal(open_key(b, "pw"), -EKEYREJECTED);
  free(a), free(b), free(key2), free(pub2);
  json_object_put(k2);
  free(key), free(pub);
}

static void test_generate_refuses_empty_passphrase_and_bad_costs(void **st) {
  (void)st;
  struct trust_kdf k;
  char *key, *pub, id[TRUST_KEYID_LEN + 1];
  assert_int_equal(trust_kdf_named("cheap", &k), -EINVAL);
  assert_int_equal(trust_kdf_named("min", &k), 0);
  struct secbuf *empty;
  assert_int_equal(secbuf_new(0, &empty), 0);
  assert_int_equal(trust_key_generate(empty, &k, &key, &pub, id), -EINVAL);
  struct secbuf *p = pass("x");
  k.memlimit = TRUST_KDF_MAX_MEM + 1;
  assert_int_equal(trust_key_generate(p, &k, &key, &pub, id), -EINVAL);
  secbuf_free(p), secbuf_free(empty);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_generated_key_opens_with_its_passphrase_only),
      cmocka_unit_test(test_truncated_and_edited_files_are_refused),
      cmocka_unit_test(test_generate_refuses_empty_passphrase_and_bad_costs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
