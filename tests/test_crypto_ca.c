/* The cluster CA: root creation, node certificate issuance (every field parsed
 * back and checked), CSR refusals, lifetimes, foreign CAs, proof of possession. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/ca.h"
#include "base/secbuf.h"

static X509 *parse(const uint8_t *der, size_t len) {
  const unsigned char *p = der;
  X509 *x = d2i_X509(NULL, &p, (long)len);
  assert_non_null(x);
  assert_ptr_equal(p, der + len);
  return x;
}

static void name_is(X509_NAME *n, int nid, const char *want) {
  int i = X509_NAME_get_index_by_NID(n, nid, -1);
  assert_true(i >= 0);
  assert_int_equal(X509_NAME_get_index_by_NID(n, nid, i), -1); /* exactly one */
  const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
  assert_int_equal(ASN1_STRING_length(s), (int)strlen(want));
  assert_memory_equal(ASN1_STRING_get0_data(s), want, strlen(want));
}

/* Seconds from now to t (negative: in the past). */
static long secs_from_now(const ASN1_TIME *t) {
  int days, secs;
  assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, t), 1);
  return (long)days * 86400 + secs;
}

/* A CSR made with raw OpenSSL: key k signs, pub is the public key put in. */
static uint8_t *raw_csr(EVP_PKEY *pub, EVP_PKEY *signer, const EVP_MD *md, size_t *len) {
  X509_REQ *req = X509_REQ_new();
  assert_non_null(req);
  assert_int_equal(X509_REQ_set_pubkey(req, pub), 1);
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_ASC,
                             (const unsigned char *)"evil-admin", -1, -1, 0);
  assert_true(X509_REQ_sign(req, signer, md) > 0);
  unsigned char *der = NULL;
  int n = i2d_X509_REQ(req, &der);
  assert_true(n > 0);
  uint8_t *out = malloc((size_t)n);
  memcpy(out, der, (size_t)n);
  OPENSSL_free(der);
  X509_REQ_free(req);
  *len = (size_t)n;
  return out;
}

static void test_root_created_with_both_key_types(void **state) {
  enum ca_key_type types[] = {CA_KEY_P256, CA_KEY_ED25519};
  for (size_t t = 0; t < 2; t++) {
    struct ca *ca = NULL;
    assert_int_equal(ca_create(types[t], &ca), 0);
    assert_int_equal(ca_key_type(ca), types[t]);
    assert_true(ca_id_valid(ca_cluster_id(ca)));
    uint8_t *der;
    size_t len;
    assert_int_equal(ca_cert_der(ca, &der, &len), 0);
    X509 *x = parse(der, len);
    assert_int_equal(X509_get_version(x), X509_VERSION_3);
    name_is(X509_get_subject_name(x), NID_organizationName, ca_cluster_id(ca));
    name_is(X509_get_subject_name(x), NID_commonName, "secretd root CA");
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);
    assert_int_equal(X509_check_ca(x), 1);
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
    assert_non_null(bc);
    assert_true(bc->ca);
    assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 0);
    BASIC_CONSTRAINTS_free(bc);
    assert_int_equal(X509_get_key_usage(x), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    assert_int_equal(X509_get_extension_flags(x) & EXFLAG_CRITICAL, 0); /* all known */
    long nb = secs_from_now(X509_get0_notBefore(x));
    long na = secs_from_now(X509_get0_notAfter(x));
    assert_in_range(nb, -3600 - 5, -3600 + 5);
    assert_in_range(na, 3650L * 86400 - 5, 3650L * 86400 + 5);
    EVP_PKEY *pk = X509_get0_pubkey(x);
    if (types[t] == CA_KEY_ED25519) {
      assert_int_equal(EVP_PKEY_get_base_id(pk), EVP_PKEY_ED25519);
    } else {
      char g[32];
      assert_int_equal(EVP_PKEY_get_base_id(pk), EVP_PKEY_EC);
      assert_int_equal(EVP_PKEY_get_group_name(pk, g, sizeof(g), NULL), 1);
      assert_string_equal(g, "prime256v1");
    }
    assert_int_equal(X509_verify(x, pk), 1); /* self-signed */
    X509_free(x);

    /* Round trip through DER in a secbuf. */
    struct secbuf *key;
    struct ca *back = NULL;
    assert_int_equal(ca_key_der(ca, &key), 0);
    assert_int_equal(ca_load(der, len, key, &back), 0);
    assert_string_equal(ca_cluster_id(back), ca_cluster_id(ca));
    assert_int_equal(ca_key_type(back), types[t]);
    ca_free(back);
    free(der);
    secbuf_free(key);
    ca_free(ca);
  }
  struct ca *ca = NULL;
  assert_int_equal(ca_create(7, &ca), -EINVAL);
  assert_null(ca);
  ca_free(NULL);
}

