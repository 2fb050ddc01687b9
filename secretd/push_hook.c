/* Pushes of assignment changes to agents. See secretd/push_hook.h. */
#include "secretd/push_hook.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "secretd/commit_queue.h"
#include "secretd/dispatch.h"
#include "secretd/dispatch_hook.h"
#include "secretd/listen.h"
#include "secretd/log.h"
#include "secretd/serve.h"
#include "wire/msg.h"

static void pack_assign(msgpack_packer *pk, void *ud) {
  const struct dispatch_node_change *c = ud;
  msgpack_pack_map(pk, 2);
  wire_pack_kv_uint(pk, "generation", c->set.generation);
  wire_pack_str(pk, "revokes");
  if (c->revokes)
    msgpack_pack_true(pk);
  else
    msgpack_pack_false(pk);
}

/* In the tracker's order: a node that lost something is told first. */
static void on_nodes_changed(struct server *s, const struct dispatch_node_change *c, size_t n,
                             void *ud) {
  (void)ud;
  for (size_t i = 0; i < n; i++) {
    int64_t r = listen_push(s->tls_listener, c[i].node, PUSH_TOPIC_ASSIGN, pack_assign,
                            (void *)&c[i]);
    if (r < 0) /* the agent converges when it next asks (node.assignments at each connection) */
      log_warn("cannot push the assignments of node %s (generation %llu): %s", c[i].node,
               (unsigned long long)c[i].set.generation, sd_strerror((int)r));
  }
}

void push_hook_install(struct server *s) {
  if (!s || !s->tls_listener)
    return;
  s->on_nodes_changed = on_nodes_changed;
  s->on_nodes_changed_ud = NULL;
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
