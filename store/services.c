/* Services and tasks. See store/services.h. */
#include "store/services.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "store/internal.h"
#include "store/validate.h"

#define TASK_KEY_MAX (SD_NAME_MAX + 1 + 4)
#define SLOT_SINGLE 0u

int store_validate_node(const char *node) {
  if (!node)
    return -EINVAL;
  size_t n = strlen(node);
  if (n == 0 || n > STORE_NODE_MAX || node[0] == '.' || node[0] == '-')
    return -EINVAL;
  for (size_t i = 0; i < n; i++) {
    char c = node[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == '-'))
      return -EINVAL;
  }
  return 0;
}

static int validate_state(const char *st) {
  size_t n = st ? strlen(st) : 0;
  if (n == 0 || n > STORE_TASK_STATE_MAX)
    return -EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!((st[i] >= 'a' && st[i] <= 'z') || st[i] == '_'))
      return -EINVAL;
  return 0;
}

static void task_key(uint8_t kb[TASK_KEY_MAX], const char *service, uint32_t slot, MDB_val *k) {
  size_t n = strlen(service);
  memcpy(kb, service, n);
  kb[n] = 0;
  store_be32_put(kb + n + 1, slot);
  *k = (MDB_val){n + 5, kb};
}

/* ---- records ---- */

static int pack_str(msgpack_packer *pk, const char *s) {
  return msgpack_pack_str_with_body(pk, s, strlen(s));
}

static int service_encode(msgpack_sbuffer *sb, uint64_t created, uint64_t updated,
                          const char *node, const void *spec, size_t spec_len) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  int r = msgpack_pack_array(&pk, 4);
  r |= msgpack_pack_uint64(&pk, created);
  r |= msgpack_pack_uint64(&pk, updated);
  r |= pack_str(&pk, node);
  r |= msgpack_pack_bin_with_body(&pk, spec, spec_len);
  return r == 0 ? 0 : -ENOMEM;
}

static bool is_str(const msgpack_object *o, size_t min, size_t max) {
  return o->type == MSGPACK_OBJECT_STR && o->via.str.size >= min && o->via.str.size <= max &&
         !(o->via.str.size && memchr(o->via.str.ptr, 0, o->via.str.size));
}

static bool is_uint(const msgpack_object *o, uint64_t max) {
  return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= max;
}

/* Decode into info (name set by the caller). -EIO when malformed, -ENOMEM. */
static int service_decode(const MDB_val *v, struct store_service_info *info) {
  msgpack_unpacked u;
  msgpack_object *it;
  msgpack_unpacked_init(&u);
  int r = store_rec_unpack(v, &u, &it, 4);
  if (r == 0 && (!is_uint(&it[0], UINT64_MAX) || !is_uint(&it[1], UINT64_MAX) ||
                 !is_str(&it[2], 1, STORE_NODE_MAX) || it[3].type != MSGPACK_OBJECT_BIN ||
                 it[3].via.bin.size == 0 || it[3].via.bin.size > STORE_SERVICE_SPEC_MAX))
    r = -EIO;
  if (r == 0) {
    info->created_ns = it[0].via.u64;
    info->updated_ns = it[1].via.u64;
    memcpy(info->node, it[2].via.str.ptr, it[2].via.str.size);
    info->node[it[2].via.str.size] = 0;
    if (!(info->spec = malloc(it[3].via.bin.size)))
      r = -ENOMEM;
    else {
      memcpy(info->spec, it[3].via.bin.ptr, it[3].via.bin.size);
      info->spec_len = it[3].via.bin.size;
    }
  }
  msgpack_unpacked_destroy(&u);
  return r;
}

static int task_encode(msgpack_sbuffer *sb, const struct store_task_info *t, const uint8_t id[16]) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  int r = msgpack_pack_array(&pk, 7);
  r |= msgpack_pack_bin_with_body(&pk, id, 16);
  r |= pack_str(&pk, t->node);
  r |= pack_str(&pk, t->desired);
  r |= pack_str(&pk, t->state);
  r |= msgpack_pack_uint64(&pk, t->since_ns);
  r |= t->has_exit_code ? msgpack_pack_int32(&pk, t->exit_code) : msgpack_pack_nil(&pk);
  r |= msgpack_pack_uint32(&pk, t->restarts);
  return r == 0 ? 0 : -ENOMEM;
}

