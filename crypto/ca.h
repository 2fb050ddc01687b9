/*
 * The cluster certificate authority (issue 9, DESIGN.md section 4), OpenSSL 3.
 *
 * - A root CA per cluster: ECDSA P-256 (default) or Ed25519, 10-year validity,
 *   CA:TRUE pathlen 0, keyUsage keyCertSign+cRLSign, subject
 *   O=<cluster id>, CN=secretd root CA.
 * - Node certificates issued from a CSR: only the CSR's public key is used;
 *   the CA sets CN=<node id>, OU=<role>, O=<cluster id>, URI SAN
 *   spiffe://<cluster id>/node/<node id>, EKU clientAuth (+serverAuth for a
 *   manager), CA:FALSE, notBefore one hour back, a random serial (16 bytes,
 *   126 random bits).
 * - Agent side: a fresh node key, its CSR, and a proof of possession (a
 *   signature by the previous key over the new CSR) for a returning node.
 *
 * Private keys leave this module only as DER (PKCS#8 or SEC1) inside a
 * struct secbuf, never as PEM and never in ordinary heap memory of ours;
 * every intermediate buffer is wiped (OPENSSL_cleanse) before it is freed.
 *
 * OpenSSL's own heap: the parsed EVP_PKEY of a loaded key lives in OpenSSL's
 * allocations. secretd's main calls wire_tls_secure_heap_init() (wire/tls.h:
 * CRYPTO_secure_malloc_init(1 MiB, 32)) once at start, before any key is
 * loaded, and so must any other process that loads keys; OpenSSL 3 then keeps the private scalars of EC keys
 * (BN_secure_new), the ECDSA nonce and Ed25519 private keys in its secure heap
 * (mlock()ed, MADV_DONTDUMP, guard pages) and wipes them on free. Prefer it to
 * mlockall(MCL_FUTURE), which pins every page of the process (TLS buffers of
 * 1,000 agents included) and still leaves keys in core dumps unless
 * PR_SET_DUMPABLE is 0 (which both daemons set anyway).
 *
 * Errors: negative errno or the CA_E_* codes below (own band, see
 * ca_strerror()). OpenSSL's error queue is cleared on every failure path.
 * Not thread-safe per struct ca (use one per thread or a lock); the
 * functions without a struct ca are thread-safe.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/error.h"
#include "base/macro.h"
#include "base/secbuf.h"

enum ca_key_type {
  CA_KEY_P256 = 1,    /* ECDSA on prime256v1, signatures with SHA-256 (default) */
  CA_KEY_ED25519 = 2, /* Ed25519 */
};

enum ca_role {
  CA_ROLE_WORKER = 1,
  CA_ROLE_MANAGER = 2,
};

/* Own error band of the CA (below base/error.h's SD_E_* band). */
#define CA_ERR_BASE (SD_ERR_BASE + 220)
enum ca_error {
  CA_E_CSR_PARSE = -(CA_ERR_BASE + 1),     /* CSR is not one strict DER PKCS#10 */
  CA_E_CSR_SIGNATURE = -(CA_ERR_BASE + 2), /* CSR self-signature does not verify */
  CA_E_KEY_TYPE = -(CA_ERR_BASE + 3),      /* key is not P-256 or Ed25519, or invalid */
  CA_E_CERT_PARSE = -(CA_ERR_BASE + 4),    /* certificate is not strict DER X.509 */
  CA_E_VERIFY = -(CA_ERR_BASE + 5),        /* certificate does not chain to our root */
  CA_E_FIELDS = -(CA_ERR_BASE + 6),        /* certificate fields are not a node's of this cluster */
  CA_E_POP = -(CA_ERR_BASE + 7),           /* proof of possession does not verify */
  CA_E_KEY_MISMATCH = -(CA_ERR_BASE + 8),  /* CA key does not belong to the certificate */
  CA_E_OPENSSL = -(CA_ERR_BASE + 9),       /* unexpected OpenSSL failure */
  CA_E_LAST = -(CA_ERR_BASE + 10),
};

/* A static string for r: CA_E_* codes here, everything else via sd_strerror(). */
const char *ca_strerror(int r);

/* Ids: 16 random bytes in unpadded lowercase base32 (a-z2-7), 26 characters. */
#define CA_ID_LEN 26
#define CA_CSR_MAX 4096                    /* DER bytes a CSR may have */
#define CA_SERIAL_LEN 16                   /* serial bytes (first bit 0, second bit 1) */
#define CA_LIFETIME_MIN (60 * 60)          /* 1 hour */
#define CA_LIFETIME_MAX (90 * 24 * 60 * 60) /* 90 days */
#define CA_LIFETIME_DEFAULT (7 * 24 * 60 * 60)
#define CA_ROOT_LIFETIME_DAYS 3650
#define CA_SKEW_SECONDS (60 * 60)          /* notBefore is set this far back */

/* Write a fresh random id (node or cluster) plus NUL into out. Returns 0 or
 * -EIO (no randomness). */
int ca_new_id(char out[CA_ID_LEN + 1]);

/* 1 when s is a well-formed id (exactly CA_ID_LEN chars of a-z2-7), else 0. */
int ca_id_valid(const char *s);

/* "worker" / "manager" / NULL for anything else. */
const char *ca_role_name(enum ca_role role);

struct ca;

/* Create a new cluster: a fresh cluster id, root key of the given type and a
 * self-signed root certificate valid from one hour ago for 10 years.
 * Returns 0, -EINVAL (unknown type), -ENOMEM, CA_E_OPENSSL. */
