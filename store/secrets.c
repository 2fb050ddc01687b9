/* Secret operations: create, rotate, remove (writes, inside a batch) and
 * list, inspect, read (own read txn). */
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "base/str.h"
#include "base/error.h"
#include "store/internal.h"
#include "store/validate.h"

/* The secret record of id: must exist (else *missing) and decode. */
static int load_secret(struct store *s, MDB_txn *txn, const uint8_t id[16], msgpack_unpacked *u,
                       struct secret_rec *rec) {
  MDB_val k = {16, (void *)id}, p;
  int r = store_rec_get(s, txn, DBI_SECRETS, &k, &p);
  if (r < 0)
    return r;
  if ((r = store_rec_secret_decode(&p, u, rec)) < 0) {
    store_tamper_report(s, DBI_SECRETS, &k, "authenticated but undecodable");
    return -EBADMSG;
  }
  return 0;
}

/* names[name] must be exactly id (both directions of the name <-> id link). */
static int check_name_maps_to(struct store *s, MDB_txn *txn, const char *name, size_t len,
                              const uint8_t id[16], const MDB_val *from_key, enum store_dbi from) {
  MDB_val k = {len, (void *)name}, p;
  int r = store_rec_get(s, txn, DBI_NAMES, &k, &p);
  if (r == -ENOENT || (r == 0 && (p.mv_size != 16 || memcmp(p.mv_data, id, 16) != 0))) {
    store_tamper_report(s, from, from_key, "its name record is missing or names another secret");
    return -EBADMSG;
  }
  return r;
}

/* store_secret_resolve, handing the secret record it authenticated and
 * decoded to the caller (u: initialised by the caller, destroyed by it; rec
 * points into u) so a read does not load it twice. */
static int resolve_load(struct store *s, MDB_txn *txn, const char *ref, uint8_t id[16],
                        msgpack_unpacked *ret_u, struct secret_rec *ret_rec) {
  int r;
  if (!ref)
    return -EINVAL;
  if (store_validate_name(ref) == 0) { /* the name wins */
    MDB_val k = {strlen(ref), (void *)ref}, p;
    r = store_rec_get(s, txn, DBI_NAMES, &k, &p);
    if (r == 0) {
      if (p.mv_size != 16) {
        store_tamper_report(s, DBI_NAMES, &k, "authenticated but not an id");
        return -EBADMSG;
      }
      memcpy(id, p.mv_data, 16);
      /* the secret it names exists and carries this name */
      r = load_secret(s, txn, id, ret_u, ret_rec);
      if (r == -ENOENT) {
        store_tamper_report(s, DBI_NAMES, &k, "refers to a missing secret");
        r = -EBADMSG;
      } else if (r == 0 && (ret_rec->name_len != k.mv_size ||
                            memcmp(ret_rec->name, ref, k.mv_size) != 0)) {
        store_tamper_report(s, DBI_NAMES, &k, "refers to a secret of another name");
        r = -EBADMSG;
      }
      return r;
    }
    if (r != -ENOENT)
      return r;
  }
  if (store_is_hex_id(ref) && store_id_from_hex(ref, id) == 0) {
    MDB_val ki = {16, id};
    r = load_secret(s, txn, id, ret_u, ret_rec);
    if (r == 0)
      r = check_name_maps_to(s, txn, ret_rec->name, ret_rec->name_len, id, &ki, DBI_SECRETS);
    return r;
  }
  return -ENOENT;
}

int store_secret_resolve(struct store *s, MDB_txn *txn, const char *ref, uint8_t id[16]) {
  struct secret_rec rec;
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  int r = resolve_load(s, txn, ref, id, &u, &rec);
  msgpack_unpacked_destroy(&u);
  return r;
}

/* Visit (and optionally delete) every key in dbi starting with prefix.
 * max_version: for the versions DB, delete only versions <= it (0 = all). */