static int task_decode(const MDB_val *v, struct store_task_info *t, uint8_t id[16]) {
  msgpack_unpacked u;
  msgpack_object *it;
  msgpack_unpacked_init(&u);
  int r = store_rec_unpack(v, &u, &it, 7);
  if (r == 0 &&
      (it[0].type != MSGPACK_OBJECT_BIN || it[0].via.bin.size != 16 ||
       !is_str(&it[1], 1, STORE_NODE_MAX) || !is_str(&it[2], 1, STORE_TASK_STATE_MAX) ||
       !is_str(&it[3], 1, STORE_TASK_STATE_MAX) || !is_uint(&it[4], UINT64_MAX) ||
       !(it[5].type == MSGPACK_OBJECT_NIL ||
         (it[5].type == MSGPACK_OBJECT_POSITIVE_INTEGER && it[5].via.u64 <= INT32_MAX) ||
         (it[5].type == MSGPACK_OBJECT_NEGATIVE_INTEGER && it[5].via.i64 >= INT32_MIN)) ||
       !is_uint(&it[6], UINT32_MAX)))
    r = -EIO;
  if (r == 0) {
    memcpy(id, it[0].via.bin.ptr, 16);
    store_id_to_hex(id, t->id);
    memcpy(t->node, it[1].via.str.ptr, it[1].via.str.size);
    t->node[it[1].via.str.size] = 0;
    memcpy(t->desired, it[2].via.str.ptr, it[2].via.str.size);
    t->desired[it[2].via.str.size] = 0;
    memcpy(t->state, it[3].via.str.ptr, it[3].via.str.size);
    t->state[it[3].via.str.size] = 0;
    t->since_ns = it[4].via.u64;
    t->has_exit_code = it[5].type != MSGPACK_OBJECT_NIL;
    t->exit_code = t->has_exit_code ? (int32_t)it[5].via.i64 : 0;
    t->restarts = (uint32_t)it[6].via.u64;
  }
  msgpack_unpacked_destroy(&u);
  return r;
}

/* Authenticated read then decode; a record that authenticates but does not decode
 * was written by no store of ours: a tamper signal like a bad tag. */
static int get_task(struct store *s, MDB_txn *txn, const MDB_val *k, const MDB_val *raw,
                    struct store_task_info *t, uint8_t id[16]) {
  MDB_val p;
  int r = raw ? store_rec_open(s, DBI_TASKS, k, raw, &p) : store_rec_get(s, txn, DBI_TASKS, k, &p);
  if (r < 0)
    return r;
  if ((r = task_decode(&p, t, id)) == -EIO) {
    store_tamper_report(s, DBI_TASKS, k, "authenticated but malformed");
    r = -EBADMSG;
  }
  return r;
}

/* ---- writes ---- */

static int put_task(struct store *s, MDB_txn *txn, const char *service, uint32_t slot,
                    const struct store_task_info *t, const uint8_t id[16]) {
  uint8_t kb[TASK_KEY_MAX];
  MDB_val k;
  msgpack_sbuffer sb;
  task_key(kb, service, slot, &k);
  msgpack_sbuffer_init(&sb);
  int r = task_encode(&sb, t, id);
  if (r == 0)
    r = store_rec_put(s, txn, DBI_TASKS, &k, sb.data, sb.size, 0);
  msgpack_sbuffer_destroy(&sb);
  return r;
}

