/* secret-agent run's delivery glue. See agent/delivery.h. */
#include "agent/delivery.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "agent/core/agentcore.h"
#include "agent/core/set_order.h"
#include "agent/launch_gate.h"
#include "base/error.h"
#include "base/secbuf.h"
#include "wire/assign.h"
#include "wire/async_client.h"
#include "wire/msg.h"
#include "wire/proto.h"

#define TOPIC_ASSIGN "assign" /* secretd/push_hook.h PUSH_TOPIC_ASSIGN */

/* The latest state of each task: sent at each change and again at each
 * connection (a node that was down has its tasks shown node_down until its
 * agent reports them again). Forgotten once a stop is acknowledged or a
 * report is refused (the task is gone on the manager's side). */
struct report {
  struct report *next;
  char task[49], service[WIRE_ASSIGN_NAME_MAX + 1], state[16];
  int exit_code;
  unsigned restarts;
  uint64_t rev; /* bumped on each new state: an older call's ack does not clear it */
};

_Static_assert(AC_SET_DIGEST_LEN == WIRE_ASSIGN_DIGEST_LEN, "one digest size for sets");

struct agent_delivery {
  uv_loop_t *loop;
  struct agentcore *ac;
  struct wire_aclient *client;
  uv_poll_t poll;
  uv_timer_t timer;
  int open_handles;
  bool closing, removed;
  struct ac_set_held held; /* the set applied last */
  bool syncing, sync_again;
  /* sets applied from pushes: a node.assignments reply asked before the
   * latest of them is not applied over it (it is as old or older) */
  uint64_t pushed_sets, pushed_sets_at_sync;
  struct report *reports;
  uint64_t report_rev;
};

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  fprintf(stderr, "secret-agent: %s\n", buf);
  fflush(stderr);
}

/* ---- driving the core from the loop ---- */

static void on_timer(uv_timer_t *t);

static void drive(struct agent_delivery *d) {
  if (d->closing || d->removed)
    return;
  int r = agentcore_process(d->ac);
  if (r < 0 && r != -ESHUTDOWN)
    logf_("delivery: %s", sd_strerror(r));
  int ms = agentcore_timeout_ms(d->ac);
  /* "again at once" waits 1 ms: a 0 ms timer started from its own callback runs again
   * before the loop polls (libuv), and the replies with values must not wait behind
   * the core's deferred record writes */
  if (ms >= 0)
    uv_timer_start(&d->timer, on_timer, ms ? (uint64_t)ms : 1, 0);
  else
    uv_timer_stop(&d->timer);
}

static void on_timer(uv_timer_t *t) { drive(t->data); }

static void on_poll(uv_poll_t *p, int status, int events) {
  (void)status;
  (void)events;
  drive(p->data);
}

/* Soon, from the loop (never from inside the core's own callbacks). */
static void kick(struct agent_delivery *d) {
  if (!d->closing && !d->removed)
    uv_timer_start(&d->timer, on_timer, 0, 0);
}

/* ---- assignments ---- */

static void sync_now(struct agent_delivery *d);

static enum launch_restart restart_of(const char *w) {
  if (strcmp(w, "always") == 0)
    return LAUNCH_RESTART_ALWAYS;
  if (strcmp(w, "on-failure") == 0)
    return LAUNCH_RESTART_ON_FAILURE;
  return LAUNCH_RESTART_NO;
}

