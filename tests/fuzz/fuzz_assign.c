/*
 * libFuzzer harness: the agent's decoder of a node's assignment set
 * (wire/assign.h). Whatever it accepts must re-encode and decode again to
 * the same set (the canonical form), within the bounds it promises.
 * Seeds: tests/fuzz/corpus/assign (tests/fuzz/gen_assign_corpus.c writes them).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "wire/assign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct wire_assignments a = {0}, b = {0};
  const char *why = NULL;
  int r = wire_assignments_decode_bytes(data, size, &a, &why);
  if (r < 0) {
    if (!why || (r != SD_E_PROTO && r != -ENOMEM))
      abort(); /* a refusal always says why */
    return 0;
  }
  if (a.n_tasks > WIRE_ASSIGN_TASKS_MAX)
    abort();
  for (size_t i = 0; i < a.n_tasks; i++)
    if (a.tasks[i].n_grants > WIRE_ASSIGN_GRANTS_MAX || !a.tasks[i].spec_len ||
        a.tasks[i].spec_len > WIRE_ASSIGN_SPEC_MAX || strlen(a.tasks[i].id) != 32)
      abort();
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  if (wire_assignments_pack(&pk, &a) != 0 ||
      wire_assignments_decode_bytes((const uint8_t *)sb.data, sb.size, &b, &why) != 0 ||
      b.n_tasks != a.n_tasks || b.generation != a.generation ||
      memcmp(b.digest, a.digest, sizeof(a.digest)) != 0)
    abort();
  uint8_t d1[WIRE_ASSIGN_DIGEST_LEN], d2[WIRE_ASSIGN_DIGEST_LEN];
  if (wire_assign_digest(&a, d1) != 0 || wire_assign_digest(&b, d2) != 0 ||
      memcmp(d1, d2, sizeof(d1)) != 0)
    abort();
  msgpack_sbuffer_destroy(&sb);
  wire_assignments_clear(&a);
  wire_assignments_clear(&b);
  return 0;
}
