/* The LMDB environment: init, open, close, schema and key loading. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include <sodium.h>

#include "base/error.h"
#include "base/secbuf.h"
#include "crypto/envelope.h"
#include "store/internal.h"

const char *const store_db_names[DBI_N] = {
    [DBI_SECRETS] = "secrets", [DBI_NAMES] = "names", [DBI_VERSIONS] = "versions",
    [DBI_GRANTS] = "grants",   [DBI_SERVICES] = "services", [DBI_TASKS] = "tasks",
    [DBI_NODES] = "nodes",     [DBI_TOKENS] = "tokens",     [DBI_AUDIT] = "audit",
    [DBI_META] = "meta",       [DBI_GENERATIONS] = "generations",
};

int store_mdb_err(int rc) {
  switch (rc) {
  case MDB_SUCCESS:
    return 0;
  case MDB_MAP_FULL:
    return SD_E_MAPFULL;
  case MDB_NOTFOUND:
    return -ENOENT;
  case MDB_KEYEXIST:
    return -EEXIST;
  case MDB_READERS_FULL:
  case MDB_MAP_RESIZED:
    return -EAGAIN;
  case MDB_TXN_FULL:
  case MDB_BAD_VALSIZE:
    return -E2BIG;
  case MDB_DBS_FULL:
    return -EMFILE;
  default:
    if (rc > 0 && rc < 4096)
      return -rc; /* errno from the OS, e.g. ENOSPC, EIO */
    return -EIO;  /* MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_INVALID, ... */
  }
}

int store_commit_err(MDB_env *env, int rc) {
  int r = store_mdb_err(rc);
  int fd;
  struct statvfs st;
  /* LMDB reports a short write (the disk filled up during the write) as EIO:
   * call it what it is when the file system is (nearly) out of space. */
  if (r == -EIO && mdb_env_get_fd(env, &fd) == 0 && fstatvfs(fd, &st) == 0 &&
      (uint64_t)st.f_bavail * st.f_frsize < (1u << 20))
    r = -ENOSPC;
  return r;
}

uint64_t store_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int path_in(char *buf, size_t len, const char *dir, const char *file) {
  return snprintf(buf, len, "%s/%s", dir, file) >= (int)len ? -ENAMETOOLONG : 0;
}

int store_env_open(const char *dir, size_t map_size, unsigned flags, MDB_env **ret) {
  MDB_env *env = NULL;
  char p[PATH_MAX];
  int r = store_mdb_err(mdb_env_create(&env));
  if (r < 0)
    return r;
  if ((r = store_mdb_err(mdb_env_set_maxdbs(env, 16))) < 0 ||
      (r = store_mdb_err(mdb_env_set_mapsize(env, map_size ? map_size : STORE_DEFAULT_MAP_SIZE))) < 0)
    goto fail;
  /* Never MDB_NOSYNC, MDB_WRITEMAP or MDB_NOMEMINIT: durability and no stale
   * heap bytes in the file. MDB_NOTLS: read txns are not bound to a thread. */
  if ((r = store_mdb_err(mdb_env_open(env, dir, flags | MDB_NOTLS, 0600))) < 0)
    goto fail;
  if (!(flags & MDB_RDONLY)) {
    /* mode 0600 regardless of the umask that created them or older modes */
    if (path_in(p, sizeof(p), dir, STORE_DATA_FILE) == 0 && chmod(p, 0600) < 0) {
      r = -errno;
      goto fail;
    }
    if (path_in(p, sizeof(p), dir, STORE_LOCK_FILE) == 0 && chmod(p, 0600) < 0) {
      r = -errno;
      goto fail;
    }
  }
  *ret = env;
  return 0;
fail:
  mdb_env_close(env);
  return r;
}

int store_dbis_open(MDB_txn *txn, bool create, MDB_dbi dbi[DBI_N]) {
  for (int i = 0; i < DBI_N; i++) {
    int rc = mdb_dbi_open(txn, store_db_names[i], create ? MDB_CREATE : 0, &dbi[i]);
    if (rc == MDB_NOTFOUND && !create && i != DBI_META)
      rc = mdb_dbi_open(txn, store_db_names[i], MDB_CREATE, &dbi[i]); /* added later */
    if (rc == MDB_NOTFOUND)
      return SD_E_NOSTORE;
    if (rc != 0)
      return store_mdb_err(rc);
  }
  return 0;
}

