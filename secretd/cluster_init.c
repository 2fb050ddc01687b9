/*
 * The cluster identity of a store: created by `secretd init`, by
 * `secretd init-cluster` for a store made before identities existed, or at
 * the first `secretd serve` of such a store (with the default key type).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "base/macro.h"
#include "secretd/identity.h"
#include "secretd/log.h"
#include "secretd/secretd.h"
#include "store/store.h"

int parse_ca_key_type(const char *s, int *ret) {
  if (!strcmp(s, "p256") || !strcmp(s, "P-256") || !strcmp(s, "ecdsa-p256"))
    *ret = CA_KEY_P256;
  else if (!strcmp(s, "ed25519") || !strcmp(s, "Ed25519"))
    *ret = CA_KEY_ED25519;
  else
    return -EINVAL;
  return 0;
}

static void log_created(struct store *s) {
  struct identity *id = NULL;
  if (identity_open(s, &id) == 0) {
    const struct store_cluster *c = identity_cluster(id);
    log_info("cluster %s created: root CA (%s) and manager %s; private keys sealed in the store",
             c->cluster_id, c->key_type == CA_KEY_ED25519 ? "Ed25519" : "ECDSA P-256",
             c->manager_id);
  }
  identity_free(id);
}

int cluster_create_in(struct store *s, int key_type) {
  struct store_actor a = {.uid = (uint32_t)getuid()};
  int r = identity_cluster_create(s, &a, (enum ca_key_type)key_type);
  if (r < 0)
    return r;
  log_created(s);
  return 0;
}

int identity_open_or_migrate(struct store *s, struct identity **ret) {
  int r = identity_open(s, ret);
  if (r != STORE_ID_E_NOCLUSTER) {
    if (r < 0)
      log_err("cannot load the cluster identity: %s", identity_strerror(r));
    return r;
  }
  log_info("this store predates cluster identities: creating one (ECDSA P-256; use "
           "`secretd init-cluster --ca-key-type ed25519` before the first serve for Ed25519)");
  if ((r = cluster_create_in(s, CA_KEY_P256)) < 0 || (r = identity_open(s, ret)) < 0)
    log_err("cannot create the cluster identity: %s", identity_strerror(r));
  return r;
}

int verb_init_cluster(int argc, char **argv) {
  static const struct option opts[] = {
      {"data", required_argument, NULL, 'd'},
      {"unlock-key-file", required_argument, NULL, 'k'},
      {"ca-key-type", required_argument, NULL, 't'},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  static const char usage[] =
      "usage: secretd init-cluster --data DIR [--unlock-key-file PATH] [--ca-key-type p256|ed25519]";
  const char *dir = NULL, *key_file = NULL;
  int c, r, type = CA_KEY_P256;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'd': dir = optarg; break;
    case 'k': key_file = optarg; break;
    case 't':
      if (parse_ca_key_type(optarg, &type) < 0) {
        log_err("--ca-key-type: want p256 or ed25519");
        return 2;
      }
      break;
    case 'h': puts(usage + 7); return 0;
    default: return 2;
    }
  }
  if (!dir || optind != argc) {
    log_err("%s", usage);
    return 2;
  }
  _cleanup_close_ int lock_fd = -1;
  pid_t holder = 0;
  if ((r = serve_lock_acquire(dir, &lock_fd, &holder)) < 0) {
    if (r == SD_E_LOCKED)
      log_err("store is in use by secretd (pid %d): stop it first", (int)holder);
    else
      log_err("%s: %s", dir, sd_strerror(r));
    return 1;
  }
  _cleanup_(store_closep) struct store *s = NULL;
  if ((r = unlock_open_store(dir, key_file, NULL, &s)) < 0) {
    log_err("cannot open the store in %s: %s", dir, sd_strerror(r));
    return 1;
  }
  struct identity *id = NULL;
  if (identity_open(s, &id) == 0) {
    log_err("the store in %s already has cluster %s", dir, identity_cluster(id)->cluster_id);
    identity_free(id);
    return 1;
  }
  if ((r = cluster_create_in(s, type)) < 0) {
    log_err("cannot create the cluster identity: %s", identity_strerror(r));
    return 1;
  }
  return 0;
}
