/*
 * libFuzzer harness for the Docker seccomp profile reader: any bytes as a
 * profile, for a few capability sets. The reader must return a filter or a
 * clear error, never crash, hang or leak.
 */
#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/seccomp_profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint64_t cap_sets[] = {0, 1ull << 21 /* CAP_SYS_ADMIN */, ~0ull};
  if (size > 256 * 1024)
    return 0;
  uint64_t caps = cap_sets[size % 3];
  scmp_filter_ctx ctx = NULL;
  unsigned flags = 0;
  char err[RT_SCMP_ERRLEN];
  if (rt_seccomp_profile_build((const char *)data, size, caps, &ctx, &flags, err) == 0 && ctx)
    seccomp_release(ctx);
  return 0;
}
