/* Cluster identity records: cluster, join token, nodes, deny list. See
 * store/identity.h for the layout. */
#include "store/identity.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "crypto/envelope.h"
#include "store/internal.h"

const uint8_t STORE_IDENTITY_KEY_ID[16] = {0xff, 'i', 'd', 'e', 'n', 't', 'i', 't',
                                           'y', '-', 'k', 'e', 'y', 's', 0xff, 0x01};

#define K_CLUSTER "cluster"
#define K_TOKEN "worker"
#define K_NODE "node/"
#define K_DENY "deny/"

static const struct {
  int err;
  const char *code, *msg;
} id_errors[] = {
    {STORE_ID_E_NOCLUSTER, "no_cluster",
     "this store has no cluster identity (run `secretd init-cluster`)"},
    {STORE_ID_E_NOTOKEN, "no_token", "no join token was issued (run `secret join-token worker`)"},
    {STORE_ID_E_TOKEN, "token_wrong", "join token refused: wrong secret (mistyped, or rotated)"},
    {STORE_ID_E_EXPIRED, "token_expired", "join token refused: it has expired"},
    {STORE_ID_E_USED_UP, "token_used_up", "join token refused: it has no uses left"},
    {STORE_ID_E_DENIED, "node_denied", "node is on the deny list (removed)"},
    {STORE_ID_E_UNKNOWN, "node_unknown", "no such node"},
    {STORE_ID_E_STALE, "cert_stale", "not the node's latest certificate (renewed since)"},
    {STORE_ID_E_CERT_EXPIRED, "cert_expired", "certificate expired or not yet valid"},
    {STORE_ID_E_ROLE, "role", "role not allowed for this operation or changed"},
};

const char *store_identity_strerror(int r) {
  for (size_t i = 0; i < sizeof(id_errors) / sizeof(id_errors[0]); i++)
    if (id_errors[i].err == r)
      return id_errors[i].msg;
  return sd_strerror(r);
}

const char *store_identity_audit_code(int r) {
  for (size_t i = 0; i < sizeof(id_errors) / sizeof(id_errors[0]); i++)
    if (id_errors[i].err == r)
      return id_errors[i].code;
  return NULL;
}

/* ---- msgpack helpers ---- */

static void pk_bin(msgpack_packer *pk, const void *p, size_t n) {
  msgpack_pack_bin(pk, n);
  msgpack_pack_bin_body(pk, p, n);
}
static void pk_str(msgpack_packer *pk, const char *s) {
  size_t n = strlen(s);
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, s, n);
}
static bool is_uint(const msgpack_object *o) { return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER; }
static bool is_int(const msgpack_object *o) {
  return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER || o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
}
static int64_t get_int(const msgpack_object *o) {
  return o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? o->via.i64 : (int64_t)o->via.u64;
}
static int copy_str(const msgpack_object *o, char *buf, size_t cap) {
  if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= cap)
    return -EIO;
  if (o->via.str.size) /* an empty string has a NULL pointer */
    memcpy(buf, o->via.str.ptr, o->via.str.size);
  buf[o->via.str.size] = 0;
  return 0;
}
static int dup_bin(const msgpack_object *o, uint8_t **ret, size_t *ret_len) {
  if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size == 0)
    return -EIO;
  if (!(*ret = malloc(o->via.bin.size)))
    return -ENOMEM;
  memcpy(*ret, o->via.bin.ptr, o->via.bin.size);
  *ret_len = o->via.bin.size;
  return 0;
}

static bool id_ok(const char *id) {
  if (!id || strlen(id) != STORE_NODE_ID_LEN)
    return false;
  for (const char *p = id; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '2' && *p <= '7')))
      return false;
  return true;
}

static MDB_val node_key(char buf[8 + STORE_NODE_ID_LEN], const char *prefix, const char *id) {
  size_t n = strlen(prefix);
  memcpy(buf, prefix, n);
  memcpy(buf + n, id, STORE_NODE_ID_LEN);
  return (MDB_val){n + STORE_NODE_ID_LEN, buf};
}

/* ---- cluster ---- */

