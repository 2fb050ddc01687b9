/* Cluster identity in secretd (issue 9): a real store, real CA, real CSRs. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/error.h"
#include "crypto/ca.h"
#include "crypto/join_token.h"
#include "crypto/keys.h"
#include "crypto/secbuf.h"
#include "secretd/identity.h"
#include "store/identity.h"
#include "store/internal.h"
#include "store/store.h"
#include "wire/proto.h"

struct fx {
  char dir[64];
  struct store *store;
  struct identity *id;
  char token[JOIN_TOKEN_LEN + 1];
};

static const struct store_actor admin = {.uid = 0};
static const struct store_actor anon = {.uid = UINT32_MAX, .node = "anonymous@192.0.2.1"};

static int64_t now(void) { return (int64_t)time(NULL); }

static uint64_t audit_count(struct fx *f) {
  struct store_audit_rec *recs = NULL;
  size_t n = 0;
  assert_int_equal(store_audit_list(f->store, 0, 0, 0, &recs, &n), 0);
  free(recs);
  return n;
}

/* The outcome of the last audit record. */
static void last_audit(struct fx *f, char action[40], char outcome[80], char object[300]) {
  struct store_audit_rec *recs = NULL;
  size_t n = 0;
  assert_int_equal(store_audit_list(f->store, 0, 0, 0, &recs, &n), 0);
  assert_true(n > 0);
  memcpy(action, recs[n - 1].action, 40);
  memcpy(outcome, recs[n - 1].outcome, 80);
  if (object)
    memcpy(object, recs[n - 1].object, 300);
  free(recs);
}

/* A new worker token (expires_s 0: never; uses 0: unlimited) into f->token. */
static void new_token(struct fx *f, int64_t expires_s, uint32_t uses) {
  const struct store_cluster *c = identity_cluster(f->id);
  struct secbuf *tok = NULL, *secret = NULL;
  uint8_t digest[32], hash[32];
  struct store_batch *b;
  assert_int_equal(join_token_generate(c->ca_cert, c->ca_cert_len, NULL, 0, &tok, NULL), 0);
  memcpy(f->token, secbuf_cdata(tok), JOIN_TOKEN_LEN + 1);
  assert_int_equal(join_token_parse(f->token, JOIN_TOKEN_LEN, digest, &secret), 0);
  assert_int_equal(store_token_hash(f->store, secret, hash), 0);
  assert_int_equal(store_batch_begin(f->store, &b), 0);
  assert_int_equal(store_token_set(b, &admin, hash, expires_s, uses), 0);
  assert_int_equal(store_batch_commit(b), 0);
  secbuf_free(tok);
  secbuf_free(secret);
}

static int setup(void **state) {
  struct fx *f = calloc(1, sizeof(*f));
  struct sd_key *k = NULL;
  assert_non_null(f);
  snprintf(f->dir, sizeof(f->dir), "/tmp/sd-identity-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  assert_int_equal(sd_key_generate(&k), 0);
  assert_int_equal(store_init(f->dir, k, NULL), 0);
  assert_int_equal(store_open(f->dir, k, NULL, &f->store), 0);
  sd_key_free(k);
  assert_int_equal(identity_open(f->store, &f->id), STORE_ID_E_NOCLUSTER);
  assert_int_equal(identity_cluster_create(f->store, &admin, CA_KEY_P256), 0);
  assert_int_equal(identity_open(f->store, &f->id), 0);
  new_token(f, 0, 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fx *f = *state;
  char cmd[128];
  identity_free(f->id);
  store_close(f->store);
  snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
  assert_int_equal(system(cmd), 0);
  free(f);
  return 0;
}

struct node_keys {
  struct secbuf *key;
  uint8_t *csr;
  size_t csr_len;
};

static void node_keys(struct node_keys *k, enum ca_key_type t) {
  assert_int_equal(ca_node_key_new(t, &k->key), 0);
  assert_int_equal(ca_csr_new(k->key, &k->csr, &k->csr_len), 0);
}

static void node_keys_free(struct node_keys *k) {
  secbuf_free(k->key);
  free(k->csr);
}

static int join_full(struct fx *f, const char *token, size_t token_len, const uint8_t *csr,
                     size_t csr_len, const uint8_t *old_cert, size_t old_len, const uint8_t *pop,
                     size_t pop_len, int64_t at, struct identity_issued *out) {
  struct store_batch *b;
  struct identity_join_req req = {
      .token = (const uint8_t *)token,
      .token_len = token_len,
      .csr = csr,
      .csr_len = csr_len,
      .address = "192.0.2.1",
      .hostname = "node-a",
      .old_cert = old_cert,
      .old_cert_len = old_len,
      .pop = pop,
      .pop_len = pop_len,
  };
  assert_int_equal(store_batch_begin(f->store, &b), 0);
  int r = identity_join(f->id, b, &anon, &req, at, out);
  assert_int_equal(store_batch_commit(b), 0);
  return r;
}

static int join(struct fx *f, const char *token, size_t len, const struct node_keys *k,
                struct identity_issued *out) {
  return join_full(f, token, len, k->csr, k->csr_len, NULL, 0, NULL, 0, now(), out);
}

static X509 *x509(const uint8_t *der, size_t len) {
  const uint8_t *p = der;
  X509 *x = d2i_X509(NULL, &p, (long)len);
  assert_non_null(x);
  return x;
}

static int authorize_der(struct fx *f, const uint8_t *der, size_t len, int64_t at,
                         struct identity_peer *p) {
  X509 *x = x509(der, len);
  int r = identity_authorize(f->id, x, at, p);
  X509_free(x);
  return r;
}

/* ---- cluster ---- */

static bool file_contains(const char *path, const uint8_t *needle, size_t n) {
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  fseek(fp, 0, SEEK_END);
  long sz = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  uint8_t *buf = malloc((size_t)sz + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)sz, fp), (size_t)sz);
  fclose(fp);
  bool found = memmem(buf, (size_t)sz, needle, n) != NULL;
  free(buf);
  return found;
}

