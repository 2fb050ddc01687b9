/* Grants: secret x service -> (target, uid or unset, gid or unset, mode, pinned
 * version or 0 = latest). Key id(16)||service. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "store/internal.h"
#include "store/validate.h"

void store_grant_defaults(struct store_grant *g) {
  memset(g, 0, sizeof(*g));
  g->mode = SD_GRANT_DEFAULT_MODE;
}

/* Resolve ref and fill the op's object; name_out gets the secret's name. */
static int resolve_for_grant(struct store_op *op, const char *ref, const char *service,
                             uint8_t id[16], char name_out[65]) {
  struct store *s = op->b->s;
  MDB_val k = {16, id}, v;
  msgpack_unpacked u;
  struct secret_rec rec;
  int r = store_secret_resolve(s, op->txn, ref, id);
  if (r < 0)
    return r;
  if ((r = store_rec_get(s, op->txn, DBI_SECRETS, &k, &v)) < 0)
    return r;
  msgpack_unpacked_init(&u);
  if ((r = store_rec_secret_decode(&v, &u, &rec)) == 0) {
    memcpy(name_out, rec.name, rec.name_len);
    name_out[rec.name_len] = '\0';
  }
  msgpack_unpacked_destroy(&u);
  if (r == 0) {
    char hex[33];
    store_id_to_hex(id, hex);
    store_op_set_object(op, "secret:%s id:%s service:%.64s", name_out, hex, service ? service : "");
    store_op_set_target(op, hex, name_out);
  }
  return r;
}

static int grant_key(uint8_t kb[16 + 64], const uint8_t id[16], const char *service, MDB_val *k) {
  size_t n = strlen(service);
  memcpy(kb, id, 16);
  memcpy(kb + 16, service, n);
  *k = (MDB_val){16 + n, kb};
  return 0;
}

/* The audit words of an owner: a number, or "service" when unset. */
static const char *owner_text(bool unset, uint32_t id, char buf[12]) {
  if (unset)
    return "service";
  snprintf(buf, 12, "%u", id);
  return buf;
}

static int do_grant(struct store_op *op, const char *ref, const struct store_grant *g) {
  struct store *s = op->b->s;
  uint8_t id[16], kb[16 + 64];
  char name[65];
  MDB_val k, v;
  int r;
  if (!g)
    return -EINVAL;
  if ((r = resolve_for_grant(op, ref, g->service, id, name)) < 0)
    return r;
  const char *target = g->target ? g->target : name;
  if ((r = store_validate_name(g->service)) < 0 ||
      (r = store_validate_target(target, strlen(target))) < 0 || (r = store_validate_mode(g->mode)) < 0 ||
      (!g->uid_unset && (r = store_validate_id(g->uid)) < 0) ||
      (!g->gid_unset && (r = store_validate_id(g->gid)) < 0))
    return r;
  if (g->version) { /* a pin names a version that exists */
    uint8_t vk[20];
    memcpy(vk, id, 16);
    store_be32_put(vk + 16, g->version);
    MDB_val vkey = {sizeof(vk), vk}, vv;
    if ((r = store_rec_get(s, op->txn, DBI_VERSIONS, &vkey, &vv)) < 0)
      return r; /* -ENOENT: no such version (or it was pruned) */
  }
  grant_key(kb, id, g->service, &k);
  struct grant_rec rec = {
      .uid = g->uid_unset ? 0 : g->uid,
      .gid = g->gid_unset ? 0 : g->gid,
      .mode = g->mode,
      .created_ns = store_now_ns(),
      .uid_unset = g->uid_unset,
      .gid_unset = g->gid_unset,
      .version = g->version,
  };
  r = store_rec_get(s, op->txn, DBI_GRANTS, &k, &v);
  if (r == 0) { /* re-grant: update, keep the creation time */
    struct grant_rec old;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (store_rec_grant_decode(&v, &u, &old) == 0)
      rec.created_ns = old.created_ns;
    msgpack_unpacked_destroy(&u);
  } else if (r != -ENOENT) {
    return r; /* -EBADMSG: the grant was tampered with; refuse to build on it */
  }
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  if ((r = store_rec_grant_encode(&sb, target, &rec)) == 0) {
    r = store_rec_put(s, op->txn, DBI_GRANTS, &k, sb.data, sb.size, 0);
  }
  msgpack_sbuffer_destroy(&sb);
  char ub[12], gb[12], vb[12];
  if (g->version)
    snprintf(vb, sizeof(vb), "%u", g->version);
  if (r == 0)
    store_op_set_object(op, "secret:%s service:%s target:%.255s uid:%s gid:%s mode:%04o version:%s",
                        name, g->service, target, owner_text(g->uid_unset, g->uid, ub),
                        owner_text(g->gid_unset, g->gid, gb), g->mode,
                        g->version ? vb : "latest");
  return r;
}