static void test_load_with_foreign_key_refused(void **state) {
  struct ca *a, *b, *x = NULL;
  assert_int_equal(ca_create(CA_KEY_P256, &a), 0);
  assert_int_equal(ca_create(CA_KEY_P256, &b), 0);
  uint8_t *der;
  size_t len;
  struct secbuf *kb;
  assert_int_equal(ca_cert_der(a, &der, &len), 0);
  assert_int_equal(ca_key_der(b, &kb), 0);
  assert_int_equal(ca_load(der, len, kb, &x), CA_E_KEY_MISMATCH);
  assert_int_equal(ca_load(der, len - 1, kb, &x), CA_E_CERT_PARSE);
  assert_null(x);
  free(der);
  secbuf_free(kb);
  ca_free(a);
  ca_free(b);
}

static void test_ids_are_random_printable_128_bits(void **state) {
  char a[CA_ID_LEN + 1], b[CA_ID_LEN + 1];
  assert_int_equal(ca_new_id(a), 0);
  assert_int_equal(ca_new_id(b), 0);
  assert_int_equal(strlen(a), 26); /* 26 * 5 = 130 >= 128 bits */
  assert_true(ca_id_valid(a));
  assert_string_not_equal(a, b);
  assert_false(ca_id_valid("ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
  assert_false(ca_id_valid("abcdefghijklmnopqrstuvwxy"));
  assert_false(ca_id_valid("abcdefghijklmnopqrstuvwxyz2"));
  assert_false(ca_id_valid("abcdefghijklmnopqrstuvwxy1"));
  assert_false(ca_id_valid(NULL));
}

static void issue_and_check(enum ca_key_type ca_type, enum ca_key_type node_type,
                            enum ca_role role) {
  struct ca *ca;
  assert_int_equal(ca_create(ca_type, &ca), 0);
  struct secbuf *key;
  uint8_t *csr, *der, serial[CA_SERIAL_LEN];
  size_t csr_len, len;
  time_t not_after = 0;
  char node[CA_ID_LEN + 1];
  assert_int_equal(ca_new_id(node), 0);
  assert_int_equal(ca_node_key_new(node_type, &key), 0);
  assert_int_equal(ca_csr_new(key, &csr, &csr_len), 0);
  assert_int_equal(ca_issue(ca, csr, csr_len, node, role, 7 * 86400, &der, &len, serial,
                            &not_after),
                   0);
  time_t now = time(NULL);
  assert_in_range(not_after, now + 7 * 86400 - 5, now + 7 * 86400 + 5);

  X509 *x = parse(der, len);
  assert_int_equal(X509_get_version(x), X509_VERSION_3);
  X509_NAME *n = X509_get_subject_name(x);
  assert_int_equal(X509_NAME_entry_count(n), 3);
  name_is(n, NID_commonName, node);
  name_is(n, NID_organizationalUnitName, ca_role_name(role));
  name_is(n, NID_organizationName, ca_cluster_id(ca));
  name_is(X509_get_issuer_name(x), NID_organizationName, ca_cluster_id(ca));
  /* Serial: the 16 bytes returned, positive, at least 64 random bits. */
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
  uint8_t sb[CA_SERIAL_LEN];
  assert_int_equal(BN_num_bytes(bn), CA_SERIAL_LEN);
  assert_false(BN_is_negative(bn));
  BN_bn2bin(bn, sb);
  assert_memory_equal(sb, serial, CA_SERIAL_LEN);
  BN_free(bn);
  /* Validity. */
  assert_in_range(secs_from_now(X509_get0_notBefore(x)), -3600 - 5, -3600 + 5);
  assert_in_range(secs_from_now(X509_get0_notAfter(x)), 7 * 86400 - 5, 7 * 86400 + 5);
  /* CA:FALSE, critical. */
  int crit = -1;
  BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
  assert_non_null(bc);
  assert_false(bc->ca);
  assert_int_equal(crit, 1);
  BASIC_CONSTRAINTS_free(bc);
  assert_int_equal(X509_check_ca(x), 0);
  assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
  /* EKU: clientAuth, plus serverAuth only for a manager. */
  uint32_t xku = X509_get_extended_key_usage(x);
  assert_true(xku & XKU_SSL_CLIENT);
  assert_int_equal(!!(xku & XKU_SSL_SERVER), role == CA_ROLE_MANAGER);
  assert_int_equal(xku & ~(uint32_t)(XKU_SSL_CLIENT | XKU_SSL_SERVER), 0);
  /* Exactly one SAN: the SPIFFE URI. */
  GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  assert_non_null(sans);
  assert_int_equal(sk_GENERAL_NAME_num(sans), 1);
  GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, 0);
  assert_int_equal(g->type, GEN_URI);
  char want[128];
  snprintf(want, sizeof(want), "spiffe://%s/node/%s", ca_cluster_id(ca), node);
  assert_int_equal(ASN1_STRING_length(g->d.uniformResourceIdentifier), (int)strlen(want));
  assert_memory_equal(ASN1_STRING_get0_data(g->d.uniformResourceIdentifier), want,
                      strlen(want));
  GENERAL_NAMES_free(sans);
  /* The public key is the CSR's; nothing else came from the CSR. */
  const unsigned char *p = csr;
  X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)csr_len);
  assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), X509_REQ_get0_pubkey(req)), 1);
  X509_REQ_free(req);

  /* X509_verify_cert against the root. */
  uint8_t *root;
  size_t root_len;
  assert_int_equal(ca_cert_der(ca, &root, &root_len), 0);
  X509 *rx = parse(root, root_len);
  X509_STORE *st = X509_STORE_new();
  X509_STORE_add_cert(st, rx);
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, st, x, NULL);
  X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
  assert_int_equal(X509_verify_cert(ctx), 1);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(st);
  X509_free(rx);
  free(root);

  /* And through the module's own verifier. */
  struct ca_node_info info;
  assert_int_equal(ca_verify_node_cert(ca, der, len, 1, &info), 0);
  assert_string_equal(info.node_id, node);
  assert_int_equal(info.role, role);
  assert_memory_equal(info.serial, serial, CA_SERIAL_LEN);
  assert_in_range(info.not_after, not_after - 5, not_after + 5);

  X509_free(x);
  free(der);
  free(csr);
  secbuf_free(key);
  ca_free(ca);
}