static int prefix_sweep(MDB_txn *txn, MDB_dbi dbi, const uint8_t *prefix, size_t plen,
                        bool del, uint32_t max_version, size_t *ret_count) {
  MDB_cursor *c;
  MDB_val k = {plen, (void *)prefix}, v;
  size_t n = 0;
  int r = store_mdb_err(mdb_cursor_open(txn, dbi, &c));
  if (r < 0)
    return r;
  int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && k.mv_size >= plen && memcmp(k.mv_data, prefix, plen) == 0) {
    bool hit = true;
    if (max_version && k.mv_size == plen + 4)
      hit = store_be32_get((const uint8_t *)k.mv_data + plen) <= max_version;
    if (hit) {
      n++;
      if (del && (rc = mdb_cursor_del(c, 0)) != 0)
        break;
    }
    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(c);
  if (rc != 0 && rc != MDB_NOTFOUND)
    return store_mdb_err(rc);
  if (ret_count)
    *ret_count = n;
  return 0;
}

static int check_labels(const struct store_label *labels, size_t n) {
  if (n > SD_LABELS_MAX || (n && !labels))
    return -EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (store_validate_name(labels[i].key) < 0 || !labels[i].value ||
        store_validate_label_value(labels[i].value, strlen(labels[i].value)) < 0)
      return -EINVAL;
    for (size_t j = 0; j < i; j++)
      if (strcmp(labels[i].key, labels[j].key) == 0)
        return -EINVAL;
  }
  return 0;
}

static int put_version(struct store_op *op, const uint8_t id[16], uint32_t version,
                       const struct secbuf *value, uint64_t now) {
  struct store *s = op->b->s;
  struct sd_envelope env;
  uint8_t kb[20];
  int r = sd_envelope_seal(op->b->master, id, version, value, &env);
  if (r < 0)
    return r;
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  if ((r = store_rec_version_encode(&sb, now, env.wrapped_dk, env.nonce, env.ct, env.ct_len)) == 0) {
    memcpy(kb, id, 16);
    store_be32_put(kb + 16, version);
    MDB_val k = {20, kb};
    r = store_rec_version_put(s, op->txn, &k, sb.data, sb.size, env.ct_len, 0);
  }
  msgpack_sbuffer_destroy(&sb);
  sd_envelope_clear(&env);
  return r;
}

static int put_secret(struct store_op *op, const uint8_t id[16], const char *name, uint64_t created,
                      uint64_t updated, uint32_t latest, const struct store_label *labels,
                      size_t n_labels, const msgpack_object *labels_obj) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  int r = store_rec_secret_encode(&sb, name, created, updated, latest, labels, n_labels, labels_obj);
  if (r == 0) {
    MDB_val k = {16, (void *)id};
    r = store_rec_put(op->b->s, op->txn, DBI_SECRETS, &k, sb.data, sb.size, 0);
  }
  msgpack_sbuffer_destroy(&sb);
  return r;
}

/* A new id: 48-bit milliseconds (big endian) then 80 random bits, like a
 * UUIDv7. Time-ordered ids make creates append to the secrets and versions
 * B-trees instead of dirtying a random leaf each, which halves the pages a
 * group commit writes. The time is no secret: created_ns is metadata too. */
static void new_secret_id(uint8_t id[16], uint64_t now_ns) {
  uint64_t ms = now_ns / 1000000u;
  for (int i = 5; i >= 0; i--, ms >>= 8)
    id[i] = (uint8_t)ms;
  randombytes_buf(id + 6, 10);
}

static int do_create(struct store_op *op, const char *name, const struct secbuf *value,
                     const struct store_label *labels, size_t n_labels, char ret_id[33]) {
  struct store *s = op->b->s;
  uint8_t id[16];
  MDB_val k, v;
  int r;
  if ((r = store_validate_name(name)) < 0)
    return r;
  if (!value || store_validate_value_len(secbuf_len(value)) < 0)
    return SD_E_VALUE;
  if ((r = check_labels(labels, n_labels)) < 0)
    return r;
  k = (MDB_val){strlen(name), (void *)name};
  int rc = mdb_get(op->txn, s->dbi[DBI_NAMES], &k, &v);
  if (rc == 0)
    return -EEXIST;
  if (rc != MDB_NOTFOUND)
    return store_mdb_err(rc);
  uint64_t now = store_now_ns();
  new_secret_id(id, now);
  if ((r = put_version(op, id, 1, value, now)) < 0 ||
      (r = put_secret(op, id, name, now, now, 1, labels, n_labels, NULL)) < 0)
    return r;
  if ((r = store_rec_put(s, op->txn, DBI_NAMES, &k, id, 16, MDB_NOOVERWRITE)) < 0)
    return r;
  char hex[33];
  store_id_to_hex(id, hex);
  store_op_set_object(op, "secret:%s id:%s", name, hex);
  store_op_set_target(op, hex, name);
  if (ret_id)
    memcpy(ret_id, hex, 33);
  return 0;
}

