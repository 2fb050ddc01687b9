/*
 * identity_bench: what the cluster identity costs inside secretd, next to the
 * bare crypto in the same run (issue 9's benchmark, the in-process part):
 *
 *   joins/s      identity_join(): token parse and digest check, the keyed
 *                hash compare, CSR checks, issuance, and one store op (token
 *                re-checked, use consumed, node recorded, audit record) in
 *                its own committed LMDB batch (fsync'ed, as secretd commits
 *                one join alone), versus ca_issue() alone;
 *   checks/s     identity_authorize(): chain and fields, validity, deny
 *                list and node record from the store (the check at each
 *                handshake), versus ca_verify_node_cert() alone; and
 *                identity_recheck(), the store-only check of every request.
 *
 * No network: TLS handshakes are wire_bench's. Usage: identity_bench
 * [SECONDS_PER_FIGURE] (default 1). The store lives in a temporary directory
 * under $TMPDIR (default /tmp); its file system is printed with the figures.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "bench/measure.h"
#include "crypto/join_token.h"
#include "crypto/keys.h"
#include "secretd/identity.h"
#include "store/identity.h"

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what, int r) {
  fprintf(stderr, "identity_bench: %s: %s\n", what, identity_strerror(r));
  return 1;
}

static int bench_type(enum ca_key_type type, double secs) {
  const char *tmp = getenv("TMPDIR");
  char path[512];
  snprintf(path, sizeof(path), "%s/identity-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(path))
    return die("mkdtemp", -errno);
  struct sd_key *k = NULL;
  struct store *s = NULL;
  struct identity *id = NULL;
  struct store_actor a = {.uid = 0};
  int r;
  if ((r = sd_key_generate(&k)) < 0 || (r = store_init(path, k, NULL)) < 0 ||
      (r = store_open(path, k, NULL, &s)) < 0 || (r = identity_cluster_create(s, &a, type)) < 0 ||
      (r = identity_open(s, &id)) < 0)
    return die("setup", r);
  sd_key_free(k);
  /* a token with no limits */
  const struct store_cluster *c = identity_cluster(id);
  struct secbuf *tok = NULL, *secret = NULL;
  uint8_t digest[32], hash[32];
  struct store_batch *b;
  if ((r = join_token_generate(c->ca_cert, c->ca_cert_len, NULL, 0, &tok, NULL)) < 0 ||
      (r = join_token_parse((const char *)secbuf_cdata(tok), JOIN_TOKEN_LEN, digest, &secret)) <
          0 ||
      (r = store_token_hash(s, secret, hash)) < 0 || (r = store_batch_begin(s, &b)) < 0 ||
      (r = store_token_set(b, &a, hash, 0, 0)) < 0 || (r = store_batch_commit(b)) < 0)
    return die("token", r);
  struct secbuf *nkey = NULL;
  uint8_t *csr = NULL;
  size_t csr_len;
  if ((r = ca_node_key_new(type, &nkey)) < 0 || (r = ca_csr_new(nkey, &csr, &csr_len)) < 0)
    return die("csr", r);

  /* joins through secretd's function, one committed batch each */
  struct identity_join_req req = {.token = secbuf_cdata(tok),
                                  .token_len = JOIN_TOKEN_LEN,
                                  .csr = csr,
                                  .csr_len = csr_len,
                                  .address = "192.0.2.1",
                                  .hostname = "bench"};
  struct identity_issued last = {0};
  unsigned long joins = 0;
  double cpu0 = bench_cpu_self(), t0 = mono(), t;
  do {
    struct identity_issued out = {0};
    if ((r = store_batch_begin(s, &b)) < 0 ||
        (r = identity_join(id, b, &a, &req, (int64_t)time(NULL), &out)) < 0 ||
        (r = store_batch_commit(b)) < 0)
      return die("join", r);
    identity_issued_clear(&last);
    last = out;
    joins++;
  } while ((t = mono() - t0) < secs);
  double join_rate = joins / t, join_cpu = (bench_cpu_self() - cpu0) / joins;

  /* the bare issuance of the same CSR */
  struct secbuf *ca_key = NULL;
  struct store_cluster *cl = NULL;
  struct ca *ca = NULL;
  if ((r = store_cluster_load(s, &cl, &ca_key, NULL)) < 0 ||
      (r = ca_load(cl->ca_cert, cl->ca_cert_len, ca_key, &ca)) < 0)
    return die("ca", r);
  unsigned long issues = 0;
  t0 = mono();
  do {
    uint8_t *der;
    size_t len;
    if ((r = ca_issue(ca, csr, csr_len, last.node_id, CA_ROLE_WORKER, CA_LIFETIME_DEFAULT, &der,
                      &len, NULL, NULL)) < 0)
      return die("issue", r);
    free(der);
    issues++;
  } while ((t = mono() - t0) < secs);
  double issue_rate = issues / t;

  /* authorization of the last node's certificate */
  const uint8_t *p = last.cert;
  X509 *leaf = d2i_X509(NULL, &p, (long)last.cert_len);
  struct identity_peer peer;
  unsigned long checks = 0, verifies = 0;
  t0 = mono();
  do {
    if ((r = identity_authorize(id, leaf, (int64_t)time(NULL), &peer)) < 0)
      return die("authorize", r);
    checks++;
  } while ((t = mono() - t0) < secs);
  double check_rate = checks / t;
  t0 = mono();
  do {
    if ((r = ca_verify_node_cert(ca, last.cert, last.cert_len, 1, NULL)) < 0)
      return die("verify", r);
    verifies++;
  } while ((t = mono() - t0) < secs);
  double verify_rate = verifies / t;
  unsigned long rechecks = 0;
  t0 = mono();
  do {
    if ((r = identity_recheck(id, &peer, (int64_t)time(NULL))) < 0)
      return die("recheck", r);
    rechecks++;
  } while ((t = mono() - t0) < secs);
  double recheck_rate = rechecks / t;

  const char *name = type == CA_KEY_P256 ? "P-256  " : "Ed25519";
  printf("%s joins/s (identity_join, one committed batch each): %9.0f   ca_issue alone: %9.0f"
         "   ratio %.2f   (%.0f us CPU per join, %lu nodes)\n",
         name, join_rate, issue_rate, join_rate / issue_rate, join_cpu * 1e6, joins);
  printf("%s authorizations/s (identity_authorize):               %9.0f   ca_verify alone: %8.0f"
         "   ratio %.2f\n",
         name, check_rate, verify_rate, check_rate / verify_rate);
  printf("%s per-request rechecks/s (identity_recheck: store only): %9.0f\n", name,
         recheck_rate);
  X509_free(leaf);
  identity_issued_clear(&last);
  ca_free(ca);
  store_cluster_free(cl);
  secbuf_free(ca_key);
  secbuf_free(nkey);
  secbuf_free(tok);
  secbuf_free(secret);
  free(csr);
  identity_free(id);
  store_close(s);
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
  if (system(cmd) != 0)
    fprintf(stderr, "identity_bench: cannot remove %s\n", path);
  return 0;
}

int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 1.0;
  if (secs <= 0)
    secs = 1.0;
  const char *tmp = getenv("TMPDIR");
  bench_fs_print(stdout, "store on: ", tmp && *tmp ? tmp : "/tmp");
  if (bench_type(CA_KEY_P256, secs) || bench_type(CA_KEY_ED25519, secs))
    return 1;
  return 0;
}