static void test_cluster_private_keys_are_sealed_in_the_store(void **state) {
  struct fx *f = *state;
  struct store_cluster *c = NULL;
  struct secbuf *ca_key = NULL, *mgr_key = NULL;
  struct ca *ca = NULL;
  struct ca_node_info info;
  char path[128];
  assert_int_equal(store_cluster_load(f->store, &c, &ca_key, &mgr_key), 0);
  assert_true(ca_id_valid(c->cluster_id));
  assert_int_equal(c->cert_lifetime_s, CA_LIFETIME_DEFAULT);
  assert_int_equal(ca_load(c->ca_cert, c->ca_cert_len, ca_key, &ca), 0);
  assert_string_equal(ca_cluster_id(ca), c->cluster_id);
  /* the manager certificate is a manager's of this cluster */
  assert_int_equal(ca_verify_node_cert(ca, c->manager_cert, c->manager_cert_len, 1, &info), 0);
  assert_int_equal(info.role, CA_ROLE_MANAGER);
  assert_string_equal(info.node_id, c->manager_id);
  /* neither private key appears in clear in the store file; the public
   * root certificate does */
  snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
  assert_false(file_contains(path, secbuf_cdata(ca_key), secbuf_len(ca_key)));
  assert_false(file_contains(path, secbuf_cdata(mgr_key), secbuf_len(mgr_key)));
  assert_true(file_contains(path, c->ca_cert, c->ca_cert_len));
  /* a second cluster in the same store is refused */
  assert_int_equal(identity_cluster_create(f->store, &admin, CA_KEY_ED25519), -EEXIST);
  ca_free(ca);
  secbuf_free(ca_key);
  secbuf_free(mgr_key);
  store_cluster_free(c);
}

static void test_master_key_rotation_keeps_the_ca_key(void **state) {
  struct fx *f = *state;
  struct node_keys k;
  struct identity_issued out = {0};
  assert_int_equal(store_rotate_master_key(f->store, &admin), 0);
  identity_free(f->id);
  assert_int_equal(identity_open(f->store, &f->id), 0); /* keys unwrap after the rewrap */
  node_keys(&k, CA_KEY_P256);
  assert_int_equal(join(f, f->token, JOIN_TOKEN_LEN, &k, &out), 0);
  identity_issued_clear(&out);
  node_keys_free(&k);
}

/* ---- the manager's own certificate ---- */

