/*
 * libFuzzer harness for image/trust_dsse.c and the statement inside: decode an
 * envelope; when it decodes, encode it again (it must decode to the same
 * envelope), compute the PAE and decode the payload as a statement. Never a
 * crash, hang or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/trust_dsse.h"
#include "image/trust_statement.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > TRUST_DSSE_MAX_TEXT + 16)
    return 0;
  static struct trust_dsse d, back;
  struct img_err err = {0};
  if (trust_dsse_decode((const char *)data, size, &d, &err) != 0)
    return 0;
  char *text = NULL;
  if (trust_dsse_encode(&d, &text) == 0) {
    if (trust_dsse_decode(text, strlen(text), &back, &err) != 0 || back.n_sigs != d.n_sigs ||
        back.payload_len != d.payload_len || memcmp(back.payload, d.payload, d.payload_len))
      abort(); /* what we write we must read back */
    free(text);
  }
  uint8_t *pae;
  size_t n;
  if (trust_pae(d.payload_type, d.payload, d.payload_len, &pae, &n) == 0)
    free(pae);
  struct trust_statement st;
  (void)trust_statement_decode(d.payload, d.payload_len, &st, &err);
  return 0;
}
