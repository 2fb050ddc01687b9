/*
 * A small pool of reset read txns, so that a read costs mdb_txn_renew
 * instead of mdb_txn_begin + mdb_txn_abort (a malloc/free of the txn and its
 * DB arrays and a reader-slot search per read). The env has MDB_NOTLS, so a
 * pooled txn may be renewed on any thread. A reset txn keeps its reader slot
 * but holds no snapshot: it never keeps old pages from being reused.
 */
#include "store/internal.h"

int store_rdtxn_begin(struct store *s, MDB_txn **ret) {
  MDB_txn *txn = NULL;
  pthread_mutex_lock(&s->rdtxn_mu);
  if (s->n_rdtxn)
    txn = s->rdtxn[--s->n_rdtxn];
  pthread_mutex_unlock(&s->rdtxn_mu);
  if (txn) {
    int rc = mdb_txn_renew(txn);
    if (rc == 0) {
      *ret = txn;
      return 0;
    }
    mdb_txn_abort(txn); /* then try a fresh one */
  }
  return store_mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, ret));
}

void store_rdtxn_end(struct store *s, MDB_txn *txn) {
  if (!txn)
    return;
  mdb_txn_reset(txn);
  pthread_mutex_lock(&s->rdtxn_mu);
  if (s->n_rdtxn < STORE_RDTXN_MAX) {
    s->rdtxn[s->n_rdtxn++] = txn;
    txn = NULL;
  }
  pthread_mutex_unlock(&s->rdtxn_mu);
  if (txn)
    mdb_txn_abort(txn);
}

void store_rdtxn_drain(struct store *s) {
  pthread_mutex_lock(&s->rdtxn_mu);
  while (s->n_rdtxn)
    mdb_txn_abort(s->rdtxn[--s->n_rdtxn]);
  pthread_mutex_unlock(&s->rdtxn_mu);
}