static void test_manager_certificate_is_renewed_when_a_third_of_its_lifetime_is_left(
    void **state) {
  struct fx *f = *state;
  struct store_cluster *c = NULL;
  struct secbuf *ca_key = NULL, *mgr_key = NULL;
  struct ca *ca = NULL;
  struct ca_node_info info;
  struct store_batch *b;
  int64_t na = 0, na2 = 0, t = now();
  char action[40], outcome[80], object[300];
  /* fresh: not due; due exactly once a third of the lifetime is left */
  assert_int_equal(identity_manager_renew_due(f->id, t, &na), 0);
  assert_true(na > t + 80 * 86400);
  const struct store_cluster *cur = identity_cluster(f->id);
  X509 *old = x509(cur->manager_cert, cur->manager_cert_len);
  const ASN1_TIME *nb = X509_get0_notBefore(old);
  struct tm tm;
  assert_int_equal(ASN1_TIME_to_tm(nb, &tm), 1);
  int64_t life = na - ((int64_t)timegm(&tm) + CA_SKEW_SECONDS);
  assert_int_equal(identity_manager_renew_due(f->id, na - life / 3 - 1, NULL), 0);
  assert_int_equal(identity_manager_renew_due(f->id, na - life / 3, NULL), 1);
  assert_int_equal(identity_manager_renew_due(f->id, na + 1, NULL), 1); /* expired */
  assert_int_equal(identity_manager_renew_due(NULL, t, NULL), -EINVAL);
  /* renewal: one audited op; the identity in memory changes on reload */
  assert_int_equal(store_batch_begin(f->store, &b), 0);
  assert_int_equal(identity_manager_renew(f->id, b, &admin, &na2), 0);
  assert_int_equal(store_batch_commit(b), 0);
  last_audit(f, action, outcome, object);
  assert_string_equal(action, "cluster.manager_renew");
  assert_string_equal(outcome, "ok");
  assert_non_null(strstr(object, identity_cluster(f->id)->manager_id));
  assert_true(na2 >= t + IDENTITY_MANAGER_LIFETIME_S - 5);
  assert_int_equal(identity_reload_manager(f->id), 0);
  cur = identity_cluster(f->id);
  X509 *neu = x509(cur->manager_cert, cur->manager_cert_len);
  assert_int_not_equal(X509_cmp(old, neu), 0);
  /* a manager certificate of this cluster, same id, its key the new one */
  assert_int_equal(store_cluster_load(f->store, &c, &ca_key, &mgr_key), 0);
  assert_int_equal(ca_load(c->ca_cert, c->ca_cert_len, ca_key, &ca), 0);
  assert_int_equal(ca_verify_node_cert(ca, c->manager_cert, c->manager_cert_len, 1, &info), 0);
  assert_int_equal(info.role, CA_ROLE_MANAGER);
  assert_string_equal(info.node_id, c->manager_id);
  assert_int_equal(c->manager_cert_len, cur->manager_cert_len);
  assert_memory_equal(c->manager_cert, cur->manager_cert, c->manager_cert_len);
  const struct secbuf *k = identity_manager_key(f->id);
  assert_int_equal(secbuf_len(k), secbuf_len(mgr_key));
  assert_memory_equal(secbuf_cdata(k), secbuf_cdata(mgr_key), secbuf_len(k));
  const uint8_t *p = secbuf_cdata(k);
  EVP_PKEY *pk = d2i_AutoPrivateKey(NULL, &p, (long)secbuf_len(k));
  assert_non_null(pk);
  assert_int_equal(X509_check_private_key(neu, pk), 1);
  assert_int_equal(X509_check_private_key(old, pk), 0);
  /* the renewed one is not due; the key is sealed, never in clear */
  assert_int_equal(identity_manager_renew_due(f->id, t, NULL), 0);
  char path[128];
  snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
  assert_false(file_contains(path, secbuf_cdata(mgr_key), secbuf_len(mgr_key)));
  EVP_PKEY_free(pk);
  X509_free(old);
  X509_free(neu);
  ca_free(ca);
  secbuf_free(ca_key);
  secbuf_free(mgr_key);
  store_cluster_free(c);
}

/* ---- joins ---- */

static void test_join_with_the_right_token_records_the_node(void **state) {
  struct fx *f = *state;
  struct node_keys k;
  struct identity_issued out = {0};
  struct store_node n;
  struct store_token_info ti;
  struct identity_peer p;
  node_keys(&k, CA_KEY_ED25519);
  assert_int_equal(join(f, f->token, JOIN_TOKEN_LEN, &k, &out), 0);
  assert_true(ca_id_valid(out.node_id));
  assert_false(out.kept_id);
  assert_int_equal(store_node_get(f->store, out.node_id, &n), 0);
  assert_int_equal(n.role, CA_ROLE_WORKER);
  assert_string_equal(n.hostname, "node-a");
  assert_string_equal(n.address, "192.0.2.1");
  assert_int_equal(n.not_after_s, (int64_t)out.not_after);
  assert_int_equal(store_token_info(f->store, &ti), 0);
  assert_int_equal(ti.uses_done, 1);
  assert_int_equal(authorize_der(f, out.cert, out.cert_len, now(), &p), 0);
  assert_string_equal(p.node_id, out.node_id);
  assert_int_equal(p.wire_role, WIRE_ROLE_WORKER);
  char action[40], outcome[80], object[300];
  last_audit(f, action, outcome, object);
  assert_string_equal(action, "node.join");
  assert_string_equal(outcome, "ok");
  assert_non_null(strstr(object, out.node_id));
  identity_issued_clear(&out);
  node_keys_free(&k);
}

static void expect_refused(struct fx *f, const char *tok, size_t len, int code,
                           const char *reason) {
  struct node_keys k;
  struct identity_issued out = {0};
  char action[40], outcome[80], object[300];
  uint64_t before = audit_count(f);
  node_keys(&k, CA_KEY_P256);
  assert_int_equal(join(f, tok, len, &k, &out), code);
  assert_null(out.cert);
  assert_int_equal(audit_count(f), before + 1); /* every refusal is audited */
  last_audit(f, action, outcome, object);
  assert_string_equal(action, "node.join");
  assert_true(strncmp(outcome, "error:", 6) == 0);
  if (reason)
    assert_non_null(strstr(object, reason));
  assert_null(strstr(object, f->token + JOIN_TOKEN_LEN - JOIN_TOKEN_SECRET_CHARS));
  node_keys_free(&k);
}

