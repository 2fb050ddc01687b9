/*
 * Process hardening, done first thing in main(): no core dumps (RLIMIT_CORE 0)
 * and not dumpable, which also makes the kernel refuse ptrace attach by
 * non-root (same-uid) processes and makes /proc/PID/{mem,environ,...}
 * root-only. Secret pages are locked by the secret-memory pool (base/secmem:
 * locked arenas, MADV_DONTDUMP), long-lived keys by sodium_malloc and
 * OpenSSL's private keys by its secure heap (main: wire_tls_secure_heap_init),
 * not by mlockall, which would pin the LMDB map (docs/secret-memory.md).
 */
#include "secretd/secretd.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>

int harden_process(void) {
  struct rlimit rl = {0, 0};
  if (setrlimit(RLIMIT_CORE, &rl) < 0)
    return -errno;
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
    return -errno;
  /* A peer that goes away mid-reply must give EPIPE, not kill us. */
  signal(SIGPIPE, SIG_IGN);
  return 0;
}
