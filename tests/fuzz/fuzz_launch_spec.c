/*
 * libFuzzer harness for the launch spec decoder (runtime/launch_spec_codec.c): any
 * bytes as an encoded spec, as secretd reads it from the wire and the store. It must
 * return a valid spec or an error, never crash, hang or leak; a decoded spec must
 * validate and re-encode to bytes that decode to the same encoding.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/launch_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct launch_spec s, t;
  char err[LAUNCH_SPEC_ERRLEN];
  launch_spec_init(&s);
  launch_spec_init(&t);
  if (launch_spec_decode(data, size, &s, err) == 0) {
    msgpack_sbuffer a, b;
    msgpack_sbuffer_init(&a);
    msgpack_sbuffer_init(&b);
    if (launch_spec_validate(&s, err) != 0 || launch_spec_encode(&s, &a) != 0 ||
        launch_spec_decode(a.data, a.size, &t, err) != 0 || launch_spec_encode(&t, &b) != 0 ||
        a.size != b.size || memcmp(a.data, b.data, a.size) != 0)
      abort();
    msgpack_sbuffer_destroy(&a);
    msgpack_sbuffer_destroy(&b);
  }
  launch_spec_clear(&s);
  launch_spec_clear(&t);
  return 0;
}
