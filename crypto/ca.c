/* The cluster CA: root creation, node certificate issuance, CSRs and proof of
 * possession. Contracts in ca.h. */
#include "crypto/ca.h"

#include <errno.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "crypto/internal.h"

#define ROOT_CN "secretd root CA"
#define POP_CONTEXT "secretd proof of possession v1"

struct ca {
  X509 *cert;
  EVP_PKEY *key;
  enum ca_key_type type;
  char cluster_id[CA_ID_LEN + 1];
};

DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_REQ *, X509_REQ_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY_CTX *, EVP_PKEY_CTX_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE *, X509_STORE_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE_CTX *, X509_STORE_CTX_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_INTEGER *, ASN1_INTEGER_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_EXTENSION *, X509_EXTENSION_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAMES *, GENERAL_NAMES_free)

/* Translate a failure: drop OpenSSL's queue (it may name inputs) and return r. */
static int ossl_fail(int r) {
  ERR_clear_error();
  return r;
}

const char *ca_strerror(int r) {
  switch (r) {
  case CA_E_CSR_PARSE: return "certificate request is not valid DER PKCS#10";
  case CA_E_CSR_SIGNATURE: return "certificate request signature does not verify";
  case CA_E_KEY_TYPE: return "key type not allowed (only ECDSA P-256 and Ed25519)";
  case CA_E_CERT_PARSE: return "certificate is not valid DER X.509";
  case CA_E_VERIFY: return "certificate does not verify against the cluster root";
  case CA_E_FIELDS: return "certificate is not a node certificate of this cluster";
  case CA_E_POP: return "proof of possession of the previous key does not verify";
  case CA_E_KEY_MISMATCH: return "CA private key does not match its certificate";
  case CA_E_OPENSSL: return "unexpected failure inside OpenSSL";
  case -ERANGE: return "certificate lifetime outside 1 hour to 90 days";
  case -EMSGSIZE: return "certificate request too large";
  default: return sd_strerror(r);
  }
}

/* --- ids --- */

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

int ca_new_id(char out[CA_ID_LEN + 1]) {
  uint8_t raw[16];
  if (sd_crypto_init() < 0)
    return -EIO;
  randombytes_buf(raw, sizeof(raw));
  unsigned acc = 0, bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < sizeof(raw); i++) {
    acc = (acc << 8) | raw[i];
    bits += 8;
    while (bits >= 5) {
      out[o++] = b32[(acc >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  out[o++] = b32[(acc << (5 - bits)) & 31]; /* 128 = 25*5 + 3: one last digit */
  out[o] = '\0';
  sodium_memzero(raw, sizeof(raw));
  return 0;
}

int ca_id_valid(const char *s) {
  if (!s)
    return 0;
  size_t n = strnlen(s, CA_ID_LEN + 1);
  if (n != CA_ID_LEN)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '2' && s[i] <= '7')))
      return 0;
  return 1;
}

const char *ca_role_name(enum ca_role role) {
  switch (role) {
  case CA_ROLE_WORKER: return "worker";
  case CA_ROLE_MANAGER: return "manager";
  }
  return NULL;
}

static int role_from_name(const char *s, enum ca_role *ret) {
  if (strcmp(s, "worker") == 0)
    *ret = CA_ROLE_WORKER;
  else if (strcmp(s, "manager") == 0)
    *ret = CA_ROLE_MANAGER;
  else
    return -EINVAL;
  return 0;
}

/* --- keys --- */

static int keygen(enum ca_key_type type, EVP_PKEY **ret) {
  EVP_PKEY *k = NULL;
  if (type == CA_KEY_P256)
    k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  else if (type == CA_KEY_ED25519)
    k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  else
    return -EINVAL;
  if (!k)
    return ossl_fail(CA_E_OPENSSL);
  *ret = k;
  return 0;
}