static void test_issued_fields_p256_worker(void **state) {
  issue_and_check(CA_KEY_P256, CA_KEY_P256, CA_ROLE_WORKER);
}
static void test_issued_fields_ed25519_manager(void **state) {
  issue_and_check(CA_KEY_ED25519, CA_KEY_ED25519, CA_ROLE_MANAGER);
}
static void test_issued_fields_mixed_key_types(void **state) {
  issue_and_check(CA_KEY_P256, CA_KEY_ED25519, CA_ROLE_WORKER);
  issue_and_check(CA_KEY_ED25519, CA_KEY_P256, CA_ROLE_MANAGER);
}

/* A fixture: a CA, a node id, a valid CSR. */
struct fx {
  struct ca *ca;
  char node[CA_ID_LEN + 1];
  struct secbuf *key;
  uint8_t *csr;
  size_t csr_len;
};

static int fx_setup(void **state) {
  struct fx *f = calloc(1, sizeof(*f));
  assert_int_equal(ca_create(CA_KEY_P256, &f->ca), 0);
  assert_int_equal(ca_new_id(f->node), 0);
  assert_int_equal(ca_node_key_new(CA_KEY_P256, &f->key), 0);
  assert_int_equal(ca_csr_new(f->key, &f->csr, &f->csr_len), 0);
  *state = f;
  return 0;
}

