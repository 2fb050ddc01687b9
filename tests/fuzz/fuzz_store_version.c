/*
 * libFuzzer harness for the version-record layout parser (store/records.c,
 * store_rec_version_parse): it reads the bytes of a version record before
 * their tag is checked, to know which bytes the tag covers, and is the
 * record's only decoder on the read path. The input is a record's payload.
 * Invariants: no crash or out-of-bounds read; what it accepts, the msgpack
 * decoder store_rec_version_decode (the reference) accepts too, with the
 * same fields at the same places.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* a copy of exactly size bytes, so that ASan sees any read past the end */
  uint8_t *p = malloc(size ? size : 1);
  if (!p)
    abort();
  memcpy(p, data, size);
  struct version_rec got, ref;
  int r = store_rec_version_parse(p, size, &got);
  if (r == 0) {
    msgpack_unpacked u;
    MDB_val v = {size, p};
    msgpack_unpacked_init(&u);
    if (store_rec_version_decode(&v, &u, &ref) != 0 || got.created_ns != ref.created_ns ||
        got.wrapped_dk != ref.wrapped_dk || got.nonce != ref.nonce || got.ct != ref.ct ||
        got.ct_len != ref.ct_len || got.ct + got.ct_len != p + size)
      abort();
    msgpack_unpacked_destroy(&u);
  } else if (r != -EIO) {
    abort();
  }
  free(p);
  return 0;
}
