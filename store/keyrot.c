/* Key rotation: the unlock key (rewrap the master key; two phases so that a
 * crash never strands the store) and the master key (rewrap every data key
 * and the audit key in one txn). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "store/internal.h"

static int meta_put(MDB_txn *txn, MDB_dbi meta, const char *key, const void *data, size_t len) {
  MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)data};
  return store_mdb_err(mdb_put(txn, meta, &k, &v, 0));
}

static int meta_get(MDB_txn *txn, MDB_dbi meta, const char *key, MDB_val *v) {
  MDB_val k = {strlen(key), (void *)key};
  return store_mdb_err(mdb_get(txn, meta, &k, v));
}

/* Append one audit record with the process's euid as actor. */
static int audit_local(MDB_txn *txn, MDB_dbi dbi[DBI_N], const struct sd_key *master,
                       const uint8_t cid[16], const char *action) {
  MDB_val v;
  struct audit_head head;
  struct store_audit_rec rec;
  _cleanup_(sd_key_freep) struct sd_key *akey = NULL;
  char actor[80];
  int r = meta_get(txn, dbi[DBI_META], META_AUDIT_KEY, &v);
  if (r < 0)
    return r;
  if (v.mv_size != SD_WRAPPED_KEY_LEN)
    return -EIO;
  if ((r = sd_key_unwrap(master, SD_WRAP_AUDIT, cid, 16, v.mv_data, &akey)) < 0 ||
      (r = store_audit_head_load(txn, dbi[DBI_AUDIT], &head)) < 0)
    return r;
  store_audit_render_actor(&(struct store_actor){.uid = (uint32_t)geteuid()}, actor);
  return store_audit_append(txn, dbi[DBI_AUDIT], akey, &head, actor, action, "store", "ok", &rec);
}

typedef int (*unlock_step_fn)(MDB_txn *txn, MDB_dbi dbi[DBI_N], const struct sd_key *key,
                              const struct sd_key *new_key);

static int step_rotate(MDB_txn *txn, MDB_dbi dbi[DBI_N], const struct sd_key *old_key,
                       const struct sd_key *new_key) {
  _cleanup_(sd_key_freep) struct sd_key *master = NULL;
  uint8_t cid[16], wn[SD_WRAPPED_KEY_LEN], wo[SD_WRAPPED_KEY_LEN];
  int r = store_load_master(txn, dbi[DBI_META], old_key, cid, &master, NULL);
  if (r < 0)
    return r;
  if ((r = sd_key_wrap(new_key, SD_WRAP_MASTER, cid, 16, master, wn)) < 0 ||
      (r = sd_key_wrap(old_key, SD_WRAP_MASTER, cid, 16, master, wo)) < 0)
    return r;
  if ((r = meta_put(txn, dbi[DBI_META], META_MASTER, wn, sizeof(wn))) < 0 ||
      (r = meta_put(txn, dbi[DBI_META], META_MASTER_PREV, wo, sizeof(wo))) < 0)
    return r;
  return audit_local(txn, dbi, master, cid, "key.rotate_unlock");
}

static int step_forget(MDB_txn *txn, MDB_dbi dbi[DBI_N], const struct sd_key *new_key,
                       const struct sd_key *unused) {
  _cleanup_(sd_key_freep) struct sd_key *master = NULL;
  uint8_t cid[16];
  bool used_prev = false;
  MDB_val v;
  int r = store_load_master(txn, dbi[DBI_META], new_key, cid, &master, &used_prev);
  if (r < 0)
    return r;
  if (used_prev)
    return SD_E_BADKEY; /* only the key that wraps the current master may finish */
  if ((r = meta_get(txn, dbi[DBI_META], META_MASTER_PREV, &v)) == -ENOENT)
    return 0;
  MDB_val k = {strlen(META_MASTER_PREV), (void *)META_MASTER_PREV};
  if (r < 0 || (r = store_mdb_err(mdb_del(txn, dbi[DBI_META], &k, NULL))) < 0)
    return r;
  return audit_local(txn, dbi, master, cid, "key.forget_old_unlock");
}

static int unlock_txn(const char *dir, unlock_step_fn step, const struct sd_key *a,
                      const struct sd_key *b) {
  char p[PATH_MAX];
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi[DBI_N];
  int r;
  if (!dir || !a || !b)
    return -EINVAL;
  if (snprintf(p, sizeof(p), "%s/%s", dir, STORE_DATA_FILE) >= (int)sizeof(p))
    return -ENAMETOOLONG;
  if (access(p, F_OK) < 0)
    return errno == ENOENT ? SD_E_NOSTORE : -errno;
  if ((r = store_env_open(dir, 0, 0, &env)) < 0)
    return r;
  if ((r = store_mdb_err(mdb_txn_begin(env, NULL, 0, &txn))) < 0)
    goto out;
  if ((r = store_dbis_open(txn, false, dbi)) < 0 || (r = step(txn, dbi, a, b)) < 0) {
    mdb_txn_abort(txn);
    goto out;
  }
  r = store_commit_err(env, mdb_txn_commit(txn));
out:
  mdb_env_close(env);
  return r;
}

int store_rotate_unlock_key(const char *dir, const struct sd_key *old_key,
                            const struct sd_key *new_key) {
  return unlock_txn(dir, step_rotate, old_key, new_key);
}

int store_forget_old_unlock_key(const char *dir, const struct sd_key *new_key) {
  return unlock_txn(dir, step_forget, new_key, new_key);
}