static int fx_teardown(void **state) {
  struct fx *f = *state;
  ca_free(f->ca);
  secbuf_free(f->key);
  free(f->csr);
  free(f);
  return 0;
}

static int issue(struct fx *f, const uint8_t *csr, size_t len, uint32_t life) {
  uint8_t *der = (uint8_t *)0x1, serial[CA_SERIAL_LEN] = {0};
  size_t dlen = 77;
  int r = ca_issue(f->ca, csr, len, f->node, CA_ROLE_WORKER, life, &der, &dlen, serial, NULL);
  if (r == 0) {
    free(der);
  } else {
    assert_ptr_equal(der, (uint8_t *)0x1); /* outputs untouched on failure */
    assert_int_equal(dlen, 77);
  }
  return r;
}

static void test_csr_with_bad_self_signature_refused(void **state) {
  struct fx *f = *state;
  EVP_PKEY *a = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  EVP_PKEY *b = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  size_t len;
  uint8_t *csr = raw_csr(a, b, EVP_sha256(), &len); /* a's key, b's signature */
  assert_int_equal(issue(f, csr, len, 3600), CA_E_CSR_SIGNATURE);
  free(csr);
  /* A flipped bit inside the signature of a good CSR. */
  uint8_t *bad = malloc(f->csr_len);
  memcpy(bad, f->csr, f->csr_len);
  bad[f->csr_len - 3] ^= 0x01;
  assert_int_equal(issue(f, bad, f->csr_len, 3600), CA_E_CSR_SIGNATURE);
  free(bad);
  EVP_PKEY_free(a);
  EVP_PKEY_free(b);
}

static void test_csr_with_rsa_or_p384_key_refused(void **state) {
  struct fx *f = *state;
  EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
  EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
  EVP_PKEY *ed448 = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
  assert_non_null(ed448);
  assert_non_null(rsa);
  assert_non_null(p384);
  size_t len;
  uint8_t *csr = raw_csr(rsa, rsa, EVP_sha256(), &len);
  assert_int_equal(issue(f, csr, len, 3600), CA_E_KEY_TYPE);
  free(csr);
  csr = raw_csr(p384, p384, EVP_sha384(), &len);
  assert_int_equal(issue(f, csr, len, 3600), CA_E_KEY_TYPE);
  free(csr);
  csr = raw_csr(ed448, ed448, NULL, &len);
  assert_int_equal(issue(f, csr, len, 3600), CA_E_KEY_TYPE);
  free(csr);
  /* The agent-side helpers refuse such keys too. */
  struct secbuf *kb;
  int n = i2d_PrivateKey(p384, NULL);
  assert_int_equal(secbuf_new((size_t)n, &kb), 0);
  unsigned char *p = secbuf_data(kb);
  assert_int_equal(i2d_PrivateKey(p384, &p), n);
  uint8_t *out = NULL;
  assert_int_equal(ca_csr_new(kb, &out, &len), CA_E_KEY_TYPE);
  assert_null(out);
  secbuf_free(kb);
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(p384);
  EVP_PKEY_free(ed448);
}

static void test_csr_with_off_curve_point_refused(void **state) {
  struct fx *f = *state;
  /* The uncompressed point 04||X||Y in the SubjectPublicKeyInfo: change Y. */
  uint8_t *bad = malloc(f->csr_len);
  memcpy(bad, f->csr, f->csr_len);
  uint8_t *pt = NULL;
  for (size_t i = 0; i + 67 < f->csr_len; i++)
    if (bad[i] == 0x03 && bad[i + 1] == 0x42 && bad[i + 2] == 0x00 && bad[i + 3] == 0x04) {
      pt = bad + i + 4;
      break;
    }
  assert_non_null(pt);
  pt[63] ^= 0x01;
  int r = issue(f, bad, f->csr_len, 3600);
  assert_int_equal(r, CA_E_KEY_TYPE);
  free(bad);
}

