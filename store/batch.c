/* Group commit: a batch is one LMDB write txn; each op is a nested txn that
 * commits into it together with its audit record. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "store/internal.h"

int store_batch_begin(struct store *s, struct store_batch **ret) {
  int r;
  if (!s || !ret)
    return -EINVAL;
  struct store_batch *b = calloc(1, sizeof(*b));
  if (!b)
    return -ENOMEM;
  b->s = s;
  pthread_rwlock_rdlock(&s->key_lock);
  if ((r = store_mdb_err(mdb_txn_begin(s->env, NULL, 0, &b->txn))) < 0)
    goto fail;
  if ((r = store_master_for_txn(s, b->txn, &b->tmp_master, &b->master)) < 0 ||
      (r = store_audit_head_load(b->txn, s->dbi[DBI_AUDIT], &b->head)) < 0)
    goto fail;
  /* Keep both keys mapped while the batch is open: one mprotect pair per
   * batch instead of several per op (acquire is reference counted). */
  sd_key_acquire(b->master);
  sd_key_acquire(s->audit_key);
  sd_key_acquire(s->rec_key);
  b->keys_held = true;
  /* Tamper events seen by reads since the last batch go into the chain first. */
  if ((r = store_tamper_flush(b)) < 0)
    goto fail;
  *ret = b;
  return 0;
fail:
  store_batch_abort(b);
  return r;
}

static void batch_free(struct store_batch *b) {
  if (b->keys_held) {
    sd_key_release(b->s->rec_key);
    sd_key_release(b->s->audit_key);
    sd_key_release(b->master);
  }
  pthread_rwlock_unlock(&b->s->key_lock);
  sd_key_free(b->tmp_master);
  free(b->recs);
  free(b);
}

void store_batch_abort(struct store_batch *b) {
  if (!b)
    return;
  if (b->txn)
    mdb_txn_abort(b->txn);
  batch_free(b);
}

int store_batch_commit(struct store_batch *b) {
  if (!b)
    return -EINVAL;
  struct store *s = b->s;
  int r = store_commit_err(s->env, mdb_txn_commit(b->txn));
  b->txn = NULL; /* committed or aborted by LMDB either way */
  if (r == 0)
    store_audit_file_append(s, b->recs, b->n_recs, b->recs_lost);
  batch_free(b);
  return r;
}

size_t store_batch_size(const struct store_batch *b) { return b ? b->n_recs : 0; }

struct store_savepoint {
  struct store_batch *b;
  MDB_txn *parent;
  struct audit_head head;
  size_t n_recs;
  char last_id[33], last_name[65];
};

int store_savepoint_begin(struct store_batch *b, struct store_savepoint **ret) {
  MDB_txn *child;
  if (!b || !b->txn || !ret)
    return -EINVAL;
  struct store_savepoint *sp = calloc(1, sizeof(*sp));
  if (!sp)
    return -ENOMEM;
  int r = store_mdb_err(mdb_txn_begin(b->s->env, b->txn, 0, &child));
  if (r < 0) {
    free(sp);
    return r;
  }
  *sp = (struct store_savepoint){.b = b, .parent = b->txn, .head = b->head, .n_recs = b->n_recs};
  memcpy(sp->last_id, b->last_id, sizeof(sp->last_id));
  memcpy(sp->last_name, b->last_name, sizeof(sp->last_name));
  b->txn = child;
  *ret = sp;
  return 0;
}

/* Back to the state at begin (the child txn already ended). */
static void savepoint_restore(struct store_savepoint *sp) {
  struct store_batch *b = sp->b;
  b->txn = sp->parent;
  b->head = sp->head;
  if (b->n_recs > sp->n_recs)
    b->n_recs = sp->n_recs;
  memcpy(b->last_id, sp->last_id, sizeof(b->last_id));
  memcpy(b->last_name, sp->last_name, sizeof(b->last_name));
  free(sp);
}

int store_savepoint_release(struct store_savepoint *sp) {
  if (!sp)
    return -EINVAL;
  struct store_batch *b = sp->b;
  int r = store_mdb_err(mdb_txn_commit(b->txn)); /* on failure LMDB aborted it */
  if (r < 0) {
    savepoint_restore(sp);
    return r;
  }
  b->txn = sp->parent;
  free(sp);
  return 0;
}

void store_savepoint_rollback(struct store_savepoint *sp) {
  if (!sp)
    return;
  mdb_txn_abort(sp->b->txn);
  savepoint_restore(sp);
}

/* rec is in the batch's chain: advance the head whatever happens (the next
 * record links to it), and keep a copy for the audit file, which catches up
 * from the chain when a copy could not be kept. */
