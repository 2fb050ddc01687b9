/*
 * The secretd store: one LMDB environment in a directory (data.mdb, lock.mdb,
 * both 0600) with named databases secrets, names, versions, grants, services,
 * tasks, nodes, tokens, audit and meta. Records are msgpack; secret values are
 * stored only as ciphertext (crypto/envelope.h). Every write operation commits
 * atomically together with its audit chain record. docs/architecture-store.md
 * describes the layout, key hierarchy and crash safety.
 *
 * Errors: 0 or a negative errno / SD_E_* code (base/error.h). LMDB errors are
 * translated here: MDB_MAP_FULL -> SD_E_MAPFULL, disk full -> -ENOSPC,
 * MDB_NOTFOUND -> -ENOENT, MDB_KEYEXIST -> -EEXIST, corruption -> -EIO.
 * -EBADMSG: a stored record failed authentication or a reference between
 * records is broken (offline tampering); the store queues a "store.tamper"
 * audit record for it, written by the next batch (store_tamper_count).
 * Library code: never logs, never exits.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/keys.h"
#include "crypto/secbuf.h"

/* 2: every data record carries an authentication tag (recmac.c). 3: the tag
 * of a version record covers the AEAD tag of its ciphertext instead of the
 * whole ciphertext; store_open upgrades a schema 2 store in place (checking
 * every version record's schema 2 tag first) and audits it as
 * "store.migrate". Stores of schema 1 (made before record authentication)
 * are refused with SD_E_SCHEMA; there is no in-place upgrade from 1
 * (docs/architecture-store.md). */
#define STORE_SCHEMA_VERSION 3
#define STORE_DEFAULT_MAP_SIZE ((size_t)4 << 30)
#define STORE_DEFAULT_KEEP_VERSIONS 5

struct store;

struct store_opts {
  size_t map_size;        /* 0 = default 4 GiB */
  unsigned keep_versions; /* 0 = default 5 */
  const char *audit_file; /* NULL = none; JSON lines appended after each commit */
};

/* node == NULL: a local uid, rendered "uid:<uid>"; otherwise "node:<node>". */
struct store_actor {
  uint32_t uid;
  const char *node;
};

/* ---- lifecycle ---------------------------------------------------------- */

/* Create a new store in dir (created 0700 if missing): schema version, cluster
 * id, a master key wrapped by `unlock`, an audit key wrapped by the master key,
 * and a first audit record "store.init". o may be NULL (defaults).
 * A data.mdb without a store in it (init crashed before its one commit) is
 * initialised. Returns 0, SD_E_EXISTS (dir already holds a store), -errno. */
int store_init(const char *dir, const struct sd_key *unlock, const struct store_opts *o);

/* Open. *ret owns the handle (store_close). o may be NULL. Returns 0,
 * SD_E_NOSTORE (no data.mdb / no meta), SD_E_SCHEMA (other schema version),
 * SD_E_BADKEY (unlock key unwraps neither the current nor, during an unlock-key
 * rotation, the previous wrap of the master key), -errno. */
int store_open(const char *dir, const struct sd_key *unlock, const struct store_opts *o,
               struct store **ret);
void store_close(struct store *s); /* NULL ok */

/* The master key stays mapped read-only between secret reads (no mprotect
 * pair per read); call this periodically (secretd: every second) to make it
 * PROT_NONE again while idle. Thread-safe. NULL ok. */
void store_seal_idle_keys(struct store *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct store *, store_close)

/* Consistent, compacted copy of the store in dir to dest_file (created O_EXCL,
 * mode 0600; ciphertext only, no key). Opens the environment read-only, so it
 * works while another process (secretd serve) has it open. Never call it in a
 * process that has the same store open (LMDB forbids two handles of one
 * environment in a process): use store_backup_to() there.
 * Returns 0, SD_E_NOSTORE, -EEXIST, -errno; dest_file is removed on failure. */