bool store_unlock_rotation_pending(struct store *s) {
  MDB_txn *txn;
  MDB_val v;
  if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
    return false;
  bool pending = meta_get(txn, s->dbi[DBI_META], META_MASTER_PREV, &v) == 0;
  mdb_txn_abort(txn);
  return pending;
}

/* Rewrap every version's data key from old to new master in txn. */
static int rewrap_versions(struct store *s, MDB_txn *txn, const struct sd_key *old_m,
                           const struct sd_key *new_m) {
  MDB_cursor *c;
  MDB_val k, v;
  int r = store_mdb_err(mdb_cursor_open(txn, s->dbi[DBI_VERSIONS], &c));
  if (r < 0)
    return r;
  int rc;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && r == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    struct version_rec vr;
    uint8_t wdk[SD_WRAPPED_KEY_LEN];
    msgpack_unpacked u;
    msgpack_sbuffer sb;
    if (k.mv_size != 20) {
      r = -EIO;
      break;
    }
    msgpack_unpacked_init(&u);
    msgpack_sbuffer_init(&sb);
    const uint8_t *id = k.mv_data;
    uint32_t ver = store_be32_get(id + 16);
    MDB_val nv = {0, NULL};
    if ((r = store_rec_version_open(s, &k, &v, &vr)) == 0) {
      memcpy(wdk, vr.wrapped_dk, sizeof(wdk));
      if ((r = sd_envelope_rewrap(old_m, new_m, id, ver, wdk)) == 0 &&
          (r = store_rec_version_encode(&sb, vr.created_ns, wdk, vr.nonce, vr.ct, vr.ct_len)) == 0 &&
          (r = store_rec_version_seal(s, &k, sb.data, sb.size, vr.ct_len, &nv)) == 0)
        r = store_mdb_err(mdb_cursor_put(c, &k, &nv, MDB_CURRENT));
    }
    free(nv.mv_data);
    msgpack_sbuffer_destroy(&sb);
    msgpack_unpacked_destroy(&u);
  }
  mdb_cursor_close(c);
  if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
    r = store_mdb_err(rc);
  return r;
}

static int master_rotate_txn(struct store *s, MDB_txn *txn, const struct store_actor *a,
                             struct sd_key *new_m, uint8_t wm[SD_WRAPPED_KEY_LEN],
                             struct store_audit_rec *rec) {
  uint8_t wa[SD_WRAPPED_KEY_LEN];
  MDB_val v;
  struct audit_head head;
  char actor[80];
  int r;
  /* Refuse while an unlock rotation is half done, or when another process
   * rotated the unlock key under us (we could not rewrap for it). */
  if (meta_get(txn, s->dbi[DBI_META], META_MASTER_PREV, &v) == 0)
    return -EBUSY;
  if ((r = meta_get(txn, s->dbi[DBI_META], META_MASTER, &v)) < 0)
    return r;
  if (v.mv_size != SD_WRAPPED_KEY_LEN || memcmp(v.mv_data, s->master_wrapped, v.mv_size) != 0)
    return -ESTALE;
  if ((r = rewrap_versions(s, txn, s->master, new_m)) < 0)
    return r;
  if ((r = sd_key_wrap(s->unlock, SD_WRAP_MASTER, s->cluster_id, 16, new_m, wm)) < 0 ||
      (r = sd_key_wrap(new_m, SD_WRAP_AUDIT, s->cluster_id, 16, s->audit_key, wa)) < 0)
    return r;
  if ((r = meta_put(txn, s->dbi[DBI_META], META_MASTER, wm, SD_WRAPPED_KEY_LEN)) < 0 ||
      (r = meta_put(txn, s->dbi[DBI_META], META_AUDIT_KEY, wa, sizeof(wa))) < 0 ||
      (r = store_audit_head_load(txn, s->dbi[DBI_AUDIT], &head)) < 0)
    return r;
  store_audit_render_actor(a, actor);
  if ((r = store_audit_append(txn, s->dbi[DBI_AUDIT], s->audit_key, &head, actor, "key.rotate_master",
                        "store", "ok", rec)) < 0)
    return r;
  return 0;
}

int store_rotate_master_key(struct store *s, const struct store_actor *a) {
  _cleanup_(sd_key_freep) struct sd_key *new_m = NULL;
  uint8_t wm[SD_WRAPPED_KEY_LEN];
  struct store_audit_rec rec;
  MDB_txn *txn;
  if (!s)
    return -EINVAL;
  int r = sd_key_generate(&new_m);
  if (r < 0)
    return r;
  /* Exclusive: no batch or read uses the master key meanwhile. */
  pthread_rwlock_wrlock(&s->key_lock);
  if ((r = store_mdb_err(mdb_txn_begin(s->env, NULL, 0, &txn))) < 0)
    goto out;
  if ((r = master_rotate_txn(s, txn, a, new_m, wm, &rec)) < 0) {
    mdb_txn_abort(txn);
    goto out;
  }
  if ((r = store_commit_err(s->env, mdb_txn_commit(txn))) < 0)
    goto out;
  sd_key_free(s->master);
  store_dkcache_wipe(&s->dkcache); /* its keys were unwrapped by the old master key */
  s->master = TAKE_PTR(new_m);
  sd_key_set_lingering(s->master, true);
  __atomic_store_n(&s->master_ok_txnid, 0, __ATOMIC_RELEASE);
  memcpy(s->master_wrapped, wm, sizeof(wm));
  store_audit_file_append(s, &rec, 1, false);
out:
  pthread_rwlock_unlock(&s->key_lock);
  return r;
}