static void batch_push_rec(struct store_batch *b, const struct store_audit_rec *rec) {
  b->head.seq = rec->seq;
  memcpy(b->head.hash, rec->hash, 32);
  if (b->n_recs == b->cap_recs) {
    size_t ncap = b->cap_recs ? b->cap_recs * 2 : 16;
    struct store_audit_rec *n = realloc(b->recs, ncap * sizeof(*n));
    if (!n) {
      b->recs_lost = true;
      return;
    }
    b->recs = n;
    b->cap_recs = ncap;
  }
  b->recs[b->n_recs++] = *rec;
}

int store_op_begin(struct store_batch *b, struct store_op *op) {
  memset(op, 0, sizeof(*op));
  op->b = b;
  return store_mdb_err(mdb_txn_begin(b->s->env, b->txn, 0, &op->txn));
}

void store_op_set_target(struct store_op *op, const char hex_id[33], const char *name) {
  snprintf(op->target_id, sizeof(op->target_id), "%s", hex_id);
  snprintf(op->target_name, sizeof(op->target_name), "%s", name);
}

void store_batch_last_target(const struct store_batch *b, char ret_id[33], char ret_name[65]) {
  memcpy(ret_id, b->last_id, sizeof(b->last_id));
  memcpy(ret_name, b->last_name, sizeof(b->last_name));
}

void store_op_set_object(struct store_op *op, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(op->object, sizeof(op->object), fmt, ap);
  va_end(ap);
}

/* Append a record in a fresh nested txn and commit it into the batch. */
static int write_record(struct store_batch *b, MDB_txn *txn, const char *actor,
                        const char *action, const char *object, const char *outcome) {
  struct store_audit_rec rec;
  bool own = txn == NULL;
  int r;
  if (own && (r = store_mdb_err(mdb_txn_begin(b->s->env, b->txn, 0, &txn))) < 0)
    return r;
  r = store_audit_append(txn, b->s->dbi[DBI_AUDIT], b->s->audit_key, &b->head, actor, action, object,
                   outcome, &rec);
  if (r < 0) {
    mdb_txn_abort(txn);
    return r;
  }
  if ((r = store_mdb_err(mdb_txn_commit(txn))) < 0)
    return r;
  batch_push_rec(b, &rec); /* in the batch now */
  return 0;
}

int store_op_finish(struct store_op *op, const struct store_actor *a, const char *action, int r) {
  struct store_batch *b = op->b;
  char actor[80], obuf[80];
  memcpy(b->last_id, op->target_id, sizeof(b->last_id));
  memcpy(b->last_name, op->target_name, sizeof(b->last_name));
  store_audit_render_actor(a, actor);
  if (r == 0 && op->txn) {
    r = write_record(b, op->txn, actor, action, op->object, "ok");
    op->txn = NULL; /* committed or aborted */
    if (r == 0)
      return 0;
  }
  if (op->txn) {
    mdb_txn_abort(op->txn);
    op->txn = NULL;
  }
  int w = write_record(b, NULL, actor, action, op->object, store_audit_outcome_text(r, obuf));
  if (w == 0 && r == -EBADMSG)
    w = store_tamper_flush(b); /* the records this op found tampered with */
  return w < 0 && r >= 0 ? w : r;
}

int store_tamper_flush(struct store_batch *b) {
  struct store *s = b->s;
  char ev[STORE_TAMPER_MAX][STORE_TAMPER_EVENT_LEN], obuf[80];
  uint64_t dropped;
  int r = 0;
  pthread_mutex_lock(&s->tamper_mu);
  unsigned n = s->n_tamper;
  memcpy(ev, s->tamper, sizeof(ev[0]) * n);
  dropped = s->tamper_dropped;
  s->n_tamper = 0;
  s->tamper_dropped = 0;
  pthread_mutex_unlock(&s->tamper_mu);
  const char *outcome = store_audit_outcome_text(-EBADMSG, obuf);
  for (unsigned i = 0; r == 0 && i < n; i++)
    r = write_record(b, NULL, "store", "store.tamper", ev[i], outcome);
  if (r == 0 && dropped) {
    char more[80];
    snprintf(more, sizeof(more), "%llu more records failed authentication",
             (unsigned long long)dropped);
    r = write_record(b, NULL, "store", "store.tamper", more, outcome);
  }
  return r;
}

int store_audit_note(struct store_batch *b, const struct store_actor *a, const char *action,
                     const char *object, int outcome) {
  char actor[80], obuf[80];
  if (!b || !action)
    return -EINVAL;
  store_audit_render_actor(a, actor);
  return write_record(b, NULL, actor, action, object, store_audit_outcome_text(outcome, obuf));
}