static int do_create(struct store_op *op, const char *name, const char *node, const void *spec,
                     size_t spec_len) {
  struct store *s = op->b->s;
  MDB_val k, v;
  int r;
  if ((r = store_validate_name(name)) < 0)
    return r;
  if (store_validate_node(node) < 0 || !spec || spec_len == 0 ||
      spec_len > STORE_SERVICE_SPEC_MAX)
    return -EINVAL;
  k = (MDB_val){strlen(name), (void *)name};
  r = store_rec_get(s, op->txn, DBI_SERVICES, &k, &v);
  if (r == 0)
    return -EEXIST;
  if (r != -ENOENT)
    return r;
  uint64_t now = store_now_ns();
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  if ((r = service_encode(&sb, now, now, node, spec, spec_len)) == 0)
    r = store_rec_put(s, op->txn, DBI_SERVICES, &k, sb.data, sb.size, 0);
  msgpack_sbuffer_destroy(&sb);
  if (r < 0)
    return r;
  struct store_task_info t = {.slot = SLOT_SINGLE, .since_ns = now};
  uint8_t id[16];
  randombytes_buf(id, sizeof(id));
  snprintf(t.node, sizeof(t.node), "%s", node);
  snprintf(t.desired, sizeof(t.desired), "running");
  snprintf(t.state, sizeof(t.state), "pending");
  return put_task(s, op->txn, name, SLOT_SINGLE, &t, id);
}

int store_service_create(struct store_batch *b, const struct store_actor *a, const char *name,
                         const char *node, const void *spec, size_t spec_len) {
  struct store_op op;
  if (!b)
    return -EINVAL;
  int r = store_op_begin(b, &op);
  store_op_set_object(&op, "service:%.64s node:%.200s", name ? name : "", node ? node : "");
  if (r == 0)
    r = do_create(&op, name, node, spec, spec_len);
  return store_op_finish(&op, a, "service.create", r);
}

static int do_remove(struct store_op *op, const char *name) {
  struct store *s = op->b->s;
  MDB_val k, v;
  MDB_cursor *c;
  int r;
  if ((r = store_validate_name(name)) < 0)
    return r;
  k = (MDB_val){strlen(name), (void *)name};
  /* authenticated first: a tampered record is reported, not silently dropped */
  if ((r = store_rec_get(s, op->txn, DBI_SERVICES, &k, &v)) < 0)
    return r;
  if ((r = store_mdb_err(mdb_del(op->txn, s->dbi[DBI_SERVICES], &k, NULL))) < 0)
    return r;
  uint8_t kb[TASK_KEY_MAX];
  size_t plen = strlen(name) + 1;
  memcpy(kb, name, plen); /* name || 0x00: the tasks' prefix */
  MDB_val tk = {plen, kb};
  if ((r = store_mdb_err(mdb_cursor_open(op->txn, s->dbi[DBI_TASKS], &c))) < 0)
    return r;
  int rc = mdb_cursor_get(c, &tk, &v, MDB_SET_RANGE);
  while (rc == 0 && tk.mv_size >= plen && memcmp(tk.mv_data, kb, plen) == 0) {
    if ((rc = mdb_cursor_del(c, 0)) != 0)
      break;
    rc = mdb_cursor_get(c, &tk, &v, MDB_NEXT); /* the one after the deleted */
  }
  mdb_cursor_close(c);
  return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_mdb_err(rc);
}

int store_service_remove(struct store_batch *b, const struct store_actor *a, const char *name) {
  struct store_op op;
  if (!b)
    return -EINVAL;
  int r = store_op_begin(b, &op);
  store_op_set_object(&op, "service:%.64s", name ? name : "");
  if (r == 0)
    r = do_remove(&op, name);
  return store_op_finish(&op, a, "service.rm", r);
}

static int do_task_update(struct store_op *op, const char *service, uint32_t slot,
                          const char *state, const int32_t *exit_code, uint32_t restarts) {
  struct store *s = op->b->s;
  struct store_task_info t = {0};
  uint8_t kb[TASK_KEY_MAX], id[16];
  MDB_val k;
  int r;
  if ((r = store_validate_name(service)) < 0)
    return r;
  if (validate_state(state) < 0)
    return -EINVAL;
  task_key(kb, service, slot, &k);
  if ((r = get_task(s, op->txn, &k, NULL, &t, id)) < 0)
    return r;
  if (strcmp(t.state, state) != 0)
    t.since_ns = store_now_ns();
  snprintf(t.state, sizeof(t.state), "%s", state);
  t.has_exit_code = exit_code != NULL;
  t.exit_code = exit_code ? *exit_code : 0;
  t.restarts = restarts;
  store_op_set_object(op, "service:%s task:%s node:%s state:%s", service, t.id, t.node, state);
  return put_task(s, op->txn, service, slot, &t, id);
}