static void test_csr_garbage_and_trailing_bytes_refused(void **state) {
  struct fx *f = *state;
  uint8_t junk[64] = {0x30, 0x03, 0x02, 0x01, 0x00};
  assert_int_equal(issue(f, junk, sizeof(junk), 3600), CA_E_CSR_PARSE);
  assert_int_equal(issue(f, junk, 0, 3600), CA_E_CSR_PARSE);
  assert_int_equal(issue(f, NULL, 10, 3600), CA_E_CSR_PARSE);
  assert_int_equal(issue(f, f->csr, f->csr_len - 1, 3600), CA_E_CSR_PARSE); /* truncated */
  uint8_t *more = calloc(1, f->csr_len + 1);
  memcpy(more, f->csr, f->csr_len);
  assert_int_equal(issue(f, more, f->csr_len + 1, 3600), CA_E_CSR_PARSE); /* trailing */
  free(more);
  assert_int_equal(issue(f, f->csr, f->csr_len, 3600), 0);
}

static void test_oversized_csr_refused_before_parsing(void **state) {
  struct fx *f = *state;
  /* A well-formed, correctly self-signed CSR that is just too big. */
  EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  X509_REQ *req = X509_REQ_new();
  X509_REQ_set_pubkey(req, k);
  char big[CA_CSR_MAX];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  assert_int_equal(X509_REQ_add1_attr_by_NID(req, NID_pkcs9_unstructuredName, MBSTRING_ASC,
                                             (const unsigned char *)big, -1),
                   1);
  assert_true(X509_REQ_sign(req, k, EVP_sha256()) > 0);
  unsigned char *der = NULL;
  int n = i2d_X509_REQ(req, &der);
  assert_true(n > CA_CSR_MAX);
  assert_int_equal(issue(f, der, (size_t)n, 3600), -EMSGSIZE);
  OPENSSL_free(der);
  X509_REQ_free(req);
  EVP_PKEY_free(k);
  /* Not parsed: an oversized buffer of garbage gets the size error, not a parse error. */
  uint8_t *junk = calloc(1, CA_CSR_MAX + 1);
  assert_int_equal(issue(f, junk, CA_CSR_MAX + 1, 3600), -EMSGSIZE);
  free(junk);
}

static void test_lifetime_out_of_range_refused(void **state) {
  struct fx *f = *state;
  assert_int_equal(issue(f, f->csr, f->csr_len, CA_LIFETIME_MIN - 1), -ERANGE);
  assert_int_equal(issue(f, f->csr, f->csr_len, CA_LIFETIME_MAX + 1), -ERANGE);
  assert_int_equal(issue(f, f->csr, f->csr_len, 0), -ERANGE);
  assert_int_equal(issue(f, f->csr, f->csr_len, UINT32_MAX), -ERANGE);
  assert_int_equal(issue(f, f->csr, f->csr_len, CA_LIFETIME_MIN), 0);
  assert_int_equal(issue(f, f->csr, f->csr_len, CA_LIFETIME_MAX), 0);
  /* Exactly the requested lifetime, not a clamped one. */
  uint8_t *der;
  size_t len;
  assert_int_equal(ca_issue(f->ca, f->csr, f->csr_len, f->node, CA_ROLE_WORKER, CA_LIFETIME_MAX,
                            &der, &len, NULL, NULL),
                   0);
  X509 *x = parse(der, len);
  assert_in_range(secs_from_now(X509_get0_notAfter(x)), CA_LIFETIME_MAX - 5, CA_LIFETIME_MAX + 5);
  X509_free(x);
  free(der);
}

static void test_bad_node_id_or_role_refused(void **state) {
  struct fx *f = *state;
  uint8_t *der;
  size_t len;
  assert_int_equal(ca_issue(f->ca, f->csr, f->csr_len, "short", CA_ROLE_WORKER, 3600, &der, &len,
                            NULL, NULL),
                   -EINVAL);
  assert_int_equal(ca_issue(f->ca, f->csr, f->csr_len, f->node, 9, 3600, &der, &len, NULL, NULL),
                   -EINVAL);
  assert_int_equal(ca_issue(f->ca, f->csr, f->csr_len, NULL, CA_ROLE_WORKER, 3600, &der, &len,
                            NULL, NULL),
                   -EINVAL);
}

