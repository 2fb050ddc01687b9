/*
 * libFuzzer harness for image/oci.c: the first byte chooses the parser (index,
 * manifest, config), the rest is the document. Each must return a result or a
 * clear error, never crash, hang or leak; a parsed index is also picked from.
 */
#include <stddef.h>
#include <stdint.h>

#include "image/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > IMG_MAX_JSON + 16)
    return 0;
  const char *json = (const char *)data + 1;
  size_t len = size - 1;
  switch (data[0] % 3) {
  case 0: {
    struct img_index x;
    if (img_index_parse(json, len, &x) == 0) {
      (void)img_index_pick(&x);
      img_index_done(&x);
    }
    break;
  }
  case 1: {
    struct img_manifest m;
    if (img_manifest_parse(json, len, &m) == 0)
      img_manifest_done(&m);
    break;
  }
  default: {
    struct img_config c;
    if (img_config_parse(json, len, &c) == 0)
      img_config_done(&c);
    break;
  }
  }
  return 0;
}
