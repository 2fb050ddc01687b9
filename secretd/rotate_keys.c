/*
 * secretd rotate-unlock-key and rotate-master-key.
 *
 * Unlock key, crash safe in three durable steps:
 *  1. the new key is staged: "<keyfile>.new" (0600, fsync'd), or with
 *     --autolock the new token is printed;
 *  2. store_rotate_unlock_key(): one txn wraps the master key with the new
 *     key and keeps the old wrap as "previous" -- both keys open the store;
 *  3. "<keyfile>.new" is renamed over the key file (fsync'd), then
 *     store_forget_old_unlock_key() drops the old wrap.
 * A crash anywhere leaves a store that opens with the key in the key file
 * (and, after step 2, also the new one); a stale "<keyfile>.new" is removed
 * and rerunning the command completes the rotation. serve warns while an
 * old wrap is still kept. May run while secretd serves: the serving process
 * already holds the master key; the unlock key is only needed at start.
 *
 * Master key: rewraps every data key and the audit key in one transaction,
 * so it is atomic. It needs the store closed by secretd serve (the serving
 * process caches the master key), so it takes the serve lock.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "base/error.h"
#include "base/macro.h"
#include "crypto/keys.h"
#include "secretd/log.h"
#include "secretd/secretd.h"
#include "store/store.h"

/* A "<path>.new" left by an interrupted rotation never replaced the key
 * file, so the key file's key still opens the store: drop the stale copy. */
static int drop_stale_pending(const char *path) {
  char pending[4096];
  int r = unlock_key_pending_path(path, pending, sizeof(pending));
  if (r < 0)
    return r;
  if (unlink(pending) == 0)
    log_warn("removed %s left by an interrupted rotation", pending);
  else if (errno != ENOENT)
    return -errno;
  return 0;
}

static int rotate_unlock(const char *dir, const char *old_file, const char *key_file, bool autolock) {
  char def[4096], pending[4096];
  _cleanup_(sd_key_freep) struct sd_key *old = NULL, *fresh = NULL;
  int r;
  if ((r = unlock_key_default_path(dir, def, sizeof(def))) < 0)
    return r;
  const char *old_path = old_file ? old_file : (access(def, F_OK) == 0 ? def : NULL);
  const char *new_path = key_file ? key_file : (old_path ? old_path : def);
  if (old_path && (r = drop_stale_pending(old_path)) < 0)
    return log_errno(r, "cannot remove a stale staged key");
  if ((r = unlock_key_load(dir, old_path, &old, NULL)) < 0)
    return log_errno(r, "cannot read the current unlock key");
  if ((r = sd_key_generate(&fresh)) < 0)
    return log_errno(r, "cannot generate a key");
  /* 1. stage */
  if (autolock) {
    if ((r = print_token(fresh)) < 0)
      return log_errno(r, "cannot print the new unlock key");
  } else {
    if ((r = unlock_key_pending_path(new_path, pending, sizeof(pending))) < 0 ||
        (r = sd_key_write_file(pending, fresh)) < 0)
      return log_errno(r, "cannot stage the new key file");
  }
  /* 2. rewrap; both keys open the store from here on */
  if ((r = store_rotate_unlock_key(dir, old, fresh)) < 0) {
    if (!autolock)
      unlink(pending);
    if (r == SD_E_BADKEY)
      log_err("wrong unlock key");
    else
      log_errno(r, "cannot rewrap the master key");
    if (autolock)
      log_err("the token printed above is NOT valid; the old key stays in force");
    return r;
  }
  /* 3. make the new key the only one */
  if (!autolock && (r = unlock_key_commit_pending(new_path)) < 0)
    return log_errno(r, "store rewrapped but the new key file could not be put in place "
                        "(both keys work; rerun the rotation)");
  if ((r = store_forget_old_unlock_key(dir, fresh)) < 0)
    return log_errno(r, "cannot drop the old key's wrap (both keys still work; rerun the rotation)");
  if (autolock) {
    if (old_path == def && unlink(def) == 0)
      log_info("removed the old key file %s", def);
    else if (old_path && old_path != def)
      log_warn("%s now holds a stale key; delete it", old_path);
    log_info("unlock key rotated; the token above is shown only once");
    return 0;
  }
  if (old_path && strcmp(old_path, new_path) != 0)
    log_warn("%s now holds a stale key; delete it", old_path);
  log_info("unlock key rotated; new key in %s (mode 0600)", new_path);
  return 0;
}

int verb_rotate_unlock_key(int argc, char **argv) {
  static const struct option opts[] = {
      {"data", required_argument, NULL, 'd'},
      {"unlock-key-file", required_argument, NULL, 'u'},
      {"key-file", required_argument, NULL, 'k'},
      {"autolock", no_argument, NULL, 'a'},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  static const char use[] =
      "usage: secretd rotate-unlock-key --data DIR [--unlock-key-file OLD] [--key-file PATH] "
      "[--autolock]";
  const char *dir = NULL, *old_file = NULL, *key_file = NULL;
  bool autolock = false;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'd': dir = optarg; break;
    case 'u': old_file = optarg; break;
    case 'k': key_file = optarg; break;
    case 'a': autolock = true; break;
    case 'h': puts(use); return 0;
    default: return 2;
    }
  }
  if (!dir || optind != argc || (autolock && key_file)) {
    log_err("%s", use);
    return 2;
  }
  return rotate_unlock(dir, old_file, key_file, autolock) < 0 ? 1 : 0;
}

int verb_rotate_master_key(int argc, char **argv) {
  static const struct option opts[] = {
      {"data", required_argument, NULL, 'd'},
      {"unlock-key-file", required_argument, NULL, 'u'},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  static const char use[] = "usage: secretd rotate-master-key --data DIR [--unlock-key-file PATH]";
  const char *dir = NULL, *key_file = NULL;
  _cleanup_close_ int lock_fd = -1;
  _cleanup_(store_closep) struct store *s = NULL;
  pid_t holder = 0;
  int c, r;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'd': dir = optarg; break;
    case 'u': key_file = optarg; break;
    case 'h': puts(use); return 0;
    default: return 2;
    }
  }
  if (!dir || optind != argc) {
    log_err("%s", use);
    return 2;
  }
  r = serve_lock_acquire(dir, &lock_fd, &holder);
  if (r == SD_E_LOCKED) {
    log_err("store is in use by another secretd (pid %d); stop it before rotating the master key",
            (int)holder);
    return 1;
  }
  if (r < 0)
    return log_errno(r, dir), 1;
  struct store_opts so = {0};
  if ((r = unlock_open_store(dir, key_file, &so, &s)) < 0) {
    if (r == SD_E_BADKEY)
      log_err("wrong unlock key");
    else
      log_errno(r, "cannot open the store");
    return 1;
  }
  struct store_actor actor = {.uid = (uint32_t)getuid(), .node = NULL};
  if ((r = store_rotate_master_key(s, &actor)) < 0)
    return log_errno(r, "master key rotation failed (nothing changed)"), 1;
  log_info("master key rotated; every data key and the audit key are rewrapped");
  return 0;
}
