/*
 * libFuzzer harness for the version-record layout parser (store/records.c,
 * store_rec_version_ct_offset): it reads the bytes of a version record
 * before their tag is checked, to know which bytes the tag covers. The input
 * is a record's payload. Invariants: no crash or out-of-bounds read; what
 * it accepts, the msgpack decoder (which runs after the tag check) accepts
 * too, with the ciphertext at the same offset and of the same length.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t off = 0;
  /* a copy of exactly size bytes, so that ASan sees any read past the end */
  uint8_t *p = malloc(size ? size : 1);
  if (!p)
    abort();
  memcpy(p, data, size);
  int r = store_rec_version_ct_offset(p, size, &off);
  if (r == 0) {
    if (off > size || size - off < SD_TAG_LEN)
      abort();
    msgpack_unpacked u;
    struct version_rec vr;
    MDB_val v = {size, p};
    msgpack_unpacked_init(&u);
    if (store_rec_version_decode(&v, &u, &vr) != 0 || vr.ct != p + off || vr.ct_len != size - off)
      abort();
    msgpack_unpacked_destroy(&u);
  } else if (r != -EIO) {
    abort();
  }
  free(p);
  return 0;
}