static void test_malformed_tokens_are_refused_and_audited(void **state) {
  struct fx *f = *state;
  char t[JOIN_TOKEN_LEN + 8];
  /* truncated */
  expect_refused(f, f->token, JOIN_TOKEN_LEN - 1, JT_E_SECRET_LEN, "token_secret_length");
  /* case-changed: one letter of the secret in upper case */
  memcpy(t, f->token, JOIN_TOKEN_LEN);
  char *s = t + JOIN_TOKEN_LEN - JOIN_TOKEN_SECRET_CHARS;
  for (; *s >= '0' && *s <= '9'; s++)
    ;
  *s = (char)(*s - 'a' + 'A');
  expect_refused(f, t, JOIN_TOKEN_LEN, JT_E_CASE, "token_case");
  /* padded with whitespace, before or after */
  t[0] = ' ';
  memcpy(t + 1, f->token, JOIN_TOKEN_LEN);
  expect_refused(f, t, JOIN_TOKEN_LEN + 1, JT_E_SPACE, "token_whitespace");
  memcpy(t, f->token, JOIN_TOKEN_LEN);
  t[JOIN_TOKEN_LEN] = '\n';
  expect_refused(f, t, JOIN_TOKEN_LEN + 1, JT_E_SPACE, "token_whitespace");
  /* empty, and not a token at all */
  expect_refused(f, "", 0, JT_E_EMPTY, NULL);
  expect_refused(f, "hello", 5, JT_E_PREFIX, NULL);
}

static void test_wrong_rotated_expired_and_used_up_tokens_are_refused(void **state) {
  struct fx *f = *state;
  char old[JOIN_TOKEN_LEN + 1], wrong[JOIN_TOKEN_LEN + 1];
  struct node_keys k;
  struct identity_issued out = {0};
  /* wrong secret: change one digit of the secret (still well-formed) */
  memcpy(wrong, f->token, sizeof(wrong));
  char *last = &wrong[JOIN_TOKEN_LEN - 1];
  *last = *last == '0' ? '1' : '0';
  expect_refused(f, wrong, JOIN_TOKEN_LEN, STORE_ID_E_TOKEN, "token_wrong");
  /* a token of another cluster (digest mismatch) */
  memcpy(wrong, f->token, sizeof(wrong));
  wrong[10] = wrong[10] == '0' ? '1' : '0';
  expect_refused(f, wrong, JOIN_TOKEN_LEN, JT_E_CA_MISMATCH, "token_other_cluster");
  /* rotated: the old token stops at once */
  memcpy(old, f->token, sizeof(old));
  new_token(f, 0, 0);
  expect_refused(f, old, JOIN_TOKEN_LEN, STORE_ID_E_TOKEN, "token_wrong");
  /* expired */
  new_token(f, now() + 60, 0);
  node_keys(&k, CA_KEY_P256);
  assert_int_equal(join_full(f, f->token, JOIN_TOKEN_LEN, k.csr, k.csr_len, NULL, 0, NULL, 0,
                             now() + 61, &out),
                   STORE_ID_E_EXPIRED);
  char action[40], outcome[80];
  last_audit(f, action, outcome, NULL);
  assert_string_equal(outcome, "error:token_expired");
  /* used up: one use admits one node */
  new_token(f, 0, 1);
  assert_int_equal(join(f, f->token, JOIN_TOKEN_LEN, &k, &out), 0);
  identity_issued_clear(&out);
  expect_refused(f, f->token, JOIN_TOKEN_LEN, STORE_ID_E_USED_UP, "token_used_up");
  node_keys_free(&k);
}

/* ---- CSRs ---- */

static void csr_of(EVP_PKEY *pk, const EVP_MD *md, uint8_t **ret, size_t *ret_len) {
  X509_REQ *req = X509_REQ_new();
  assert_non_null(req);
  assert_int_equal(X509_REQ_set_pubkey(req, pk), 1);
  assert_true(X509_REQ_sign(req, pk, md) > 0);
  uint8_t *der = NULL;
  int len = i2d_X509_REQ(req, &der);
  assert_true(len > 0);
  *ret = malloc((size_t)len);
  memcpy(*ret, der, (size_t)len);
  *ret_len = (size_t)len;
  OPENSSL_free(der);
  X509_REQ_free(req);
}

static void expect_csr_refused(struct fx *f, const uint8_t *csr, size_t len, int code,
                               const char *reason) {
  struct identity_issued out = {0};
  char action[40], outcome[80], object[300];
  assert_int_equal(join_full(f, f->token, JOIN_TOKEN_LEN, csr, len, NULL, 0, NULL, 0, now(), &out),
                   code);
  last_audit(f, action, outcome, object);
  assert_string_equal(action, "node.join");
  assert_non_null(strstr(object, reason));
}

static void test_bad_csrs_are_refused(void **state) {
  struct fx *f = *state;
  struct node_keys k;
  struct store_token_info before, after;
  assert_int_equal(store_token_info(f->store, &before), 0);
  node_keys(&k, CA_KEY_P256);
  /* bad self-signature: flip a bit in the last byte (inside the signature) */
  uint8_t *bad = malloc(k.csr_len);
  memcpy(bad, k.csr, k.csr_len);
  bad[k.csr_len - 3] ^= 0x01;
  expect_csr_refused(f, bad, k.csr_len, CA_E_CSR_SIGNATURE, "csr_bad_signature");
  free(bad);
  /* oversized: refused before parsing */
  uint8_t *big = calloc(1, CA_CSR_MAX + 1);
  memcpy(big, k.csr, k.csr_len);
  expect_csr_refused(f, big, CA_CSR_MAX + 1, -EMSGSIZE, "csr_too_large");
  free(big);
  /* garbage */
  expect_csr_refused(f, (const uint8_t *)"not a csr", 9, CA_E_CSR_PARSE, "csr_malformed");
  /* weak key: RSA 1024; odd key types: P-384, RSA 2048 */
  uint8_t *csr;
  size_t len;
  EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
  assert_non_null(rsa);
  csr_of(rsa, EVP_sha256(), &csr, &len);
  expect_csr_refused(f, csr, len, CA_E_KEY_TYPE, "csr_key_type");
  free(csr);
  EVP_PKEY_free(rsa);
  EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp384r1");
  assert_non_null(p384);
  csr_of(p384, EVP_sha384(), &csr, &len);
  expect_csr_refused(f, csr, len, CA_E_KEY_TYPE, "csr_key_type");
  free(csr);
  EVP_PKEY_free(p384);
  /* no refused CSR consumed a token use */
  assert_int_equal(store_token_info(f->store, &after), 0);
  assert_int_equal(after.uses_done, before.uses_done);
  node_keys_free(&k);
}

