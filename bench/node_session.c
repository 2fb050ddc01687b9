/* Helpers of the benches that play agents. See bench/node_session.h. */
#include "bench/node_session.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "wire/tls.h"

#define FILE_MAX 16384

static unsigned char *read_file(const char *dir, const char *name, long *len) {
  char p[512];
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  FILE *f = fopen(p, "rb");
  if (!f)
    return NULL;
  unsigned char *buf = malloc(FILE_MAX);
  *len = buf ? (long)fread(buf, 1, FILE_MAX, f) : 0;
  fclose(f);
  return buf;
}

struct wire_tls_ctx *bench_node_tls_ctx(const char *dir) {
  long lc = 0, lk = 0, la = 0;
  unsigned char *c = read_file(dir, "node.crt", &lc), *k = read_file(dir, "node.key", &lk),
                *a = read_file(dir, "ca.crt", &la);
  const unsigned char *p;
  struct wire_tls_ctx *ctx = NULL;
  if (c && k && a) {
    p = c;
    X509 *cert = d2i_X509(NULL, &p, lc);
    p = a;
    X509 *ca = d2i_X509(NULL, &p, la);
    p = k;
    EVP_PKEY *key = d2i_AutoPrivateKey(NULL, &p, lk);
    struct wire_tls_config cfg = {.role = WIRE_TLS_CLIENT, .ca_cert = ca, .cert = cert, .key = key};
    if (!cert || !ca || !key || wire_tls_ctx_new(&cfg, &ctx) < 0)
      ctx = NULL;
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(key);
  }
  if (k)
    sodium_memzero(k, FILE_MAX); /* a private key: gone as soon as it is parsed */
  free(c);
  free(k);
  free(a);
  return ctx;
}

long bench_rss_kib(int pid, bool anon) {
  char path[64], line[256];
  long kib = -1;
  snprintf(path, sizeof(path), "/proc/%d/status", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, anon ? "RssAnon: %ld kB" : "VmRSS: %ld kB", &kib) == 1)
      break;
  fclose(f);
  return kib;
}
