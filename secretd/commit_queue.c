/* Group commit over uv_queue_work: one batch in flight at a time. */
#include "secretd/commit_queue.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/error.h"
#include "secretd/log.h"
#include "store/store.h"

struct commit_queue {
  uv_loop_t *loop;
  struct store *store;
  size_t max_batch;
  /* pending items, FIFO */
  struct cq_item *head, **tail;
  size_t n_pending;
  size_t n_eager; /* pending items queued by cq_submit: they start a batch */
  size_t n_lazy;  /* pending items queued by cq_submit_lazy */
  uv_timer_t lazy_timer; /* initialized at the first cq_submit_lazy */
  bool lazy_timer_init, lazy_due;
  uint64_t lazy_ms;
  /* the batch in flight */
  uv_work_t work;
  struct cq_item *batch;
  int batch_error;
  bool busy, stopping;
  void (*on_idle)(void *);
  void *on_idle_ud;
  struct cq_stats stats;
};

int cq_new(uv_loop_t *loop, struct store *store, size_t max_batch, struct commit_queue **ret) {
  struct commit_queue *q = calloc(1, sizeof(*q));
  if (!q)
    return -ENOMEM;
  q->loop = loop;
  q->store = store;
  q->max_batch = max_batch ? max_batch : 1024;
  q->tail = &q->head;
  q->work.data = q;
  *ret = q;
  return 0;
}

/* Worker thread: begin, run every item, commit, then the items' after_commit;
 * all in this one thread. */
static void batch_work(uv_work_t *w) {
  struct commit_queue *q = w->data;
  struct store_batch *b = NULL;
  int r = store_batch_begin(q->store, &b);
  q->batch_error = 0;
  if (r < 0) {
    q->batch_error = r;
    return;
  }
  for (struct cq_item *it = q->batch; it; it = it->next)
    it->result = it->run(b, it);
  r = store_batch_commit(b);
  if (r < 0) {
    q->batch_error = r;
    return;
  }
  for (struct cq_item *it = q->batch; it; it = it->next)
    if (it->after_commit && it->result == 0)
      it->after_commit(it);
}

static void start_batch(struct commit_queue *q);

static void batch_done(uv_work_t *w, int status) {
  struct commit_queue *q = w->data;
  struct cq_item *it = q->batch;
  int err = status < 0 ? status : q->batch_error;
  q->batch = NULL;
  q->busy = false;
  /* The JSON-lines mirror is best effort (the chain in the store is the
   * record), but a gap in what log shippers see must not go unnoticed. */
  int fe = store_audit_file_error(q->store);
  if (fe < 0)
    log_err("the audit file is missing records: %s", sd_strerror(fe));
  while (it) {
    struct cq_item *next = it->next;
    it->next = NULL;
    it->done(it, err < 0 ? err : it->result);
    it = next;
  }
  if (q->stopping) {
    if (q->on_idle)
      q->on_idle(q->on_idle_ud);
    return;
  }
  start_batch(q);
}

static void lazy_fire(uv_timer_t *t) {
  struct commit_queue *q = t->data;
  q->lazy_due = true;
  start_batch(q);
}

static void start_batch(struct commit_queue *q) {
  if (q->busy || !q->head || q->stopping || (!q->n_eager && !q->lazy_due))
    return;
  struct cq_item *first = q->head, *last = first;
  size_t n = 1, lazy = first->lazy;
  while (last->next && n < q->max_batch) {
    last = last->next;
    n++;
    lazy += last->lazy;
  }
  q->n_eager -= n - lazy;
  q->n_lazy -= lazy;
  q->lazy_due = false;
  if (q->lazy_timer_init) { /* lazy items left (over the cap): due again after the delay */
    if (!q->n_lazy)
      uv_timer_stop(&q->lazy_timer);
    else if (!uv_is_active((uv_handle_t *)&q->lazy_timer))
      uv_timer_start(&q->lazy_timer, lazy_fire, q->lazy_ms, 0);
  }
  q->head = last->next;
  if (!q->head)
    q->tail = &q->head;
  last->next = NULL;
  q->n_pending -= n;
  q->batch = first;
  q->busy = true;
  q->stats.batches++;
  q->stats.items += n;
  if (n > q->stats.max_batch_seen)
    q->stats.max_batch_seen = n;
  int r = uv_queue_work(q->loop, &q->work, batch_work, batch_done);
  if (r < 0) {
    /* Cannot happen with a valid loop; fail the batch rather than hang. */
    q->batch_error = r;
    q->busy = false;
    q->batch = NULL;
    for (struct cq_item *it = first, *next; it; it = next) {
      next = it->next;
      it->next = NULL;
      it->done(it, r);
    }
  }
}

static void enqueue(struct commit_queue *q, struct cq_item *it, bool lazy) {
  it->next = NULL;
  it->result = 0;
  it->lazy = lazy;
  *q->tail = it;
  q->tail = &it->next;
  q->n_pending++;
  if (lazy)
    q->n_lazy++;
  else
    q->n_eager++;
}

void cq_submit(struct commit_queue *q, struct cq_item *it) {
  if (q->stopping) {
    it->next = NULL;
    it->done(it, -ECANCELED);
    return;
  }
  enqueue(q, it, false);
  start_batch(q);
}

void cq_submit_lazy(struct commit_queue *q, struct cq_item *it, uint64_t delay_ms) {
  if (q->stopping || (!q->lazy_timer_init && uv_timer_init(q->loop, &q->lazy_timer) < 0)) {
    it->next = NULL;
    it->done(it, -ECANCELED);
    return;
  }
  if (!q->lazy_timer_init) {
    q->lazy_timer_init = true;
    q->lazy_timer.data = q;
  }
  enqueue(q, it, true);
  q->lazy_ms = delay_ms;
  if (!uv_is_active((uv_handle_t *)&q->lazy_timer))
    uv_timer_start(&q->lazy_timer, lazy_fire, delay_ms, 0);
  start_batch(q); /* only if an eager item waits (the queue was busy) */
}

void cq_shutdown(struct commit_queue *q, void (*on_idle)(void *ud), void *ud) {
  q->stopping = true;
  q->on_idle = on_idle;
  q->on_idle_ud = ud;
  struct cq_item *it = q->head;
  q->head = NULL;
  q->tail = &q->head;
  q->n_pending = q->n_eager = q->n_lazy = 0;
  if (q->lazy_timer_init && !uv_is_closing((uv_handle_t *)&q->lazy_timer))
    uv_close((uv_handle_t *)&q->lazy_timer, NULL);
  while (it) {
    struct cq_item *next = it->next;
    it->next = NULL;
    it->done(it, -ECANCELED);
    it = next;
  }
  if (!q->busy && on_idle)
    on_idle(ud);
}

void cq_get_stats(const struct commit_queue *q, struct cq_stats *ret) { *ret = q->stats; }

void cq_free(struct commit_queue *q) { free(q); }