/* Apply set a whole: the tasks desired running, grants by secret id. */
static int apply_set(struct agent_delivery *d, const struct wire_assignments *a) {
  struct agentcore_task *tasks = calloc(a->n_tasks ? a->n_tasks : 1, sizeof(*tasks));
  struct agentcore_grant **grants = calloc(a->n_tasks ? a->n_tasks : 1, sizeof(*grants));
  size_t n = 0;
  int r = 0;
  char err[AGENTCORE_MSG_LEN] = "";
  if (!tasks || !grants) {
    r = -ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < a->n_tasks; i++) {
    const struct wire_assign_task *wt = &a->tasks[i];
    if (strcmp(wt->desired, "running") != 0)
      continue;
    struct agentcore_grant *g = calloc(wt->n_grants ? wt->n_grants : 1, sizeof(*g));
    if (!g) {
      r = -ENOMEM;
      goto out;
    }
    grants[n] = g;
    for (size_t j = 0; j < wt->n_grants; j++) {
      const struct wire_assign_grant *wg = &wt->grants[j];
      g[j] = (struct agentcore_grant){
          .secret = wg->secret_id, /* node.deliver asks by id */
          .version = wg->version,
          .target = wg->target,
          .uid = wg->uid_unset ? AGENTCORE_ID_UNSET : wg->uid,
          .gid = wg->gid_unset ? AGENTCORE_ID_UNSET : wg->gid,
          .mode = wg->mode,
      };
    }
    tasks[n++] = (struct agentcore_task){
        .id = wt->id,
        .service = wt->service,
        .spec = wt->spec,
        .spec_len = wt->spec_len,
        .restart = restart_of(wt->restart),
        .grants = g,
        .n_grants = wt->n_grants,
    };
  }
  r = agentcore_assign(d->ac, tasks, n, err);
  if (r == -EINVAL)
    logf_("the manager's assignment set (generation %llu) was refused: %s",
          (unsigned long long)a->generation, err);
out:
  for (size_t i = 0; grants && i < n; i++)
    free(grants[i]);
  free(grants);
  free(tasks);
  return r;
}

static void pack_assignments_args(msgpack_packer *pk, void *ud) {
  struct agent_delivery *d = ud;
  if (!d->held.have) {
    msgpack_pack_map(pk, 0);
    return;
  }
  char hex[2 * WIRE_ASSIGN_DIGEST_LEN + 1];
  sodium_bin2hex(hex, sizeof(hex), d->held.digest, sizeof(d->held.digest));
  msgpack_pack_map(pk, 2);
  wire_pack_kv_uint(pk, "generation", d->held.generation);
  wire_pack_kv_str(pk, "digest", hex);
}

static void core_report(void *ud, const struct agentcore_report *r);

/* Tasks the manager shows node_down (the node was away longer than its
 * window) that run here and that this agent has not reported since it
 * started (a restarted agent took them back): reported running again. */
static void report_taken_back(struct agent_delivery *d, const struct wire_assignments *a) {
  for (size_t i = 0; i < a->n_tasks; i++) {
    const struct wire_assign_task *wt = &a->tasks[i];
    struct report *rp;
    if (strcmp(wt->state, "node_down") != 0 || agentcore_task_pid(d->ac, wt->id) <= 0)
      continue;
    for (rp = d->reports; rp && strcmp(rp->task, wt->id) != 0; rp = rp->next)
      ;
    if (rp)
      continue; /* its own latest state went out at the connection */
    struct agentcore_report r = {.task_id = wt->id, .service = wt->service,
                                 .state = AGENTCORE_RUNNING, .exit_code = -1,
                                 .message = "taken back"};
    core_report(d, &r);
  }
}

/* Apply set a (decoded) and hold its (generation, digest); 0 or an error (logged). */
static int take_set(struct agent_delivery *d, const struct wire_assignments *a) {
  int r = apply_set(d, a);
  if (r < 0)
    return r;
  d->held.have = true;
  d->held.generation = a->generation;
  memcpy(d->held.digest, a->digest, sizeof(d->held.digest));
  logf_("assignments generation %llu applied (%zu task(s))", (unsigned long long)a->generation,
        a->n_tasks);
  report_taken_back(d, a);
  kick(d);
  return 0;
}

static void on_assignments(struct wire_session *s, int status, const struct wire_response *resp,
                           void *ud) {
  struct agent_delivery *d = ud;
  (void)s;
  d->syncing = false;
  if (d->closing || d->removed)
    return;
  if (status < 0) {
    if (status != -ECANCELED)
      logf_("node.assignments: %s (again at the next connection)", sd_strerror(status));
    return;
  }
  if (!resp->ok) {
    logf_("node.assignments refused: %s", resp->error);
  } else {
    const msgpack_object *cur = wire_map_get(resp->result, "current");
    const msgpack_object *set = wire_map_get(resp->result, "assignments");
    if (!(cur && cur->type == MSGPACK_OBJECT_BOOLEAN && cur->via.boolean) && set) {
      struct wire_assignments a = {0};
      const char *why = NULL;
      int r = wire_assignments_decode(set, &a, &why);
      if (r < 0)
        logf_("the manager's assignment set does not decode: %s", why ? why : sd_strerror(r));
      else if (ac_set_on_reply(&d->held, d->pushed_sets != d->pushed_sets_at_sync,
                               a.generation) == AC_SET_TAKE)
        take_set(d, &a); /* else a push brought this generation or a newer one meanwhile */
      wire_assignments_clear(&a);
    }
  }
  if (d->sync_again)
    sync_now(d);
}