int store_task_update(struct store_batch *b, const struct store_actor *a, const char *service,
                      uint32_t slot, const char *state, const int32_t *exit_code,
                      uint32_t restarts) {
  struct store_op op;
  if (!b)
    return -EINVAL;
  int r = store_op_begin(b, &op);
  store_op_set_object(&op, "service:%.64s slot:%u", service ? service : "", slot);
  if (r == 0)
    r = do_task_update(&op, service, slot, state, exit_code, restarts);
  return store_op_finish(&op, a, "task.update", r);
}

/* ---- reads ---- */

static int fill_tasks(struct store *s, MDB_txn *txn, struct store_service_info *info) {
  MDB_cursor *c;
  MDB_val k, v;
  uint8_t kb[TASK_KEY_MAX];
  size_t plen = strlen(info->name) + 1, cap = 0;
  memcpy(kb, info->name, plen);
  k = (MDB_val){plen, kb};
  int r = store_mdb_err(mdb_cursor_open(txn, s->dbi[DBI_TASKS], &c));
  if (r < 0)
    return r;
  int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  for (; rc == 0 && k.mv_size > plen && memcmp(k.mv_data, info->name, plen) == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    uint8_t id[16];
    if (k.mv_size != plen + 4) {
      store_tamper_report(s, DBI_TASKS, &k, "key of no task");
      r = -EBADMSG;
      break;
    }
    if (info->n_tasks == cap) {
      cap = cap ? cap * 2 : 2;
      void *n = realloc(info->tasks, cap * sizeof(*info->tasks));
      if (!n) {
        r = -ENOMEM;
        break;
      }
      info->tasks = n;
    }
    struct store_task_info *t = &info->tasks[info->n_tasks];
    memset(t, 0, sizeof(*t));
    if ((r = get_task(s, txn, &k, &v, t, id)) < 0)
      break;
    t->slot = store_be32_get((const uint8_t *)k.mv_data + plen);
    info->n_tasks++;
  }
  mdb_cursor_close(c);
  if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
    r = store_mdb_err(rc);
  return r;
}

/* Fill info from the service record k/raw (authenticated here) and its tasks. */
static int fill_service(struct store *s, MDB_txn *txn, const MDB_val *k, const MDB_val *raw,
                        struct store_service_info *info) {
  MDB_val p;
  int r;
  if (k->mv_size == 0 || k->mv_size > SD_NAME_MAX) {
    store_tamper_report(s, DBI_SERVICES, k, "key of no service");
    return -EBADMSG;
  }
  memcpy(info->name, k->mv_data, k->mv_size);
  info->name[k->mv_size] = 0;
  r = raw ? store_rec_open(s, DBI_SERVICES, k, raw, &p)
          : store_rec_get(s, txn, DBI_SERVICES, k, &p);
  if (r < 0)
    return r;
  if ((r = service_decode(&p, info)) == -EIO) {
    store_tamper_report(s, DBI_SERVICES, k, "authenticated but malformed");
    return -EBADMSG;
  }
  if (r < 0)
    return r;
  return fill_tasks(s, txn, info);
}

static void info_clear(struct store_service_info *i) {
  free(i->spec);
  free(i->tasks);
}

void store_service_info_free(struct store_service_info *v, size_t n) {
  if (!v)
    return;
  for (size_t i = 0; i < n; i++)
    info_clear(&v[i]);
  free(v);
}

int store_service_inspect(struct store *s, const char *name, struct store_service_info **ret) {
  MDB_txn *txn;
  if (!s || !ret)
    return -EINVAL;
  int r = store_validate_name(name);
  if (r < 0)
    return r;
  struct store_service_info *info = calloc(1, sizeof(*info));
  if (!info)
    return -ENOMEM;
  if ((r = store_mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))) == 0) {
    MDB_val k = {strlen(name), (void *)name};
    r = fill_service(s, txn, &k, NULL, info);
    mdb_txn_abort(txn);
  }
  if (r < 0) {
    store_service_info_free(info, 1);
    return r;
  }
  *ret = info;
  return 0;
}