void store_cluster_free(struct store_cluster *c) {
  if (!c)
    return;
  free(c->ca_cert);
  free(c->manager_cert);
  free(c);
}

static int encode_cluster(msgpack_sbuffer *sb, const struct store_cluster *c) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 7);
  pk_str(&pk, c->cluster_id);
  msgpack_pack_uint32(&pk, c->key_type);
  pk_bin(&pk, c->ca_cert, c->ca_cert_len);
  pk_str(&pk, c->manager_id);
  pk_bin(&pk, c->manager_cert, c->manager_cert_len);
  msgpack_pack_uint32(&pk, c->cert_lifetime_s);
  msgpack_pack_uint64(&pk, c->created_ns);
  return 0;
}

static int decode_cluster(const MDB_val *v, struct store_cluster **ret) {
  msgpack_unpacked u;
  msgpack_object *it;
  struct store_cluster *c = calloc(1, sizeof(*c));
  int r;
  if (!c)
    return -ENOMEM;
  msgpack_unpacked_init(&u);
  if ((r = store_rec_unpack(v, &u, &it, 7)) < 0)
    goto out;
  r = -EIO;
  if (!is_uint(&it[1]) || !is_uint(&it[5]) || !is_uint(&it[6]) || it[1].via.u64 > UINT32_MAX ||
      it[5].via.u64 > UINT32_MAX)
    goto out;
  if ((r = copy_str(&it[0], c->cluster_id, sizeof(c->cluster_id))) < 0 ||
      (r = copy_str(&it[3], c->manager_id, sizeof(c->manager_id))) < 0 ||
      (r = dup_bin(&it[2], &c->ca_cert, &c->ca_cert_len)) < 0 ||
      (r = dup_bin(&it[4], &c->manager_cert, &c->manager_cert_len)) < 0)
    goto out;
  c->key_type = (uint32_t)it[1].via.u64;
  c->cert_lifetime_s = (uint32_t)it[5].via.u64;
  c->created_ns = it[6].via.u64;
  *ret = c;
  c = NULL;
  r = 0;
out:
  msgpack_unpacked_destroy(&u);
  store_cluster_free(c);
  return r;
}

static int put_cluster(struct store_op *op, const struct store_cluster *c) {
  MDB_val k = {sizeof(K_CLUSTER) - 1, (void *)K_CLUSTER};
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  int r = encode_cluster(&sb, c);
  if (r == 0)
    r = store_rec_put(op->b->s, op->txn, DBI_NODES, &k, sb.data, sb.size, 0);
  msgpack_sbuffer_destroy(&sb);
  return r;
}

/* Seal a private key like a secret value (version = which key). */
static int put_key(struct store_op *op, uint32_t which, const struct secbuf *key) {
  struct sd_envelope env;
  uint8_t kb[20];
  memcpy(kb, STORE_IDENTITY_KEY_ID, 16);
  store_be32_put(kb + 16, which);
  MDB_val k = {20, kb};
  int r = sd_envelope_seal(op->b->master, STORE_IDENTITY_KEY_ID, which, key, &env);
  if (r < 0)
    return r;
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  if ((r = store_rec_version_encode(&sb, store_now_ns(), env.wrapped_dk, env.nonce, env.ct,
                                    env.ct_len)) == 0)
    r = store_rec_put(op->b->s, op->txn, DBI_VERSIONS, &k, sb.data, sb.size, 0);
  msgpack_sbuffer_destroy(&sb);
  sd_envelope_clear(&env);
  return r;
}

static int do_cluster_create(struct store_op *op, const struct store_cluster *c,
                             const struct secbuf *ca_key, const struct secbuf *mgr_key) {
  MDB_val k = {sizeof(K_CLUSTER) - 1, (void *)K_CLUSTER}, v;
  if (!c || !ca_key || !mgr_key || !id_ok(c->cluster_id) || !id_ok(c->manager_id) ||
      !c->ca_cert_len || !c->manager_cert_len)
    return -EINVAL;
  store_op_set_object(op, "cluster:%s manager:%s", c->cluster_id, c->manager_id);
  int r = store_mdb_err(mdb_get(op->txn, op->b->s->dbi[DBI_NODES], &k, &v));
  if (r == 0)
    return -EEXIST;
  if (r != -ENOENT)
    return r;
  if ((r = put_cluster(op, c)) < 0 || (r = put_key(op, STORE_KEY_CA, ca_key)) < 0 ||
      (r = put_key(op, STORE_KEY_MANAGER, mgr_key)) < 0)
    return r;
  return 0;
}