static int meta_get(MDB_txn *txn, MDB_dbi meta, const char *key, MDB_val *v) {
  MDB_val k = {strlen(key), (void *)key};
  return store_mdb_err(mdb_get(txn, meta, &k, v));
}

static int meta_put(MDB_txn *txn, MDB_dbi meta, const char *key, const void *data, size_t len) {
  MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)data};
  return store_mdb_err(mdb_put(txn, meta, &k, &v, 0));
}

/* The oldest schema store_open upgrades in place (open_txn). */
#define SCHEMA_UPGRADABLE 2

/* SD_E_SCHEMA unless meta holds STORE_SCHEMA_VERSION or SCHEMA_UPGRADABLE;
 * *ret (may be NULL) receives which. */
static int check_schema(MDB_txn *txn, MDB_dbi meta, unsigned *ret) {
  MDB_val v;
  int r = meta_get(txn, meta, META_SCHEMA, &v);
  if (r == -ENOENT)
    return SD_E_NOSTORE;
  if (r < 0)
    return r;
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  r = SD_E_SCHEMA;
  if (msgpack_unpack_next(&u, v.mv_data, v.mv_size, &off) == MSGPACK_UNPACK_SUCCESS &&
      off == v.mv_size && u.data.type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
      (u.data.via.u64 == STORE_SCHEMA_VERSION || u.data.via.u64 == SCHEMA_UPGRADABLE)) {
    if (ret)
      *ret = (unsigned)u.data.via.u64;
    r = 0;
  }
  msgpack_unpacked_destroy(&u);
  return r;
}

int store_load_master(MDB_txn *txn, MDB_dbi meta, const struct sd_key *unlock,
                      uint8_t cluster_id[16], struct sd_key **ret_master, bool *ret_used_prev) {
  MDB_val v;
  int r = check_schema(txn, meta, NULL);
  if (r < 0)
    return r;
  if ((r = meta_get(txn, meta, META_CLUSTER, &v)) < 0)
    return r == -ENOENT ? SD_E_NOSTORE : r;
  if (v.mv_size != 16)
    return -EIO;
  memcpy(cluster_id, v.mv_data, 16);
  const char *which[2] = {META_MASTER, META_MASTER_PREV};
  for (int i = 0; i < 2; i++) {
    if ((r = meta_get(txn, meta, which[i], &v)) == -ENOENT)
      continue;
    if (r < 0)
      return r;
    if (v.mv_size != SD_WRAPPED_KEY_LEN)
      return -EIO;
    r = sd_key_unwrap(unlock, SD_WRAP_MASTER, cluster_id, 16, v.mv_data, ret_master);
    if (r == 0) {
      if (ret_used_prev)
        *ret_used_prev = i == 1;
      return 0;
    }
    if (r != SD_E_DECRYPT)
      return r;
  }
  return SD_E_BADKEY;
}

int store_master_for_txn(struct store *s, MDB_txn *txn, struct sd_key **tmp,
                         const struct sd_key **ret) {
  MDB_val v;
  /* Reads share snapshots: one check per snapshot, not one meta get per read. */
  size_t snap = mdb_txn_id(txn);
  if (snap && snap == __atomic_load_n(&s->master_ok_txnid, __ATOMIC_ACQUIRE)) {
    *ret = s->master;
    return 0;
  }
  int r = meta_get(txn, s->dbi[DBI_META], META_MASTER, &v);
  if (r < 0)
    return r;
  if (v.mv_size == SD_WRAPPED_KEY_LEN && memcmp(v.mv_data, s->master_wrapped, v.mv_size) == 0) {
    __atomic_store_n(&s->master_ok_txnid, snap, __ATOMIC_RELEASE);
    *ret = s->master;
    return 0;
  }
  /* The wrap changed. If our master key still opens the audit key (whose wrap
   * changes only with the master key), only the unlock key was rotated by
   * another process (`secretd rotate-unlock-key` while serving): keep ours. */
  MDB_val a;
  struct sd_key *ak = NULL;
  if (meta_get(txn, s->dbi[DBI_META], META_AUDIT_KEY, &a) == 0 && a.mv_size == SD_WRAPPED_KEY_LEN &&
      sd_key_unwrap(s->master, SD_WRAP_AUDIT, s->cluster_id, 16, a.mv_data, &ak) == 0) {
    sd_key_free(ak);
    __atomic_store_n(&s->master_ok_txnid, snap, __ATOMIC_RELEASE);
    *ret = s->master;
    return 0;
  }
  /* The master key was rotated by another process since we loaded it. */
  uint8_t cid[16];
  if ((r = store_load_master(txn, s->dbi[DBI_META], s->unlock, cid, tmp, NULL)) < 0)
    return r;
  *ret = *tmp;
  return 0;
}