/* The allowed key types: Ed25519, or EC on P-256 with a valid public point. */
static int key_type_of(EVP_PKEY *k, enum ca_key_type *ret) {
  enum ca_key_type t;
  if (EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519) {
    t = CA_KEY_ED25519;
  } else if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC) {
    char group[64];
    size_t glen = 0;
    if (EVP_PKEY_get_group_name(k, group, sizeof(group), &glen) != 1 ||
        strcmp(group, SN_X9_62_prime256v1) != 0)
      return ossl_fail(CA_E_KEY_TYPE);
    t = CA_KEY_P256;
  } else {
    return ossl_fail(CA_E_KEY_TYPE);
  }
  /* On curve and not the point at infinity. P-256 has cofactor 1, so that is
   * also subgroup membership: the full check (a scalar multiplication by the
   * order, 8x the cost) adds nothing. Ed25519 keys have no invalid encodings
   * that matter for signature verification here. */
  _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
  if (!c)
    return ossl_fail(-ENOMEM);
  if (EVP_PKEY_public_check_quick(c) != 1)
    return ossl_fail(CA_E_KEY_TYPE);
  *ret = t;
  return 0;
}

/* The digest to sign with: SHA-256 for ECDSA, none (pure) for Ed25519. */
static const EVP_MD *sig_md(enum ca_key_type t) { return t == CA_KEY_P256 ? EVP_sha256() : NULL; }

static int key_to_secbuf(EVP_PKEY *k, struct secbuf **ret) {
  int n = i2d_PrivateKey(k, NULL);
  if (n <= 0)
    return ossl_fail(CA_E_OPENSSL);
  _cleanup_(secbuf_freep) struct secbuf *b = NULL;
  int r = secbuf_new((size_t)n, &b);
  if (r < 0)
    return r;
  unsigned char *p = secbuf_data(b);
  if (i2d_PrivateKey(k, &p) != n)
    return ossl_fail(CA_E_OPENSSL);
  *ret = TAKE_PTR(b);
  return 0;
}

static int key_from_secbuf(const struct secbuf *b, EVP_PKEY **ret) {
  if (!b || secbuf_len(b) == 0 || secbuf_len(b) > 8192)
    return -EINVAL;
  const unsigned char *p = secbuf_cdata(b);
  EVP_PKEY *k = d2i_AutoPrivateKey(NULL, &p, (long)secbuf_len(b));
  if (!k)
    return ossl_fail(CA_E_KEY_TYPE);
  if (p != secbuf_cdata(b) + secbuf_len(b)) {
    EVP_PKEY_free(k);
    return ossl_fail(CA_E_KEY_TYPE);
  }
  *ret = k;
  return 0;
}

/* --- certificate building blocks --- */

static int random_serial(X509 *x, uint8_t out[CA_SERIAL_LEN]) {
  uint8_t s[CA_SERIAL_LEN];
  randombytes_buf(s, sizeof(s));
  s[0] = (s[0] & 0x7f) | 0x40; /* positive, and a fixed DER length */
  _cleanup_(BN_freep) BIGNUM *bn = BN_bin2bn(s, sizeof(s), NULL);
  if (!bn)
    return ossl_fail(-ENOMEM);
  _cleanup_(ASN1_INTEGER_freep) ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
  if (!ai || X509_set_serialNumber(x, ai) != 1)
    return ossl_fail(-ENOMEM);
  if (out)
    memcpy(out, s, sizeof(s));
  return 0;
}

static int add_entry(X509_NAME *n, int nid, const char *v) {
  return X509_NAME_add_entry_by_NID(n, nid, MBSTRING_UTF8, (const unsigned char *)v, -1, -1, 0) ==
                 1
             ? 0
             : ossl_fail(-ENOMEM);
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
  _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if (!e || X509_add_ext(x, e, -1) != 1)
    return ossl_fail(CA_E_OPENSSL);
  return 0;
}

static int set_validity(X509 *x, long seconds_from_now) {
  if (!X509_gmtime_adj(X509_getm_notBefore(x), -CA_SKEW_SECONDS) ||
      !X509_gmtime_adj(X509_getm_notAfter(x), seconds_from_now))
    return ossl_fail(CA_E_OPENSSL);
  return 0;
}

