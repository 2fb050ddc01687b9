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
#include "base/limits.h"
#include "base/str.h"
#include "crypto/secbuf.h"
#include "secretd/dispatch.h"
#include "secretd/dispatch_hook.h"
#include "secretd/secretd.h"
#include "secretd/serve.h"
#include "store/validate.h"
#include "wire/msg.h"

/* ---- arguments: the schema (wire/proto.c) already checked types, required
 * keys and lengths; here they are only copied out, once ---- */

int admin_arg_str(const msgpack_object *args, const char *key, char *buf, size_t cap,
                    int too_long) {
  const msgpack_object *o = wire_map_get(args, key);
  if (!o)
    return -ENOENT;
  if (o->via.str.size >= cap)
    return too_long;
  if (o->via.str.size) /* an empty string has a NULL pointer */
    memcpy(buf, o->via.str.ptr, o->via.str.size);
  buf[o->via.str.size] = 0;
  return 0;
}

/* An optional uint argument; absent leaves *ret. */
static void arg_uint(const msgpack_object *args, const char *key, uint64_t *ret) {
  const msgpack_object *o = wire_map_get(args, key);
  if (o)
    *ret = o->via.u64;
}

static int req_value(struct admin_req *rq, const msgpack_object *args) {
  const msgpack_object *o = wire_map_get(args, "value");
  /* The size rule is the store's (base/limits.h); it refuses with SD_E_VALUE. */
  if (store_validate_value_len(o->via.bin.size) < 0)
    return SD_E_VALUE;
  /* The frame buffer that holds these bytes is wiped by the wire reader. */
  return secbuf_from(o->via.bin.ptr, o->via.bin.size, &rq->value);
}

