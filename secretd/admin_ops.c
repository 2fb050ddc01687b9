/*
 * The admin handler table: for each op, argument decoding (strict types and
 * lengths; the wire layer already refused unknown or missing keys), the
 * store call, and the result packing. Secret values are copied from the
 * frame into guarded memory at once and never packed into a reply.
 */
#include "secretd/admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/error.h"
#include "base/macro.h"
#include "base/str.h"
#include "crypto/secbuf.h"
#include "secretd/secretd.h"
#include "secretd/serve.h"
#include "wire/msg.h"

/* ---- argument getters over a msgpack map ---- */

static const msgpack_object *arg_get(const msgpack_object *args, const char *key) {
  if (!args || args->type != MSGPACK_OBJECT_MAP)
    return NULL;
  size_t klen = strlen(key);
  for (uint32_t i = 0; i < args->via.map.size; i++) {
    const msgpack_object *k = &args->via.map.ptr[i].key;
    if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
        memcmp(k->via.str.ptr, key, klen) == 0)
      return &args->via.map.ptr[i].val;
  }
  return NULL;
}

/* Copy a string argument; -ENOENT if absent, SD_E_PROTO if not a string or
 * holding a NUL, too_long if it does not fit. */
static int arg_str(struct admin_req *rq, const msgpack_object *args, const char *key, char *buf,
                   size_t cap, int too_long) {
  const msgpack_object *o = arg_get(args, key);
  if (!o)
    return -ENOENT;
  if (o->type != MSGPACK_OBJECT_STR || memchr(o->via.str.ptr, 0, o->via.str.size)) {
    rq->errmsg = "argument has the wrong type";
    return SD_E_PROTO;
  }
  if (o->via.str.size >= cap)
    return too_long;
  memcpy(buf, o->via.str.ptr, o->via.str.size);
  buf[o->via.str.size] = 0;
  return 0;
}

static int arg_uint(struct admin_req *rq, const msgpack_object *args, const char *key, uint64_t max,
                    uint64_t *ret) {
  const msgpack_object *o = arg_get(args, key);
  if (!o)
    return -ENOENT;
  if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
    rq->errmsg = "argument has the wrong type";
    return SD_E_PROTO;
  }
  if (o->via.u64 > max) {
    rq->errmsg = "argument out of range";
    return -ERANGE;
  }
  *ret = o->via.u64;
  return 0;
}

static int req_ref(struct admin_req *rq, const msgpack_object *args) {
  int r = arg_str(rq, args, "ref", rq->ref, sizeof(rq->ref), SD_E_NAME);
  if (r == -ENOENT) {
    rq->errmsg = "missing argument 'ref'";
    return SD_E_PROTO;
  }
  return r;
}

static int req_value(struct admin_req *rq, const msgpack_object *args) {
  const msgpack_object *o = arg_get(args, "value");
  if (!o) {
    rq->errmsg = "missing argument 'value'";
    return SD_E_PROTO;
  }
  if (o->type != MSGPACK_OBJECT_BIN) {
    rq->errmsg = "argument 'value' must be bin";
    return SD_E_PROTO;
  }
  if (o->via.bin.size == 0 || o->via.bin.size > 500 * 1024)
    return SD_E_VALUE;
  /* The frame buffer that holds these bytes is wiped by the wire reader. */
  return secbuf_from(o->via.bin.ptr, o->via.bin.size, &rq->value);
}

/* The secret's id for replies of rm/grant ops: resolved before the batch. */
static void resolve_id(struct admin_req *rq) {
  struct store_secret_info *info = NULL;
  if (store_secret_inspect(rq->server->store, rq->ref, &info) == 0) {
    memcpy(rq->ret_id, info->id, sizeof(rq->ret_id));
    store_secret_info_free(info, 1);
  }
}

static void pack_hex(msgpack_packer *pk, const uint8_t *b, size_t n) {
  char hex[2 * 64 + 1];
  sodium_bin2hex(hex, sizeof(hex), b, n);
  wire_pack_str(pk, hex);
}

static void pack_labels(msgpack_packer *pk, const struct store_secret_info *i) {
  msgpack_pack_map(pk, i->n_labels);
  for (size_t k = 0; k < i->n_labels; k++)
    wire_pack_kv_str(pk, i->labels[k].key, i->labels[k].value);
}