int store_service_list(struct store *s, const char *after, size_t limit,
                       struct store_service_info **ret, size_t *ret_n, bool *ret_more) {
  MDB_txn *txn;
  MDB_cursor *c = NULL;
  MDB_val k, v;
  struct store_service_info *arr = NULL;
  size_t n = 0, cap = 0;
  bool more = false;
  int rc;
  if (!s || !ret || !ret_n)
    return -EINVAL;
  int r = store_mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
  if (r < 0)
    return r;
  if ((r = store_mdb_err(mdb_cursor_open(txn, s->dbi[DBI_SERVICES], &c))) < 0)
    goto out;
  if (after && *after) {
    k = (MDB_val){strlen(after), (void *)after};
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    /* strictly after the cursor */
    if (rc == 0 && k.mv_size == strlen(after) && memcmp(k.mv_data, after, k.mv_size) == 0)
      rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  } else {
    rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
  }
  for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    if (limit && n == limit) {
      more = true;
      break;
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
    memset(&arr[n], 0, sizeof(arr[n]));
    r = fill_service(s, txn, &k, &v, &arr[n]);
    n++;
    if (r < 0)
      goto out;
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    r = store_mdb_err(rc);
out:
  if (c)
    mdb_cursor_close(c);
  mdb_txn_abort(txn);
  if (r < 0) {
    store_service_info_free(arr, n);
    return r;
  }
  *ret = arr;
  *ret_n = n;
  if (ret_more)
    *ret_more = more;
  return 0;
}

/* ---- dispatch reads ---- */

static int grow(void **arr, size_t *cap, size_t n, size_t size) {
  if (n < *cap)
    return 0;
  size_t nc = *cap ? *cap * 2 : 8;
  void *p = realloc(*arr, nc * size);
  if (!p)
    return -ENOMEM;
  *arr = p;
  *cap = nc;
  return 0;
}

/* Fill g from a grant record of secret id: its name and latest from the secret. */
static int resolve_grant(struct store *s, MDB_txn *txn, const MDB_val *k, const MDB_val *raw,
                         struct store_service_grant *g) {
  struct grant_rec gr;
  struct secret_rec sr;
  msgpack_unpacked u, us;
  MDB_val p, sp, sk = {16, k->mv_data};
  int r = store_rec_open(s, DBI_GRANTS, k, raw, &p);
  if (r < 0)
    return r;
  msgpack_unpacked_init(&u);
  msgpack_unpacked_init(&us);
  if ((r = store_rec_grant_decode(&p, &u, &gr)) < 0 || gr.target_len > SD_TARGET_MAX) {
    store_tamper_report(s, DBI_GRANTS, k, "authenticated but malformed");
    r = -EBADMSG;
    goto out;
  }
  r = store_rec_get(s, txn, DBI_SECRETS, &sk, &sp);
  if (r == -ENOENT) {
    store_tamper_report(s, DBI_GRANTS, k, "grants a missing secret");
    r = -EBADMSG;
  }
  if (r < 0)
    goto out;
  if (store_rec_secret_decode(&sp, &us, &sr) < 0 || sr.name_len > SD_NAME_MAX) {
    store_tamper_report(s, DBI_SECRETS, &sk, "authenticated but undecodable");
    r = -EBADMSG;
    goto out;
  }
  memset(g, 0, sizeof(*g));
  store_id_to_hex(k->mv_data, g->secret_id);
  memcpy(g->secret_name, sr.name, sr.name_len);
  memcpy(g->target, gr.target, gr.target_len);
  g->uid_unset = gr.uid_unset;
  g->gid_unset = gr.gid_unset;
  g->uid = gr.uid;
  g->gid = gr.gid;
  g->mode = gr.mode;
  g->pinned = gr.version;
  g->version = gr.version ? gr.version : sr.latest;
out:
  msgpack_unpacked_destroy(&u);
  msgpack_unpacked_destroy(&us);
  return r;
}

int store_service_grants(struct store *s, const char *service, struct store_service_grant **ret,
                         size_t *ret_n) {
  struct store_service_grant *arr = NULL;
  size_t n = 0, cap = 0, slen;
  MDB_txn *txn;
  MDB_cursor *c = NULL;
  MDB_val k, v;
  int r, rc;
  if (!s || !ret || !ret_n)
    return -EINVAL;
  if ((r = store_validate_name(service)) < 0)
    return r;
  slen = strlen(service);
  if ((r = store_mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))) < 0)
    return r;
  if ((r = store_mdb_err(mdb_cursor_open(txn, s->dbi[DBI_GRANTS], &c))) < 0)
    goto out;
  /* Keyed secret id || service: a scan of the grants (dispatch reads this once per
   * change, not per delivery). */
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    if (k.mv_size != 16 + slen || memcmp((const uint8_t *)k.mv_data + 16, service, slen) != 0)
      continue;
    if ((r = grow((void **)&arr, &cap, n, sizeof(*arr))) < 0 ||
        (r = resolve_grant(s, txn, &k, &v, &arr[n])) < 0)
      goto out;
    n++;
  }
  if (rc != MDB_NOTFOUND)
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