/* ---- authorization ---- */

static void self_signed(uint8_t **ret, size_t *ret_len, const char *cn, const char *ou,
                        const char *o) {
  EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
  X509 *x = X509_new();
  X509_NAME *n = X509_NAME_new();
  X509_NAME_add_entry_by_NID(n, NID_organizationName, MBSTRING_ASC, (const uint8_t *)o, -1, -1, 0);
  X509_NAME_add_entry_by_NID(n, NID_organizationalUnitName, MBSTRING_ASC, (const uint8_t *)ou, -1,
                             -1, 0);
  X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_ASC, (const uint8_t *)cn, -1, -1, 0);
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_set_subject_name(x, n);
  X509_set_issuer_name(x, n);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, pk);
  assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
  uint8_t *der = NULL;
  int len = i2d_X509(x, &der);
  *ret = malloc((size_t)len);
  memcpy(*ret, der, (size_t)len);
  *ret_len = (size_t)len;
  OPENSSL_free(der);
  X509_NAME_free(n);
  X509_free(x);
  EVP_PKEY_free(pk);
}

static void test_authorization_comes_from_the_store(void **state) {
  struct fx *f = *state;
  struct node_keys k;
  struct identity_issued out = {0};
  struct identity_peer p;
  const struct store_cluster *c = identity_cluster(f->id);
  node_keys(&k, CA_KEY_P256);
  assert_int_equal(join(f, f->token, JOIN_TOKEN_LEN, &k, &out), 0);
  /* anonymous: may only join */
  assert_int_equal(identity_authorize(f->id, NULL, now(), &p), 0);
  assert_int_equal(p.wire_role, WIRE_ROLE_ANON);
  /* valid now; expired after notAfter; not yet valid before notBefore */
  assert_int_equal(authorize_der(f, out.cert, out.cert_len, now(), &p), 0);
  assert_int_equal(authorize_der(f, out.cert, out.cert_len, (int64_t)out.not_after + 1, &p),
                   STORE_ID_E_CERT_EXPIRED);
  struct identity_peer live;
  assert_int_equal(authorize_der(f, out.cert, out.cert_len, now(), &live), 0);
  assert_int_equal(identity_recheck(f->id, &live, (int64_t)out.not_after), STORE_ID_E_CERT_EXPIRED);
  assert_int_equal(authorize_der(f, out.cert, out.cert_len, now() - 2 * CA_SKEW_SECONDS, &p),
                   STORE_ID_E_CERT_EXPIRED);
  /* a foreign CA's node certificate with our node's very id */
  struct ca *other = NULL;
  uint8_t *fcert = NULL;
  size_t flen;
  assert_int_equal(ca_create(CA_KEY_P256, &other), 0);
  assert_int_equal(ca_issue(other, k.csr, k.csr_len, out.node_id, CA_ROLE_MANAGER,
                            CA_LIFETIME_DEFAULT, &fcert, &flen, NULL, NULL),
                   0);
  assert_int_equal(authorize_der(f, fcert, flen, now(), &p), CA_E_VERIFY);
  free(fcert);
  ca_free(other);
  /* self-signed, even with our cluster id and a manager OU */
  self_signed(&fcert, &flen, out.node_id, "manager", c->cluster_id);
  assert_int_equal(authorize_der(f, fcert, flen, now(), &p), CA_E_VERIFY);
  free(fcert);
  /* a certificate of ours for a node the store does not know */
  struct store_batch *b;
  assert_int_equal(store_batch_begin(f->store, &b), 0);
  assert_int_equal(store_node_remove(b, &admin, out.node_id, now() - 1, NULL), 0);
  assert_int_equal(store_batch_commit(b), 0);
  assert_int_equal(authorize_der(f, out.cert, out.cert_len, now(), &p), STORE_ID_E_UNKNOWN);
  identity_issued_clear(&out);
  node_keys_free(&k);
}