static int to_der(X509 *x, uint8_t **ret, size_t *ret_len) {
  unsigned char *der = NULL;
  int n = i2d_X509(x, &der);
  if (n <= 0)
    return ossl_fail(-ENOMEM);
  uint8_t *out = malloc((size_t)n);
  if (!out) {
    OPENSSL_free(der);
    return -ENOMEM;
  }
  memcpy(out, der, (size_t)n);
  OPENSSL_free(der);
  *ret = out;
  *ret_len = (size_t)n;
  return 0;
}

/* Strict DER: parse and require that every byte was consumed. */
static int parse_cert(const uint8_t *der, size_t len, X509 **ret) {
  if (!der || len == 0 || len > 65536)
    return CA_E_CERT_PARSE;
  const unsigned char *p = der;
  X509 *x = d2i_X509(NULL, &p, (long)len);
  if (!x)
    return ossl_fail(CA_E_CERT_PARSE);
  if (p != der + len) {
    X509_free(x);
    return ossl_fail(CA_E_CERT_PARSE);
  }
  *ret = x;
  return 0;
}

/* The single UTF-8 value of nid in name into out; CA_E_FIELDS when absent,
 * repeated or too long. */
static int name_value(const X509_NAME *name, int nid, char *out, size_t outlen) {
  int i = X509_NAME_get_index_by_NID(name, nid, -1);
  if (i < 0 || X509_NAME_get_index_by_NID(name, nid, i) >= 0)
    return CA_E_FIELDS;
  const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  int n = ASN1_STRING_length(s);
  if (n <= 0 || (size_t)n >= outlen || memchr(ASN1_STRING_get0_data(s), 0, (size_t)n))
    return CA_E_FIELDS;
  memcpy(out, ASN1_STRING_get0_data(s), (size_t)n);
  out[n] = '\0';
  return 0;
}

/* --- the root --- */