static void sync_now(struct agent_delivery *d) {
  if (d->syncing) { /* one at a time; a push meanwhile asks again after it */
    d->sync_again = true;
    return;
  }
  d->sync_again = false;
  if (!d->client || d->closing || d->removed)
    return;
  if (wire_aclient_call(d->client, WIRE_OP_NODE_ASSIGNMENTS, pack_assignments_args, d,
                        on_assignments, d) >= 0) {
    d->syncing = true;
    d->pushed_sets_at_sync = d->pushed_sets;
  }
}

/* ---- fetch: node.deliver ---- */

struct fetch_call {
  struct agent_delivery *d;
  struct agentcore_fetch *f;
};

static void pack_deliver(msgpack_packer *pk, void *ud) {
  const struct agentcore_fetch *f = ud;
  msgpack_pack_map(pk, 3);
  wire_pack_kv_str(pk, "service", f->service);
  wire_pack_kv_str(pk, "task", f->task_id);
  wire_pack_str(pk, "secrets");
  msgpack_pack_map(pk, (uint32_t)f->n_items);
  for (size_t i = 0; i < f->n_items; i++) {
    wire_pack_str(pk, f->items[i].secret);
    msgpack_pack_uint64(pk, f->items[i].version);
  }
}

static bool str_is(const msgpack_object *o, const char *s) {
  return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
         memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

/* Fill f's items from the reply's "secrets" array; 0, or -EACCES when one
 * was refused or missing (its reason logged: never a value). */
static int take_values(struct agentcore_fetch *f, const msgpack_object *res) {
  const msgpack_object *arr = wire_map_get(res, "secrets");
  if (!arr || arr->type != MSGPACK_OBJECT_ARRAY)
    return -EBADMSG;
  for (size_t i = 0; i < f->n_items; i++) {
    struct agentcore_fetch_item *it = &f->items[i];
    bool found = false;
    for (uint32_t k = 0; k < arr->via.array.size && !found; k++) {
      const msgpack_object *e = &arr->via.array.ptr[k];
      const msgpack_object *ver = wire_map_get(e, "version");
      if (e->type != MSGPACK_OBJECT_MAP || !str_is(wire_map_get(e, "secret_id"), it->secret) ||
          !ver || ver->type != MSGPACK_OBJECT_POSITIVE_INTEGER || ver->via.u64 != it->version)
        continue;
      found = true;
      const msgpack_object *v = wire_map_get(e, "value");
      const msgpack_object *why = wire_map_get(e, "refused");
      if (v && v->type == MSGPACK_OBJECT_BIN) {
        int r = secbuf_from(v->via.bin.ptr, v->via.bin.size, &it->value);
        if (r < 0)
          return r;
      } else {
        logf_("task %s: secret %s version %llu refused: %.*s", f->task_id, it->secret,
              (unsigned long long)it->version,
              why && why->type == MSGPACK_OBJECT_STR ? (int)why->via.str.size : 1,
              why && why->type == MSGPACK_OBJECT_STR ? why->via.str.ptr : "?");
        return -EACCES;
      }
    }
    if (!found)
      return -EACCES;
  }
  return 0;
}

static void on_delivered(struct wire_session *s, int status, const struct wire_response *resp,
                         void *ud) {
  struct fetch_call *fc = ud;
  struct agent_delivery *d = fc->d;
  (void)s;
  int r = status;
  if (r == 0 && !resp->ok) {
    logf_("task %s: delivery refused: %s", fc->f->task_id, resp->error);
    r = -EACCES;
  } else if (r == 0) {
    r = take_values(fc->f, resp->result);
  }
  /* always, even after node removal or during close: the core frees the
   * fetch (and wipes its values) once done, at the latest in agentcore_free */
  agentcore_fetch_done(d->ac, fc->f, r);
  if (r == -EACCES) /* behind the manager (a rotation, a revoke): ask for the set */
    sync_now(d);
  free(fc);
  kick(d);
}

static void core_fetch(void *ud, struct agentcore *ac, struct agentcore_fetch *f) {
  struct agent_delivery *d = ud;
  struct fetch_call *fc = malloc(sizeof(*fc));
  if (!fc || !d->client) {
    free(fc);
    agentcore_fetch_done(ac, f, -ENOTCONN);
    return;
  }
  *fc = (struct fetch_call){.d = d, .f = f};
  int64_t id = wire_aclient_call(d->client, WIRE_OP_NODE_DELIVER, pack_deliver, f, on_delivered,
                                 fc);
  if (id < 0) {
    free(fc);
    agentcore_fetch_done(ac, f, (int)id); /* not connected: retried with backoff */
  }
}

/* ---- reports: task.report ---- */

struct report_call {
  struct agent_delivery *d;
  char task[49];
  uint64_t rev;
};

static void pack_report(msgpack_packer *pk, void *ud) {
  const struct report *rp = ud;
  msgpack_pack_map(pk, rp->exit_code >= 0 ? 5 : 4);
  wire_pack_kv_str(pk, "service", rp->service);
  wire_pack_kv_str(pk, "task", rp->task);
  wire_pack_kv_str(pk, "state", rp->state);
  wire_pack_kv_uint(pk, "restarts", rp->restarts);
  if (rp->exit_code >= 0)
    wire_pack_kv_uint(pk, "exit_code", (uint64_t)(rp->exit_code > 255 ? 255 : rp->exit_code));
}

static void on_reported(struct wire_session *s, int status, const struct wire_response *resp,
                        void *ud) {
  struct report_call *rc = ud;
  struct agent_delivery *d = rc->d;
  (void)s;
  if (status == 0 && !resp->ok)
    logf_("task %s: report refused: %s", rc->task, resp->error);
  if (status == 0) /* answered: a stopped task, or a refused report, is done with */
    for (struct report **p = &d->reports; *p; p = &(*p)->next)
      if (strcmp((*p)->task, rc->task) == 0 && (*p)->rev == rc->rev &&
          (!resp->ok || strcmp((*p)->state, "stopped") == 0)) {
        struct report *gone = *p;
        *p = gone->next;
        free(gone);
        break;
      }
  free(rc);
}

static void send_report(struct agent_delivery *d, struct report *rp) {
  struct report_call *rc = malloc(sizeof(*rc));
  if (!rc || !d->client || d->closing) {
    free(rc);
    return;
  }
  *rc = (struct report_call){.d = d, .rev = rp->rev};
  memcpy(rc->task, rp->task, sizeof(rc->task));
  if (wire_aclient_call(d->client, WIRE_OP_TASK_REPORT, pack_report, rp, on_reported, rc) < 0)
    free(rc); /* kept: sent again at the next connection */
}

static void core_report(void *ud, const struct agentcore_report *r) {
  struct agent_delivery *d = ud;
  struct report *rp;
  for (rp = d->reports; rp && strcmp(rp->task, r->task_id) != 0; rp = rp->next)
    ;
  if (!rp) {
    if (!(rp = calloc(1, sizeof(*rp))))
      return;
    snprintf(rp->task, sizeof(rp->task), "%s", r->task_id);
    rp->next = d->reports;
    d->reports = rp;
  }
  snprintf(rp->service, sizeof(rp->service), "%s", r->service);
  snprintf(rp->state, sizeof(rp->state), "%s", agentcore_state_name(r->state));
  rp->exit_code = r->exit_code;
  rp->restarts = r->restarts;
  rp->rev = ++d->report_rev;
  logf_("task %s (%s): %s%s%s", r->task_id, r->service, rp->state, r->message[0] ? ": " : "",
        r->message);
  send_report(d, rp);
}

/* ---- the interface ---- */

static void handle_closed(uv_handle_t *h) {
  struct agent_delivery *d = h->data;
  if (--d->open_handles == 0) {
    agentcore_free(d->ac);
    free(d);
  }
}

int agent_delivery_open(uv_loop_t *loop, const char *dir, struct agent_delivery **ret) {
  struct agent_delivery *d = calloc(1, sizeof(*d));
  if (!d)
    return -ENOMEM;
  d->loop = loop;
  const struct agentcore_ops ops = {
      .fetch = core_fetch, .report = core_report, .admit = agent_launch_gate, .ud = d};
  int r = agentcore_open(dir, &ops, &d->ac);
  if (r < 0) {
    free(d);
    return r;
  }
  uv_timer_init(loop, &d->timer);
  d->timer.data = d;
  if ((r = uv_poll_init(loop, &d->poll, agentcore_fd(d->ac))) < 0) {
    d->open_handles = 1; /* d and the core go once the timer closed */
    d->closing = true;
    uv_close((uv_handle_t *)&d->timer, handle_closed);
    return r;
  }
  d->poll.data = d;
  d->open_handles = 2;
  uv_poll_start(&d->poll, UV_READABLE, on_poll);
  *ret = d;
  return 0;
}

void agent_delivery_set_client(struct agent_delivery *d, struct wire_aclient *c) {
  if (d)
    d->client = c;
}

void agent_delivery_on_up(struct agent_delivery *d) {
  if (!d || d->removed)
    return;
  sync_now(d);
  for (struct report *rp = d->reports; rp; rp = rp->next)
    send_report(d, rp);
}

/* A push that carries the node's new set ("assignments": no value, the same
 * message node.assignments answers with) is applied as it is when it is newer
 * than the set held (pushes come in order, and a reconnection resends the
 * unacknowledged ones: an older one is skipped); a push without a set, with a set
 * that does not decode or cannot be applied, or an older one whose digest is not
 * the one held (the manager's generations went back after a restore, or a resent
 * push) makes the agent ask with node.assignments, which settles it. */
static void push_with_set(struct agent_delivery *d, const msgpack_object *set) {
  struct wire_assignments a = {0};
  const char *why = NULL;
  int r = wire_assignments_decode(set, &a, &why);
  if (r < 0) {
    logf_("the manager's pushed assignment set does not decode: %s (asking for it)",
          why ? why : sd_strerror(r));
    sync_now(d);
  } else {
    switch (ac_set_on_push(&d->held, a.generation, a.digest)) {
    case AC_SET_TAKE:
      if (take_set(d, &a) == 0)
        d->pushed_sets++;
      else
        sync_now(d);
      break;
    case AC_SET_ASK: sync_now(d); break;
    case AC_SET_SKIP: break;
    }
  }
  wire_assignments_clear(&a);
}

void agent_delivery_on_push(struct agent_delivery *d, const struct wire_push *p) {
  if (!d || strcmp(p->topic, TOPIC_ASSIGN) != 0 || d->closing || d->removed)
    return;
  const msgpack_object *set = p->body ? wire_map_get(p->body, "assignments") : NULL;
  if (set && set->type == MSGPACK_OBJECT_MAP)
    push_with_set(d, set);
  else
    sync_now(d);
}

void agent_delivery_node_removed(struct agent_delivery *d) {
  if (!d || d->removed)
    return;
  logf_("this node was removed from the cluster: stopping its tasks and wiping their state");
  uv_poll_stop(&d->poll);
  uv_timer_stop(&d->timer);
  int r = agentcore_node_removed(d->ac);
  d->removed = true;
  if (r < 0)
    logf_("node removal: %s", sd_strerror(r));
  while (d->reports) {
    struct report *rp = d->reports;
    d->reports = rp->next;
    free(rp);
  }
}

void agent_delivery_close(struct agent_delivery *d) {
  if (!d)
    return;
  d->closing = true;
  d->client = NULL;
  while (d->reports) {
    struct report *rp = d->reports;
    d->reports = rp->next;
    free(rp);
  }
  uv_close((uv_handle_t *)&d->poll, handle_closed);
  uv_close((uv_handle_t *)&d->timer, handle_closed);
}