/* ---- ping ---- */

static int prep_none(struct admin_req *rq, const msgpack_object *args) { return 0; }

static void pack_ping(msgpack_packer *pk, const struct admin_req *rq) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_str(pk, "version", SECRETD_VERSION);
}

/* ---- secret.create ---- */

static int prep_labels(struct admin_req *rq, const msgpack_object *args) {
  const msgpack_object *o = arg_get(args, "labels");
  if (!o)
    return 0;
  if (o->type != MSGPACK_OBJECT_MAP) {
    rq->errmsg = "argument 'labels' must be a map";
    return SD_E_PROTO;
  }
  if (o->via.map.size > 64) {
    rq->errmsg = "at most 64 labels";
    return -E2BIG;
  }
  rq->labels = calloc(o->via.map.size ? o->via.map.size : 1, sizeof(*rq->labels));
  if (!rq->labels)
    return -ENOMEM;
  for (uint32_t i = 0; i < o->via.map.size; i++) {
    const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
    if (k->type != MSGPACK_OBJECT_STR || v->type != MSGPACK_OBJECT_STR ||
        memchr(k->via.str.ptr, 0, k->via.str.size) || memchr(v->via.str.ptr, 0, v->via.str.size)) {
      rq->errmsg = "labels must map strings to strings";
      return SD_E_PROTO;
    }
    if (k->via.str.size > 256 || v->via.str.size > 1024) {
      rq->errmsg = "label key or value too long";
      return -E2BIG;
    }
    char *ks = sd_strdup_n(k->via.str.ptr, k->via.str.size);
    char *vs = sd_strdup_n(v->via.str.ptr, v->via.str.size);
    if (!ks || !vs) {
      free(ks);
      free(vs);
      return -ENOMEM;
    }
    rq->labels[rq->n_labels++] = (struct store_label){ks, vs};
  }
  return 0;
}

static int prep_create(struct admin_req *rq, const msgpack_object *args) {
  int r = arg_str(rq, args, "name", rq->name, sizeof(rq->name), SD_E_NAME);
  if (r == -ENOENT) {
    rq->errmsg = "missing argument 'name'";
    return SD_E_PROTO;
  }
  if (r < 0)
    return r;
  snprintf(rq->ref, sizeof(rq->ref), "%s", rq->name);
  if ((r = prep_labels(rq, args)) < 0)
    return r;
  return req_value(rq, args);
}

static int run_create(struct store_batch *b, struct admin_req *rq) {
  return store_secret_create(b, &rq->actor, rq->name, rq->value, rq->labels, rq->n_labels,
                             rq->ret_id);
}

static void pack_create(msgpack_packer *pk, const struct admin_req *rq) {
  msgpack_pack_map(pk, 3);
  wire_pack_kv_str(pk, "id", rq->ret_id);
  wire_pack_kv_str(pk, "name", rq->name);
  wire_pack_kv_uint(pk, "version", 1);
}

/* ---- secret.rotate ---- */

static int prep_rotate(struct admin_req *rq, const msgpack_object *args) {
  int r = req_ref(rq, args);
  if (r < 0)
    return r;
  resolve_id(rq);
  return req_value(rq, args);
}

static int run_rotate(struct store_batch *b, struct admin_req *rq) {
  return store_secret_rotate(b, &rq->actor, rq->ref, rq->value, &rq->version);
}

static void pack_rotate(msgpack_packer *pk, const struct admin_req *rq) {
  msgpack_pack_map(pk, 2);
  wire_pack_kv_str(pk, "id", rq->ret_id[0] ? rq->ret_id : rq->ref);
  wire_pack_kv_uint(pk, "version", rq->version);
}

/* ---- secret.rm ---- */

static int prep_rm(struct admin_req *rq, const msgpack_object *args) {
  int r = req_ref(rq, args);
  if (r < 0)
    return r;
  const msgpack_object *o = arg_get(args, "force");
  if (o) {
    if (o->type != MSGPACK_OBJECT_BOOLEAN) {
      rq->errmsg = "argument 'force' must be bool";
      return SD_E_PROTO;
    }
    rq->force = o->via.boolean;
  }
  resolve_id(rq);
  return 0;
}