int store_cluster_create(struct store_batch *b, const struct store_actor *a,
                         const struct store_cluster *c, const struct secbuf *ca_key,
                         const struct secbuf *manager_key) {
  struct store_op op;
  if (!b)
    return -EINVAL;
  int r = store_op_begin(b, &op);
  store_op_set_object(&op, "cluster");
  if (r == 0)
    r = do_cluster_create(&op, c, ca_key, manager_key);
  return store_op_finish(&op, a, "cluster.init", r);
}

static int load_key(struct store *s, MDB_txn *txn, uint32_t which, struct secbuf **ret) {
  uint8_t kb[20];
  struct version_rec vr;
  struct sd_key *tmp = NULL;
  const struct sd_key *master;
  msgpack_unpacked u;
  memcpy(kb, STORE_IDENTITY_KEY_ID, 16);
  store_be32_put(kb + 16, which);
  MDB_val k = {20, kb}, v;
  int r = store_rec_get(s, txn, DBI_VERSIONS, &k, &v);
  if (r == -ENOENT) {
    store_tamper_report(s, DBI_VERSIONS, &k, "identity key missing");
    return -EBADMSG;
  }
  if (r < 0)
    return r;
  msgpack_unpacked_init(&u);
  if ((r = store_rec_version_decode(&v, &u, &vr)) == 0 &&
      (r = store_master_for_txn(s, txn, &tmp, &master)) == 0)
    r = sd_envelope_open(master, STORE_IDENTITY_KEY_ID, which, vr.wrapped_dk, vr.nonce, vr.ct,
                         vr.ct_len, ret);
  msgpack_unpacked_destroy(&u);
  sd_key_free(tmp);
  return r;
}

int store_cluster_load(struct store *s, struct store_cluster **ret, struct secbuf **ret_ca_key,
                       struct secbuf **ret_manager_key) {
  MDB_txn *txn;
  MDB_val k = {sizeof(K_CLUSTER) - 1, (void *)K_CLUSTER}, v;
  struct store_cluster *c = NULL;
  struct secbuf *ca_key = NULL, *mgr_key = NULL;
  if (!s || !ret)
    return -EINVAL;
  pthread_rwlock_rdlock(&s->key_lock);
  int r = store_mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
  if (r < 0)
    goto unlock;
  if ((r = store_rec_get(s, txn, DBI_NODES, &k, &v)) == -ENOENT)
    r = STORE_ID_E_NOCLUSTER;
  if (r < 0 || (r = decode_cluster(&v, &c)) < 0)
    goto out;
  if (ret_ca_key && (r = load_key(s, txn, STORE_KEY_CA, &ca_key)) < 0)
    goto out;
  if (ret_manager_key && (r = load_key(s, txn, STORE_KEY_MANAGER, &mgr_key)) < 0)
    goto out;
  *ret = c;
  c = NULL;
  if (ret_ca_key)
    *ret_ca_key = ca_key;
  if (ret_manager_key)
    *ret_manager_key = mgr_key;
  ca_key = mgr_key = NULL;
out:
  mdb_txn_abort(txn);
unlock:
  pthread_rwlock_unlock(&s->key_lock);
  if (r == -EIO) {
    store_tamper_report(s, DBI_NODES, &k, "authenticated but not a cluster record");
    r = -EBADMSG;
  }
  store_cluster_free(c);
  secbuf_free(ca_key);
  secbuf_free(mgr_key);
  return r;
}

