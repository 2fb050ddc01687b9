/* Pushes of assignment changes to agents. See secretd/push_hook.h. */
#include "secretd/push_hook.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "secretd/commit_queue.h"
#include "secretd/dispatch.h"
#include "secretd/dispatch_hook.h"
#include "secretd/listen.h"
#include "secretd/log.h"
#include "secretd/serve.h"
#include "store/identity.h"
#include "wire/assign.h"
#include "wire/msg.h"

/* The push's body: {generation, revokes} and, when `with_set`, the node's new set
 * itself ("assignments": node, generation, digest, tasks, specs, grant lists with versions; never a
 * value), so that the agent acts on it without asking back with node.assignments. */
struct assign_push {
  const struct dispatch_node_change *c;
  bool with_set;
};

static void pack_assign(msgpack_packer *pk, void *ud) {
  const struct assign_push *ap = ud;
  const struct dispatch_node_change *c = ap->c;
  msgpack_pack_map(pk, ap->with_set ? 3 : 2);
  wire_pack_kv_uint(pk, "generation", c->set.generation);
  wire_pack_str(pk, "revokes");
  if (c->revokes)
    msgpack_pack_true(pk);
  else
    msgpack_pack_false(pk);
  if (ap->with_set) { /* the set's own generation and digest are inside it */
    wire_pack_str(pk, "assignments");
    if (wire_assignments_pack(pk, &c->set) < 0)
      msgpack_pack_nil(pk); /* cannot happen for a set dispatch built; the agent asks */
  }
}

/* A set small enough to travel in a push: what a push with it can cost in the
 * node's queue of unacknowledged pushes (bounded by PUSH_SET_BACKLOG below). */
static bool set_fits_push(const struct wire_assignments *a) {
  size_t est = 512;
  for (size_t i = 0; i < a->n_tasks && est <= PUSH_SET_MAX; i++)
    est += 512 + a->tasks[i].spec_len + a->tasks[i].n_grants * 512;
  return est <= PUSH_SET_MAX;
}

/* In the tracker's order: a node that lost something is told first. The set
 * goes in the push only to a node with a live session that acknowledges its
 * pushes (at most PUSH_SET_BACKLOG behind): a node away, or not reading, gets
 * the small form and asks with node.assignments when it is back. */
static void on_nodes_changed(struct server *s, const struct dispatch_node_change *c, size_t n,
                             void *ud) {
  (void)ud;
  for (size_t i = 0; i < n; i++) {
    struct assign_push ap = {.c = &c[i]};
    ap.with_set = listen_node_sessions(s->tls_listener, c[i].node) > 0 &&
                  listen_push_unacked(s->tls_listener, c[i].node) < PUSH_SET_BACKLOG &&
                  set_fits_push(&c[i].set);
    int64_t r = listen_push(s->tls_listener, c[i].node, PUSH_TOPIC_ASSIGN, pack_assign, &ap);
    if (r == -EMSGSIZE && ap.with_set) {
      ap.with_set = false;
      r = listen_push(s->tls_listener, c[i].node, PUSH_TOPIC_ASSIGN, pack_assign, &ap);
    }
    if (r < 0) /* the agent converges when it next asks (node.assignments at each connection) */
      log_warn("cannot push the assignments of node %s (generation %llu): %s", c[i].node,
               (unsigned long long)c[i].set.generation, sd_strerror((int)r));
  }
}

/* Nodes without a live session, with the time they turn down. */
struct gone {
  struct gone *next;
  char node[STORE_NODE_MAX + 1];
  uint64_t down_at; /* uv_now() */
  bool marked;
};

struct push_state {
  uv_timer_t timer;
  struct gone *gone;
};

#define GONE_TICK_MS 100