/* Copy what a write op acted on out of the batch (its own transaction). */
static void take_target(struct store_batch *b, struct admin_req *rq) {
  store_batch_last_target(b, rq->ret_id, rq->ret_name);
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

/* ---- session.echo (workers): the args back ---- */

/* The result is the length of "data" (the schema bounds it). */
static int prep_echo(struct admin_req *rq, const msgpack_object *args) {
  const msgpack_object *d = wire_map_get(args, "data");
  rq->limit = d ? d->via.str.size : 0;
  return 0;
}

static void pack_echo(msgpack_packer *pk, const struct admin_req *rq) {
  msgpack_pack_map(pk, 1);
  wire_pack_kv_uint(pk, "len", rq->limit);
}

/* ---- secret.create ---- */

static int prep_labels(struct admin_req *rq, const msgpack_object *args) {
  const msgpack_object *o = wire_map_get(args, "labels");
  if (!o)
    return 0;
  rq->labels = calloc(o->via.map.size ? o->via.map.size : 1, sizeof(*rq->labels));
  if (!rq->labels)
    return -ENOMEM;
  for (uint32_t i = 0; i < o->via.map.size; i++) {
    const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
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

static int req_ref(struct admin_req *rq, const msgpack_object *args) {
  return admin_arg_str(args, "ref", rq->ref, sizeof(rq->ref), SD_E_NAME);
}

static int prep_create(struct admin_req *rq, const msgpack_object *args) {
  int r = admin_arg_str(args, "name", rq->name, sizeof(rq->name), SD_E_NAME);
  if (r < 0)
    return r;
  snprintf(rq->ref, sizeof(rq->ref), "%s", rq->name);
  if ((r = prep_labels(rq, args)) < 0)
    return r;
  return req_value(rq, args);
}

static int run_create(struct store_batch *b, struct admin_req *rq) {
  int r = store_secret_create(b, &rq->actor, rq->name, rq->value, rq->labels, rq->n_labels,
                              rq->ret_id);
  take_target(b, rq);
  return r;
}

static void pack_create(msgpack_packer *pk, const struct admin_req *rq) {
  msgpack_pack_map(pk, 3);
  wire_pack_kv_str(pk, "id", rq->ret_id);
  wire_pack_kv_str(pk, "name", rq->ret_name);
  wire_pack_kv_uint(pk, "version", 1);
}

/* ---- secret.rotate ---- */

static int prep_rotate(struct admin_req *rq, const msgpack_object *args) {
  int r = req_ref(rq, args);
  if (r < 0)
    return r;
  return req_value(rq, args);
}

static int run_rotate(struct store_batch *b, struct admin_req *rq) {
  int r = store_secret_rotate(b, &rq->actor, rq->ref, rq->value, &rq->version);
  take_target(b, rq);
  return r;
}

static void pack_rotate(msgpack_packer *pk, const struct admin_req *rq) {
  msgpack_pack_map(pk, 3);
  wire_pack_kv_str(pk, "id", rq->ret_id);
  wire_pack_kv_str(pk, "name", rq->ret_name);
  wire_pack_kv_uint(pk, "version", rq->version);
}

/* ---- secret.rm ---- */

static int prep_rm(struct admin_req *rq, const msgpack_object *args) {
  const msgpack_object *o = wire_map_get(args, "force");
  rq->force = o && o->via.boolean;
  return req_ref(rq, args);
}

static int run_rm(struct store_batch *b, struct admin_req *rq) {
  int r = store_secret_remove(b, &rq->actor, rq->ref, rq->force);
  take_target(b, rq);
  return r;
}

/* The id and name of the secret the op acted on, never the ref as typed. */
static void pack_id(msgpack_packer *pk, const struct admin_req *rq) {
  msgpack_pack_map(pk, 2);
  wire_pack_kv_str(pk, "id", rq->ret_id);
  wire_pack_kv_str(pk, "name", rq->ret_name);
}

/* ---- grant.add / grant.rm ---- */

static int req_service(struct admin_req *rq, const msgpack_object *args) {
  return admin_arg_str(args, "service", rq->service, sizeof(rq->service), SD_E_NAME);
}

static int prep_grant_add(struct admin_req *rq, const msgpack_object *args) {
  uint64_t uid = 0, gid = 0, mode = SD_GRANT_DEFAULT_MODE, version = 0;
  int r;
  if ((r = req_ref(rq, args)) < 0 || (r = req_service(rq, args)) < 0)
    return r;
  r = admin_arg_str(args, "target", rq->target, sizeof(rq->target), SD_E_TARGET);
  if (r < 0 && r != -ENOENT)
    return r;
  rq->has_target = r == 0;
  /* the schema bounds all three by UINT32_MAX; the store checks the rules */
  /* no uid/gid: the file belongs to the service's user (resolved on the node) */
  rq->uid_unset = !wire_map_get(args, "uid");
  rq->gid_unset = !wire_map_get(args, "gid");
  arg_uint(args, "uid", &uid);
  arg_uint(args, "gid", &gid);
  arg_uint(args, "mode", &mode);
  arg_uint(args, "version", &version);
  rq->uid = (uint32_t)uid;
  rq->gid = (uint32_t)gid;
  rq->mode = (uint32_t)mode;
  rq->pin_version = (uint32_t)version;
  return 0;
}

static int grant_write(struct store_batch *b, void *ud) {
  struct admin_req *rq = ud;
  struct store_grant g = {
      .service = rq->service,
      .target = rq->has_target ? rq->target : NULL,
      .uid = rq->uid,
      .gid = rq->gid,
      .mode = rq->mode,
      .uid_unset = rq->uid_unset,
      .gid_unset = rq->gid_unset,
      .version = rq->pin_version,
  };
  int r = store_grant_add(b, &rq->actor, rq->ref, &g);
  take_target(b, rq);
  return r;
}

/* A grant (or a pin, owner, target change) grows the set of the node the
 * service's task is placed on: refused when that would not fit. */
static int run_grant_add(struct store_batch *b, struct admin_req *rq) {
  struct dispatch_fit fit;
  int r = dispatch_write_bounded(b, NULL, rq->service, grant_write, rq, &fit);
  return r < 0 ? admin_refuse_unfit(b, rq, &fit, r) : r;
}

static int prep_grant_rm(struct admin_req *rq, const msgpack_object *args) {
  int r = req_ref(rq, args);
  return r < 0 ? r : req_service(rq, args);
}

static int run_grant_rm(struct store_batch *b, struct admin_req *rq) {
  int r = store_grant_remove(b, &rq->actor, rq->ref, rq->service);
  take_target(b, rq);
  return r;
}

/* ---- reads: the read happens in prepare; run writes the audit note ---- */

static int run_note(struct store_batch *b, struct admin_req *rq) {
  char object[400];
  admin_req_object(rq, object, sizeof(object));
  int r = store_audit_note(b, &rq->actor, rq->action, object, rq->code);
  /* The note records rq->code; the reply carries it unless the note failed. */
  return r < 0 ? r : rq->code;
}

/* A client that sends neither "limit" nor "cursor" predates paging: it gets
 * the whole listing in one reply as before, up to this many entries (more
 * would not fit a frame anyway); past it the reply says to page. */
#define LS_UNPAGED_MAX 10000

/* An upper bound of the packed size of one secret.ls entry. */
static size_t secret_entry_bytes(const struct store_secret_info *s) {
  size_t n = 128 + strlen(s->id) + strlen(s->name);
  for (size_t i = 0; i < s->n_labels; i++)
    n += 10 + strlen(s->labels[i].key) + strlen(s->labels[i].value);
  return n;
}

static int prep_ls(struct admin_req *rq, const msgpack_object *args) {
  struct wire_page *pg = &rq->page;
  int r = wire_page_args(args, WIRE_LIST_SECRETS, 1, SD_NAME_MAX, pg, &rq->errmsg);
  if (r < 0)
    return r;
  size_t want = pg->asked ? pg->limit : LS_UNPAGED_MAX;
  /* One more than asked tells whether more follow. */
  if ((r = store_secret_list_after(rq->server->store, pg->has_after ? pg->after : NULL,
                                   pg->after_len, want + 1, &rq->info, &rq->n_info)) < 0)
    return r;
  if (!pg->asked) {
    if (rq->n_info > want) {
      rq->errmsg = "more than 10000 secrets: list them in pages ('limit' and 'cursor')";
      return -EMSGSIZE;
    }
    rq->n_page = rq->n_info;
    return 0;
  }
  size_t used = 0;
  rq->n_page = 0;
  while (rq->n_page < rq->n_info &&
         wire_page_take(pg, rq->n_page, &used, secret_entry_bytes(&rq->info[rq->n_page])))
    rq->n_page++;
  rq->more = rq->n_page < rq->n_info;
  return 0;
}

static void pack_ls(msgpack_packer *pk, const struct admin_req *rq) {
  msgpack_pack_map(pk, 1 + rq->more);
  wire_pack_str(pk, "secrets");
  msgpack_pack_array(pk, rq->n_page);
  for (size_t i = 0; i < rq->n_page; i++) {
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
  if (rq->more) { /* n_page >= 1: wire_page_take always takes the first */
    const char *last = rq->info[rq->n_page - 1].name;
    wire_pack_page_next(pk, WIRE_LIST_SECRETS, last, strlen(last));
  }
}

/* An upper bound of the packed size of one grant entry. */
static size_t grant_entry_bytes(const struct store_grant *g, const char *secret_name) {
  return 96 + (g->service ? strlen(g->service) : 0) +
         (g->target ? strlen(g->target) : strlen(secret_name));
}

/* How many of info's grants make the page pg; *more when some are left. */
static size_t grants_page(const struct wire_page *pg, const struct store_secret_info *s,
                          bool *more) {
  size_t n = 0, used = 0;
  while (n < s->n_grants && wire_page_take(pg, n, &used, grant_entry_bytes(&s->grants[n], s->name)))
    n++;
  *more = n < s->n_grants;
  return n;
}

static void pack_grants(msgpack_packer *pk, const struct store_secret_info *s, size_t n) {
  msgpack_pack_array(pk, n);
  for (size_t i = 0; i < n; i++) {
    const struct store_grant *g = &s->grants[i];
    msgpack_pack_map(pk, 7);
    wire_pack_kv_str(pk, "service", g->service ? g->service : "");
    wire_pack_kv_str(pk, "target", g->target ? g->target : s->name);
    /* nil: unset, the service's user */
    wire_pack_str(pk, "uid");
    g->uid_unset ? msgpack_pack_nil(pk) : msgpack_pack_uint32(pk, g->uid);
    wire_pack_str(pk, "gid");
    g->gid_unset ? msgpack_pack_nil(pk) : msgpack_pack_uint32(pk, g->gid);
    wire_pack_kv_uint(pk, "mode", g->mode);
    wire_pack_kv_uint(pk, "created_ns", g->created_ns);
    wire_pack_kv_uint(pk, "version", g->version); /* 0: follows the latest */
  }
}

/* The cursor after the last grant of a page, as key `key`. */
static void pack_grants_next(msgpack_packer *pk, const char *key, const struct store_grant *last) {
  char c[WIRE_CURSOR_MAX + 1];
  const char *svc = last->service ? last->service : "";
  if (wire_cursor_encode(WIRE_LIST_GRANTS, svc, strlen(svc), c) < 0)
    c[0] = 0;
  wire_pack_kv_str(pk, key, c);
}

static int prep_inspect(struct admin_req *rq, const msgpack_object *args) {
  int r = req_ref(rq, args);
  if (r < 0)
    return r;
  if ((r = store_secret_inspect(rq->server->store, rq->ref, &rq->info)) < 0)
    return r;
  rq->n_info = 1;
  /* The grants are the first page of grant.ls: "grants_next" continues there. */
  rq->page = (struct wire_page){.limit = WIRE_PAGE_DEFAULT};
  rq->n_page = grants_page(&rq->page, rq->info, &rq->more);
  return 0;
}

static void pack_inspect(msgpack_packer *pk, const struct admin_req *rq) {
  const struct store_secret_info *s = rq->info;
  msgpack_pack_map(pk, 8 + rq->more);
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
  pack_grants(pk, s, rq->n_page);
  if (rq->more)
    pack_grants_next(pk, "grants_next", &s->grants[rq->n_page - 1]);
}

/* ---- grant.ls: the grants of one secret, paged by service ---- */

static int prep_grant_ls(struct admin_req *rq, const msgpack_object *args) {
  struct wire_page *pg = &rq->page;
  int r = req_ref(rq, args);
  if (r < 0 || (r = wire_page_args(args, WIRE_LIST_GRANTS, 1, SD_NAME_MAX, pg, &rq->errmsg)) < 0)
    return r;
  /* One more than asked tells whether more follow. */
  if ((r = store_grant_list_after(rq->server->store, rq->ref, pg->has_after ? pg->after : NULL,
                                  pg->after_len, pg->limit + 1, &rq->info)) < 0)
    return r;
  rq->n_info = 1;
  rq->n_page = grants_page(pg, rq->info, &rq->more);
  return 0;
}

static void pack_grant_ls(msgpack_packer *pk, const struct admin_req *rq) {
  const struct store_secret_info *s = rq->info;
  msgpack_pack_map(pk, 3 + rq->more);
  wire_pack_kv_str(pk, "id", s->id);
  wire_pack_kv_str(pk, "name", s->name);
  wire_pack_str(pk, "grants");
  pack_grants(pk, s, rq->n_page);
  if (rq->more)
    pack_grants_next(pk, "next", &s->grants[rq->n_page - 1]);
}

/* An upper bound of the packed size of one audit.ls entry. */
static size_t audit_entry_bytes(const struct store_audit_rec *a) {
  return 64 + 2 * 9 + 2 * 67 + strlen(a->actor) + strlen(a->action) + strlen(a->object) +
         strlen(a->outcome) + 16;
}

static int prep_audit_ls(struct admin_req *rq, const msgpack_object *args) {
  struct wire_page *pg = &rq->page;
  int r = wire_page_args(args, WIRE_LIST_AUDIT, 8, 8, pg, &rq->errmsg);
  if (r < 0)
    return r;
  arg_uint(args, "after_seq", &rq->after_seq);
  arg_uint(args, "since_ns", &rq->since_ns);
  if (pg->has_after) { /* the cursor is the last seq returned; it wins over after_seq */
    uint64_t seq = 0;
    for (size_t i = 0; i < 8; i++)
      seq = seq << 8 | pg->after[i];
    rq->after_seq = seq;
  }
  rq->limit = pg->limit;
  /* One more than asked tells whether more follow. */
  if ((r = store_audit_list(rq->server->store, rq->after_seq, rq->since_ns, rq->limit + 1,
                            &rq->recs, &rq->n_recs)) < 0)
    return r;
  size_t used = 0;
  rq->n_page = 0;
  while (rq->n_page < rq->n_recs &&
         wire_page_take(pg, rq->n_page, &used, audit_entry_bytes(&rq->recs[rq->n_page])))
    rq->n_page++;
  rq->more = rq->n_page < rq->n_recs;
  return 0;
}

static void pack_audit_ls(msgpack_packer *pk, const struct admin_req *rq) {
  msgpack_pack_map(pk, 2 + rq->more);
  wire_pack_str(pk, "records");
  msgpack_pack_array(pk, rq->n_page);
  for (size_t i = 0; i < rq->n_page; i++) {
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
  /* "more" stays for clients that page with after_seq (before cursors) */
  wire_pack_kv_bool(pk, "more", rq->more);
  if (rq->more) {
    uint8_t key[8];
    uint64_t seq = rq->recs[rq->n_page - 1].seq;
    for (size_t i = 0; i < 8; i++)
      key[i] = (uint8_t)(seq >> (56 - 8 * i));
    wire_pack_page_next(pk, WIRE_LIST_AUDIT, key, sizeof(key));
  }
}

static int prep_audit_verify(struct admin_req *rq, const msgpack_object *args) {
  const msgpack_object *seq = wire_map_get(args, "expect_seq");
  const msgpack_object *hash = wire_map_get(args, "expect_hash");
  if (!seq != !hash) {
    rq->errmsg = "expect_seq and expect_hash go together";
    return SD_E_PROTO;
  }
  if (hash) { /* the schema checked: exactly 64 hex digits */
    rq->expect_seq = seq->via.u64;
    sodium_hex2bin(rq->expect_hash, sizeof(rq->expect_hash), hash->via.str.ptr, 64, NULL, NULL,
                   NULL);
    rq->has_expect = true;
  }
  return 0;
}

/* Thread pool: walking a long chain takes seconds; the loop keeps serving. */
static int slow_audit_verify(struct admin_req *rq) {
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

static const struct admin_op ops[WIRE_OP__COUNT] = {
    [WIRE_OP_PING] = {prep_none, run_note, pack_ping, ADMIN_READ, "daemon", NULL},
    [WIRE_OP_SECRET_CREATE] = {prep_create, run_create, pack_create, ADMIN_WRITE, "secret:", NULL},
    [WIRE_OP_SECRET_ROTATE] = {prep_rotate, run_rotate, pack_rotate, ADMIN_WRITE, "secret:", NULL},
    [WIRE_OP_SECRET_RM] = {prep_rm, run_rm, pack_id, ADMIN_WRITE, "secret:", NULL},
    [WIRE_OP_SECRET_LS] = {prep_ls, run_note, pack_ls, ADMIN_READ, "secrets", NULL},
    [WIRE_OP_SECRET_INSPECT] = {prep_inspect, run_note, pack_inspect, ADMIN_READ, "secret:", NULL},
    [WIRE_OP_GRANT_ADD] = {prep_grant_add, run_grant_add, pack_id, ADMIN_WRITE, "secret:", NULL},
    [WIRE_OP_GRANT_RM] = {prep_grant_rm, run_grant_rm, pack_id, ADMIN_WRITE, "secret:", NULL},
    [WIRE_OP_AUDIT_LS] = {prep_audit_ls, run_note, pack_audit_ls, ADMIN_READ, "audit", NULL},
    [WIRE_OP_SESSION_ECHO] = {prep_echo, run_note, pack_echo, ADMIN_READ, "session", NULL},
    [WIRE_OP_AUDIT_VERIFY] = {prep_audit_verify, run_note, pack_audit_verify,
                              ADMIN_READ | ADMIN_SLOW, "audit", slow_audit_verify},
    [WIRE_OP_GRANT_LS] = {prep_grant_ls, run_note, pack_grant_ls, ADMIN_READ, "secret:", NULL},
    [WIRE_OP_SERVICE_CREATE] = {admin_prep_service_create, admin_run_service_create,
                                admin_pack_service_create, ADMIN_WRITE, "service:", NULL},
    [WIRE_OP_SERVICE_LS] = {admin_prep_service_ls, run_note, admin_pack_service_ls, ADMIN_READ,
                            "services", NULL},
    [WIRE_OP_SERVICE_INSPECT] = {admin_prep_service_inspect, run_note,
                                 admin_pack_service_inspect, ADMIN_READ, "service:", NULL},
    [WIRE_OP_SERVICE_RM] = {admin_prep_service_rm, admin_run_service_rm,
                            admin_pack_service_name, ADMIN_WRITE, "service:", NULL},
    [WIRE_OP_JOIN_TOKEN] = {admin_prep_join_token, admin_run_join_token, admin_pack_join_token,
                            ADMIN_WRITE, "join-token:", NULL},
    [WIRE_OP_NODE_LS] = {admin_prep_node_ls, run_note, admin_pack_node_ls, ADMIN_READ, "nodes",
                         NULL},
    [WIRE_OP_NODE_INSPECT] = {admin_prep_node_inspect, run_note, admin_pack_node_inspect,
                              ADMIN_READ, "node:", NULL},
    [WIRE_OP_NODE_RM] = {admin_prep_node_rm, admin_run_node_rm, admin_pack_node_rm, ADMIN_WRITE,
                         "node:", NULL},
    [WIRE_OP_CLUSTER_UPDATE] = {admin_prep_cluster_update, admin_run_cluster_update,
                                admin_pack_cluster_update, ADMIN_WRITE, "cluster:", NULL},
    /* Worker ops: each writes its own audit records (deliveries, refusals) in
     * the batch, hence ADMIN_WRITE; without a caller node id they refuse. */
    [WIRE_OP_NODE_ASSIGNMENTS] = {node_prep_assignments, node_run_assignments,
                                  node_pack_assignments, ADMIN_WRITE, "node:", NULL},
    [WIRE_OP_NODE_DELIVER] = {node_prep_deliver, node_run_deliver, node_pack_deliver,
                              ADMIN_WRITE, "node:", NULL},
    [WIRE_OP_TASK_REPORT] = {node_prep_task_report, node_run_task_report, node_pack_task_report,
                             ADMIN_WRITE, "node:", NULL},
    /* node.join: anonymous TLS peers only (the role table refuses everyone else) */
    [WIRE_OP_NODE_JOIN] = {admin_prep_node_join, admin_run_node_join, admin_pack_node_join,
                           ADMIN_WRITE, "address:", NULL},
    /* node.renew: a node renewing its own certificate over --listen */
    [WIRE_OP_NODE_RENEW] = {admin_prep_node_renew, admin_run_node_renew, admin_pack_node_renew,
                            ADMIN_WRITE, "node:", NULL},
    /* node.hello: a node's report at each connection (last_seen, hostname, address) */
    [WIRE_OP_NODE_HELLO] = {admin_prep_node_hello, admin_run_node_hello, admin_pack_node_hello,
                            ADMIN_WRITE, "node:", NULL},
};

static const admin_after_fn afters[WIRE_OP__COUNT] = {
    [WIRE_OP_NODE_JOIN] = admin_after_node_join,
    [WIRE_OP_NODE_RENEW] = admin_after_node_renew,
    [WIRE_OP_NODE_RM] = admin_after_node_rm,
};

admin_after_fn admin_op_after(enum wire_op op) {
  return (unsigned)op < WIRE_OP__COUNT ? afters[op] : NULL;
}

const struct admin_op *admin_op_get(enum wire_op op) {
  return (unsigned)op < WIRE_OP__COUNT && ops[op].prepare ? &ops[op] : NULL;
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
  admin_req_clear_services(rq);
  secbuf_free(rq->token);
  rq->token = NULL;
  sodium_memzero(rq->token_hash, sizeof(rq->token_hash));
  free(rq->nodes);
  rq->nodes = NULL;
  rq->n_nodes = 0;
  node_req_clear(rq);
  dispatch_hook_release(rq);
  free(rq->csr);
  free(rq->old_cert);
  free(rq->pop);
  rq->csr = rq->old_cert = rq->pop = NULL;
  identity_issued_clear(&rq->issued);
}