static void test_renewal_makes_the_previous_certificate_stale(void **state) {
  struct fx *f = *state;
  struct node_keys k, k2;
  struct identity_issued out = {0}, renewed = {0};
  struct identity_peer p;
  struct store_batch *b;
  node_keys(&k, CA_KEY_P256);
  node_keys(&k2, CA_KEY_ED25519);
  assert_int_equal(join(f, f->token, JOIN_TOKEN_LEN, &k, &out), 0);
  struct identity_peer live; /* a connection authorized before the renewal */
  assert_int_equal(authorize_der(f, out.cert, out.cert_len, now(), &live), 0);
  assert_int_equal(identity_recheck(f->id, &live, now()), 0);
  assert_int_equal(store_batch_begin(f->store, &b), 0);
  assert_int_equal(identity_renew(f->id, b, &admin, out.node_id, k2.csr, k2.csr_len, now(),
                                  &renewed),
                   0);
  assert_int_equal(store_batch_commit(b), 0);
  assert_string_equal(renewed.node_id, out.node_id);
  assert_int_equal(authorize_der(f, renewed.cert, renewed.cert_len, now(), &p), 0);
  assert_int_equal(authorize_der(f, out.cert, out.cert_len, now(), &p), STORE_ID_E_STALE);
  /* the per-request check of the old connection refuses it too */
  assert_int_equal(identity_recheck(f->id, &live, now()), STORE_ID_E_STALE);
  identity_issued_clear(&out);
  identity_issued_clear(&renewed);
  node_keys_free(&k);
  node_keys_free(&k2);
}

static void test_removed_node_is_denied_until_its_last_certificate_expires(void **state) {
  struct fx *f = *state;
  struct node_keys k;
  struct identity_issued out = {0};
  struct identity_peer p;
  struct store_node n;
  struct store_batch *b;
  node_keys(&k, CA_KEY_P256);
  assert_int_equal(join(f, f->token, JOIN_TOKEN_LEN, &k, &out), 0);
  assert_int_equal(store_node_get(f->store, out.node_id, &n), 0);
  struct identity_peer live;
  assert_int_equal(authorize_der(f, out.cert, out.cert_len, now(), &live), 0);
  int64_t until = identity_deny_until(&n, now());
  assert_int_equal(until, n.not_after_s + CA_SKEW_SECONDS);
  assert_int_equal(store_batch_begin(f->store, &b), 0);
  assert_int_equal(store_node_remove(b, &admin, out.node_id, until, NULL), 0);
  assert_int_equal(store_batch_commit(b), 0);
  assert_int_equal(store_node_denied(f->store, out.node_id, now()), 1);
  assert_int_equal(store_node_denied(f->store, out.node_id, until), 0);
  assert_int_equal(authorize_der(f, out.cert, out.cert_len, now(), &p), STORE_ID_E_DENIED);
  assert_int_equal(identity_recheck(f->id, &live, now()), STORE_ID_E_DENIED);
  /* an anonymous peer passes the recheck (it may only join) */
  struct identity_peer anon_peer = {.wire_role = WIRE_ROLE_ANON};
  assert_int_equal(identity_recheck(f->id, &anon_peer, now()), 0);
  /* coming back with the old key cannot revive a denied id: a new node */
  struct node_keys k2;
  struct identity_issued again = {0};
  uint8_t *pop = NULL;
  size_t pop_len;
  node_keys(&k2, CA_KEY_P256);
  assert_int_equal(ca_pop_sign(k.key, k2.csr, k2.csr_len, &pop, &pop_len), 0);
  assert_int_equal(join_full(f, f->token, JOIN_TOKEN_LEN, k2.csr, k2.csr_len, out.cert,
                             out.cert_len, pop, pop_len, now(), &again),
                   0);
  assert_false(again.kept_id);
  assert_string_not_equal(again.node_id, out.node_id);
  free(pop);
  identity_issued_clear(&again);
  identity_issued_clear(&out);
  node_keys_free(&k);
  node_keys_free(&k2);
}

static void test_returning_node_keeps_its_id_only_with_its_old_key(void **state) {
  struct fx *f = *state;
  struct node_keys k, k2, thief;
  struct identity_issued out = {0}, back = {0}, stolen = {0};
  uint8_t *pop = NULL;
  size_t pop_len;
  struct identity_peer p;
  node_keys(&k, CA_KEY_P256);
  node_keys(&k2, CA_KEY_ED25519);
  node_keys(&thief, CA_KEY_P256);
  assert_int_equal(join(f, f->token, JOIN_TOKEN_LEN, &k, &out), 0);
  /* the node was off past its expiry; it comes back with a fresh token */
  int64_t later = (int64_t)out.not_after + 3600;
  new_token(f, 0, 0);
  assert_int_equal(ca_pop_sign(k.key, k2.csr, k2.csr_len, &pop, &pop_len), 0);
  assert_int_equal(join_full(f, f->token, JOIN_TOKEN_LEN, k2.csr, k2.csr_len, out.cert,
                             out.cert_len, pop, pop_len, later, &back),
                   0);
  assert_true(back.kept_id);
  assert_string_equal(back.node_id, out.node_id);
  free(pop);
  /* a token holder with the old certificate but not its key gets a new id */
  assert_int_equal(ca_pop_sign(thief.key, k2.csr, k2.csr_len, &pop, &pop_len), 0);
  assert_int_equal(join_full(f, f->token, JOIN_TOKEN_LEN, k2.csr, k2.csr_len, out.cert,
                             out.cert_len, pop, pop_len, now(), &stolen),
                   0);
  assert_false(stolen.kept_id);
  assert_string_not_equal(stolen.node_id, out.node_id);
  free(pop);
  /* and the key of a superseded certificate proves nothing either */
  assert_int_equal(ca_pop_sign(k.key, thief.csr, thief.csr_len, &pop, &pop_len), 0);
  identity_issued_clear(&stolen);
  assert_int_equal(join_full(f, f->token, JOIN_TOKEN_LEN, thief.csr, thief.csr_len, out.cert,
                             out.cert_len, pop, pop_len, now(), &stolen),
                   0);
  assert_false(stolen.kept_id);
  free(pop);
  /* the returned node's new certificate is the one accepted */
  assert_int_equal(authorize_der(f, back.cert, back.cert_len, now(), &p), 0);
  assert_int_equal(authorize_der(f, out.cert, out.cert_len, now(), &p), STORE_ID_E_STALE);
  identity_issued_clear(&out);
  identity_issued_clear(&back);
  identity_issued_clear(&stolen);
  node_keys_free(&k);
  node_keys_free(&k2);
  node_keys_free(&thief);
}