static int do_set_lifetime(struct store_op *op, uint32_t lifetime_s, uint32_t min_s,
                           uint32_t max_s) {
  MDB_val k = {sizeof(K_CLUSTER) - 1, (void *)K_CLUSTER}, v;
  struct store_cluster *c = NULL;
  if (lifetime_s < min_s || lifetime_s > max_s)
    return -ERANGE;
  int r = store_rec_get(op->b->s, op->txn, DBI_NODES, &k, &v);
  if (r == -ENOENT)
    return STORE_ID_E_NOCLUSTER;
  if (r < 0 || (r = decode_cluster(&v, &c)) < 0)
    return r;
  c->cert_lifetime_s = lifetime_s;
  r = put_cluster(op, c);
  store_cluster_free(c);
  return r;
}

int store_cluster_set_cert_lifetime(struct store_batch *b, const struct store_actor *a,
                                    uint32_t lifetime_s, uint32_t min_s, uint32_t max_s) {
  struct store_op op;
  if (!b)
    return -EINVAL;
  int r = store_op_begin(b, &op);
  store_op_set_object(&op, "cluster cert-expiry:%us", lifetime_s);
  if (r == 0)
    r = do_set_lifetime(&op, lifetime_s, min_s, max_s);
  return store_op_finish(&op, a, "cluster.update", r);
}

/* ---- join token ---- */

int store_token_hash(struct store *s, const struct secbuf *secret,
                     uint8_t ret[STORE_TOKEN_HASH_LEN]) {
  static const char domain[] = "secretd join token v1";
  uint8_t key[32];
  crypto_generichash_state st;
  if (!s || !secret || !secbuf_len(secret))
    return -EINVAL;
  const uint8_t *rk = sd_key_acquire(s->rec_key);
  int r = crypto_kdf_derive_from_key(key, sizeof(key), 2, "sdjointk", rk);
  sd_key_release(s->rec_key);
  if (r != 0) {
    sodium_memzero(key, sizeof(key));
    return -EIO;
  }
  crypto_generichash_init(&st, key, sizeof(key), STORE_TOKEN_HASH_LEN);
  crypto_generichash_update(&st, (const uint8_t *)domain, sizeof(domain));
  crypto_generichash_update(&st, secbuf_cdata(secret), secbuf_len(secret));
  crypto_generichash_final(&st, ret, STORE_TOKEN_HASH_LEN);
  sodium_memzero(key, sizeof(key));
  sodium_memzero(&st, sizeof(st));
  return 0;
}

struct token_rec {
  uint8_t hash[STORE_TOKEN_HASH_LEN];
  struct store_token_info info;
};

static int encode_token(msgpack_sbuffer *sb, const struct token_rec *t) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 5);
  pk_bin(&pk, t->hash, sizeof(t->hash));
  msgpack_pack_uint64(&pk, t->info.created_ns);
  msgpack_pack_int64(&pk, t->info.expires_s);
  msgpack_pack_uint32(&pk, t->info.uses_max);
  msgpack_pack_uint32(&pk, t->info.uses_done);
  return 0;
}

static int get_token(struct store *s, MDB_txn *txn, struct token_rec *ret) {
  MDB_val k = {sizeof(K_TOKEN) - 1, (void *)K_TOKEN}, v;
  msgpack_unpacked u;
  msgpack_object *it;
  int r = store_rec_get(s, txn, DBI_TOKENS, &k, &v);
  if (r == -ENOENT)
    return STORE_ID_E_NOTOKEN;
  if (r < 0)
    return r;
  msgpack_unpacked_init(&u);
  if ((r = store_rec_unpack(&v, &u, &it, 5)) == 0) {
    if (it[0].type != MSGPACK_OBJECT_BIN || it[0].via.bin.size != STORE_TOKEN_HASH_LEN ||
        !is_uint(&it[1]) || !is_int(&it[2]) || !is_uint(&it[3]) || !is_uint(&it[4]) ||
        it[3].via.u64 > UINT32_MAX || it[4].via.u64 > UINT32_MAX) {
      r = -EIO;
    } else {
      memcpy(ret->hash, it[0].via.bin.ptr, STORE_TOKEN_HASH_LEN);
      ret->info = (struct store_token_info){
          .present = true,
          .created_ns = it[1].via.u64,
          .expires_s = get_int(&it[2]),
          .uses_max = (uint32_t)it[3].via.u64,
          .uses_done = (uint32_t)it[4].via.u64,
      };
    }
  }
  msgpack_unpacked_destroy(&u);
  if (r == -EIO) {
    store_tamper_report(s, DBI_TOKENS, &k, "authenticated but not a token record");
    r = -EBADMSG;
  }
  return r;
}