static int key_dup(const struct sd_key *k, struct sd_key **ret) {
  const uint8_t *b = sd_key_acquire(k);
  int r = sd_key_from_bytes(b, SD_KEY_LEN, ret);
  sd_key_release(k);
  return r;
}

static int schema_bytes(unsigned version, uint8_t out[8], size_t *ret_len) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  int r = msgpack_pack_uint32(&pk, version) == 0 && sb.size <= 8 ? 0 : -ENOMEM;
  if (r == 0) {
    memcpy(out, sb.data, sb.size);
    *ret_len = sb.size;
  }
  msgpack_sbuffer_destroy(&sb);
  return r;
}

/* Schema 2 -> 3 in open's write txn: every version record whose schema 2 tag
 * holds is written back with its schema 3 tag (recmac.c); one that fails is
 * left as it was (it fails the schema 3 check as well) and reported as a
 * tamper signal. Then the schema and a "store.migrate" audit record. */
static int migrate_from_2(struct store *s, MDB_txn *txn) {
  MDB_cursor *c;
  MDB_val k, v;
  size_t n = 0, bad = 0;
  int r = store_mdb_err(mdb_cursor_open(txn, s->dbi[DBI_VERSIONS], &c)), rc;
  if (r < 0)
    return r;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    r = store_rec_version_migrate(s, c, &k, &v);
    if (r == -EBADMSG)
      bad++;
    else if (r < 0)
      break;
    else
      n++;
    r = 0;
  }
  mdb_cursor_close(c);
  if (r == 0 && rc != MDB_NOTFOUND)
    r = store_mdb_err(rc);
  uint8_t schema[8];
  size_t slen;
  struct audit_head head;
  struct store_audit_rec rec;
  char actor[80], object[120];
  if (r < 0 || (r = schema_bytes(STORE_SCHEMA_VERSION, schema, &slen)) < 0 ||
      (r = meta_put(txn, s->dbi[DBI_META], META_SCHEMA, schema, slen)) < 0 ||
      (r = store_audit_head_load(txn, s->dbi[DBI_AUDIT], &head)) < 0)
    return r;
  store_audit_render_actor(&(struct store_actor){.uid = (uint32_t)geteuid()}, actor);
  snprintf(object, sizeof(object), "store schema:%d->%d versions:%zu refused:%zu",
           SCHEMA_UPGRADABLE, STORE_SCHEMA_VERSION, n, bad);
  return store_audit_append(txn, s->dbi[DBI_AUDIT], s->audit_key, &head, actor, "store.migrate",
                            object, "ok", &rec);
}

static int init_txn(MDB_txn *txn, const struct sd_key *unlock) {
  MDB_dbi dbi[DBI_N];
  _cleanup_(sd_key_freep) struct sd_key *master = NULL, *akey = NULL;
  uint8_t cid[16], wm[SD_WRAPPED_KEY_LEN], wa[SD_WRAPPED_KEY_LEN], schema[8];
  int r;
  size_t slen;
  if ((r = store_dbis_open(txn, true, dbi)) < 0 ||
      (r = schema_bytes(STORE_SCHEMA_VERSION, schema, &slen)) < 0)
    return r;

  randombytes_buf(cid, sizeof(cid));
  if ((r = sd_key_generate(&master)) < 0 || (r = sd_key_generate(&akey)) < 0)
    return r;
  if ((r = sd_key_wrap(unlock, SD_WRAP_MASTER, cid, 16, master, wm)) < 0 ||
      (r = sd_key_wrap(master, SD_WRAP_AUDIT, cid, 16, akey, wa)) < 0)
    return r;
  if ((r = meta_put(txn, dbi[DBI_META], META_SCHEMA, schema, slen)) < 0 ||
      (r = meta_put(txn, dbi[DBI_META], META_CLUSTER, cid, 16)) < 0 ||
      (r = meta_put(txn, dbi[DBI_META], META_MASTER, wm, sizeof(wm))) < 0 ||
      (r = meta_put(txn, dbi[DBI_META], META_AUDIT_KEY, wa, sizeof(wa))) < 0)
    return r;
  struct audit_head head = {0};
  struct store_audit_rec rec;
  char actor[80];
  store_audit_render_actor(&(struct store_actor){.uid = (uint32_t)geteuid()}, actor);
  return store_audit_append(txn, dbi[DBI_AUDIT], akey, &head, actor, "store.init", "store", "ok", &rec);
}