static void test_cert_lifetime_outside_1h_to_90d_is_refused(void **state) {
  struct fx *f = *state;
  struct store_batch *b;
  struct node_keys k;
  struct identity_issued out = {0};
  assert_int_equal(store_batch_begin(f->store, &b), 0);
  assert_int_equal(store_cluster_set_cert_lifetime(b, &admin, CA_LIFETIME_MIN - 1, CA_LIFETIME_MIN,
                                                   CA_LIFETIME_MAX),
                   -ERANGE);
  assert_int_equal(store_cluster_set_cert_lifetime(b, &admin, CA_LIFETIME_MAX + 1, CA_LIFETIME_MIN,
                                                   CA_LIFETIME_MAX),
                   -ERANGE);
  assert_int_equal(store_cluster_set_cert_lifetime(b, &admin, 7200, CA_LIFETIME_MIN,
                                                   CA_LIFETIME_MAX),
                   0);
  assert_int_equal(store_batch_commit(b), 0);
  assert_int_equal(identity_reload(f->id), 0);
  node_keys(&k, CA_KEY_P256);
  int64_t t0 = now();
  assert_int_equal(join(f, f->token, JOIN_TOKEN_LEN, &k, &out), 0);
  assert_true(out.not_after >= t0 + 7200 && out.not_after <= now() + 7200);
  identity_issued_clear(&out);
  node_keys_free(&k);
}

static void test_failed_joins_from_one_address_are_slowed_down(void **state) {
  struct fx *f = *state;
  uint64_t t = 1000000, retry = 0;
  for (int i = 0; i < IDENTITY_FREE_FAILURES; i++) {
    assert_int_equal(identity_limiter_admit(f->id, "198.51.100.7", t, NULL), 0);
    identity_limiter_record(f->id, "198.51.100.7", t, true);
  }
  assert_int_equal(identity_limiter_admit(f->id, "198.51.100.7", t, NULL), 0);
  identity_limiter_record(f->id, "198.51.100.7", t, true);
  assert_int_equal(identity_limiter_admit(f->id, "198.51.100.7", t + 1, &retry), -EAGAIN);
  assert_true(retry > 0 && retry <= IDENTITY_MAX_DELAY_MS);
  /* another address is not affected */
  assert_int_equal(identity_limiter_admit(f->id, "198.51.100.8", t + 1, NULL), 0);
  /* the delay doubles with each further failure, up to the cap */
  uint64_t prev = retry;
  identity_limiter_record(f->id, "198.51.100.7", t + 1, true);
  assert_int_equal(identity_limiter_admit(f->id, "198.51.100.7", t + 1, &retry), -EAGAIN);
  assert_true(retry >= 2 * prev - 2);
  for (int i = 0; i < 20; i++)
    identity_limiter_record(f->id, "198.51.100.7", t + 1, true);
  assert_int_equal(identity_limiter_admit(f->id, "198.51.100.7", t + 1, &retry), -EAGAIN);
  assert_true(retry <= IDENTITY_MAX_DELAY_MS);
  /* after the wait, a success clears it */
  t += 1 + IDENTITY_MAX_DELAY_MS;
  assert_int_equal(identity_limiter_admit(f->id, "198.51.100.7", t, NULL), 0);
  identity_limiter_record(f->id, "198.51.100.7", t, false);
  identity_limiter_record(f->id, "198.51.100.7", t, true);
  assert_int_equal(identity_limiter_admit(f->id, "198.51.100.7", t, NULL), 0);
}

