/*
 * Private to store/: the handle, the batch, DB indices, record codecs and
 * the audit-chain helpers shared by the store's .c files. Tests may include
 * it (tests/test_store_*.c) to tamper with raw records.
 */
#pragma once

#include <lmdb.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "crypto/envelope.h"
#include "crypto/keys.h"
#include "store/store.h"

/* Values of the data tables (all but audit and meta) are payload || tag
 * (recmac.c); the payloads: */
enum store_dbi {
  DBI_SECRETS,  /* id(16) -> [name, created_ns, updated_ns, latest, {labels}] */
  DBI_NAMES,    /* name -> id(16) */
  DBI_VERSIONS, /* id(16) || version(4 BE) -> [created_ns, wrapped_dk, nonce, ct] */
  DBI_GRANTS,   /* id(16) || service -> [target, uid|nil, gid|nil, mode, created_ns, version]
                   (records before pins and unset owners: the first five, ints) */
  DBI_SERVICES, /* later work */
  DBI_TASKS,
  DBI_NODES,
  DBI_TOKENS,
  DBI_AUDIT, /* seq(8 BE) -> [seq, time_ns, actor, action, object, outcome, prev, hash] */
  DBI_META,  /* see META_* */
  DBI_GENERATIONS, /* node -> [generation, digest(32)]: the assignment set a node was
                      last given (store/dispatch.h); appended last: the index is in tags */
  DBI_N,
};
extern const char *const store_db_names[DBI_N];

#define META_SCHEMA "schema"         /* msgpack uint */
#define META_CLUSTER "cluster_id"    /* 16 raw bytes */
#define META_MASTER "master"         /* master key wrapped by the unlock key (72) */
#define META_MASTER_PREV "master_prev" /* wrap by the previous unlock key during rotation */
#define META_AUDIT_KEY "audit_key"   /* audit key wrapped by the master key (72) */

#define STORE_DATA_FILE "data.mdb"
#define STORE_LOCK_FILE "lock.mdb"

struct audit_head {
  uint64_t seq; /* 0: empty chain */
  uint8_t hash[32];
};

#define STORE_TAG_LEN 32
#define STORE_RDTXN_MAX 8 /* reset read txns kept for reuse (rdtxn.c) */
#define STORE_DKCACHE_SLOTS 65536u /* unwrapped data keys kept (dkcache.c): 8 MiB */

/* dkcache.c: unwrapped data keys of versions read, in secret memory, valid
 * for the store's current master key only (wiped when it changes or is
 * sealed). Thread-safe (mu). */
struct store_dkcache {
  pthread_mutex_t mu;
  struct secbuf *slots; /* STORE_DKCACHE_SLOTS slots; NULL until the first put */
  size_t n_used;
  uint32_t clock; /* stamps of use, for the least recently used of a set */
  uint64_t hits, misses;
};
#define STORE_TAMPER_MAX 16         /* events kept until the next batch audits them */
#define STORE_TAMPER_EVENT_LEN 120

struct store {
  MDB_env *env;
  MDB_dbi dbi[DBI_N];
  uint8_t cluster_id[16];
  struct sd_key *unlock; /* copy, to rewrap the master key on rotation */
  struct sd_key *master;
  uint8_t master_wrapped[SD_WRAPPED_KEY_LEN]; /* META_MASTER as loaded */
  size_t master_ok_txnid; /* snapshot known to use `master` (atomic; 0: none) */
  struct sd_key *audit_key;
  struct sd_key *rec_key; /* record authentication (recmac.c), derived from audit_key */
  struct secbuf *rec_state; /* BLAKE2b state keyed with rec_key, domain absorbed (recmac.c) */
  bool rec_state_precompressed; /* its key block is compressed (store_rec_state_init) */
  struct store_dkcache dkcache; /* data keys unwrapped by `master` (dkcache.c) */
  pthread_mutex_t tamper_mu; /* guards the tamper events below */
  char tamper[STORE_TAMPER_MAX][STORE_TAMPER_EVENT_LEN];
  unsigned n_tamper;
  uint64_t tamper_dropped, tamper_total;
  pthread_rwlock_t key_lock; /* guards master/master_wrapped swaps */
  pthread_mutex_t rdtxn_mu;  /* guards the pool of reset read txns (rdtxn.c) */
  MDB_txn *rdtxn[STORE_RDTXN_MAX];
  unsigned n_rdtxn;
  unsigned keep_versions;
  int audit_fd; /* -1: no audit file */
  pthread_mutex_t audit_file_mu;
  int audit_file_err;
  bool audit_file_behind;
  uint64_t audit_file_recovered; /* lines appended by the catch-up at open */ /* the file lacks lines: catch up at the next append */
};

