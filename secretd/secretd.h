/*
 * Internal interfaces of the secretd executable (not a library). Each verb
 * is one file; verb functions parse their own options and return the process
 * exit status (0 ok, 1 failure, 2 usage), logging one clear line on failure.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sd_key;

#define SECRETD_VERSION "0.1.0"
#define SECRETD_DEFAULT_SOCKET "/run/secretd/admin.sock"
#define SECRETD_KEY_FILE_NAME "unlock.key"
#define SECRETD_LOCK_FILE_NAME "serve.lock"

/* Verbs (main.c dispatches). */
int verb_init(int argc, char **argv);
int verb_serve(int argc, char **argv);
int verb_backup(int argc, char **argv);
int verb_rotate_unlock_key(int argc, char **argv);
int verb_rotate_master_key(int argc, char **argv);
int verb_init_cluster(int argc, char **argv);

/* cluster_init.c: "p256" / "ed25519" -> enum ca_key_type. 0 or -EINVAL. */
int parse_ca_key_type(const char *s, int *ret);
/* Create the cluster identity in an open store and log what was made. */
struct store;
struct identity;
int cluster_create_in(struct store *s, int key_type);
/* Load the store's identity, creating it first for a store that predates
 * identities (logged, audited "cluster.init"). Logs failures. */
int identity_open_or_migrate(struct store *s, struct identity **ret);

/* cluster_init.c: renewal of the manager's own certificate while serving.
 * Checked at start and every period_ms (0: MANAGER_CERT_CHECK_DEFAULT_MS):
 * once less than a third of its lifetime is left, a new key and certificate
 * are issued by the cluster CA and stored (one audited op through the commit
 * queue, "cluster.manager_renew"), and the listener serves them to new
 * connections (listen_reload_cert). s->identity and s->cq must exist.
 * Returns 0 or -EINVAL / -ENOMEM. Stop it (loop thread) before the loop's
 * last run: it frees itself once its timer closed and no renewal is in
 * flight (the commit queue's shutdown completes that one). */
#define MANAGER_CERT_CHECK_DEFAULT_MS (60u * 60u * 1000u)
struct server;
struct manager_cert_watch;
int manager_cert_watch_start(struct server *s, uint32_t period_ms,
                             struct manager_cert_watch **ret);
void manager_cert_watch_stop(struct manager_cert_watch *w); /* NULL ok */

/* harden.c: RLIMIT_CORE 0, PR_SET_DUMPABLE 0, SIGPIPE ignored. 0 or -errno. */
int harden_process(void);

/* Print an unlock key as a token line on stdout (--autolock); the stack copy
 * is wiped. Returns 0 or a negative errno. */
struct sd_key;
int print_token(const struct sd_key *key);

/* unlock.c -- unlock-key input, never from argv.
 * Fill buf with "<dir>/unlock.key". 0 or -ENAMETOOLONG. */
int unlock_key_default_path(const char *dir, char *buf, size_t len);
/* Load the unlock key: from key_file when non-NULL, else from <dir>/unlock.key
 * when that exists, else one token line from stdin (echo off on a terminal).
 * On success *ret owns the key (sd_key_free). Sets *ret_from to a static
 * description of the source ("stdin" or "file"). Returns 0, -ENOENT (key file
 * missing), -EINVAL (not a token), -ENODATA (empty stdin), -errno. */
int unlock_key_load(const char *dir, const char *key_file, struct sd_key **ret, const char **ret_from);
/* Fill buf with "<path>.new": where rotate-unlock-key stages a new key file
 * before it rewraps the store. 0 or -ENAMETOOLONG. */
int unlock_key_pending_path(const char *path, char *buf, size_t len);
/* Put a staged key in place: rename "<path>.new" over path and fsync the
 * directory. 0 or -errno. */
int unlock_key_commit_pending(const char *path);

struct store;
struct store_opts;
/* Load the unlock key as unlock_key_load() does and open the store with it.
 * On success *ret owns the open store.
 * Returns 0, SD_E_BADKEY, SD_E_NOSTORE, SD_E_SCHEMA, -ENOENT, -EINVAL, -errno. */
int unlock_open_store(const char *dir, const char *key_file, const struct store_opts *o,
                      struct store **ret);

/* lock.c -- the serve lock: flock(LOCK_EX|LOCK_NB) on <dir>/serve.lock holding
 * the holder's pid. On success *ret_fd owns the lock (close to release).
 * Returns SD_E_LOCKED with *ret_holder set (0 if unknown) when another process
 * holds it, SD_E_NOSTORE if dir is missing, -errno otherwise. */
int serve_lock_acquire(const char *dir, int *ret_fd, pid_t *ret_holder);
