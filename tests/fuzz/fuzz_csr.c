/*
 * libFuzzer harness for the CA's acceptance path of a certificate request
 * (crypto/ca.c: ca_issue, and ca_pop_verify, which parse attacker bytes).
 * The input is the CSR DER. Invariants, checked with abort(): a refusal is
 * one of the documented codes; inputs over CA_CSR_MAX are always -EMSGSIZE;
 * an issued certificate verifies against the root as a worker of this
 * cluster with the given node id, and its key is the CSR's.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/ca.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ca *the_ca;
static char node[CA_ID_LEN + 1];
static uint8_t *old_cert;
static size_t old_len;

static void setup(void) {
  struct secbuf *k = NULL;
  uint8_t *csr = NULL;
  size_t csr_len;
  if (ca_create(CA_KEY_P256, &the_ca) < 0 || ca_new_id(node) < 0 ||
      ca_node_key_new(CA_KEY_ED25519, &k) < 0 || ca_csr_new(k, &csr, &csr_len) < 0 ||
      ca_issue(the_ca, csr, csr_len, node, CA_ROLE_WORKER, 3600, &old_cert, &old_len, NULL,
               NULL) < 0)
    abort();
  secbuf_free(k);
  free(csr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!the_ca)
    setup();
  uint8_t *in = malloc(size ? size : 1), *der = NULL, serial[CA_SERIAL_LEN];
  size_t len = 0;
  if (!in)
    abort();
  memcpy(in, data, size);
  int r = ca_issue(the_ca, in, size, node, CA_ROLE_WORKER, 3600, &der, &len, serial, NULL);
  if (size > CA_CSR_MAX && r != -EMSGSIZE)
    abort();
  if (r == 0) {
    struct ca_node_info info;
    if (!der || ca_verify_node_cert(the_ca, der, len, 1, &info) != 0 ||
        strcmp(info.node_id, node) != 0 || info.role != CA_ROLE_WORKER ||
        memcmp(info.serial, serial, CA_SERIAL_LEN) != 0)
      abort();
  } else if (!(r == -EMSGSIZE || r == CA_E_CSR_PARSE || r == CA_E_KEY_TYPE ||
               r == CA_E_CSR_SIGNATURE || r == -ENOMEM) ||
             der) {
    abort();
  }
  free(der);
  /* The same bytes as a proof-of-possession signature over a fixed CSR and as
   * a CSR under a fixed signature: never accepted. */
  static const uint8_t fixed[] = {0x30, 0x00};
  if (ca_pop_verify(the_ca, old_cert, old_len, fixed, sizeof(fixed), in, size, NULL) == 0 ||
      (size && ca_pop_verify(the_ca, old_cert, old_len, in, size, fixed, sizeof(fixed), NULL) == 0))
    abort();
  free(in);
  return 0;
}