/* True when txn's environment already holds a store (the meta DB exists). */
static bool holds_store(MDB_txn *txn) {
  MDB_dbi meta;
  return mdb_dbi_open(txn, store_db_names[DBI_META], 0, &meta) != MDB_NOTFOUND;
}

int store_init(const char *dir, const struct sd_key *unlock, const struct store_opts *o) {
  char p[PATH_MAX];
  MDB_env *env = NULL;
  MDB_txn *txn = NULL;
  int r;
  if (!dir || !unlock)
    return -EINVAL;
  if (mkdir(dir, 0700) < 0 && errno != EEXIST)
    return -errno;
  if ((r = path_in(p, sizeof(p), dir, STORE_DATA_FILE)) < 0)
    return r;
  bool existed = access(p, F_OK) == 0;
  if ((r = store_env_open(dir, o ? o->map_size : 0, 0, &env)) < 0)
    return r;
  if ((r = store_mdb_err(mdb_txn_begin(env, NULL, 0, &txn))) < 0)
    goto out;
  /* A data.mdb without a meta DB is left by an init that crashed before its
   * one commit: initialise it. Anything else is a store: refuse. */
  if (existed && holds_store(txn)) {
    mdb_txn_abort(txn);
    r = SD_E_EXISTS;
    goto out;
  }
  if ((r = init_txn(txn, unlock)) < 0) {
    mdb_txn_abort(txn);
    goto out;
  }
  r = store_commit_err(env, mdb_txn_commit(txn));
out:
  mdb_env_close(env);
  return r;
}

static int audit_file_open(const char *path, int *ret_fd) {
  int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0)
    return -errno;
  *ret_fd = fd;
  return 0;
}

static int open_txn(struct store *s, const struct sd_key *unlock) {
  MDB_txn *txn;
  MDB_val v;
  int r = store_mdb_err(mdb_txn_begin(s->env, NULL, 0, &txn));
  if (r < 0)
    return r;
  if ((r = store_dbis_open(txn, false, s->dbi)) < 0 ||
      (r = store_load_master(txn, s->dbi[DBI_META], unlock, s->cluster_id, &s->master, NULL)) < 0)
    goto fail;
  if ((r = meta_get(txn, s->dbi[DBI_META], META_MASTER, &v)) < 0)
    goto fail;
  if (v.mv_size != SD_WRAPPED_KEY_LEN) {
    r = -EIO;
    goto fail;
  }
  memcpy(s->master_wrapped, v.mv_data, SD_WRAPPED_KEY_LEN);
  if ((r = meta_get(txn, s->dbi[DBI_META], META_AUDIT_KEY, &v)) < 0)
    goto fail;
  if (v.mv_size != SD_WRAPPED_KEY_LEN) {
    r = -EIO;
    goto fail;
  }
  if ((r = sd_key_unwrap(s->master, SD_WRAP_AUDIT, s->cluster_id, 16, v.mv_data, &s->audit_key)) < 0 ||
      (r = store_rec_key_derive(s->audit_key, &s->rec_key)) < 0 ||
      (r = store_rec_state_init(s->rec_key, &s->rec_state, &s->rec_state_precompressed)) < 0)
    goto fail;
  unsigned schema = STORE_SCHEMA_VERSION;
  if ((r = check_schema(txn, s->dbi[DBI_META], &schema)) < 0 ||
      (schema == SCHEMA_UPGRADABLE && (r = migrate_from_2(s, txn)) < 0))
    goto fail;
  /* Read on every secret read: they linger open between reads (no mprotect
   * pair per read) and secretd seals them once a second (store_seal_idle_keys). */
  sd_key_set_lingering(s->master, true);
  if (s->rec_key)
    sd_key_set_lingering(s->rec_key, true);
  return store_commit_err(s->env, mdb_txn_commit(txn));
fail:
  mdb_txn_abort(txn);
  return r;
}