static void test_expired_limiter_entries_are_purged(void **state) {
  struct fx *f = *state;
  uint64_t t = 5000000, retry = 0;
  char addr[64];
  assert_int_equal(identity_limiter_entries(f->id), 0);
  /* 200 addresses fail once each; one more is slowed down */
  for (int i = 0; i < 200; i++) {
    snprintf(addr, sizeof(addr), "203.0.113.%d:%d", i % 250, i);
    identity_limiter_record(f->id, addr, t, true);
  }
  for (int i = 0; i <= IDENTITY_FREE_FAILURES + 6; i++)
    identity_limiter_record(f->id, "198.51.100.9", t, true);
  assert_int_equal(identity_limiter_admit(f->id, "198.51.100.9", t, &retry), -EAGAIN);
  assert_int_equal(identity_limiter_entries(f->id), 201);
  /* not yet forgotten: a lookup just before the limit keeps them all */
  uint64_t t1 = t + IDENTITY_LIMITER_FORGET_MS - 1;
  assert_int_equal(identity_limiter_admit(f->id, "192.0.2.200", t1, NULL), 0);
  assert_int_equal(identity_limiter_entries(f->id), 201);
  /* a slowed-down address whose wait still runs is kept; the rest go at the
   * next sweep */
  uint64_t t2 = t + IDENTITY_LIMITER_FORGET_MS + IDENTITY_LIMITER_SWEEP_MS;
  for (int i = 0; i < 30; i++)
    identity_limiter_record(f->id, "198.51.100.10", t2 - 1, true); /* its wait: the cap */
  assert_int_equal(identity_limiter_admit(f->id, "192.0.2.200", t2, NULL), 0);
  assert_int_equal(identity_limiter_entries(f->id), 1);
  assert_int_equal(identity_limiter_admit(f->id, "198.51.100.10", t2, &retry), -EAGAIN);
  /* a forgotten address starts afresh: its first failures are free again */
  for (int i = 0; i < IDENTITY_FREE_FAILURES; i++) {
    assert_int_equal(identity_limiter_admit(f->id, "198.51.100.9", t2 + 1, NULL), 0);
    identity_limiter_record(f->id, "198.51.100.9", t2 + 1, true);
  }
  assert_int_equal(identity_limiter_admit(f->id, "198.51.100.9", t2 + 1, NULL), 0);
  /* bounded: a flood of distinct addresses never holds more than the table,
   * and once it is over the table empties */
  uint64_t t3 = t2 + 10 * IDENTITY_LIMITER_FORGET_MS;
  for (int i = 0; i < 10000; i++) {
    snprintf(addr, sizeof(addr), "2001:db8::%x", i);
    identity_limiter_record(f->id, addr, t3, true);
    assert_true(identity_limiter_entries(f->id) <= IDENTITY_LIMITER_SLOTS);
  }
  assert_int_equal(identity_limiter_entries(f->id), IDENTITY_LIMITER_SLOTS);
  assert_int_equal(
      identity_limiter_admit(f->id, "192.0.2.1", t3 + IDENTITY_LIMITER_FORGET_MS + 1, NULL), 0);
  assert_int_equal(identity_limiter_entries(f->id), 0);
  assert_int_equal(identity_limiter_entries(NULL), 0);
}

/* Flip one byte of a raw record (offline tampering). */
static void tamper(struct fx *f, enum store_dbi t, const char *key, size_t off) {
  MDB_txn *txn;
  MDB_val k = {strlen(key), (void *)key}, v;
  assert_int_equal(mdb_txn_begin(f->store->env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_get(txn, f->store->dbi[t], &k, &v), 0);
  uint8_t *copy = malloc(v.mv_size);
  memcpy(copy, v.mv_data, v.mv_size);
  copy[off] ^= 0x01;
  MDB_val nv = {v.mv_size, copy};
  assert_int_equal(mdb_put(txn, f->store->dbi[t], &k, &nv, 0), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  free(copy);
}

static void test_tampered_token_and_node_records_are_refused(void **state) {
  struct fx *f = *state;
  struct node_keys k;
  struct identity_issued out = {0};
  struct identity_peer p;
  char key[64];
  node_keys(&k, CA_KEY_P256);
  assert_int_equal(join(f, f->token, JOIN_TOKEN_LEN, &k, &out), 0);
  /* a node record changed offline (e.g. its role) no longer authorizes */
  snprintf(key, sizeof(key), "node/%s", out.node_id);
  tamper(f, DBI_NODES, key, 0);
  assert_int_equal(authorize_der(f, out.cert, out.cert_len, now(), &p), -EBADMSG);
  /* a token hash swapped offline is refused, not trusted */
  tamper(f, DBI_TOKENS, "worker", 5);
  struct identity_issued again = {0};
  assert_int_equal(join(f, f->token, JOIN_TOKEN_LEN, &k, &again), -EBADMSG);
  assert_true(store_tamper_count(f->store) >= 2);
  identity_issued_clear(&out);
  node_keys_free(&k);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_cluster_private_keys_are_sealed_in_the_store, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_master_key_rotation_keeps_the_ca_key, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_manager_certificate_is_renewed_when_a_third_of_its_lifetime_is_left, setup,
          teardown),
      cmocka_unit_test_setup_teardown(test_join_with_the_right_token_records_the_node, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_malformed_tokens_are_refused_and_audited, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_wrong_rotated_expired_and_used_up_tokens_are_refused,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_csrs_are_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_authorization_comes_from_the_store, setup, teardown),
      cmocka_unit_test_setup_teardown(test_renewal_makes_the_previous_certificate_stale, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_removed_node_is_denied_until_its_last_certificate_expires, setup, teardown),
      cmocka_unit_test_setup_teardown(test_returning_node_keeps_its_id_only_with_its_old_key,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_cert_lifetime_outside_1h_to_90d_is_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_failed_joins_from_one_address_are_slowed_down, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_expired_limiter_entries_are_purged, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tampered_token_and_node_records_are_refused, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
