/* See tls_pki.h. Test support: aborts nothing, returns errors. */
#include "tls_pki.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

const char *tls_pki_path(const char *dir, const char *name, const char *ext) {
  static char bufs[8][4096];
  static unsigned next;
  char *b = bufs[next++ % 8];
  snprintf(b, sizeof(bufs[0]), "%s/%s.%s", dir, name, ext);
  return b;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
  if (!ext)
    return -EIO;
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok ? 0 : -EIO;
}

static int write_pair(const char *dir, const char *name, X509 *cert, EVP_PKEY *key) {
  FILE *f = fopen(tls_pki_path(dir, name, "pem"), "w");
  if (!f)
    return -errno;
  int ok = PEM_write_X509(f, cert);
  if (fclose(f) != 0)
    ok = 0;
  if (!ok)
    return -EIO;
  f = fopen(tls_pki_path(dir, name, "key"), "w");
  if (!f)
    return -errno;
  ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
  if (fclose(f) != 0)
    ok = 0;
  return ok ? 0 : -EIO;
}

static X509 *new_cert(const char *cn, EVP_PKEY *key, long valid_s) {
  X509 *c = X509_new();
  unsigned char serial[16];
  BIGNUM *bn = NULL;
  if (!c || RAND_bytes(serial, sizeof(serial)) != 1)
    goto fail;
  serial[0] &= 0x7f;
  bn = BN_bin2bn(serial, sizeof(serial), NULL);
  if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) || !X509_set_version(c, 2) ||
      !X509_gmtime_adj(X509_getm_notBefore(c), -60) ||
      !X509_gmtime_adj(X509_getm_notAfter(c), valid_s) || !X509_set_pubkey(c, key))
    goto fail;
  X509_NAME *n = X509_get_subject_name(c);
  if (!X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"secretd test", -1,
                                  -1, 0) ||
      !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0))
    goto fail;
  BN_free(bn);
  return c;
fail:
  BN_free(bn);
  X509_free(c);
  return NULL;
}

int tls_pki_ca(const char *dir, const char *name) {
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *c = key ? new_cert(name, key, 3650L * 86400) : NULL;
  int r = -ENOMEM;
  if (!c)
    goto out;
  r = -EIO;
  if (!X509_set_issuer_name(c, X509_get_subject_name(c)) ||
      add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:1") < 0 ||
      add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
      add_ext(c, c, NID_subject_key_identifier, "hash") < 0 ||
      !X509_sign(c, key, EVP_sha256()))
    goto out;
  r = write_pair(dir, name, c, key);
out:
  ERR_clear_error();
  X509_free(c);
  EVP_PKEY_free(key);
  return r;
}

int tls_pki_leaf(const char *dir, const char *ca, const char *name, enum tls_pki_kind kind,
                 long valid_s) {
  X509 *cac = NULL, *c = NULL;
  EVP_PKEY *cakey = NULL, *key = NULL;
  int r = -EIO;
  FILE *f = fopen(tls_pki_path(dir, ca, "pem"), "r");
  if (!f)
    return -errno;
  cac = PEM_read_X509(f, NULL, NULL, NULL);
  fclose(f);
  f = fopen(tls_pki_path(dir, ca, "key"), "r");
  if (!f) {
    r = -errno;
    goto out;
  }
  cakey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  fclose(f);
  if (!cac || !cakey)
    goto out;
  r = -ENOMEM;
  key = EVP_EC_gen("P-256");
  c = key ? new_cert(name, key, valid_s) : NULL;
  if (!c)
    goto out;
  r = -EIO;
  if (!X509_set_issuer_name(c, X509_get_subject_name(cac)) ||
      add_ext(c, cac, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
      add_ext(c, cac, NID_key_usage, "critical,digitalSignature") < 0 ||
      add_ext(c, cac, NID_ext_key_usage,
              kind == TLS_PKI_SERVER ? "serverAuth" : "clientAuth") < 0 ||
      add_ext(c, cac, NID_authority_key_identifier, "keyid:always") < 0 ||
      (kind == TLS_PKI_SERVER &&
       add_ext(c, cac, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1") < 0) ||
      !X509_sign(c, cakey, EVP_sha256()))
    goto out;
  r = write_pair(dir, name, c, key);
out:
  ERR_clear_error();
  X509_free(cac);
  X509_free(c);
  EVP_PKEY_free(cakey);
  EVP_PKEY_free(key);
  return r;
}
