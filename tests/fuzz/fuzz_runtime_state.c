/*
 * libFuzzer harness for the detached-container state reader (rt_state_parse): any
 * bytes as state.json. It must return a state or -EBADMSG, never crash, hang or leak;
 * a parsed state must satisfy the invariants the verbs rely on.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct rt_state st;
  if (rt_state_parse((const char *)data, size, &st) == 0) {
    if (!rt_name_valid(st.id) || st.pid < 0 || st.supervisor < 0 ||
        strnlen(st.bundle, sizeof st.bundle) == sizeof st.bundle ||
        strnlen(st.cgroup, sizeof st.cgroup) == sizeof st.cgroup ||
        (st.exited && (st.exit_code < 0 || st.exit_code > 255)))
      abort();
  }
  return 0;
}