int ca_create(enum ca_key_type type, struct ca **ret) {
  if (type != CA_KEY_P256 && type != CA_KEY_ED25519)
    return -EINVAL;
  _cleanup_(ca_freep) struct ca *ca = calloc(1, sizeof(*ca));
  if (!ca)
    return -ENOMEM;
  ca->type = type;
  int r = ca_new_id(ca->cluster_id);
  if (r < 0)
    return r;
  if ((r = keygen(type, &ca->key)) < 0)
    return r;
  if (!(ca->cert = X509_new()))
    return ossl_fail(-ENOMEM);
  X509 *x = ca->cert;
  if (X509_set_version(x, X509_VERSION_3) != 1)
    return ossl_fail(CA_E_OPENSSL);
  if ((r = random_serial(x, NULL)) < 0)
    return r;
  X509_NAME *n = X509_get_subject_name(x);
  if ((r = add_entry(n, NID_organizationName, ca->cluster_id)) < 0 ||
      (r = add_entry(n, NID_commonName, ROOT_CN)) < 0)
    return r;
  if (X509_set_issuer_name(x, n) != 1 || X509_set_pubkey(x, ca->key) != 1)
    return ossl_fail(-ENOMEM);
  if ((r = set_validity(x, (long)CA_ROOT_LIFETIME_DAYS * 24 * 60 * 60)) < 0)
    return r;
  if ((r = add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0")) < 0 ||
      (r = add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign")) < 0 ||
      (r = add_ext(x, x, NID_subject_key_identifier, "hash")) < 0)
    return r;
  if (X509_sign(x, ca->key, sig_md(type)) <= 0)
    return ossl_fail(CA_E_OPENSSL);
  *ret = TAKE_PTR(ca);
  return 0;
}

int ca_load(const uint8_t *cert_der, size_t cert_len, const struct secbuf *key_der,
            struct ca **ret) {
  if (!cert_der || !key_der || !ret)
    return -EINVAL;
  _cleanup_(ca_freep) struct ca *ca = calloc(1, sizeof(*ca));
  if (!ca)
    return -ENOMEM;
  int r = parse_cert(cert_der, cert_len, &ca->cert);
  if (r < 0)
    return r;
  if (X509_check_ca(ca->cert) != 1 ||
      name_value(X509_get_subject_name(ca->cert), NID_organizationName, ca->cluster_id,
                 sizeof(ca->cluster_id)) < 0 ||
      !ca_id_valid(ca->cluster_id))
    return ossl_fail(CA_E_FIELDS);
  if ((r = key_from_secbuf(key_der, &ca->key)) < 0)
    return r == -EINVAL ? CA_E_KEY_TYPE : r;
  if ((r = key_type_of(ca->key, &ca->type)) < 0)
    return r;
  if (X509_check_private_key(ca->cert, ca->key) != 1)
    return ossl_fail(CA_E_KEY_MISMATCH);
  *ret = TAKE_PTR(ca);
  return 0;
}

void ca_free(struct ca *ca) {
  if (!ca)
    return;
  X509_free(ca->cert);
  EVP_PKEY_free(ca->key);
  free(ca);
}

const char *ca_cluster_id(const struct ca *ca) { return ca->cluster_id; }
enum ca_key_type ca_key_type(const struct ca *ca) { return ca->type; }

int ca_cert_der(const struct ca *ca, uint8_t **ret_der, size_t *ret_len) {
  return to_der(ca->cert, ret_der, ret_len);
}

int ca_key_der(const struct ca *ca, struct secbuf **ret) { return key_to_secbuf(ca->key, ret); }

/* --- CSRs --- */

/* Copy the SubjectPublicKeyInfo of req into x as it is (algorithm, parameters,
 * key bits). X509_set_pubkey() would re-encode the key through OpenSSL 3's
 * encoder machinery, which costs more than the signature itself. */
static int copy_spki(X509_REQ *req, X509 *x) {
  ASN1_OBJECT *alg;
  const unsigned char *bits;
  int nbits, ptype;
  X509_ALGOR *pa;
  const void *pval;
  const ASN1_OBJECT *palg;
  if (X509_PUBKEY_get0_param(&alg, &bits, &nbits, &pa, X509_REQ_get_X509_PUBKEY(req)) != 1 ||
      nbits <= 0)
    return ossl_fail(CA_E_KEY_TYPE);
  X509_ALGOR_get0(&palg, &ptype, &pval, pa);
  void *param = NULL;
  if (ptype == V_ASN1_OBJECT) {
    if (!(param = OBJ_dup(pval)))
      return ossl_fail(-ENOMEM);
  } else if (ptype != V_ASN1_UNDEF) {
    return ossl_fail(CA_E_KEY_TYPE); /* P-256 names its curve; Ed25519 has none */
  }
  ASN1_OBJECT *algc = OBJ_dup(alg);
  unsigned char *bitsc = OPENSSL_memdup(bits, (size_t)nbits);
  if (!algc || !bitsc ||
      X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), algc, ptype, param, bitsc, nbits) != 1) {
    ASN1_OBJECT_free(algc);
    ASN1_OBJECT_free(param);
    OPENSSL_free(bitsc);
    return ossl_fail(-ENOMEM);
  }
  return 0;
}

/* Size cap, strict DER, allowed key, self-signature: in that order. On
 * success *ret_req owns the parsed request. */
static int csr_accept(const uint8_t *der, size_t len, X509_REQ **ret_req) {
  if (!der || len == 0)
    return CA_E_CSR_PARSE;
  if (len > CA_CSR_MAX)
    return -EMSGSIZE;
  const unsigned char *p = der;
  _cleanup_(X509_REQ_freep) X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
  if (!req || p != der + len)
    return ossl_fail(CA_E_CSR_PARSE);
  EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
  if (!pub)
    return ossl_fail(CA_E_KEY_TYPE);
  enum ca_key_type t;
  int r = key_type_of(pub, &t);
  if (r < 0)
    return r;
  if (X509_REQ_verify(req, pub) != 1)
    return ossl_fail(CA_E_CSR_SIGNATURE);
  *ret_req = TAKE_PTR(req);
  return 0;
}