int store_secret_create(struct store_batch *b, const struct store_actor *a, const char *name,
                        const struct secbuf *value, const struct store_label *labels,
                        size_t n_labels, char ret_id[33]) {
  struct store_op op;
  if (!b)
    return -EINVAL;
  int r = store_op_begin(b, &op);
  store_op_set_object(&op, "secret:%.200s", name ? name : "");
  if (r == 0)
    r = do_create(&op, name, value, labels, n_labels, ret_id);
  return store_op_finish(&op, a, "secret.create", r);
}

/* Load and decode the secret record of id; name copied to name_out. */
static int get_secret(MDB_txn *txn, struct store *s, const uint8_t id[16], msgpack_unpacked *u,
                      struct secret_rec *rec, char name_out[65]) {
  int r = load_secret(s, txn, id, u, rec);
  if (r < 0)
    return r;
  memcpy(name_out, rec->name, rec->name_len);
  name_out[rec->name_len] = '\0';
  return 0;
}

static int do_rotate(struct store_op *op, const char *ref, const struct secbuf *value,
                     uint32_t *ret_version) {
  struct store *s = op->b->s;
  uint8_t id[16];
  char name[65], hex[33];
  struct secret_rec rec;
  msgpack_unpacked u;
  int r;
  if ((r = store_secret_resolve(s, op->txn, ref, id)) < 0)
    return r;
  if (!value || store_validate_value_len(secbuf_len(value)) < 0)
    return SD_E_VALUE;
  msgpack_unpacked_init(&u);
  if ((r = get_secret(op->txn, s, id, &u, &rec, name)) < 0)
    goto out;
  store_id_to_hex(id, hex);
  store_op_set_object(op, "secret:%s id:%s", name, hex);
  store_op_set_target(op, hex, name);
  if (rec.latest == UINT32_MAX) {
    r = -EOVERFLOW;
    goto out;
  }
  uint32_t ver = rec.latest + 1;
  uint64_t now = store_now_ns();
  if ((r = put_version(op, id, ver, value, now)) < 0)
    goto out;
  if (ver > s->keep_versions &&
      (r = store_versions_prune(s, op->txn, id, ver - s->keep_versions)) < 0)
    goto out;
  if ((r = put_secret(op, id, name, rec.created_ns, now, ver, NULL, 0, &rec.labels)) < 0)
    goto out;
  store_op_set_object(op, "secret:%s id:%s version:%u", name, hex, ver);
  if (ret_version)
    *ret_version = ver;
out:
  msgpack_unpacked_destroy(&u);
  return r;
}

int store_secret_rotate(struct store_batch *b, const struct store_actor *a, const char *ref,
                        const struct secbuf *value, uint32_t *ret_version) {
  struct store_op op;
  if (!b)
    return -EINVAL;
  int r = store_op_begin(b, &op);
  store_op_set_object(&op, "secret:%.200s", ref ? ref : "");
  if (r == 0)
    r = do_rotate(&op, ref, value, ret_version);
  return store_op_finish(&op, a, "secret.rotate", r);
}