static void test_serials_differ(void **state) {
  struct fx *f = *state;
  uint8_t s1[CA_SERIAL_LEN], s2[CA_SERIAL_LEN], *d1, *d2;
  size_t l1, l2;
  assert_int_equal(ca_issue(f->ca, f->csr, f->csr_len, f->node, CA_ROLE_WORKER, 3600, &d1, &l1,
                            s1, NULL),
                   0);
  assert_int_equal(ca_issue(f->ca, f->csr, f->csr_len, f->node, CA_ROLE_WORKER, 3600, &d2, &l2,
                            s2, NULL),
                   0);
  assert_memory_not_equal(s1, s2, CA_SERIAL_LEN);
  assert_int_equal(s1[0] & 0xc0, 0x40);
  free(d1);
  free(d2);
}

static void test_foreign_ca_cert_fails_verification(void **state) {
  struct fx *f = *state;
  struct ca *other;
  assert_int_equal(ca_create(CA_KEY_P256, &other), 0);
  uint8_t *der;
  size_t len;
  assert_int_equal(ca_issue(other, f->csr, f->csr_len, f->node, CA_ROLE_WORKER, 3600, &der, &len,
                            NULL, NULL),
                   0);
  struct ca_node_info info = {.role = 42};
  assert_int_equal(ca_verify_node_cert(f->ca, der, len, 1, &info), CA_E_VERIFY);
  assert_int_equal(info.role, 42); /* untouched */
  assert_int_equal(ca_verify_node_cert(other, der, len, 1, NULL), 0);
  free(der);
  /* The other CA's root itself is not a node of ours either. */
  assert_int_equal(ca_cert_der(other, &der, &len), 0);
  assert_int_equal(ca_verify_node_cert(f->ca, der, len, 1, NULL), CA_E_VERIFY);
  free(der);
  ca_free(other);
  /* Our own root is not a node certificate. */
  assert_int_equal(ca_cert_der(f->ca, &der, &len), 0);
  assert_int_equal(ca_verify_node_cert(f->ca, der, len, 1, NULL), CA_E_FIELDS);
  der[len / 2] ^= 1;
  assert_true(ca_verify_node_cert(f->ca, der, len, 1, NULL) < 0);
  free(der);
  uint8_t junk[8] = {0};
  assert_int_equal(ca_verify_node_cert(f->ca, junk, sizeof(junk), 1, NULL), CA_E_CERT_PARSE);
}