struct store_batch {
  struct store *s;
  MDB_txn *txn;
  struct sd_key *tmp_master; /* set when the store was rotated by another process */
  const struct sd_key *master;
  bool keys_held; /* master and audit key acquired for the batch's life */
  struct audit_head head;
  struct store_audit_rec *recs; /* records written in this batch (for the audit file) */
  size_t n_recs, cap_recs;
  bool recs_lost; /* a record could not be copied into recs: the file catches up */
  char last_id[33], last_name[65]; /* what the last op acted on */
};

/* One operation inside a batch: a nested txn plus its audit record. */
struct store_op {
  struct store_batch *b;
  MDB_txn *txn;
  char object[300];
  char target_id[33], target_name[65]; /* resolved in txn ("" until then) */
};

/* errors */
int store_mdb_err(int rc);
/* For the result of mdb_txn_commit: also maps a short write on a full disk to -ENOSPC. */
int store_commit_err(MDB_env *env, int rc);

/* env.c */
int store_env_open(const char *dir, size_t map_size, unsigned flags, MDB_env **ret);
int store_dbis_open(MDB_txn *txn, bool create, MDB_dbi dbi[DBI_N]);
/* Load cluster id and unwrap the master key (trying META_MASTER then
 * META_MASTER_PREV). ret_wrapped may be NULL. SD_E_NOSTORE, SD_E_BADKEY. */
int store_load_master(MDB_txn *txn, MDB_dbi meta, const struct sd_key *unlock,
                      uint8_t cluster_id[16], struct sd_key **ret_master, bool *ret_used_prev);
/* The master key valid in txn's snapshot: s->master when META_MASTER equals
 * the cached wrap, else a key unwrapped into *tmp. Call with key_lock held. */
int store_master_for_txn(struct store *s, MDB_txn *txn, struct sd_key **tmp,
                         const struct sd_key **ret);
uint64_t store_now_ns(void);

/* rdtxn.c: a read-only txn from the pool of reset ones (renewed: a fresh
 * snapshot) or a new one; -errno as store_mdb_err. Give it back with
 * store_rdtxn_end (never mdb_txn_abort), which resets it. drain aborts the
 * pooled txns: store_close calls it before closing the env. */
int store_rdtxn_begin(struct store *s, MDB_txn **ret);
void store_rdtxn_end(struct store *s, MDB_txn *txn);
void store_rdtxn_drain(struct store *s);

/* audit.c */
int store_audit_head_load(MDB_txn *txn, MDB_dbi audit, struct audit_head *ret);
void store_audit_render_actor(const struct store_actor *a, char out[80]);
const char *store_audit_outcome_text(int outcome, char buf[80]);
/* Append one record after head (not advanced). out receives the record. */
int store_audit_append(MDB_txn *txn, MDB_dbi audit, const struct sd_key *key,
                 const struct audit_head *head, const char *actor, const char *action,
                 const char *object, const char *outcome, struct store_audit_rec *out);
/* Encode the MAC'ed part of a record (fields other than prev/hash). */
int store_audit_encode_body(msgpack_sbuffer *sb, const struct store_audit_rec *r);
int store_audit_decode(const void *data, size_t len, struct store_audit_rec *out);
/* The seq of the last complete line of an audit file open for reading and
 * writing (0: empty). Cuts a partial last line (ftruncate). -EBADMSG when the
 * last line is not an audit record (or longer than 4 KiB), -errno.
 * Parses bytes from disk: fuzzed (tests/fuzz/fuzz_audit_tail.c). */
int store_audit_file_last_seq(int fd, uint64_t *ret);
/* Copy a committed batch's records to the audit file (best effort: a failure
 * makes the next append catch up from the chain). incomplete: recs lacks some of
 * the batch's records (a failed allocation), so catch up from the chain now. */
void store_audit_file_append(struct store *s, const struct store_audit_rec *recs, size_t n,
                             bool incomplete);

/* batch.c */
int store_op_begin(struct store_batch *b, struct store_op *op);
/* Finish op with result r: on success append "ok" and commit the nested txn;
 * on failure roll back and write the failure record. Returns r, or the error
 * writing the audit record. */