int store_node_tasks(struct store *s, const char *node, struct store_node_task **ret,
                     size_t *ret_n) {
  struct store_node_task *arr = NULL;
  size_t n = 0, cap = 0;
  MDB_txn *txn;
  MDB_cursor *c = NULL;
  MDB_val k, v;
  int r, rc;
  if (!s || !ret || !ret_n)
    return -EINVAL;
  if (store_validate_node(node) < 0)
    return -EINVAL;
  if ((r = store_mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))) < 0)
    return r;
  if ((r = store_mdb_err(mdb_cursor_open(txn, s->dbi[DBI_TASKS], &c))) < 0)
    goto out;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    const uint8_t *kb = k.mv_data;
    const uint8_t *nul = k.mv_size > 5 ? memchr(kb, 0, k.mv_size) : NULL;
    size_t name_len = nul ? (size_t)(nul - kb) : 0;
    uint8_t id[16];
    if (!nul || name_len == 0 || name_len > SD_NAME_MAX || k.mv_size != name_len + 5) {
      store_tamper_report(s, DBI_TASKS, &k, "key of no task");
      r = -EBADMSG;
      goto out;
    }
    if ((r = grow((void **)&arr, &cap, n, sizeof(*arr))) < 0)
      goto out;
    memset(&arr[n], 0, sizeof(arr[n]));
    if ((r = get_task(s, txn, &k, &v, &arr[n].task, id)) < 0)
      goto out;
    if (strcmp(arr[n].task.node, node) != 0)
      continue;
    memcpy(arr[n].service, kb, name_len);
    arr[n].task.slot = store_be32_get(kb + name_len + 1);
    n++;
  }
  if (rc != MDB_NOTFOUND)
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

/* ---- for store/dispatch.c (declared in store/internal.h) ---- */

int store_task_read(struct store *s, MDB_txn *txn, const MDB_val *k, const MDB_val *raw,
                    struct store_task_info *t, uint8_t id[16]) {
  return get_task(s, txn, k, raw, t, id);
}

int store_service_read(struct store *s, MDB_txn *txn, const char *name,
                       struct store_service_info *info) {
  MDB_val k = {strlen(name), (void *)name}, p;
  int r = store_rec_get(s, txn, DBI_SERVICES, &k, &p);
  if (r < 0)
    return r;
  snprintf(info->name, sizeof(info->name), "%s", name);
  if ((r = service_decode(&p, info)) == -EIO) {
    store_tamper_report(s, DBI_SERVICES, &k, "authenticated but malformed");
    r = -EBADMSG;
  }
  return r;
}

int store_grant_resolve(struct store *s, MDB_txn *txn, const MDB_val *k, const MDB_val *raw,
                        struct store_service_grant *g) {
  return resolve_grant(s, txn, k, raw, g);
}