static int do_remove(struct store_op *op, const char *ref, bool force) {
  struct store *s = op->b->s;
  uint8_t id[16];
  char name[65], hex[33];
  struct secret_rec rec;
  msgpack_unpacked u;
  size_t n_grants = 0;
  int r;
  if ((r = store_secret_resolve(s, op->txn, ref, id)) < 0)
    return r;
  msgpack_unpacked_init(&u);
  r = get_secret(op->txn, s, id, &u, &rec, name);
  msgpack_unpacked_destroy(&u);
  if (r < 0)
    return r;
  store_id_to_hex(id, hex);
  store_op_set_object(op, "secret:%s id:%s", name, hex);
  store_op_set_target(op, hex, name);
  if ((r = prefix_sweep(op->txn, s->dbi[DBI_GRANTS], id, 16, false, 0, &n_grants)) < 0)
    return r;
  if (n_grants && !force)
    return SD_E_GRANTED;
  if (n_grants)
    store_op_set_object(op, "secret:%s id:%s grants:%zu", name, hex, n_grants);
  MDB_val k = {strlen(name), name}, ki = {16, id};
  if ((r = prefix_sweep(op->txn, s->dbi[DBI_GRANTS], id, 16, true, 0, NULL)) < 0 ||
      (r = prefix_sweep(op->txn, s->dbi[DBI_VERSIONS], id, 16, true, 0, NULL)) < 0 ||
      (r = store_mdb_err(mdb_del(op->txn, s->dbi[DBI_NAMES], &k, NULL))) < 0 ||
      (r = store_mdb_err(mdb_del(op->txn, s->dbi[DBI_SECRETS], &ki, NULL))) < 0)
    return r;
  return 0;
}

int store_secret_remove(struct store_batch *b, const struct store_actor *a, const char *ref,
                        bool force) {
  struct store_op op;
  if (!b)
    return -EINVAL;
  int r = store_op_begin(b, &op);
  store_op_set_object(&op, "secret:%.200s", ref ? ref : "");
  if (r == 0)
    r = do_remove(&op, ref, force);
  return store_op_finish(&op, a, "secret.rm", r);
}

/* ---- reads ---- */

static char *strndup_or(const char *p, size_t n, int *r) {
  char *s = sd_strdup_n(p, n);
  if (!s)
    *r = -ENOMEM;
  return s;
}

static int fill_versions(struct store *s, MDB_txn *txn, const uint8_t id[16],
                         struct store_secret_info *info) {
  MDB_cursor *c;
  MDB_val k = {16, (void *)id}, v;
  size_t cap = 0;
  int r = store_mdb_err(mdb_cursor_open(txn, s->dbi[DBI_VERSIONS], &c));
  if (r < 0)
    return r;
  int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  for (; rc == 0 && k.mv_size == 20 && memcmp(k.mv_data, id, 16) == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    struct version_rec vr;
    r = store_rec_version_open(s, &k, &v, &vr);
    if (r < 0)
      break;
    if (info->n_versions == cap) {
      cap = cap ? cap * 2 : 8;
      void *n = realloc(info->versions, cap * sizeof(*info->versions));
      if (!n) {
        r = -ENOMEM;
        break;
      }
      info->versions = n;
    }
    info->versions[info->n_versions++] =
        (struct store_version_info){store_be32_get((const uint8_t *)k.mv_data + 16), vr.created_ns};
  }
  mdb_cursor_close(c);
  if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
    r = store_mdb_err(rc);
  /* the latest version the secret record names must be there */
  if (r == 0 && (info->n_versions == 0 ||
                 info->versions[info->n_versions - 1].version != info->latest)) {
    MDB_val ki = {16, (void *)id};
    store_tamper_report(s, DBI_SECRETS, &ki, "its latest version is missing");
    r = -EBADMSG;
  }
  return r;
}

/* The grants of secret id whose services sort strictly after
 * after[0..after_len) (NULL: all), at most limit of them (0: no limit). */