static int put_token(struct store_op *op, const struct token_rec *t) {
  MDB_val k = {sizeof(K_TOKEN) - 1, (void *)K_TOKEN};
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  int r = encode_token(&sb, t);
  if (r == 0)
    r = store_rec_put(op->b->s, op->txn, DBI_TOKENS, &k, sb.data, sb.size, 0);
  msgpack_sbuffer_destroy(&sb);
  return r;
}

int store_token_set(struct store_batch *b, const struct store_actor *a,
                    const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t expires_s,
                    uint32_t uses_max) {
  struct store_op op;
  struct token_rec old, t = {0};
  if (!b || !hash || expires_s < 0)
    return -EINVAL;
  int r = store_op_begin(b, &op);
  char ttl[40], uses[24];
  if (expires_s)
    snprintf(ttl, sizeof(ttl), "expires:%lld", (long long)expires_s);
  else
    snprintf(ttl, sizeof(ttl), "no-expiry");
  if (uses_max)
    snprintf(uses, sizeof(uses), "%u", uses_max);
  else
    snprintf(uses, sizeof(uses), "unlimited");
  store_op_set_object(&op, "join-token:worker %s uses:%s", ttl, uses);
  bool existed = false;
  if (r == 0) {
    r = get_token(b->s, op.txn, &old);
    existed = r == 0;
    if (r == STORE_ID_E_NOTOKEN || r == 0) {
      memcpy(t.hash, hash, STORE_TOKEN_HASH_LEN);
      t.info = (struct store_token_info){.present = true,
                                         .created_ns = store_now_ns(),
                                         .expires_s = expires_s,
                                         .uses_max = uses_max};
      r = put_token(&op, &t);
    }
  }
  return store_op_finish(&op, a, existed ? "join_token.rotate" : "join_token.create", r);
}

int store_token_info(struct store *s, struct store_token_info *ret) {
  MDB_txn *txn;
  struct token_rec t;
  if (!s || !ret)
    return -EINVAL;
  int r = store_mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
  if (r < 0)
    return r;
  r = get_token(s, txn, &t);
  mdb_txn_abort(txn);
  if (r == STORE_ID_E_NOTOKEN) {
    *ret = (struct store_token_info){0};
    return 0;
  }
  if (r == 0)
    *ret = t.info;
  return r;
}

static int token_verify(struct store *s, MDB_txn *txn, const struct secbuf *secret, int64_t now_s,
                        struct token_rec *t) {
  uint8_t h[STORE_TOKEN_HASH_LEN];
  int r = get_token(s, txn, t);
  if (r < 0)
    return r;
  if ((r = store_token_hash(s, secret, h)) < 0)
    return r;
  r = sodium_memcmp(h, t->hash, sizeof(h)) == 0 ? 0 : STORE_ID_E_TOKEN;
  sodium_memzero(h, sizeof(h));
  if (r < 0)
    return r;
  if (t->info.expires_s && now_s >= t->info.expires_s)
    return STORE_ID_E_EXPIRED;
  if (t->info.uses_max && t->info.uses_done >= t->info.uses_max)
    return STORE_ID_E_USED_UP;
  return 0;
}

int store_token_check(struct store *s, const struct secbuf *secret, int64_t now_s) {
  MDB_txn *txn;
  struct token_rec t;
  if (!s || !secret)
    return -EINVAL;
  int r = store_mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
  if (r < 0)
    return r;
  r = token_verify(s, txn, secret, now_s, &t);
  mdb_txn_abort(txn);
  return r;
}

/* ---- nodes ---- */