static int run_rm(struct store_batch *b, struct admin_req *rq) {
  return store_secret_remove(b, &rq->actor, rq->ref, rq->force);
}

static void pack_id(msgpack_packer *pk, const struct admin_req *rq) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_str(pk, "id", rq->ret_id[0] ? rq->ret_id : rq->ref);
}

/* ---- grant.add / grant.rm ---- */

static int req_service(struct admin_req *rq, const msgpack_object *args) {
  int r = arg_str(rq, args, "service", rq->service, sizeof(rq->service), SD_E_NAME);
  if (r == -ENOENT) {
    rq->errmsg = "missing argument 'service'";
    return SD_E_PROTO;
  }
  return r;
}

static int prep_grant_add(struct admin_req *rq, const msgpack_object *args) {
  uint64_t v;
  int r;
  if ((r = req_ref(rq, args)) < 0 || (r = req_service(rq, args)) < 0)
    return r;
  r = arg_str(rq, args, "target", rq->target, sizeof(rq->target), SD_E_TARGET);
  if (r < 0 && r != -ENOENT)
    return r;
  rq->has_target = r == 0;
  rq->mode = 0400;
  if ((r = arg_uint(rq, args, "uid", UINT32_MAX, &v)) == 0)
    rq->uid = (uint32_t)v;
  else if (r != -ENOENT)
    return r;
  if ((r = arg_uint(rq, args, "gid", UINT32_MAX, &v)) == 0)
    rq->gid = (uint32_t)v;
  else if (r != -ENOENT)
    return r;
  if ((r = arg_uint(rq, args, "mode", UINT32_MAX, &v)) == 0)
    rq->mode = (uint32_t)v;
  else if (r != -ENOENT)
    return r;
  resolve_id(rq);
  return 0;
}

static int run_grant_add(struct store_batch *b, struct admin_req *rq) {
  struct store_grant g = {
      .service = rq->service,
      .target = rq->has_target ? rq->target : NULL,
      .uid = rq->uid,
      .gid = rq->gid,
      .mode = rq->mode,
  };
  return store_grant_add(b, &rq->actor, rq->ref, &g);
}

static int prep_grant_rm(struct admin_req *rq, const msgpack_object *args) {
  int r;
  if ((r = req_ref(rq, args)) < 0 || (r = req_service(rq, args)) < 0)
    return r;
  resolve_id(rq);
  return 0;
}

static int run_grant_rm(struct store_batch *b, struct admin_req *rq) {
  return store_grant_remove(b, &rq->actor, rq->ref, rq->service);
}

/* ---- reads: the read happens in prepare; run writes the audit note ---- */

static int run_note(struct store_batch *b, struct admin_req *rq) {
  char object[400];
  admin_req_object(rq, object, sizeof(object));
  int r = store_audit_note(b, &rq->actor, rq->op_name, object, rq->code);
  /* The note records rq->code; the reply carries it unless the note failed. */
  return r < 0 ? r : rq->code;
}

static int prep_ls(struct admin_req *rq, const msgpack_object *args) {
  return store_secret_list(rq->server->store, &rq->info, &rq->n_info);
}

static void pack_ls(msgpack_packer *pk, const struct admin_req *rq) {
  msgpack_pack_map(pk, 1);
  wire_pack_str(pk, "secrets");
  msgpack_pack_array(pk, rq->n_info);
  for (size_t i = 0; i < rq->n_info; i++) {
    const struct store_secret_info *s = &rq->info[i];
    msgpack_pack_map(pk, 8);
    wire_pack_kv_str(pk, "id", s->id);
    wire_pack_kv_str(pk, "name", s->name);
    wire_pack_kv_uint(pk, "created_ns", s->created_ns);
    wire_pack_kv_uint(pk, "updated_ns", s->updated_ns);
    wire_pack_kv_uint(pk, "latest", s->latest);
    wire_pack_kv_uint(pk, "versions", s->n_versions);
    wire_pack_str(pk, "labels");
    pack_labels(pk, s);
    wire_pack_kv_uint(pk, "grants", s->n_grants);
  }
}