static int fill_grants_after(struct store *s, MDB_txn *txn, const uint8_t id[16],
                             const void *after, size_t after_len, size_t limit,
                             struct store_secret_info *info) {
  MDB_cursor *c;
  uint8_t kb[16 + 512];
  MDB_val k = {16, (void *)id}, v;
  size_t cap = 0;
  if (after) { /* grants are keyed id || service: start at id || after */
    memcpy(kb, id, 16);
    memcpy(kb + 16, after, after_len);
    k = (MDB_val){16 + after_len, kb};
  }
  int r = store_mdb_err(mdb_cursor_open(txn, s->dbi[DBI_GRANTS], &c));
  if (r < 0)
    return r;
  int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  if (rc == 0 && after && k.mv_size == 16 + after_len && memcmp(k.mv_data, kb, k.mv_size) == 0)
    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  for (; rc == 0 && k.mv_size > 16 && memcmp(k.mv_data, id, 16) == 0 &&
         (!limit || info->n_grants < limit);
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    struct grant_rec gr;
    msgpack_unpacked u;
    MDB_val p;
    if ((r = store_rec_open(s, DBI_GRANTS, &k, &v, &p)) < 0)
      break;
    msgpack_unpacked_init(&u);
    r = store_rec_grant_decode(&p, &u, &gr);
    if (r == 0 && info->n_grants == cap) {
      cap = cap ? cap * 2 : 4;
      void *n = realloc(info->grants, cap * sizeof(*info->grants));
      if (n)
        info->grants = n;
      else
        r = -ENOMEM;
    }
    if (r == 0) {
      struct store_grant *g = &info->grants[info->n_grants++];
      memset(g, 0, sizeof(*g));
      g->service = strndup_or((const char *)k.mv_data + 16, k.mv_size - 16, &r);
      g->target = strndup_or(gr.target, gr.target_len, &r);
      g->uid = gr.uid;
      g->gid = gr.gid;
      g->mode = gr.mode;
      g->created_ns = gr.created_ns;
      g->uid_unset = gr.uid_unset;
      g->gid_unset = gr.gid_unset;
      g->version = gr.version;
    }
    msgpack_unpacked_destroy(&u);
    if (r < 0)
      break;
  }
  mdb_cursor_close(c);
  if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
    r = store_mdb_err(rc);
  return r;
}

static int fill_grants(struct store *s, MDB_txn *txn, const uint8_t id[16],
                       struct store_secret_info *info) {
  return fill_grants_after(s, txn, id, NULL, 0, 0, info);
}

static int fill_info(struct store *s, MDB_txn *txn, const uint8_t id[16],
                     struct store_secret_info *info) {
  struct secret_rec rec;
  msgpack_unpacked u;
  int r;
  memset(info, 0, sizeof(*info));
  msgpack_unpacked_init(&u);
  if ((r = get_secret(txn, s, id, &u, &rec, info->name)) < 0)
    goto out;
  store_id_to_hex(id, info->id);
  info->created_ns = rec.created_ns;
  info->updated_ns = rec.updated_ns;
  info->latest = rec.latest;
  uint32_t nl = rec.labels.via.map.size;
  if (nl) {
    info->labels = calloc(nl, sizeof(*info->labels));
    if (!info->labels) {
      r = -ENOMEM;
      goto out;
    }
    for (uint32_t i = 0; i < nl && r == 0; i++) {
      const msgpack_object_kv *kv = &rec.labels.via.map.ptr[i];
      info->labels[i].key = strndup_or(kv->key.via.str.ptr, kv->key.via.str.size, &r);
      info->labels[i].value = strndup_or(kv->val.via.str.ptr, kv->val.via.str.size, &r);
      info->n_labels = i + 1;
    }
    if (r < 0)
      goto out;
  }
  if ((r = fill_versions(s, txn, id, info)) < 0)
    goto out;
  r = fill_grants(s, txn, id, info);
out:
  msgpack_unpacked_destroy(&u);
  return r;
}

static void info_clear(struct store_secret_info *i) {
  for (size_t j = 0; j < i->n_labels; j++) {
    free((char *)i->labels[j].key);
    free((char *)i->labels[j].value);
  }
  for (size_t j = 0; j < i->n_grants; j++) {
    free((char *)i->grants[j].service);
    free((char *)i->grants[j].target);
  }
  free(i->labels);
  free(i->grants);
  free(i->versions);
}

void store_secret_info_free(struct store_secret_info *v, size_t n) {
  if (!v)
    return;
  for (size_t i = 0; i < n; i++)
    info_clear(&v[i]);
  free(v);
}