static int encode_node(msgpack_sbuffer *sb, const struct store_node *n) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 8);
  msgpack_pack_uint32(&pk, n->role);
  pk_bin(&pk, n->serial, sizeof(n->serial));
  msgpack_pack_int64(&pk, n->not_after_s);
  msgpack_pack_uint64(&pk, n->created_ns);
  msgpack_pack_uint64(&pk, n->updated_ns);
  msgpack_pack_uint64(&pk, n->last_seen_ns);
  pk_str(&pk, n->hostname);
  pk_str(&pk, n->address);
  return 0;
}

static int decode_node(const MDB_val *v, const char *id, struct store_node *ret) {
  msgpack_unpacked u;
  msgpack_object *it;
  struct store_node n = {0};
  msgpack_unpacked_init(&u);
  int r = store_rec_unpack(v, &u, &it, 8);
  if (r == 0) {
    if (!is_uint(&it[0]) || it[0].via.u64 > 255 || it[1].type != MSGPACK_OBJECT_BIN ||
        it[1].via.bin.size != STORE_SERIAL_LEN || !is_int(&it[2]) || !is_uint(&it[3]) ||
        !is_uint(&it[4]) || !is_uint(&it[5]) ||
        copy_str(&it[6], n.hostname, sizeof(n.hostname)) < 0 ||
        copy_str(&it[7], n.address, sizeof(n.address)) < 0) {
      r = -EIO;
    } else {
      memcpy(n.id, id, STORE_NODE_ID_LEN);
      n.role = (uint32_t)it[0].via.u64;
      memcpy(n.serial, it[1].via.bin.ptr, STORE_SERIAL_LEN);
      n.not_after_s = get_int(&it[2]);
      n.created_ns = it[3].via.u64;
      n.updated_ns = it[4].via.u64;
      n.last_seen_ns = it[5].via.u64;
      *ret = n;
    }
  }
  msgpack_unpacked_destroy(&u);
  return r;
}

static int get_node(struct store *s, MDB_txn *txn, const char *id, struct store_node *ret) {
  char kb[8 + STORE_NODE_ID_LEN];
  MDB_val k = node_key(kb, K_NODE, id), v;
  int r = store_rec_get(s, txn, DBI_NODES, &k, &v);
  if (r < 0)
    return r;
  if ((r = decode_node(&v, id, ret)) == -EIO) {
    store_tamper_report(s, DBI_NODES, &k, "authenticated but not a node record");
    r = -EBADMSG;
  }
  return r;
}

static int put_node(struct store_op *op, const struct store_node *n) {
  char kb[8 + STORE_NODE_ID_LEN];
  MDB_val k = node_key(kb, K_NODE, n->id);
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  int r = encode_node(&sb, n);
  if (r == 0)
    r = store_rec_put(op->b->s, op->txn, DBI_NODES, &k, sb.data, sb.size, 0);
  msgpack_sbuffer_destroy(&sb);
  return r;
}

/* 1 denied, 0 not, <0 error. An expired entry no longer denies. */
static int denied_in(struct store *s, MDB_txn *txn, const char *id, int64_t now_s) {
  char kb[8 + STORE_NODE_ID_LEN];
  MDB_val k = node_key(kb, K_DENY, id), v;
  msgpack_unpacked u;
  msgpack_object *it;
  int r = store_rec_get(s, txn, DBI_NODES, &k, &v);
  if (r == -ENOENT)
    return 0;
  if (r < 0)
    return r;
  msgpack_unpacked_init(&u);
  if ((r = store_rec_unpack(&v, &u, &it, 2)) == 0)
    r = !is_int(&it[0]) ? -EIO : get_int(&it[0]) > now_s ? 1 : 0;
  msgpack_unpacked_destroy(&u);
  if (r == -EIO) {
    store_tamper_report(s, DBI_NODES, &k, "authenticated but not a deny record");
    r = -EBADMSG;
  }
  return r;
}

