/*
 * secretd: the manager daemon and its administrative verbs. One table entry
 * per verb; each verb lives in its own file. The process is hardened (no core
 * dumps, not dumpable, so no ptrace attach) before any key is touched.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/macro.h"
#include "secretd/log.h"
#include "secretd/secretd.h"
#include "wire/tls.h"

struct verb {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *usage;
};

static const struct verb verbs[] = {
    {"init", verb_init,
     "init --data DIR [--autolock] [--key-file PATH] [--ca-key-type p256|ed25519]"},
    {"init-cluster", verb_init_cluster,
     "init-cluster --data DIR [--unlock-key-file PATH] [--ca-key-type p256|ed25519]"},
    {"serve", verb_serve,
     "serve --data DIR [--admin-socket PATH] [--admin-group GROUP] [--unlock-key-file PATH]\n"
     "                [--audit-file PATH] [--map-size BYTES] [--keep-versions N]\n"
     "                [--listen HOST:PORT]"},
    {"backup", verb_backup, "backup --data DIR FILE"},
    {"rotate-unlock-key", verb_rotate_unlock_key,
     "rotate-unlock-key --data DIR [--unlock-key-file OLD] [--key-file PATH] [--autolock]"},
    {"rotate-master-key", verb_rotate_master_key,
     "rotate-master-key --data DIR [--unlock-key-file PATH]"},
};

static void usage(FILE *f) {
  fputs("Usage: secretd VERB [OPTIONS]\n\n", f);
  for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
    fprintf(f, "  secretd %s\n", verbs[i].usage);
  fputs("\nThe unlock key is read from a key file or stdin, never from the command line.\n"
        "See secretd(8).\n",
        f);
}

int main(int argc, char **argv) {
  int r = harden_process();
  if (r < 0) {
    log_errno(r, "cannot disable core dumps");
    return 1;
  }
  /* Before any key is loaded: OpenSSL's private keys in locked, undumpable
   * pages (docs/secret-memory.md). */
  r = wire_tls_secure_heap_init();
  if (r < 0) {
    log_errno(r, "cannot set up OpenSSL's secure heap for private keys");
    return 1;
  }
  if (r > 0)
    log_warn("OpenSSL's secure heap could not be locked in memory (RLIMIT_MEMLOCK?): private "
             "keys may be swapped out");
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("secretd %s\n", SECRETD_VERSION);
    return 0;
  }
  for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
    if (!strcmp(argv[1], verbs[i].name))
      return verbs[i].run(argc - 1, argv + 1);
  log_err("unknown verb '%s' (try 'secretd --help')", argv[1]);
  return 2;
}
