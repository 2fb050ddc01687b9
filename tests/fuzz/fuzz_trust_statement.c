/*
 * libFuzzer harness for image/trust_statement.c: a statement that decodes must
 * encode again and decode to the same fields. Never a crash, hang or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/trust_statement.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 16384)
    return 0;
  struct trust_statement st, back;
  struct img_err err = {0};
  if (trust_statement_decode(data, size, &st, &err) != 0)
    return 0;
  char *text;
  size_t n;
  if (trust_statement_encode(&st, &text, &n, &err) != 0)
    abort(); /* a decoded statement is valid */
  if (trust_statement_decode((const uint8_t *)text, n, &back, &err) != 0 || memcmp(&st, &back, sizeof st))
    abort();
  free(text);
  return 0;
}