int ca_issue(struct ca *ca, const uint8_t *csr_der, size_t csr_len, const char *node_id,
             enum ca_role role, uint32_t lifetime_s, uint8_t **ret_der, size_t *ret_len,
             uint8_t ret_serial[CA_SERIAL_LEN], time_t *ret_not_after) {
  if (!ca || !ret_der || !ret_len || !ca_id_valid(node_id) || !ca_role_name(role))
    return -EINVAL;
  if (lifetime_s < CA_LIFETIME_MIN || lifetime_s > CA_LIFETIME_MAX)
    return -ERANGE;
  _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
  int r = csr_accept(csr_der, csr_len, &req);
  if (r < 0)
    return r;

  _cleanup_(X509_freep) X509 *x = X509_new();
  if (!x)
    return ossl_fail(-ENOMEM);
  uint8_t serial[CA_SERIAL_LEN];
  if (X509_set_version(x, X509_VERSION_3) != 1)
    return ossl_fail(CA_E_OPENSSL);
  if ((r = random_serial(x, serial)) < 0)
    return r;
  X509_NAME *n = X509_get_subject_name(x);
  if ((r = add_entry(n, NID_organizationName, ca->cluster_id)) < 0 ||
      (r = add_entry(n, NID_organizationalUnitName, ca_role_name(role))) < 0 ||
      (r = add_entry(n, NID_commonName, node_id)) < 0)
    return r;
  if (X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) != 1)
    return ossl_fail(-ENOMEM);
  if ((r = copy_spki(req, x)) < 0)
    return r;
  time_t now = time(NULL);
  if ((r = set_validity(x, (long)lifetime_s)) < 0)
    return r;
  char san[sizeof("URI:spiffe:///node/") + 2 * CA_ID_LEN];
  snprintf(san, sizeof(san), "URI:spiffe://%s/node/%s", ca->cluster_id, node_id);
  if ((r = add_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE")) < 0 ||
      (r = add_ext(x, ca->cert, NID_key_usage, "critical,digitalSignature")) < 0 ||
      (r = add_ext(x, ca->cert, NID_ext_key_usage,
                   role == CA_ROLE_MANAGER ? "clientAuth,serverAuth" : "clientAuth")) < 0 ||
      (r = add_ext(x, ca->cert, NID_subject_alt_name, san)) < 0 ||
      (r = add_ext(x, ca->cert, NID_subject_key_identifier, "hash")) < 0 ||
      (r = add_ext(x, ca->cert, NID_authority_key_identifier, "keyid:always")) < 0)
    return r;
  if (X509_sign(x, ca->key, sig_md(ca->type)) <= 0)
    return ossl_fail(CA_E_OPENSSL);
  if ((r = to_der(x, ret_der, ret_len)) < 0)
    return r;
  if (ret_serial)
    memcpy(ret_serial, serial, sizeof(serial));
  if (ret_not_after)
    *ret_not_after = now + (time_t)lifetime_s;
  return 0;
}

/* --- verification --- */