static int prep_inspect(struct admin_req *rq, const msgpack_object *args) {
  int r = req_ref(rq, args);
  if (r < 0)
    return r;
  if ((r = store_secret_inspect(rq->server->store, rq->ref, &rq->info)) < 0)
    return r;
  rq->n_info = 1;
  return 0;
}

static void pack_inspect(msgpack_packer *pk, const struct admin_req *rq) {
  const struct store_secret_info *s = rq->info;
  msgpack_pack_map(pk, 8);
  wire_pack_kv_str(pk, "id", s->id);
  wire_pack_kv_str(pk, "name", s->name);
  wire_pack_kv_uint(pk, "created_ns", s->created_ns);
  wire_pack_kv_uint(pk, "updated_ns", s->updated_ns);
  wire_pack_kv_uint(pk, "latest", s->latest);
  wire_pack_str(pk, "labels");
  pack_labels(pk, s);
  wire_pack_str(pk, "versions");
  msgpack_pack_array(pk, s->n_versions);
  for (size_t i = 0; i < s->n_versions; i++) {
    msgpack_pack_map(pk, 2);
    wire_pack_kv_uint(pk, "version", s->versions[i].version);
    wire_pack_kv_uint(pk, "created_ns", s->versions[i].created_ns);
  }
  wire_pack_str(pk, "grants");
  msgpack_pack_array(pk, s->n_grants);
  for (size_t i = 0; i < s->n_grants; i++) {
    const struct store_grant *g = &s->grants[i];
    msgpack_pack_map(pk, 6);
    wire_pack_kv_str(pk, "service", g->service ? g->service : "");
    wire_pack_kv_str(pk, "target", g->target ? g->target : s->name);
    wire_pack_kv_uint(pk, "uid", g->uid);
    wire_pack_kv_uint(pk, "gid", g->gid);
    wire_pack_kv_uint(pk, "mode", g->mode);
    wire_pack_kv_uint(pk, "created_ns", g->created_ns);
  }
}

static int prep_audit_ls(struct admin_req *rq, const msgpack_object *args) {
  int r;
  rq->limit = 1000;
  if ((r = arg_uint(rq, args, "after_seq", UINT64_MAX, &rq->after_seq)) < 0 && r != -ENOENT)
    return r;
  if ((r = arg_uint(rq, args, "since_ns", UINT64_MAX, &rq->since_ns)) < 0 && r != -ENOENT)
    return r;
  if ((r = arg_uint(rq, args, "limit", 1000, &rq->limit)) < 0 && r != -ENOENT)
    return r;
  if (rq->limit == 0)
    rq->limit = 1000;
  /* One more than asked tells whether more follow. */
  if ((r = store_audit_list(rq->server->store, rq->after_seq, rq->since_ns, rq->limit + 1,
                            &rq->recs, &rq->n_recs)) < 0)
    return r;
  rq->more = rq->n_recs > rq->limit;
  if (rq->more)
    rq->n_recs = rq->limit;
  return 0;
}

static void pack_audit_ls(msgpack_packer *pk, const struct admin_req *rq) {
  msgpack_pack_map(pk, 2);
  wire_pack_str(pk, "records");
  msgpack_pack_array(pk, rq->n_recs);
  for (size_t i = 0; i < rq->n_recs; i++) {
    const struct store_audit_rec *a = &rq->recs[i];
    msgpack_pack_map(pk, 8);
    wire_pack_kv_uint(pk, "seq", a->seq);
    wire_pack_kv_uint(pk, "time_ns", a->time_ns);
    wire_pack_kv_str(pk, "actor", a->actor);
    wire_pack_kv_str(pk, "action", a->action);
    wire_pack_kv_str(pk, "object", a->object);
    wire_pack_kv_str(pk, "outcome", a->outcome);
    wire_pack_str(pk, "prev");
    pack_hex(pk, a->prev, sizeof(a->prev));
    wire_pack_str(pk, "hash");
    pack_hex(pk, a->hash, sizeof(a->hash));
  }
  wire_pack_str(pk, "more");
  if (rq->more)
    msgpack_pack_true(pk);
  else
    msgpack_pack_false(pk);
}