static int do_join(struct store_op *op, const struct secbuf *secret, int64_t now_s,
                   const struct store_node *n, bool keep_id) {
  struct store *s = op->b->s;
  struct token_rec t;
  struct store_node old;
  int r;
  if (!n || !secret || !id_ok(n->id))
    return -EINVAL;
  if ((r = token_verify(s, op->txn, secret, now_s, &t)) < 0)
    return r;
  if ((r = denied_in(s, op->txn, n->id, now_s)) != 0)
    return r < 0 ? r : STORE_ID_E_DENIED;
  r = get_node(s, op->txn, n->id, &old);
  if (r == 0 && !keep_id)
    return -EEXIST;
  if (r == 0 && old.role != n->role)
    return STORE_ID_E_ROLE;
  if (r < 0 && r != -ENOENT)
    return r;
  struct store_node nn = *n;
  if (r == 0)
    nn.created_ns = old.created_ns;
  t.info.uses_done++;
  if ((r = put_token(op, &t)) < 0 || (r = put_node(op, &nn)) < 0)
    return r;
  return 0;
}

int store_node_join(struct store_batch *b, const struct store_actor *a,
                    const struct secbuf *secret, int64_t now_s, const struct store_node *n,
                    bool keep_id) {
  struct store_op op;
  if (!b)
    return -EINVAL;
  int r = store_op_begin(b, &op);
  store_op_set_object(&op, "node:%.26s role:%s address:%.63s%s", n ? n->id : "",
                      n && n->role == 2 ? "manager" : "worker", n ? n->address : "",
                      keep_id ? " returning" : "");
  if (r == 0)
    r = do_join(&op, secret, now_s, n, keep_id);
  return store_op_finish(&op, a, "node.join", r);
}

static int do_renew(struct store_op *op, const char *id, const uint8_t serial[STORE_SERIAL_LEN],
                    int64_t not_after_s, int64_t now_s) {
  struct store_node n;
  int r;
  if (!id_ok(id) || !serial)
    return -EINVAL;
  if ((r = denied_in(op->b->s, op->txn, id, now_s)) != 0)
    return r < 0 ? r : STORE_ID_E_DENIED;
  if ((r = get_node(op->b->s, op->txn, id, &n)) == -ENOENT)
    return STORE_ID_E_UNKNOWN;
  if (r < 0)
    return r;
  memcpy(n.serial, serial, STORE_SERIAL_LEN);
  n.not_after_s = not_after_s;
  n.updated_ns = store_now_ns();
  return put_node(op, &n);
}

int store_node_renew(struct store_batch *b, const struct store_actor *a, const char *id,
                     const uint8_t serial[STORE_SERIAL_LEN], int64_t not_after_s, int64_t now_s) {
  struct store_op op;
  if (!b)
    return -EINVAL;
  int r = store_op_begin(b, &op);
  store_op_set_object(&op, "node:%.26s", id ? id : "");
  if (r == 0)
    r = do_renew(&op, id, serial, not_after_s, now_s);
  return store_op_finish(&op, a, "node.renew", r);
}

static int do_remove(struct store_op *op, const char *id, int64_t deny_until_s,
                     struct store_node *ret) {
  struct store *s = op->b->s;
  struct store_node n;
  char kb[8 + STORE_NODE_ID_LEN];
  int r;
  if (!id_ok(id))
    return STORE_ID_E_UNKNOWN;
  if ((r = get_node(s, op->txn, id, &n)) == -ENOENT)
    return STORE_ID_E_UNKNOWN;
  if (r < 0)
    return r;
  MDB_val k = node_key(kb, K_NODE, id);
  if ((r = store_mdb_err(mdb_del(op->txn, s->dbi[DBI_NODES], &k, NULL))) < 0)
    return r;
  MDB_val dk = node_key(kb, K_DENY, id);
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 2);
  msgpack_pack_int64(&pk, deny_until_s);
  msgpack_pack_uint64(&pk, store_now_ns());
  r = store_rec_put(s, op->txn, DBI_NODES, &dk, sb.data, sb.size, 0);
  msgpack_sbuffer_destroy(&sb);
  if (r == 0) {
    store_op_set_object(op, "node:%s role:%s denied-until:%lld", id,
                        n.role == 2 ? "manager" : "worker", (long long)deny_until_s);
    if (ret)
      *ret = n;
  }
  return r;
}

