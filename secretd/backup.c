/*
 * secretd backup --data DIR FILE
 *
 * Writes a consistent copy of the LMDB store (ciphertext, wrapped keys and
 * the audit chain; never the unlock key) to FILE, mode 0600. Works while a
 * secretd serves the store: the copy runs in one read transaction.
 */
#include <getopt.h>
#include <stdio.h>

#include "base/error.h"
#include "secretd/log.h"
#include "secretd/secretd.h"
#include "store/store.h"

int verb_backup(int argc, char **argv) {
  static const struct option opts[] = {
      {"data", required_argument, NULL, 'd'},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  const char *dir = NULL;
  int c, r;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'd': dir = optarg; break;
    case 'h': puts("Usage: secretd backup --data DIR FILE"); return 0;
    default: return 2;
    }
  }
  if (!dir || optind != argc - 1) {
    log_err("usage: secretd backup --data DIR FILE");
    return 2;
  }
  const char *dest = argv[optind];
  if ((r = store_backup(dir, dest)) < 0) {
    log_err("backup of %s to %s failed: %s", dir, dest, sd_strerror(r));
    return 1;
  }
  log_info("backup of %s written to %s (ciphertext only; restore it as data.mdb in an empty "
           "directory, with the unlock key)",
           dir, dest);
  return 0;
}