static void test_proof_of_possession(void **state) {
  struct fx *f = *state;
  uint8_t *old, *sig, *csr2;
  size_t old_len, sig_len, csr2_len;
  assert_int_equal(ca_issue(f->ca, f->csr, f->csr_len, f->node, CA_ROLE_WORKER, 3600, &old,
                            &old_len, NULL, NULL),
                   0);
  /* The returning node: a new key and CSR, signed with the old key. */
  struct secbuf *k2;
  assert_int_equal(ca_node_key_new(CA_KEY_ED25519, &k2), 0);
  assert_int_equal(ca_csr_new(k2, &csr2, &csr2_len), 0);
  assert_int_equal(ca_pop_sign(f->key, csr2, csr2_len, &sig, &sig_len), 0);
  struct ca_node_info info;
  assert_int_equal(ca_pop_verify(f->ca, old, old_len, csr2, csr2_len, sig, sig_len, &info), 0);
  assert_string_equal(info.node_id, f->node);
  assert_int_equal(info.role, CA_ROLE_WORKER);

  /* Signed by another key (a token holder without the old key). */
  uint8_t *sig2;
  size_t sig2_len;
  assert_int_equal(ca_pop_sign(k2, csr2, csr2_len, &sig2, &sig2_len), 0);
  assert_int_equal(ca_pop_verify(f->ca, old, old_len, csr2, csr2_len, sig2, sig2_len, NULL),
                   CA_E_POP);
  free(sig2);
  /* Over another CSR (replay of a proof for a different request). */
  assert_int_equal(ca_pop_verify(f->ca, old, old_len, f->csr, f->csr_len, sig, sig_len, NULL),
                   CA_E_POP);
  /* Tampered signature. */
  sig[sig_len / 2] ^= 0x10;
  assert_int_equal(ca_pop_verify(f->ca, old, old_len, csr2, csr2_len, sig, sig_len, NULL),
                   CA_E_POP);
  sig[sig_len / 2] ^= 0x10;
  assert_int_equal(ca_pop_verify(f->ca, old, old_len, csr2, csr2_len, sig, 0, NULL), CA_E_POP);
  /* An "old certificate" from a foreign CA proves nothing. */
  struct ca *other;
  uint8_t *fold;
  size_t fold_len;
  assert_int_equal(ca_create(CA_KEY_P256, &other), 0);
  assert_int_equal(ca_issue(other, f->csr, f->csr_len, f->node, CA_ROLE_WORKER, 3600, &fold,
                            &fold_len, NULL, NULL),
                   0);
  assert_int_equal(ca_pop_verify(f->ca, fold, fold_len, csr2, csr2_len, sig, sig_len, NULL),
                   CA_E_VERIFY);
  free(fold);
  ca_free(other);
  /* A plain signature over the CSR without the context is not a proof. */
  EVP_PKEY *k = NULL;
  const unsigned char *p = secbuf_cdata(f->key);
  k = d2i_AutoPrivateKey(NULL, &p, (long)secbuf_len(f->key));
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  uint8_t raw[256];
  size_t raw_len = sizeof(raw);
  assert_int_equal(EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, k), 1);
  assert_int_equal(EVP_DigestSign(c, raw, &raw_len, csr2, csr2_len), 1);
  assert_int_equal(ca_pop_verify(f->ca, old, old_len, csr2, csr2_len, raw, raw_len, NULL),
                   CA_E_POP);
  EVP_MD_CTX_free(c);
  EVP_PKEY_free(k);

  free(sig);
  free(csr2);
  free(old);
  secbuf_free(k2);
}

static void test_strerror_covers_codes(void **state) {
  for (int r = CA_E_CSR_PARSE; r > CA_E_LAST; r--) {
    assert_non_null(ca_strerror(r));
    assert_true(strlen(ca_strerror(r)) > 5);
  }
  assert_non_null(ca_strerror(-ENOMEM));
  assert_string_equal(ca_strerror(-ERANGE), "certificate lifetime outside 1 hour to 90 days");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_root_created_with_both_key_types),
      cmocka_unit_test(test_load_with_foreign_key_refused),
      cmocka_unit_test(test_ids_are_random_printable_128_bits),
      cmocka_unit_test(test_issued_fields_p256_worker),
      cmocka_unit_test(test_issued_fields_ed25519_manager),
      cmocka_unit_test(test_issued_fields_mixed_key_types),
      cmocka_unit_test_setup_teardown(test_csr_with_bad_self_signature_refused, fx_setup,
                                      fx_teardown),
      cmocka_unit_test_setup_teardown(test_csr_with_rsa_or_p384_key_refused, fx_setup,
                                      fx_teardown),
      cmocka_unit_test_setup_teardown(test_csr_with_off_curve_point_refused, fx_setup,
                                      fx_teardown),
      cmocka_unit_test_setup_teardown(test_csr_garbage_and_trailing_bytes_refused, fx_setup,
                                      fx_teardown),
      cmocka_unit_test_setup_teardown(test_oversized_csr_refused_before_parsing, fx_setup,
                                      fx_teardown),
      cmocka_unit_test_setup_teardown(test_lifetime_out_of_range_refused, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_bad_node_id_or_role_refused, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_serials_differ, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_foreign_ca_cert_fails_verification, fx_setup,
                                      fx_teardown),
      cmocka_unit_test_setup_teardown(test_proof_of_possession, fx_setup, fx_teardown),
      cmocka_unit_test(test_strerror_covers_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