static int check_node_fields(const struct ca *ca, X509 *x, struct ca_node_info *info) {
  const X509_NAME *n = X509_get_subject_name(x);
  char o[CA_ID_LEN + 2], ou[16];
  if (name_value(n, NID_organizationName, o, sizeof(o)) < 0 || strcmp(o, ca->cluster_id) != 0 ||
      name_value(n, NID_organizationalUnitName, ou, sizeof(ou)) < 0 ||
      role_from_name(ou, &info->role) < 0 ||
      name_value(n, NID_commonName, info->node_id, sizeof(info->node_id)) < 0 ||
      !ca_id_valid(info->node_id))
    return CA_E_FIELDS;
  if (X509_check_ca(x) != 0)
    return CA_E_FIELDS;
  /* Exactly one SAN, the SPIFFE URI of this node. */
  char want[sizeof("spiffe:///node/") + 2 * CA_ID_LEN];
  snprintf(want, sizeof(want), "spiffe://%s/node/%s", ca->cluster_id, info->node_id);
  _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *sans =
      X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  if (!sans || sk_GENERAL_NAME_num(sans) != 1)
    return CA_E_FIELDS;
  const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, 0);
  if (g->type != GEN_URI || ASN1_STRING_length(g->d.uniformResourceIdentifier) != (int)strlen(want) ||
      memcmp(ASN1_STRING_get0_data(g->d.uniformResourceIdentifier), want, strlen(want)) != 0)
    return CA_E_FIELDS;
  /* The serial, as issued: CA_SERIAL_LEN bytes. */
  _cleanup_(BN_freep) BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
  if (!bn || BN_num_bytes(bn) != CA_SERIAL_LEN || BN_bn2bin(bn, info->serial) != CA_SERIAL_LEN)
    return CA_E_FIELDS;
  int days, secs;
  if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)) != 1)
    return CA_E_FIELDS;
  info->not_after = time(NULL) + (time_t)days * 86400 + secs;
  return 0;
}

static int verify_x509(const struct ca *ca, X509 *x, int check_time) {
  _cleanup_(X509_STORE_freep) X509_STORE *st = X509_STORE_new();
  _cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *c = X509_STORE_CTX_new();
  if (!st || !c || X509_STORE_add_cert(st, ca->cert) != 1)
    return ossl_fail(-ENOMEM);
  if (X509_STORE_CTX_init(c, st, x, NULL) != 1)
    return ossl_fail(-ENOMEM);
  unsigned long flags = X509_V_FLAG_X509_STRICT;
  if (!check_time)
    flags |= X509_V_FLAG_NO_CHECK_TIME;
  X509_STORE_CTX_set_flags(c, flags);
  if (X509_verify_cert(c) != 1)
    return ossl_fail(CA_E_VERIFY);
  return 0;
}

static int verify_node(const struct ca *ca, X509 *x, int check_time, struct ca_node_info *ret) {
  struct ca_node_info info = {0};
  int r = verify_x509(ca, x, check_time);
  if (r < 0)
    return r;
  if ((r = check_node_fields(ca, x, &info)) < 0)
    return ossl_fail(r);
  if (ret)
    *ret = info;
  return 0;
}

int ca_verify_node_cert(const struct ca *ca, const uint8_t *der, size_t len, int check_time,
                        struct ca_node_info *ret) {
  if (!ca)
    return -EINVAL;
  _cleanup_(X509_freep) X509 *x = NULL;
  int r = parse_cert(der, len, &x);
  if (r < 0)
    return r;
  return verify_node(ca, x, check_time, ret);
}

/* --- agent side --- */

int ca_node_key_new(enum ca_key_type type, struct secbuf **ret_key_der) {
  _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
  int r = keygen(type, &k);
  if (r < 0)
    return r;
  return key_to_secbuf(k, ret_key_der);
}

int ca_csr_new(const struct secbuf *key_der, uint8_t **ret_csr, size_t *ret_len) {
  _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
  enum ca_key_type t;
  int r = key_from_secbuf(key_der, &k);
  if (r < 0)
    return r == -EINVAL ? CA_E_KEY_TYPE : r;
  if ((r = key_type_of(k, &t)) < 0)
    return r;
  _cleanup_(X509_REQ_freep) X509_REQ *req = X509_REQ_new();
  if (!req)
    return ossl_fail(-ENOMEM);
  if (X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 || X509_REQ_set_pubkey(req, k) != 1)
    return ossl_fail(CA_E_OPENSSL);
  if (X509_REQ_sign(req, k, sig_md(t)) <= 0)
    return ossl_fail(CA_E_OPENSSL);
  unsigned char *der = NULL;
  int n = i2d_X509_REQ(req, &der);
  if (n <= 0)
    return ossl_fail(-ENOMEM);
  uint8_t *out = malloc((size_t)n);
  if (!out) {
    OPENSSL_free(der);
    return -ENOMEM;
  }
  memcpy(out, der, (size_t)n);
  OPENSSL_free(der);
  *ret_csr = out;
  *ret_len = (size_t)n;
  return 0;
}

