/*
 * secretd init --data DIR [--autolock] [--key-file PATH]
 *
 * Creates the store (DIR is created 0700 when missing; a DIR that already
 * holds a store is refused) with a fresh unlock key. With --autolock the key
 * is printed once on stdout as a token and no copy is kept; otherwise it goes
 * to a 0600 key file (default DIR/unlock.key).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "base/io.h"
#include "base/error.h"
#include "base/macro.h"
#include "crypto/keys.h"
#include "secretd/log.h"
#include "secretd/secretd.h"
#include "store/store.h"


/* Print the token once; the stack copy is wiped right after. */
int print_token(const struct sd_key *key) {
  char token[128];
  int r = sd_key_to_token(key, token, sizeof(token) - 1);
  if (r == 0) {
    /* write(2), not stdio: no copy of the token in stdout's heap buffer. */
    size_t n = strlen(token);
    token[n++] = '\n';
    fflush(stdout);
    r = sd_write_all(STDOUT_FILENO, token, n);
  }
  sodium_memzero(token, sizeof(token));
  return r;
}

int verb_init(int argc, char **argv) {
  static const struct option opts[] = {
      {"data", required_argument, NULL, 'd'},
      {"autolock", no_argument, NULL, 'a'},
      {"key-file", required_argument, NULL, 'k'},
      {"ca-key-type", required_argument, NULL, 't'},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  const char *dir = NULL, *key_file = NULL;
  bool autolock = false;
  int ca_type = 1; /* CA_KEY_P256 */
  char def[4096];
  int c, r;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'd': dir = optarg; break;
    case 'a': autolock = true; break;
    case 'k': key_file = optarg; break;
    case 't':
      if (parse_ca_key_type(optarg, &ca_type) < 0) {
        log_err("--ca-key-type: want p256 or ed25519");
        return 2;
      }
      break;
    case 'h':
      puts("Usage: secretd init --data DIR [--autolock] [--key-file PATH] [--ca-key-type p256|ed25519]");
      return 0;
    default: return 2;
    }
  }
  if (!dir || optind != argc) {
    log_err("usage: secretd init --data DIR [--autolock] [--key-file PATH] [--ca-key-type p256|ed25519]");
    return 2;
  }
  if (autolock && key_file) {
    log_err("--autolock and --key-file exclude each other");
    return 2;
  }
  if (!autolock && !key_file) {
    if ((r = unlock_key_default_path(dir, def, sizeof(def))) < 0)
      return log_errno(r, dir), 1;
    key_file = def;
  }
  char data_file[4096];
  snprintf(data_file, sizeof(data_file), "%s/data.mdb", dir);
  if (access(data_file, F_OK) == 0) {
    log_err("%s: %s", dir, sd_strerror(SD_E_EXISTS));
    return 1;
  }
  if (key_file && access(key_file, F_OK) == 0) {
    log_err("%s already exists; refusing to overwrite a key file", key_file);
    return 1;
  }

  _cleanup_(sd_key_freep) struct sd_key *key = NULL;
  if ((r = sd_key_generate(&key)) < 0)
    return log_errno(r, "cannot generate the unlock key"), 1;
  struct store_opts so = {0};
  if ((r = store_init(dir, key, &so)) < 0) {
    log_err("cannot create a store in %s: %s", dir, sd_strerror(r));
    return 1;
  }
  /* The cluster identity: CA and manager keys sealed in the new store. */
  {
    _cleanup_(store_closep) struct store *st = NULL;
    if ((r = store_open(dir, key, &so, &st)) < 0 || (r = cluster_create_in(st, ca_type)) < 0) {
      log_err("store created in %s but its cluster identity could not be made: %s; run "
              "`secretd init-cluster --data %s`", dir, sd_strerror(r), dir);
      if (!autolock)
        (void)sd_key_write_file(key_file, key);
      else
        (void)print_token(key);
      return 1;
    }
  }
  if (autolock) {
    if ((r = print_token(key)) < 0)
      return log_errno(r, "cannot print the unlock key"), 1;
    fputs("secretd: store created with autolock. The unlock key above is shown only once:\n"
          "secretd: keep it safe; `secretd serve` reads it from stdin or --unlock-key-file.\n",
          stderr);
    return 0;
  }
  if ((r = sd_key_write_file(key_file, key)) < 0) {
    log_err("store created in %s but the key file %s could not be written: %s; remove %s and "
            "run init again",
            dir, key_file, sd_strerror(r), dir);
    return 1;
  }
  log_info("store created in %s; unlock key written to %s (mode 0600)", dir, key_file);
  log_warn("the unlock key lives in %s: a backup that includes it carries the key, "
           "so anyone holding both can decrypt every secret (use --autolock or keep the key "
           "file elsewhere to avoid this)",
           key_file);
  return 0;
}