int store_secret_inspect(struct store *s, const char *ref, struct store_secret_info **ret) {
  MDB_txn *txn;
  uint8_t id[16];
  if (!s || !ret)
    return -EINVAL;
  int r = store_rdtxn_begin(s, &txn);
  if (r < 0)
    return r;
  struct store_secret_info *info = calloc(1, sizeof(*info));
  if (!info)
    r = -ENOMEM;
  if (r == 0 && (r = store_secret_resolve(s, txn, ref, id)) == 0)
    r = fill_info(s, txn, id, info);
  store_rdtxn_end(s, txn);
  if (r < 0) {
    store_secret_info_free(info, info ? 1 : 0);
    return r;
  }
  *ret = info;
  return 0;
}

/* The names table from the first key strictly after `after` (NULL: from the
 * first key); MDB_NOTFOUND at the end. */
static int names_start(MDB_cursor *c, const void *after, size_t after_len, MDB_val *k,
                       MDB_val *v) {
  if (!after)
    return mdb_cursor_get(c, k, v, MDB_FIRST);
  *k = (MDB_val){after_len, (void *)after};
  int rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
  if (rc == 0 && k->mv_size == after_len && memcmp(k->mv_data, after, after_len) == 0)
    rc = mdb_cursor_get(c, k, v, MDB_NEXT);
  return rc;
}

int store_grant_list_after(struct store *s, const char *ref, const void *after,
                          size_t after_len, size_t limit, struct store_secret_info **ret) {
  MDB_txn *txn;
  uint8_t id[16];
  struct secret_rec rec;
  msgpack_unpacked u;
  if (!s || !ref || !ret || (after && (after_len == 0 || after_len > 511 - 16)))
    return -EINVAL;
  int r = store_mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
  if (r < 0)
    return r;
  struct store_secret_info *info = calloc(1, sizeof(*info));
  msgpack_unpacked_init(&u);
  if (!info)
    r = -ENOMEM;
  if (r == 0 && (r = store_secret_resolve(s, txn, ref, id)) == 0 &&
      (r = get_secret(txn, s, id, &u, &rec, info->name)) == 0) {
    store_id_to_hex(id, info->id);
    info->created_ns = rec.created_ns;
    info->updated_ns = rec.updated_ns;
    info->latest = rec.latest;
    r = fill_grants_after(s, txn, id, after, after_len, limit, info);
  }
  msgpack_unpacked_destroy(&u);
  mdb_txn_abort(txn);
  if (r < 0) {
    store_secret_info_free(info, info ? 1 : 0);
    return r;
  }
  *ret = info;
  return 0;
}

int store_secret_list(struct store *s, struct store_secret_info **ret, size_t *ret_n) {
  return store_secret_list_after(s, NULL, 0, 0, ret, ret_n);
}

int store_secret_list_after(struct store *s, const void *after, size_t after_len, size_t limit,
                            struct store_secret_info **ret, size_t *ret_n) {
  MDB_txn *txn;
  MDB_cursor *c = NULL;
  MDB_val k, v;
  struct store_secret_info *arr = NULL;
  size_t n = 0, cap = 0;
  if (!s || !ret || !ret_n || (after && (after_len == 0 || after_len > 511)))
    return -EINVAL;
  int r = store_rdtxn_begin(s, &txn);
  if (r < 0)
    return r;
  if ((r = store_mdb_err(mdb_cursor_open(txn, s->dbi[DBI_NAMES], &c))) < 0)
    goto out;
  int rc;
  for (rc = names_start(c, after, after_len, &k, &v); rc == 0 && (!limit || n < limit);
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    MDB_val p;
    if ((r = store_rec_open(s, DBI_NAMES, &k, &v, &p)) < 0)
      goto out;
    if (p.mv_size != 16) {
      store_tamper_report(s, DBI_NAMES, &k, "authenticated but not an id");
      r = -EBADMSG;
      goto out;
    }
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      void *p = realloc(arr, cap * sizeof(*arr));
      if (!p) {
        r = -ENOMEM;
        goto out;
      }
      arr = p;
    }
    r = fill_info(s, txn, p.mv_data, &arr[n]);
    n++;
    if (r == -ENOENT) {
      store_tamper_report(s, DBI_NAMES, &k, "refers to a missing secret");
      r = -EBADMSG;
    }
    if (r == 0 && (strlen(arr[n - 1].name) != k.mv_size ||
                   memcmp(arr[n - 1].name, k.mv_data, k.mv_size) != 0)) {
      store_tamper_report(s, DBI_NAMES, &k, "refers to a secret of another name");
      r = -EBADMSG;
    }
    if (r < 0)
      goto out;
  }
  if (rc != 0 && rc != MDB_NOTFOUND) {
    r = store_mdb_err(rc);
    goto out;
  }
  *ret = TAKE_PTR(arr);
  *ret_n = n;
  n = 0;
  r = 0;