/* The versions of secret id that grants pin: *ret (malloc, may be NULL when none). */
static int pinned_versions(struct store *s, MDB_txn *txn, const uint8_t id[16], uint32_t **ret,
                           size_t *ret_n) {
  MDB_cursor *c;
  MDB_val k = {16, (void *)id}, v;
  uint32_t *pins = NULL;
  size_t n = 0, cap = 0;
  int r = store_mdb_err(mdb_cursor_open(txn, s->dbi[DBI_GRANTS], &c));
  if (r < 0)
    return r;
  int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  for (; rc == 0 && k.mv_size > 16 && memcmp(k.mv_data, id, 16) == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    struct grant_rec gr;
    msgpack_unpacked u;
    MDB_val p;
    if ((r = store_rec_open(s, DBI_GRANTS, &k, &v, &p)) < 0)
      break;
    msgpack_unpacked_init(&u);
    r = store_rec_grant_decode(&p, &u, &gr);
    msgpack_unpacked_destroy(&u);
    if (r < 0)
      break;
    if (!gr.version)
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 4;
      void *np = realloc(pins, cap * sizeof(*pins));
      if (!np) {
        r = -ENOMEM;
        break;
      }
      pins = np;
    }
    pins[n++] = gr.version;
  }
  mdb_cursor_close(c);
  if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
    r = store_mdb_err(rc);
  if (r < 0) {
    free(pins);
    return r;
  }
  *ret = pins;
  *ret_n = n;
  return 0;
}

int store_versions_prune(struct store *s, MDB_txn *txn, const uint8_t id[16], uint32_t max_version) {
  uint32_t *pins = NULL;
  size_t n_pins = 0;
  MDB_cursor *c;
  MDB_val k = {16, (void *)id}, v;
  int r = pinned_versions(s, txn, id, &pins, &n_pins);
  if (r < 0)
    return r;
  if ((r = store_mdb_err(mdb_cursor_open(txn, s->dbi[DBI_VERSIONS], &c))) < 0) {
    free(pins);
    return r;
  }
  int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && k.mv_size == 20 && memcmp(k.mv_data, id, 16) == 0) {
    uint32_t ver = store_be32_get((const uint8_t *)k.mv_data + 16);
    if (ver > max_version)
      break; /* ascending: the rest are newer */
    bool pinned = false;
    for (size_t i = 0; i < n_pins && !pinned; i++)
      pinned = pins[i] == ver;
    if (!pinned && (rc = mdb_cursor_del(c, 0)) != 0)
      break;
    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(c);
  free(pins);
  return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_mdb_err(rc);
}

int store_grant_add(struct store_batch *b, const struct store_actor *a, const char *ref,
                    const struct store_grant *g) {
  struct store_op op;
  if (!b)
    return -EINVAL;
  int r = store_op_begin(b, &op);
  store_op_set_object(&op, "secret:%.200s service:%.64s", ref ? ref : "",
                g && g->service ? g->service : "");
  if (r == 0)
    r = do_grant(&op, ref, g);
  return store_op_finish(&op, a, "grant.add", r);
}

static int do_revoke(struct store_op *op, const char *ref, const char *service) {
  uint8_t id[16], kb[16 + 64];
  char name[65];
  MDB_val k;
  int r;
  if ((r = resolve_for_grant(op, ref, service, id, name)) < 0)
    return r;
  if ((r = store_validate_name(service)) < 0)
    return r;
  grant_key(kb, id, service, &k);
  return store_mdb_err(mdb_del(op->txn, op->b->s->dbi[DBI_GRANTS], &k, NULL));
}

int store_grant_remove(struct store_batch *b, const struct store_actor *a, const char *ref,
                       const char *service) {
  struct store_op op;
  if (!b)
    return -EINVAL;
  int r = store_op_begin(b, &op);
  store_op_set_object(&op, "secret:%.200s service:%.64s", ref ? ref : "", service ? service : "");
  if (r == 0)
    r = do_revoke(&op, ref, service);
  return store_op_finish(&op, a, "grant.rm", r);
}