static void gone_tick(uv_timer_t *t) {
  struct server *s = t->data;
  struct push_state *ps = s->on_nodes_changed_ud;
  bool waiting = false;
  if (s->stopping)
    return;
  for (struct gone *g = ps->gone; g; g = g->next) {
    if (g->marked)
      continue;
    if (g->down_at > uv_now(s->loop)) {
      waiting = true;
      continue;
    }
    g->marked = true;
    if (listen_node_sessions(s->tls_listener, g->node) == 0)
      push_hook_mark_node(s, g->node, "node_down");
  }
  if (!waiting)
    uv_timer_stop(t);
}

int push_hook_install(struct server *s) {
  if (!s || !s->tls_listener)
    return 0;
  struct push_state *ps = calloc(1, sizeof(*ps));
  if (!ps)
    return -ENOMEM;
  uv_timer_init(s->loop, &ps->timer);
  ps->timer.data = s;
  s->on_nodes_changed = on_nodes_changed;
  s->on_nodes_changed_ud = ps;
  return 0;
}

void push_hook_free(struct server *s) {
  struct push_state *ps = s ? s->on_nodes_changed_ud : NULL;
  if (!ps)
    return;
  while (ps->gone) {
    struct gone *g = ps->gone;
    ps->gone = g->next;
    free(g);
  }
  free(ps);
  s->on_nodes_changed_ud = NULL;
}

void push_hook_node_gone(struct server *s, const char *node) {
  struct push_state *ps = s->on_nodes_changed_ud;
  struct gone *g;
  if (!ps || s->stopping || s->on_nodes_changed != on_nodes_changed)
    return;
  for (g = ps->gone; g && strcmp(g->node, node) != 0; g = g->next)
    ;
  if (!g) {
    if (!(g = calloc(1, sizeof(*g))))
      return;
    snprintf(g->node, sizeof(g->node), "%s", node);
    g->next = ps->gone;
    ps->gone = g;
  }
  g->marked = false;
  g->down_at = uv_now(s->loop) + listen_down_after_ms(s->tls_listener);
  if (!uv_is_active((uv_handle_t *)&ps->timer))
    uv_timer_start(&ps->timer, gone_tick, GONE_TICK_MS, GONE_TICK_MS);
}

void push_hook_node_back(struct server *s, const char *node) {
  struct push_state *ps = s->on_nodes_changed_ud;
  if (!ps || s->on_nodes_changed != on_nodes_changed)
    return;
  for (struct gone **p = &ps->gone; *p; p = &(*p)->next)
    if (strcmp((*p)->node, node) == 0) {
      struct gone *g = *p;
      *p = g->next;
      free(g);
      return;
    }
}

struct mark_item {
  struct cq_item item;
  struct server *srv;
  char node[STORE_NODE_MAX + 1];
  char state[16];
  size_t n;
};

static int mark_run(struct store_batch *b, struct cq_item *it) {
  struct mark_item *m = (struct mark_item *)it;
  struct store_actor a = {.uid = UINT32_MAX, .node = "secretd"};
  /* a removed node stays shown removed */
  if (strcmp(m->state, "node_down") == 0 &&
      store_node_denied(m->srv->store, m->node, (int64_t)time(NULL)) != 0)
    return 0;
  return dispatch_mark_node(b, m->srv->store, &a, m->node, m->state, &m->n);
}

static void mark_done(struct cq_item *it, int r) {
  struct mark_item *m = (struct mark_item *)it;
  if (r < 0 && r != -ECANCELED)
    log_warn("cannot mark the tasks of node %s %s: %s", m->node, m->state, sd_strerror(r));
  else if (r == 0 && m->n)
    log_info("node %s: %zu task(s) marked %s", m->node, m->n, m->state);
  free(m);
}

void push_hook_mark_node(struct server *s, const char *node, const char *state) {
  struct mark_item *m = calloc(1, sizeof(*m));
  if (!m || !s->cq) {
    free(m);
    return;
  }
  m->srv = s;
  snprintf(m->node, sizeof(m->node), "%s", node);
  snprintf(m->state, sizeof(m->state), "%s", state);
  m->item.run = mark_run;
  m->item.done = mark_done;
  cq_submit(s->cq, &m->item);
}
