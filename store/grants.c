/* Grants: secret x service -> (target, uid, gid, mode). Key id(16)||service. */
#include <errno.h>
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
      (r = store_validate_id(g->uid)) < 0 || (r = store_validate_id(g->gid)) < 0)
    return r;
  grant_key(kb, id, g->service, &k);
  uint64_t created = store_now_ns();
  r = store_rec_get(s, op->txn, DBI_GRANTS, &k, &v);
  if (r == 0) { /* re-grant: update, keep the creation time */
    struct grant_rec old;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (store_rec_grant_decode(&v, &u, &old) == 0)
      created = old.created_ns;
    msgpack_unpacked_destroy(&u);
  } else if (r != -ENOENT) {
    return r; /* -EBADMSG: the grant was tampered with; refuse to build on it */
  }
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  if ((r = store_rec_grant_encode(&sb, target, g->uid, g->gid, g->mode, created)) == 0) {
    r = store_rec_put(s, op->txn, DBI_GRANTS, &k, sb.data, sb.size, 0);
  }
  msgpack_sbuffer_destroy(&sb);
  if (r == 0)
    store_op_set_object(op, "secret:%s service:%s target:%.255s uid:%u gid:%u mode:%04o", name,
                  g->service, target, g->uid, g->gid, g->mode);
  return r;
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
