/*
 * ca_bench: CSR-to-certificate issuances per second of crypto/ca.c (the upper
 * bound the crypto puts on joins/s; no daemon, store or network involved), for
 * P-256 and Ed25519 CAs, next to the floor of the same work done with bare
 * OpenSSL in the same run: parsing the CSR (d2i_X509_REQ), verifying its
 * self-signature and one signature over a certificate-sized message (the
 * parsing and the two public-key operations an issuance cannot avoid). The ratio ca/floor shows what parsing, checks and
 * X.509 building cost on top. Usage: ca_bench [SECONDS_PER_FIGURE] (default 1).
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/measure.h"
#include "crypto/ca.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct run {
  double per_s, cpu_s;
  unsigned long n;
};

/* The ca side: issue from one CSR (full checks each time) until `secs` pass. */
static int bench_ca(enum ca_key_type type, double secs, struct run *out) {
  struct ca *ca = NULL;
  struct secbuf *key = NULL;
  uint8_t *csr = NULL;
  size_t csr_len;
  char node[CA_ID_LEN + 1];
  int r;
  if ((r = ca_create(type, &ca)) < 0 || (r = ca_new_id(node)) < 0 ||
      (r = ca_node_key_new(type, &key)) < 0 || (r = ca_csr_new(key, &csr, &csr_len)) < 0)
    goto out;
  double c0 = bench_cpu_self(), t0 = now_s(), t;
  unsigned long n = 0;
  do {
    uint8_t *der;
    size_t len;
    if ((r = ca_issue(ca, csr, csr_len, node, CA_ROLE_WORKER, CA_LIFETIME_DEFAULT, &der, &len,
                      NULL, NULL)) < 0)
      goto out;
    free(der);
    n++;
  } while ((t = now_s() - t0) < secs);
  out->n = n;
  out->per_s = (double)n / t;
  out->cpu_s = bench_cpu_self() - c0;
  r = 0;
out:
  free(csr);
  secbuf_free(key);
  ca_free(ca);
  return r;
}

/* The floor: d2i_X509_REQ + X509_REQ_verify + EVP_DigestSign over 400 bytes. */
static int bench_floor(enum ca_key_type type, double secs, struct run *out) {
  const char *alg = type == CA_KEY_P256 ? "EC" : "ED25519";
  EVP_PKEY *ca_key = type == CA_KEY_P256 ? EVP_PKEY_Q_keygen(NULL, NULL, alg, "P-256")
                                         : EVP_PKEY_Q_keygen(NULL, NULL, alg);
  EVP_PKEY *node = type == CA_KEY_P256 ? EVP_PKEY_Q_keygen(NULL, NULL, alg, "P-256")
                                       : EVP_PKEY_Q_keygen(NULL, NULL, alg);
  const EVP_MD *md = type == CA_KEY_P256 ? EVP_sha256() : NULL;
  X509_REQ *req = X509_REQ_new();
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  uint8_t msg[400], sig[128];
  int r = -EIO;
  unsigned char *der = NULL;
  int der_len = 0;
  memset(msg, 0x5a, sizeof(msg));
  if (!ca_key || !node || !req || !c || X509_REQ_set_pubkey(req, node) != 1 ||
      X509_REQ_sign(req, node, md) <= 0 || (der_len = i2d_X509_REQ(req, &der)) <= 0)
    goto out;
  double c0 = bench_cpu_self(), t0 = now_s(), t;
  unsigned long n = 0;
  do {
    size_t siglen = sizeof(sig);
    const unsigned char *p = der;
    X509_REQ *in = d2i_X509_REQ(NULL, &p, der_len);
    int ok = in && X509_REQ_verify(in, X509_REQ_get0_pubkey(in)) == 1 &&
             EVP_DigestSignInit(c, NULL, md, NULL, ca_key) == 1 &&
             EVP_DigestSign(c, sig, &siglen, msg, sizeof(msg)) == 1;
    X509_REQ_free(in);
    if (!ok)
      goto out;
    n++;
  } while ((t = now_s() - t0) < secs);
  out->n = n;
  out->per_s = (double)n / t;
  out->cpu_s = bench_cpu_self() - c0;
  r = 0;
out:
  OPENSSL_free(der);
  EVP_MD_CTX_free(c);
  X509_REQ_free(req);
  EVP_PKEY_free(node);
  EVP_PKEY_free(ca_key);
  return r;
}

int main(int argc, char **argv) {
  double secs = argc > 1 ? strtod(argv[1], NULL) : 1.0;
  if (!(secs > 0.0 && secs <= 60.0)) {
    fprintf(stderr, "usage: ca_bench [SECONDS_PER_FIGURE (0 < s <= 60)]\n");
    return 2;
  }
  printf("ca_bench: CSR-to-certificate issuances/s (crypto only: upper bound of joins/s), "
         "%s, %.1f s per figure, one thread\n",
         OpenSSL_version(OPENSSL_VERSION), secs);
  printf("%-8s %14s %14s %18s %8s\n", "CA key", "ca_issue/s", "cpu s/issue", "openssl floor/s",
         "ratio");
  struct {
    enum ca_key_type type;
    const char *name;
  } types[] = {{CA_KEY_P256, "P-256"}, {CA_KEY_ED25519, "Ed25519"}};
  for (size_t i = 0; i < 2; i++) {
    struct run ours = {0}, floor = {0};
    int r = bench_ca(types[i].type, secs, &ours);
    if (r < 0) {
      fprintf(stderr, "ca_bench: %s: ca side failed: %s\n", types[i].name, ca_strerror(r));
      return 1;
    }
    if (bench_floor(types[i].type, secs, &floor) < 0) {
      fprintf(stderr, "ca_bench: %s: the OpenSSL floor (peer) failed\n", types[i].name);
      return 1;
    }
    printf("%-8s %14.0f %14.6f %18.0f %8.2f\n", types[i].name, ours.per_s,
           ours.cpu_s / (double)ours.n, floor.per_s, ours.per_s / floor.per_s);
  }
  printf("ratio = ca_issue/s over the floor (d2i_X509_REQ + X509_REQ_verify + one signature, bare "
         "OpenSSL); "
         "the node key type equals the CA key type\n");
  return 0;
}