int store_open(const char *dir, const struct sd_key *unlock, const struct store_opts *o,
               struct store **ret) {
  char p[PATH_MAX];
  int r;
  if (!dir || !unlock || !ret)
    return -EINVAL;
  if ((r = path_in(p, sizeof(p), dir, STORE_DATA_FILE)) < 0)
    return r;
  if (access(p, F_OK) < 0)
    return errno == ENOENT ? SD_E_NOSTORE : -errno;
  _cleanup_(store_closep) struct store *s = calloc(1, sizeof(*s));
  if (!s)
    return -ENOMEM;
  s->audit_fd = -1;
  pthread_rwlock_init(&s->key_lock, NULL);
  store_dkcache_init(&s->dkcache);
  pthread_mutex_init(&s->rdtxn_mu, NULL);
  pthread_mutex_init(&s->audit_file_mu, NULL);
  pthread_mutex_init(&s->tamper_mu, NULL);
  s->keep_versions = o && o->keep_versions ? o->keep_versions : STORE_DEFAULT_KEEP_VERSIONS;
  if ((r = store_env_open(dir, o ? o->map_size : 0, 0, &s->env)) < 0)
    return r;
  if ((r = key_dup(unlock, &s->unlock)) < 0 || (r = open_txn(s, unlock)) < 0)
    return r;
  if (o && o->audit_file && (r = audit_file_open(o->audit_file, &s->audit_fd)) < 0)
    return r;
  /* Lines lost by a crash between a commit and its append (or a store made
   * without the file: store.init first) are appended now. A failure here
   * does not stop the store; store_audit_file_error() reports it. */
  if (s->audit_fd >= 0 && (r = store_audit_file_sync(s, &s->audit_file_recovered)) < 0)
    s->audit_file_err = r;
  *ret = TAKE_PTR(s);
  return 0;
}

void store_seal_idle_keys(struct store *s) {
  if (!s)
    return;
  pthread_rwlock_rdlock(&s->key_lock);
  sd_key_seal_idle(s->master);
  sd_key_seal_idle(s->rec_key);
  store_dkcache_wipe(&s->dkcache); /* readable no longer than the master key */
  pthread_rwlock_unlock(&s->key_lock);
}

uint64_t store_audit_file_recovered(const struct store *s) { return s->audit_file_recovered; }

void store_close(struct store *s) {
  if (!s)
    return;
  store_rdtxn_drain(s);
  if (s->env)
    mdb_env_close(s->env);
  sd_key_free(s->unlock);
  sd_key_free(s->master);
  sd_key_free(s->audit_key);
  sd_key_free(s->rec_key);
  secbuf_free(s->rec_state);
  store_dkcache_close(&s->dkcache);
  if (s->audit_fd >= 0)
    close(s->audit_fd);
  pthread_rwlock_destroy(&s->key_lock);
  pthread_mutex_destroy(&s->rdtxn_mu);
  pthread_mutex_destroy(&s->audit_file_mu);
  pthread_mutex_destroy(&s->tamper_mu);
  free(s);
}

/* Copy env into a new 0600 file; removes it on failure. */
static int backup_env(MDB_env *env, const char *dest_file) {
  int r;
  _cleanup_close_ int fd = open(dest_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return -errno;
  if (fchmod(fd, 0600) < 0) {
    r = -errno;
    goto fail;
  }
  if ((r = store_mdb_err(mdb_env_copyfd2(env, fd, MDB_CP_COMPACT))) < 0)
    goto fail;
  if (fsync(fd) < 0) {
    r = -errno;
    goto fail;
  }
  return 0;
fail:
  (void)unlink(dest_file);
  return r;
}

int store_backup(const char *dir, const char *dest_file) {
  char p[PATH_MAX];
  MDB_env *env = NULL;
  int r;
  if (!dir || !dest_file)
    return -EINVAL;
  if ((r = path_in(p, sizeof(p), dir, STORE_DATA_FILE)) < 0)
    return r;
  if (access(p, F_OK) < 0)
    return errno == ENOENT ? SD_E_NOSTORE : -errno;
  if (access(dest_file, F_OK) == 0)
    return -EEXIST;
  if ((r = store_env_open(dir, 0, MDB_RDONLY, &env)) < 0)
    return r;
  r = backup_env(env, dest_file);
  mdb_env_close(env);
  return r;
}

int store_backup_to(struct store *s, const char *dest_file) {
  if (!s || !dest_file)
    return -EINVAL;
  return backup_env(s->env, dest_file);
}