int ca_create(enum ca_key_type type, struct ca **ret);

/* Load a CA from its root certificate (DER) and private key (DER in a secbuf,
 * as ca_key_der() wrote it). Checks that the certificate is a CA of ours
 * (CA:TRUE, O = a valid cluster id) and that the key belongs to it.
 * Returns 0, CA_E_CERT_PARSE, CA_E_FIELDS, CA_E_KEY_TYPE, CA_E_KEY_MISMATCH,
 * -EINVAL (NULL), -ENOMEM. */
int ca_load(const uint8_t *cert_der, size_t cert_len, const struct secbuf *key_der,
            struct ca **ret);

/* Free; NULL is fine. */
void ca_free(struct ca *ca);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct ca *, ca_free)

/* The cluster id (NUL-terminated, owned by ca). */
const char *ca_cluster_id(const struct ca *ca);
enum ca_key_type ca_key_type(const struct ca *ca);

/* The root certificate as DER in *ret_der (malloc()ed; public data; caller
 * frees). Returns 0 or -ENOMEM. */
int ca_cert_der(const struct ca *ca, uint8_t **ret_der, size_t *ret_len);

/* The root private key as DER in a new secbuf. Returns 0, -ENOMEM or
 * CA_E_OPENSSL. */
int ca_key_der(const struct ca *ca, struct secbuf **ret);

/*
 * Issue a node certificate. csr_der is checked in this order: size (at most
 * CA_CSR_MAX bytes, before any parsing: -EMSGSIZE), strict DER PKCS#10 with no
 * trailing bytes (CA_E_CSR_PARSE), key type P-256 or Ed25519 with a valid
 * public key (CA_E_KEY_TYPE), self-signature (CA_E_CSR_SIGNATURE). Only the
 * public key is taken from it. node_id must satisfy ca_id_valid() (-EINVAL),
 * role be a known role (-EINVAL), lifetime_s within [CA_LIFETIME_MIN,
 * CA_LIFETIME_MAX] (-ERANGE; never clamped). notAfter = now + lifetime_s.
 * On success *ret_der (malloc()ed) holds the certificate, ret_serial (may be
 * NULL) its CA_SERIAL_LEN-byte serial and ret_not_after (may be NULL) its
 * expiry. Outputs are untouched on failure.
 */
int ca_issue(struct ca *ca, const uint8_t *csr_der, size_t csr_len, const char *node_id,
             enum ca_role role, uint32_t lifetime_s, uint8_t **ret_der, size_t *ret_len,
             uint8_t ret_serial[CA_SERIAL_LEN], time_t *ret_not_after);

/* What a verified node certificate says. */
struct ca_node_info {
  char node_id[CA_ID_LEN + 1];
  enum ca_role role;
  uint8_t serial[CA_SERIAL_LEN];
  time_t not_after;
};

/*
 * Verify a node certificate against this CA's root with X509_verify_cert()
 * (chain, signature, validity at the current time, strict X.509) and check
 * that it is a node certificate of this cluster: O = cluster id, OU = a role,
 * CN = a valid id, CA:FALSE, the SPIFFE URI SAN matching. When check_time is
 * 0 the validity period is ignored (for a returning node's expired
 * certificate). Returns 0, CA_E_CERT_PARSE, CA_E_VERIFY, CA_E_FIELDS, -ENOMEM.
 * ret (may be NULL) is filled only on success.
 */
int ca_verify_node_cert(const struct ca *ca, const uint8_t *der, size_t len, int check_time,
                        struct ca_node_info *ret);

/* Agent side: a fresh private key of the given type as DER in a secbuf.
 * Returns 0, -EINVAL, -ENOMEM, CA_E_OPENSSL. */
int ca_node_key_new(enum ca_key_type type, struct secbuf **ret_key_der);

/* Agent side: a CSR (DER, malloc()ed) for the key, self-signed, with an empty
 * subject (the CA sets every field itself). Returns 0, CA_E_KEY_TYPE,
 * -ENOMEM, CA_E_OPENSSL. */
int ca_csr_new(const struct secbuf *key_der, uint8_t **ret_csr, size_t *ret_len);

/*
 * Proof of possession (issue 9 section 7): a returning node signs its new CSR
 * with its previous key. The signed message is the context string
 * "secretd proof of possession v1" plus NUL followed by the CSR DER, so the
 * signature cannot be replayed as anything else. ca_pop_sign returns 0,
 * CA_E_KEY_TYPE, -ENOMEM, CA_E_OPENSSL; *ret_sig is malloc()ed.
 */
int ca_pop_sign(const struct secbuf *old_key_der, const uint8_t *csr_der, size_t csr_len,
                uint8_t **ret_sig, size_t *ret_len);

/*
 * CA side: check that old_cert_der is a node certificate of this cluster
 * (ca_verify_node_cert without the time check: it may have expired) and that
 * sig is its key's proof of possession over csr_der. On success ret (may be
 * NULL) tells the node id and role the caller may keep, after checking the
 * deny list and that the role is unchanged. Returns 0, -EMSGSIZE (CSR too
 * big), CA_E_CERT_PARSE, CA_E_VERIFY, CA_E_FIELDS, CA_E_POP, -ENOMEM.
 */
int ca_pop_verify(const struct ca *ca, const uint8_t *old_cert_der, size_t old_len,
                  const uint8_t *csr_der, size_t csr_len, const uint8_t *sig, size_t sig_len,
                  struct ca_node_info *ret);