int store_backup(const char *dir, const char *dest_file);
/* The same from an open handle (e.g. inside secretd serve). */
int store_backup_to(struct store *s, const char *dest_file);

/*
 * Unlock-key rotation, two phases, each one LMDB txn (see the docs):
 * 1. store_rotate_unlock_key(): verifies old_key, then stores the master key
 *    wrapped by new_key as current and keeps the wrap by old_key as "previous"
 *    (so both keys open the store); audited "key.rotate_unlock".
 * 2. the caller makes new_key durable (key file / operator has the token), then
 *    store_forget_old_unlock_key() drops the previous wrap (requires new_key).
 * A crash anywhere leaves a store that opens with the old key, the new key or
 * both; rerunning both steps completes the rotation.
 * Returns 0, SD_E_BADKEY, SD_E_NOSTORE, SD_E_SCHEMA, -errno.
 */
int store_rotate_unlock_key(const char *dir, const struct sd_key *old_key,
                            const struct sd_key *new_key);
int store_forget_old_unlock_key(const char *dir, const struct sd_key *new_key);
/* True when a previous unlock-key wrap is still kept (phase 2 pending). */
bool store_unlock_rotation_pending(struct store *s);

/* New master key: rewrap every data key and the audit key in one txn with an
 * audit record "key.rotate_master". Blocks concurrent batches and reads of
 * this handle for its duration. Returns 0, -EBUSY (an unlock-key rotation is
 * half done: finish it first), -ESTALE (another process changed the master
 * wrap since this handle opened: reopen), SD_E_MAPFULL, -ENOSPC, -errno.
 * Never call it from a thread that has a batch open (it waits for batches).
 * A handle whose store was rotated by another process keeps working: reads
 * and batches unwrap the current master key with the unlock key it kept. */
int store_rotate_master_key(struct store *s, const struct store_actor *a);

/* ---- writes: group commit ------------------------------------------------ */

/* A batch is one LMDB write txn; every op runs in a nested txn together with
 * its audit record. A failed op is rolled back and a failure record (outcome
 * "error:<code> <message>" or "denied", see store_audit_note) is written instead; if even that cannot
 * be written the op returns that error. Nothing is durable before commit.
 * All calls on one batch from the thread that began it. Blocks while another
 * batch is open (LMDB has one writer). */
struct store_batch;
int store_batch_begin(struct store *s, struct store_batch **ret); /* -ENOMEM, -errno */
/* Commit and free b. On error every op in it is lost: SD_E_MAPFULL, -ENOSPC,
 * -EIO. After a successful commit the batch's audit records are appended to
 * opts.audit_file (a failure there does not undo the commit; see
 * store_audit_file_error). */
int store_batch_commit(struct store_batch *b);
void store_batch_abort(struct store_batch *b); /* frees b; NULL ok */
/* The secret the batch's last create/rotate/remove/grant op acted on, as
 * resolved in that op's own transaction (so a reply names what was really
 * changed, not what the caller typed): 32 hex digits and the name, both ""
 * when the op resolved nothing (e.g. -ENOENT). Also set when the op failed
 * after resolving (e.g. SD_E_GRANTED). */
void store_batch_last_target(const struct store_batch *b, char ret_id[33], char ret_name[65]);
/* Number of audit records (= ops + notes) in the batch so far. */
size_t store_batch_size(const struct store_batch *b);

/*
 * Savepoints: ops that must be undone when a check after them fails (secretd
 * refuses a write that would make a node's assignment set too large for one
 * frame: it writes, measures the set in the batch's own transaction, and rolls
 * back). store_savepoint_begin() opens a nested txn under the batch's current
 * one; every op and read on b until the savepoint ends runs inside it (reads
 * through store_batch_* functions see the ops' effects). release() keeps what
 * was done (commits it into the batch), rollback() drops it together with the
 * audit records its ops wrote (and any tamper records flushed meanwhile).
 * Savepoints nest; end them in reverse order. Same thread as the batch.
 * begin: 0, -EINVAL, -ENOMEM, -errno (then no savepoint is open).
 * release: 0 or the LMDB error (then the savepoint's work is rolled back).
 * Both free *sp; rollback accepts NULL.
 */