int store_op_finish(struct store_op *op, const struct store_actor *a, const char *action, int r);
void store_op_set_object(struct store_op *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The secret the op acts on, as resolved in its txn (store_batch_last_target). */
void store_op_set_target(struct store_op *op, const char hex_id[33], const char *name);

/* records.c: decoders keep pointers into the LMDB value (valid in the txn). */
struct secret_rec {
  const char *name;
  size_t name_len;
  uint64_t created_ns, updated_ns;
  uint32_t latest;
  msgpack_object labels; /* map str -> str */
};
struct version_rec {
  uint64_t created_ns;
  const uint8_t *wrapped_dk; /* SD_WRAPPED_KEY_LEN */
  const uint8_t *nonce;      /* SD_NONCE_LEN */
  const uint8_t *ct;
  size_t ct_len;
};
struct grant_rec {
  const char *target;
  size_t target_len;
  uint32_t uid, gid, mode;
  uint64_t created_ns;
  bool uid_unset, gid_unset; /* nil in the record */
  uint32_t version;          /* 0: follow the latest */
};
int store_rec_unpack(const MDB_val *v, msgpack_unpacked *u, msgpack_object **ret_items, uint32_t n);
int store_rec_secret_decode(const MDB_val *v, msgpack_unpacked *u, struct secret_rec *out);
int store_rec_secret_encode(msgpack_sbuffer *sb, const char *name, uint64_t created_ns,
                      uint64_t updated_ns, uint32_t latest, const struct store_label *labels,
                      size_t n_labels, const msgpack_object *labels_obj);
/* The msgpack decoder of version records: the reference that
 * store_rec_version_parse (the one the store uses) is fuzzed against. */
int store_rec_version_decode(const MDB_val *v, msgpack_unpacked *u, struct version_rec *out);
/* A version record's payload p[0..n), parsed from the exact layout
 * store_rec_version_encode writes (fixarray 4, uint, bin8 72, bin8 24, bin
 * 8/16/32 up to the end, at least SD_TAG_LEN long) without msgpack: the
 * reader finds where the ciphertext starts (which bytes the record's tag
 * covers) before the tag is checked. out points into p. 0 or -EIO. Fuzzed
 * against store_rec_version_decode (tests/fuzz/fuzz_store_version.c). */
int store_rec_version_parse(const uint8_t *p, size_t n, struct version_rec *out);
int store_rec_version_encode(msgpack_sbuffer *sb, uint64_t created_ns, const uint8_t *wrapped_dk,
                       const uint8_t *nonce, const uint8_t *ct, size_t ct_len);
int store_rec_grant_decode(const MDB_val *v, msgpack_unpacked *u, struct grant_rec *out);
/* Always the current (6-item) form; the decoder also reads the old 5-item one. */
int store_rec_grant_encode(msgpack_sbuffer *sb, const char *target, const struct grant_rec *g);
void store_be32_put(uint8_t *p, uint32_t v);
uint32_t store_be32_get(const uint8_t *p);
void store_be64_put(uint8_t *p, uint64_t v);
uint64_t store_be64_get(const uint8_t *p);
void store_id_to_hex(const uint8_t id[16], char out[33]);
int store_id_from_hex(const char *hex, uint8_t out[16]);

/* dkcache.c. get: true and dk filled when (id, version, wrapped) was put
 * since the last wipe (the caller wipes dk). put: keeps dk, which `wrapped`
 * unwrapped to under the current master key, replacing its slot's previous
 * key; without memory for the slots it keeps nothing. wipe: forgets every
 * key (master key rotated or sealed). close: wipe and free; init: empty. */
void store_dkcache_init(struct store_dkcache *c);
bool store_dkcache_get(struct store_dkcache *c, const uint8_t id[SD_SECRET_ID_LEN],
                       uint32_t version, const uint8_t wrapped[SD_WRAPPED_KEY_LEN],
                       uint8_t dk[SD_KEY_LEN]);
void store_dkcache_put(struct store_dkcache *c, const uint8_t id[SD_SECRET_ID_LEN],
                       uint32_t version, const uint8_t wrapped[SD_WRAPPED_KEY_LEN],
                       const uint8_t dk[SD_KEY_LEN]);
void store_dkcache_wipe(struct store_dkcache *c);
size_t store_dkcache_count(struct store_dkcache *c);
void store_dkcache_close(struct store_dkcache *c);

/* recmac.c: record authentication. seal/put append the tag; open/get check
 * it and return the payload (pointing into the LMDB value). A bad tag is
 * -EBADMSG and is reported (store_tamper_report) for the audit. The table
 * decides the tag's form: for DBI_VERSIONS these work as the
 * store_rec_version_* functions below (seal/put: -EINVAL for a payload not
 * in the version record layout). */
int store_rec_key_derive(const struct sd_key *audit_key, struct sd_key **ret);
/* The keyed BLAKE2b state every tag starts from (key block and domain string
 * absorbed), in secret memory; computed once at store open from rec_key.
 * *ret_precompressed (may be NULL): true when the key block's compression is
 * done in the state (recmac.c), false when this libsodium's state layout was
 * not the one expected and every tag compresses it (same tags, slower).
 * Returns 0 or -ENOMEM. */
int store_rec_state_init(const struct sd_key *rec_key, struct secbuf **ret,
                         bool *ret_precompressed);
int store_rec_seal(const struct store *s, enum store_dbi t, const MDB_val *k, const void *p,
                   size_t n, uint8_t **ret, size_t *ret_len);
int store_rec_put(const struct store *s, MDB_txn *txn, enum store_dbi t, const MDB_val *k,
                  const void *p, size_t n, unsigned flags);
int store_rec_open(struct store *s, enum store_dbi t, const MDB_val *k, const MDB_val *v,
                   MDB_val *ret_payload);
int store_rec_get(struct store *s, MDB_txn *txn, enum store_dbi t, const MDB_val *k,
                  MDB_val *ret_payload);
/* Version records (schema 3): the tag leaves out the ciphertext's body but
 * for its AEAD tag (recmac.c). put: p is the encoded record, its last ct_len
 * bytes the ciphertext; seal returns payload || tag in a malloc'ed ret (free
 * ret->mv_data). open/get also parse the record into out (pointers into the
 * LMDB value); -EBADMSG (reported) for a bad tag or layout.
 * migrate: check the schema 2 record (whole-payload tag) at cursor c (k, v)
 * and write it back in place in the schema 3 form; -EBADMSG (reported, the
 * record left as it was) when it fails the schema 2 check. */
int store_rec_version_seal(const struct store *s, const MDB_val *k, const void *p, size_t n,
                           size_t ct_len, MDB_val *ret);
int store_rec_version_put(const struct store *s, MDB_txn *txn, const MDB_val *k, const void *p,
                          size_t n, size_t ct_len, unsigned flags);
int store_rec_version_open(struct store *s, const MDB_val *k, const MDB_val *v,
                           struct version_rec *out);
int store_rec_version_get(struct store *s, MDB_txn *txn, const MDB_val *k, struct version_rec *out);
int store_rec_version_migrate(struct store *s, MDB_cursor *c, const MDB_val *k, const MDB_val *v);
/* Queue a tamper event (any thread); the next batch writes it to the audit
 * chain as "store.tamper". what: a short static description. */
void store_tamper_report(struct store *s, enum store_dbi t, const MDB_val *k, const char *what);
/* batch.c: write the queued tamper events into b's chain. */
int store_tamper_flush(struct store_batch *b);

/* grants.c: delete versions <= max_version of secret id except those a grant
 * pins (a pinned service keeps its version across rotations). */
int store_versions_prune(struct store *s, MDB_txn *txn, const uint8_t id[16], uint32_t max_version);

/* services.c, for store/dispatch.c (one read snapshot of a node's assignments):
 * a task record (k/raw as read by a cursor, or raw NULL: read k), a service
 * record without its tasks (info->spec malloc()ed), a grant resolved to its
 * version. Errors as the public readers'. */
struct store_task_info;
struct store_service_info;
struct store_service_grant;
int store_task_read(struct store *s, MDB_txn *txn, const MDB_val *k, const MDB_val *raw,
                    struct store_task_info *t, uint8_t id[16]);
int store_service_read(struct store *s, MDB_txn *txn, const char *name,
                       struct store_service_info *info);
int store_grant_resolve(struct store *s, MDB_txn *txn, const MDB_val *k, const MDB_val *raw,
                        struct store_service_grant *g);

/* secrets.c */
/* Resolve ref (name wins, else full hex id). -ENOENT. */
int store_secret_resolve(struct store *s, MDB_txn *txn, const char *ref, uint8_t id[16]);