/* context || NUL || csr, in a malloc()ed buffer (public data). */
static uint8_t *pop_message(const uint8_t *csr, size_t csr_len, size_t *ret_len) {
  size_t n = sizeof(POP_CONTEXT) + csr_len;
  uint8_t *m = malloc(n);
  if (!m)
    return NULL;
  memcpy(m, POP_CONTEXT, sizeof(POP_CONTEXT));
  memcpy(m + sizeof(POP_CONTEXT), csr, csr_len);
  *ret_len = n;
  return m;
}

int ca_pop_sign(const struct secbuf *old_key_der, const uint8_t *csr_der, size_t csr_len,
                uint8_t **ret_sig, size_t *ret_len) {
  if (!csr_der || csr_len == 0 || !ret_sig || !ret_len)
    return -EINVAL;
  if (csr_len > CA_CSR_MAX)
    return -EMSGSIZE;
  _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
  enum ca_key_type t;
  int r = key_from_secbuf(old_key_der, &k);
  if (r < 0)
    return r == -EINVAL ? CA_E_KEY_TYPE : r;
  if ((r = key_type_of(k, &t)) < 0)
    return r;
  size_t mlen;
  _cleanup_free_ uint8_t *m = pop_message(csr_der, csr_len, &mlen);
  _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *c = EVP_MD_CTX_new();
  if (!m || !c)
    return ossl_fail(-ENOMEM);
  size_t siglen = 0;
  if (EVP_DigestSignInit(c, NULL, sig_md(t), NULL, k) != 1 ||
      EVP_DigestSign(c, NULL, &siglen, m, mlen) != 1)
    return ossl_fail(CA_E_OPENSSL);
  _cleanup_free_ uint8_t *sig = malloc(siglen);
  if (!sig)
    return -ENOMEM;
  if (EVP_DigestSign(c, sig, &siglen, m, mlen) != 1)
    return ossl_fail(CA_E_OPENSSL);
  *ret_sig = TAKE_PTR(sig);
  *ret_len = siglen;
  return 0;
}

int ca_pop_verify(const struct ca *ca, const uint8_t *old_cert_der, size_t old_len,
                  const uint8_t *csr_der, size_t csr_len, const uint8_t *sig, size_t sig_len,
                  struct ca_node_info *ret) {
  if (!ca || !csr_der || csr_len == 0)
    return -EINVAL;
  if (csr_len > CA_CSR_MAX)
    return -EMSGSIZE;
  if (!sig || sig_len == 0 || sig_len > 512)
    return CA_E_POP;
  _cleanup_(X509_freep) X509 *x = NULL;
  struct ca_node_info info;
  int r = parse_cert(old_cert_der, old_len, &x);
  if (r < 0)
    return r;
  if ((r = verify_node(ca, x, 0, &info)) < 0)
    return r;
  EVP_PKEY *pub = X509_get0_pubkey(x);
  enum ca_key_type t;
  if (!pub || key_type_of(pub, &t) < 0)
    return ossl_fail(CA_E_FIELDS);
  size_t mlen;
  _cleanup_free_ uint8_t *m = pop_message(csr_der, csr_len, &mlen);
  _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *c = EVP_MD_CTX_new();
  if (!m || !c)
    return ossl_fail(-ENOMEM);
  if (EVP_DigestVerifyInit(c, NULL, sig_md(t), NULL, pub) != 1)
    return ossl_fail(CA_E_OPENSSL);
  if (EVP_DigestVerify(c, sig, sig_len, m, mlen) != 1)
    return ossl_fail(CA_E_POP);
  if (ret)
    *ret = info;
  return 0;
}