static int prep_audit_verify(struct admin_req *rq, const msgpack_object *args) {
  char hex[65];
  int r = arg_uint(rq, args, "expect_seq", UINT64_MAX, &rq->expect_seq);
  if (r < 0 && r != -ENOENT)
    return r;
  bool has_seq = r == 0;
  r = arg_str(rq, args, "expect_hash", hex, sizeof(hex), SD_E_PROTO);
  if (r < 0 && r != -ENOENT)
    return r;
  bool has_hash = r == 0;
  if (has_seq != has_hash) {
    rq->errmsg = "expect_seq and expect_hash go together";
    return SD_E_PROTO;
  }
  if (has_hash) {
    size_t n = 0;
    if (strlen(hex) != 64 ||
        sodium_hex2bin(rq->expect_hash, sizeof(rq->expect_hash), hex, 64, NULL, &n, NULL) < 0 ||
        n != 32) {
      rq->errmsg = "expect_hash must be 64 hex characters";
      return SD_E_PROTO;
    }
    rq->has_expect = true;
  }
  return store_audit_verify(rq->server->store, rq->has_expect ? &rq->expect_seq : NULL,
                            rq->has_expect ? rq->expect_hash : NULL, &rq->verdict);
}

static void pack_audit_verify(msgpack_packer *pk, const struct admin_req *rq) {
  const struct store_audit_verdict *v = &rq->verdict;
  msgpack_pack_map(pk, v->ok ? 3 : 5);
  wire_pack_str(pk, "ok");
  if (v->ok)
    msgpack_pack_true(pk);
  else
    msgpack_pack_false(pk);
  wire_pack_kv_uint(pk, "head_seq", v->head_seq);
  wire_pack_str(pk, "head_hash");
  pack_hex(pk, v->head_hash, sizeof(v->head_hash));
  if (!v->ok) {
    wire_pack_kv_uint(pk, "first_bad_seq", v->first_bad_seq);
    wire_pack_kv_str(pk, "reason", v->reason);
  }
}

/* ---- the table ---- */

static const struct admin_op ops[] = {
    {"ping", prep_none, run_note, pack_ping, ADMIN_READ, "daemon"},
    {"secret.create", prep_create, run_create, pack_create, ADMIN_WRITE, "secret:"},
    {"secret.rotate", prep_rotate, run_rotate, pack_rotate, ADMIN_WRITE, "secret:"},
    {"secret.rm", prep_rm, run_rm, pack_id, ADMIN_WRITE, "secret:"},
    {"secret.ls", prep_ls, run_note, pack_ls, ADMIN_READ, "secrets"},
    {"secret.inspect", prep_inspect, run_note, pack_inspect, ADMIN_READ, "secret:"},
    {"grant.add", prep_grant_add, run_grant_add, pack_id, ADMIN_WRITE, "secret:"},
    {"grant.rm", prep_grant_rm, run_grant_rm, pack_id, ADMIN_WRITE, "secret:"},
    {"audit.ls", prep_audit_ls, run_note, pack_audit_ls, ADMIN_READ, "audit"},
    {"audit.verify", prep_audit_verify, run_note, pack_audit_verify, ADMIN_READ, "audit"},
};

const struct admin_op *admin_op_find(const char *op) {
  for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
    if (!strcmp(ops[i].op, op))
      return &ops[i];
  return NULL;
}

void admin_req_object(const struct admin_req *rq, char *buf, size_t len) {
  const char *prefix = rq->op ? rq->op->object_prefix : "request";
  size_t n = strlen(prefix);
  if (n && prefix[n - 1] == ':') {
    const char *what = rq->ref[0] ? rq->ref : rq->name;
    if (rq->service[0])
      snprintf(buf, len, "%s%s service:%s", prefix, what, rq->service);
    else
      snprintf(buf, len, "%s%s", prefix, what);
  } else {
    snprintf(buf, len, "%s", prefix);
  }
}

void admin_req_clear(struct admin_req *rq) {
  secbuf_free(rq->value);
  rq->value = NULL;
  for (size_t i = 0; i < rq->n_labels; i++) {
    free((char *)rq->labels[i].key);
    free((char *)rq->labels[i].value);
  }
  free(rq->labels);
  rq->labels = NULL;
  rq->n_labels = 0;
  store_secret_info_free(rq->info, rq->n_info);
  rq->info = NULL;
  rq->n_info = 0;
  free(rq->recs);
  rq->recs = NULL;
  rq->n_recs = 0;
}