struct store_savepoint;
int store_savepoint_begin(struct store_batch *b, struct store_savepoint **ret);
int store_savepoint_release(struct store_savepoint *sp);
void store_savepoint_rollback(struct store_savepoint *sp);

struct store_label {
  const char *key;
  const char *value;
};

struct store_grant {
  const char *service;
  const char *target; /* NULL = the secret's name */
  uint32_t uid, gid, mode;
  uint64_t created_ns; /* output only */
  /* The owner is "unset": the service's user (its --user; under --userns a
   * container id), resolved by the agent. uid/gid are then ignored (0 in output). */
  bool uid_unset, gid_unset;
  /* A pinned version (it must exist when granted; rotations keep it), or 0:
   * follow the latest. */
  uint32_t version;
};
/* Fill the documented defaults: target NULL, uid 0, gid 0, mode 0400, follow
 * the latest (secretd asks for unset owners: the service's user). */
void store_grant_defaults(struct store_grant *g);

/* Create version 1. Labels: keys are names, values <= 255 bytes, no NUL,
 * at most 32 labels. ret_id may be NULL. Returns 0, SD_E_NAME, SD_E_VALUE,
 * -EINVAL (label), -EEXIST, SD_E_MAPFULL, -ENOSPC. */
int store_secret_create(struct store_batch *b, const struct store_actor *a, const char *name,
                        const struct secbuf *value, const struct store_label *labels,
                        size_t n_labels, char ret_id[33]);
/* Add a new version; keeps opts.keep_versions newest versions and deletes the
 * older ciphertexts. ret_version may be NULL. -ENOENT, SD_E_VALUE, ... */
int store_secret_rotate(struct store_batch *b, const struct store_actor *a, const char *ref,
                        const struct secbuf *value, uint32_t *ret_version);
/* Remove with all versions; SD_E_GRANTED while granted unless force (which
 * removes the grants too). -ENOENT. */
int store_secret_remove(struct store_batch *b, const struct store_actor *a, const char *ref,
                        bool force);
/* Grant (or update the grant of) secret ref to g->service. The service need
 * not exist. Returns 0, -ENOENT, SD_E_NAME (service), SD_E_TARGET, SD_E_MODE,
 * -EINVAL (uid/gid 0xFFFFFFFF). */
int store_grant_add(struct store_batch *b, const struct store_actor *a, const char *ref,
                    const struct store_grant *g);
/* Revoke. -ENOENT (no such secret or no such grant). */
int store_grant_remove(struct store_batch *b, const struct store_actor *a, const char *ref,
                       const char *service);
/* An audit-only record (denied peer, malformed request, refused verb).
 * outcome 0 -> "ok", SD_E_DENIED -> "denied", else "error:<code> <message>"
 * with a stable code (not_found, exists, granted, bad_name, bad_value,
 * bad_target, bad_mode, bad_argument, too_big, out_of_range, overflow,
 * bad_request, store_full, disk_full, tampered, decrypt_failed, chain_broken,
 * busy, no_memory, cancelled, io_error; "other code <n>" for the rest).
 * object may be NULL (""). Returns 0 or the error writing the record. */
int store_audit_note(struct store_batch *b, const struct store_actor *a, const char *action,
                     const char *object, int outcome);

/* ---- reads (own read txn; any thread) ------------------------------------ */
/* ref = a name, or a full 32-hex-char id; the name wins. Never a prefix. */