out:
  store_secret_info_free(arr, n);
  if (c)
    mdb_cursor_close(c);
  store_rdtxn_end(s, txn);
  return r;
}

/* sd_envelope_open with the data key from the cache when it is there.
 * cacheable: master is the store's own (not a newer one another process
 * rotated to, whose wraps the cache never saw). A wrap that fails to unwrap
 * is SD_E_DECRYPT, as is a value that fails its AEAD tag. */
static int open_version(struct store *s, const struct sd_key *master, bool cacheable,
                        const uint8_t id[16], uint32_t version, const struct version_rec *vr,
                        struct secbuf **ret) {
  uint8_t dk[SD_KEY_LEN];
  int r = 0;
  if (!cacheable || !store_dkcache_get(&s->dkcache, id, version, vr->wrapped_dk, dk)) {
    if ((r = sd_envelope_dk_unwrap(master, id, version, vr->wrapped_dk, dk)) < 0)
      goto out;
    if (cacheable)
      store_dkcache_put(&s->dkcache, id, version, vr->wrapped_dk, dk);
  }
  r = sd_envelope_open_dk(dk, id, version, vr->nonce, vr->ct, vr->ct_len, ret);
out:
  sodium_memzero(dk, sizeof(dk));
  return r;
}

int store_secret_read(struct store *s, const char *ref, uint32_t version, struct secbuf **ret) {
  MDB_txn *txn;
  uint8_t id[16], kb[20];
  struct sd_key *tmp = NULL;
  const struct sd_key *master;
  struct secret_rec rec;
  struct version_rec vr;
  msgpack_unpacked u;
  if (!s || !ret)
    return -EINVAL;
  msgpack_unpacked_init(&u);
  pthread_rwlock_rdlock(&s->key_lock);
  int r = store_rdtxn_begin(s, &txn);
  if (r < 0)
    goto unlock;
  /* resolve authenticates and decodes the secret record once: its latest */
  if ((r = resolve_load(s, txn, ref, id, &u, &rec)) < 0)
    goto out;
  bool latest = version == 0;
  if (latest)
    version = rec.latest;
  memcpy(kb, id, 16);
  store_be32_put(kb + 16, version);
  MDB_val k = {20, kb};
  if ((r = store_rec_version_get(s, txn, &k, &vr)) == -ENOENT && latest) {
    MDB_val ki = {16, id};
    store_tamper_report(s, DBI_SECRETS, &ki, "its latest version is missing");
    r = -EBADMSG;
  }
  if (r < 0 || (r = store_master_for_txn(s, txn, &tmp, &master)) < 0)
    goto out;
  r = open_version(s, master, tmp == NULL, id, version, &vr, ret);
  if (r == SD_E_DECRYPT) {
    /* The record's tag held, so its wrapped key, nonce and AEAD tag are the
     * store's own: the ciphertext's body was changed (recmac.c). */
    store_tamper_report(s, DBI_VERSIONS, &k, "ciphertext failed AEAD authentication");
    r = -EBADMSG;
  }
out:
  store_rdtxn_end(s, txn);
unlock:
  pthread_rwlock_unlock(&s->key_lock);
  sd_key_free(tmp);
  msgpack_unpacked_destroy(&u);
  return r;
}