int store_node_remove(struct store_batch *b, const struct store_actor *a, const char *id,
                      int64_t deny_until_s, struct store_node *ret_node) {
  struct store_op op;
  if (!b)
    return -EINVAL;
  int r = store_op_begin(b, &op);
  store_op_set_object(&op, "node:%.26s", id ? id : "");
  if (r == 0)
    r = do_remove(&op, id, deny_until_s, ret_node);
  return store_op_finish(&op, a, "node.rm", r);
}

int store_node_seen(struct store_batch *b, const char *id, uint64_t now_ns, const char *hostname,
                    const char *address) {
  struct store_op op;
  struct store_node n;
  if (!b || !id_ok(id))
    return -EINVAL;
  int r = store_op_begin(b, &op);
  if (r < 0)
    return r;
  if ((r = get_node(b->s, op.txn, id, &n)) == -ENOENT)
    r = STORE_ID_E_UNKNOWN;
  if (r == 0) {
    n.last_seen_ns = now_ns;
    if (hostname)
      snprintf(n.hostname, sizeof(n.hostname), "%s", hostname);
    if (address)
      snprintf(n.address, sizeof(n.address), "%s", address);
    r = put_node(&op, &n);
  }
  if (r == 0)
    return store_mdb_err(mdb_txn_commit(op.txn));
  mdb_txn_abort(op.txn);
  return r;
}

int store_node_get(struct store *s, const char *id, struct store_node *ret) {
  MDB_txn *txn;
  if (!s || !ret)
    return -EINVAL;
  if (!id_ok(id))
    return -ENOENT;
  int r = store_mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
  if (r < 0)
    return r;
  r = get_node(s, txn, id, ret);
  mdb_txn_abort(txn);
  return r;
}

int store_node_list(struct store *s, struct store_node **ret, size_t *ret_n) {
  MDB_txn *txn;
  MDB_cursor *c = NULL;
  struct store_node *arr = NULL;
  size_t n = 0, cap = 0;
  const size_t plen = sizeof(K_NODE) - 1;
  if (!s || !ret || !ret_n)
    return -EINVAL;
  int r = store_mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
  if (r < 0)
    return r;
  if ((r = store_mdb_err(mdb_cursor_open(txn, s->dbi[DBI_NODES], &c))) < 0)
    goto out;
  MDB_val k = {plen, (void *)K_NODE}, v;
  int rc;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    if (k.mv_size < plen || memcmp(k.mv_data, K_NODE, plen) != 0)
      break;
    char id[STORE_NODE_ID_LEN + 1] = {0};
    MDB_val p;
    if (k.mv_size != plen + STORE_NODE_ID_LEN) {
      store_tamper_report(s, DBI_NODES, &k, "not a node key");
      r = -EBADMSG;
      goto out;
    }
    memcpy(id, (const char *)k.mv_data + plen, STORE_NODE_ID_LEN);
    if ((r = store_rec_open(s, DBI_NODES, &k, &v, &p)) < 0)
      goto out;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      void *np = realloc(arr, cap * sizeof(*arr));
      if (!np) {
        r = -ENOMEM;
        goto out;
      }
      arr = np;
    }
    if ((r = decode_node(&p, id, &arr[n])) < 0) {
      store_tamper_report(s, DBI_NODES, &k, "authenticated but not a node record");
      r = -EBADMSG;
      goto out;
    }
    n++;
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    r = store_mdb_err(rc);
out:
  if (c)
    mdb_cursor_close(c);
  mdb_txn_abort(txn);
  if (r < 0) {
    free(arr);
    return r;
  }
  *ret = arr;
  *ret_n = n;
  return 0;
}

int store_node_denied(struct store *s, const char *id, int64_t now_s) {
  MDB_txn *txn;
  if (!s || !id_ok(id))
    return -EINVAL;
  int r = store_mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
  if (r < 0)
    return r;
  r = denied_in(s, txn, id, now_s);
  mdb_txn_abort(txn);
  return r;
}