struct store_version_info {
  uint32_t version;
  uint64_t created_ns;
};
struct store_secret_info {
  char id[33];
  char name[65];
  uint64_t created_ns, updated_ns;
  uint32_t latest;
  struct store_version_info *versions; /* ascending */
  size_t n_versions;
  struct store_label *labels;
  size_t n_labels;
  struct store_grant *grants; /* sorted by service */
  size_t n_grants;
};
/* All secrets sorted by name; *ret owned by caller (store_secret_info_free(*ret, n)). */
int store_secret_list(struct store *s, struct store_secret_info **ret, size_t *ret_n);
/* A page of that listing: at most limit secrets (0 = no limit) whose names
 * sort strictly after after[0..after_len) in the names table's key order
 * (byte order, a prefix first: the order of store_secret_list), or from the
 * first when after is NULL. The position need not be an existing name, so a
 * listing continues correctly after the last name returned was removed.
 * Returns 0, -EINVAL (after_len 0 or over 511), -EBADMSG, -ENOMEM, -errno. */
int store_secret_list_after(struct store *s, const void *after, size_t after_len, size_t limit,
                            struct store_secret_info **ret, size_t *ret_n);
int store_secret_inspect(struct store *s, const char *ref, struct store_secret_info **ret);
/* A page of the grants of secret ref: *ret has id, name, times and at most
 * limit grants (0 = no limit) whose services sort strictly after
 * after[0..after_len) in byte order (NULL: from the first), sorted by
 * service; no versions or labels. Free with store_secret_info_free(*ret, 1).
 * Returns 0, -ENOENT (no such secret), -EINVAL (after_len 0 or over 495),
 * -EBADMSG, -ENOMEM, -errno. */
int store_grant_list_after(struct store *s, const char *ref, const void *after,
                           size_t after_len, size_t limit, struct store_secret_info **ret);
void store_secret_info_free(struct store_secret_info *v, size_t n); /* NULL ok */
/* Decrypt a version (0 = latest). -ENOENT (secret or version), SD_E_DECRYPT. */
int store_secret_read(struct store *s, const char *ref, uint32_t version, struct secbuf **ret);

struct store_audit_rec {
  uint64_t seq, time_ns;
  char actor[80];
  char action[40];
  char object[300];
  char outcome[80];
  uint8_t prev[32], hash[32];
};
/* Records with seq > after_seq and time_ns >= since_ns, at most limit (0 = no
 * limit), in order. *ret is malloc()ed (free() it; NULL when n == 0). */
int store_audit_list(struct store *s, uint64_t after_seq, uint64_t since_ns, size_t limit,
                     struct store_audit_rec **ret, size_t *ret_n);

struct store_audit_verdict {
  bool ok;
  uint64_t head_seq; /* last record that verified in order (0: none) */
  uint8_t head_hash[32];
  uint64_t first_bad_seq; /* 0 when ok */
  char reason[120];
};
/* Verify the whole chain; with expect_seq/expect_hash (a head saved earlier,
 * both or neither) also detect records cut off the end. Returns 0 with *ret
 * filled (ret->ok says the verdict) or -errno on I/O errors. */
int store_audit_verify(struct store *s, const uint64_t *expect_seq, const uint8_t *expect_hash,
                       struct store_audit_verdict *ret);

/* Records that failed authentication since open (each is audited as
 * "store.tamper" by the next batch). */
uint64_t store_tamper_count(struct store *s);

/* Last error appending to opts.audit_file (0 = none) and clear it. */
int store_audit_file_error(struct store *s);
/*
 * The audit file mirrors the chain: line n is record n, from store.init on.
 * store_open() calls this: it cuts a partial last line (a crash inside a
 * write), then appends every chain record after the file's last line (lines
 * lost by a crash between a commit and its append, or all of them for a new
 * file). *ret_appended (may be NULL) gets the number of lines appended.
 * After a failed append, the next commit catches up the same way.
 * Returns 0, -ESTALE (the file is ahead of the chain: another store's file,
 * or the store was rolled back to an older copy; nothing appended),
 * -EBADMSG (the last line is not an audit record), -errno.
 */
int store_audit_file_sync(struct store *s, uint64_t *ret_appended);
/* Lines the catch-up at store_open() appended (0: the file was complete). */
uint64_t store_audit_file_recovered(const struct store *s);
