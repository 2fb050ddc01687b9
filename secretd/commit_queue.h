/*
 * Group commit of admin writes. Items submitted while a batch runs wait;
 * when it commits, each item's done() runs on the loop thread and the next
 * batch takes everything pending (at most max_batch items). A batch is one
 * store write transaction begun, filled and committed inside one uv work
 * callback (LMDB write transactions are bound to their thread). Nothing is
 * answered before its batch is durable.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct store;
struct store_batch;

struct cq_item {
  struct cq_item *next; /* owned by the queue while submitted */
  /* Worker thread, inside the batch: do the store op(s); return 0 or an error. */
  int (*run)(struct store_batch *b, struct cq_item *it);
  /* Loop thread, after the batch committed (r = run()'s result), or failed
   * (r = the commit error, for every item of the batch), or was cancelled at
   * shutdown (r = -ECANCELED, run() never called). May free the item. */
  void (*done)(struct cq_item *it, int r);
  /* Optional (NULL: none; set it before cq_submit, zero it otherwise). Worker
   * thread, right after the batch committed, only for an item whose run()
   * returned 0: the store's reads see the batch. For work that must follow the
   * commit and should not wait for a batch of its own (dispatch_hook.c works
   * out which nodes a write changed). Must not touch what the loop thread uses;
   * its results are the item's, read in done(). */
  void (*after_commit)(struct cq_item *it);
  int result; /* private */
  bool lazy;  /* private: queued by cq_submit_lazy */
};

struct cq_stats {
  uint64_t batches, items, max_batch_seen;
};

struct commit_queue;

/* On success *ret owns the queue (cq_free). store is borrowed and must
 * outlive it. Returns 0 or -ENOMEM. */
int cq_new(uv_loop_t *loop, struct store *store, size_t max_batch, struct commit_queue **ret);
/* Queue it (loop thread only). After cq_shutdown() it completes at once with -ECANCELED. */
void cq_submit(struct commit_queue *q, struct cq_item *it);
/*
 * Queue it without asking for a batch of its own: it goes with the next batch
 * that starts for an item queued by cq_submit (sharing that batch's commit), or
 * at the latest after about delay_ms (a timer on the queue's loop, created at
 * the first call and closed by cq_shutdown). For bookkeeping nobody waits for
 * (dispatch_hook.c's generation advance, which the agents' deliveries that
 * follow it would otherwise wait behind). Loop thread only; after cq_shutdown()
 * it completes at once with -ECANCELED.
 */
void cq_submit_lazy(struct commit_queue *q, struct cq_item *it, uint64_t delay_ms);
/* Stop taking batches: pending items complete with -ECANCELED; on_idle(ud)
 * runs on the loop thread once no batch is running (maybe at once). */
void cq_shutdown(struct commit_queue *q, void (*on_idle)(void *ud), void *ud);
void cq_get_stats(const struct commit_queue *q, struct cq_stats *ret);
/* Free; the queue must be idle (after on_idle) and, when cq_submit_lazy was
 * used, its loop must have run once after cq_shutdown (the timer's close). NULL ok. */
void cq_free(struct commit_queue *q);
