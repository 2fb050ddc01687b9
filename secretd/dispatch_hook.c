/* Change tracking in the commit path. See secretd/dispatch_hook.h. */
#include "secretd/dispatch_hook.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "secretd/admin.h"
#include "secretd/commit_queue.h"
#include "secretd/log.h"
#include "secretd/serve.h"

/* At the latest, the generations' advance commits this long after the push. */
#define DISPATCH_ADVANCE_DELAY_MS 100

struct dispatch_pending {
  struct cq_item item; /* first: the queue links items */
  struct server *srv;
  struct dispatch_change ch; /* its strings point into the fields below */
  char secret[ADMIN_REF_MAX + 1], service[ADMIN_SERVICE_MAX + 1], node[STORE_NODE_MAX + 1];
  struct dispatch_nodeset set;
  struct dispatch_node_change *changes;
  size_t n_changes;
  bool diffed; /* after_commit worked out changes (diff_r 0) or failed (diff_r < 0) */
  int diff_r;
};

static void pending_free(struct dispatch_pending *p) {
  if (!p)
    return;
  dispatch_nodeset_clear(&p->set);
  dispatch_changes_free(p->changes, p->n_changes);
  free(p);
}

/* The change rq's op makes, if any (strings copied into p). */
static bool change_of(const struct admin_req *rq, struct dispatch_pending *p) {
  const char *a = rq->action;
  if (!a || rq->code != 0)
    return false;
  snprintf(p->secret, sizeof(p->secret), "%s", rq->ref);
  snprintf(p->service, sizeof(p->service), "%s", rq->service);
  p->ch.secret = p->secret;
  if (strcmp(a, "secret.rotate") == 0) {
    p->ch.kind = DISPATCH_SECRET_ROTATE;
  } else if (strcmp(a, "secret.rm") == 0 && rq->force) {
    p->ch.kind = DISPATCH_SECRET_REMOVE; /* without --force a granted secret is not removed */
  } else if (strcmp(a, "grant.add") == 0 || strcmp(a, "grant.rm") == 0) {
    p->ch.kind = DISPATCH_GRANT;
    p->ch.service = p->service;
  } else if (strcmp(a, "service.create") == 0 || strcmp(a, "service.rm") == 0) {
    p->ch.kind = DISPATCH_SERVICE;
    p->ch.secret = NULL;
    snprintf(p->service, sizeof(p->service), "%s", rq->name);
    p->ch.service = p->service;
    if (rq->node[0]) {
      snprintf(p->node, sizeof(p->node), "%s", rq->node);
      p->ch.node = p->node;
    }
  } else {
    return false;
  }
  return true;
}

static void item_after_commit(struct cq_item *it) {
  dispatch_hook_after_commit((struct admin_req *)it); /* the item is rq's first member */
}

void dispatch_hook_before(struct admin_req *rq) {
  struct dispatch_pending *p;
  if (!rq->server->tracker || !(p = calloc(1, sizeof(*p))))
    return;
  if (!change_of(rq, p)) {
    free(p);
    return;
  }
  p->srv = rq->server;
  int r = dispatch_candidates(rq->server->store, &p->ch, &p->set);
  if (r < 0)
    log_warn("%s: cannot read which nodes it touches before the write: %s", rq->action,
             sd_strerror(r));
  rq->dpending = p;
  rq->item.after_commit = item_after_commit;
}

/* Worker thread, right after the write's batch committed (the queue runs one
 * batch at a time: the tracker is still touched by one thread at a time). */
void dispatch_hook_after_commit(struct admin_req *rq) {
  struct dispatch_pending *p = rq->dpending;
  if (!p)
    return;
  struct store *s = p->srv->store;
  int r = dispatch_candidates(s, &p->ch, &p->set);
  if (r == 0)
    r = dispatch_tracker_diff(p->srv->tracker, s, &p->set, &p->changes, &p->n_changes);
  p->diff_r = r;
  p->diffed = true;
}

void dispatch_hook_release(struct admin_req *rq) {
  pending_free(rq->dpending);
  rq->dpending = NULL;
  rq->item.after_commit = NULL;
}

/* Worker thread, inside a batch that follows the write's. */
static int pending_run(struct store_batch *b, struct cq_item *it) {
  struct dispatch_pending *p = (struct dispatch_pending *)it;
  struct store *s = p->srv->store;
  int r = dispatch_candidates(s, &p->ch, &p->set);
  if (r == 0)
    r = dispatch_tracker_diff(p->srv->tracker, s, &p->set, &p->changes, &p->n_changes);
  if (r == 0)
    r = dispatch_gen_commit(b, p->changes, p->n_changes);
  return r;
}

static void pending_done(struct cq_item *it, int r) {
  struct dispatch_pending *p = (struct dispatch_pending *)it;
  if (r < 0 && r != -ECANCELED)
    log_warn("cannot work out which nodes' assignments changed: %s (agents converge when they "
             "next ask)", sd_strerror(r));
  else if (r == 0 && p->n_changes && p->srv->on_nodes_changed)
    p->srv->on_nodes_changed(p->srv, p->changes, p->n_changes, p->srv->on_nodes_changed_ud);
  pending_free(p);
}

/* The generations of changes already pushed (worker thread, in a later batch). */
static int advance_run(struct store_batch *b, struct cq_item *it) {
  struct dispatch_pending *p = (struct dispatch_pending *)it;
  return dispatch_gen_commit(b, p->changes, p->n_changes);
}

static void advance_done(struct cq_item *it, int r) {
  struct dispatch_pending *p = (struct dispatch_pending *)it;
  if (r < 0 && r != -ECANCELED) /* the agents hold a generation the store lacks: they
                                 * are sent the whole set when they next ask */
    log_warn("cannot store the assignment generations of %zu node(s): %s", p->n_changes,
             sd_strerror(r));
  pending_free(p);
}

void dispatch_hook_after(struct admin_req *rq, int r) {
  struct dispatch_pending *p = rq->dpending;
  rq->dpending = NULL;
  rq->item.after_commit = NULL;
  if (!p)
    return;
  if (r < 0 || rq->server->stopping) {
    pending_free(p);
    return;
  }
  if (p->diffed && p->diff_r == 0) {
    /* Worked out right after the commit: push now; the generations follow in a
     * batch of their own that nobody waits for. A crash before it commits leaves
     * agents holding (generation, digest) pairs the store lacks: node.assignments
     * compares both and resends the set. */
    if (!p->n_changes) {
      pending_free(p);
      return;
    }
    if (p->srv->on_nodes_changed)
      p->srv->on_nodes_changed(p->srv, p->changes, p->n_changes, p->srv->on_nodes_changed_ud);
    p->item.run = advance_run;
    p->item.done = advance_done;
    /* with the batch of the deliveries the push brings, not before them */
    cq_submit_lazy(rq->server->cq, &p->item, DISPATCH_ADVANCE_DELAY_MS);
    return;
  }
  if (p->diffed) { /* tracked again from scratch by the follow-up */
    log_warn("%s: cannot work out which nodes it changed after the commit: %s (again in a "
             "batch of its own)", rq->action ? rq->action : "write", sd_strerror(p->diff_r));
    dispatch_changes_free(p->changes, p->n_changes);
    p->changes = NULL;
    p->n_changes = 0;
  }
  p->item.run = pending_run;
  p->item.done = pending_done;
  cq_submit(rq->server->cq, &p->item);
}
