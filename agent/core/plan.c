/* The reconciler's planning (see plan.h): pure, four passes in the contract's order. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/core/plan.h"

void ac_file_resolve(struct ac_file *f, uint32_t spec_uid, uint32_t spec_gid) {
  if (f->uid == AC_ID_UNSET)
    f->uid = spec_uid;
  if (f->gid == AC_ID_UNSET)
    f->gid = spec_gid;
  if (f->mode == 0)
    f->mode = AC_MODE_DEFAULT;
}

bool ac_file_differs(const struct ac_file *a, const struct ac_file *b) {
  return strcmp(a->secret, b->secret) != 0 || a->version != b->version ||
         strcmp(a->target, b->target) != 0 || a->uid != b->uid || a->gid != b->gid ||
         a->mode != b->mode;
}

static size_t find_want(const struct ac_plan_want *w, size_t n, const char *id) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(w[i].task_id, id) == 0)
      return i;
  return SIZE_MAX;
}

static size_t find_have(const struct ac_plan_have *h, size_t n, const char *id) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(h[i].task_id, id) == 0)
      return i;
  return SIZE_MAX;
}

static const struct ac_file *find_file(const struct ac_file *f, size_t n, const char *target) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(f[i].target, target) == 0)
      return &f[i];
  return NULL;
}

/* Whether have h is what want w asks for (same id and spec). */
static bool same_task(const struct ac_plan_have *h, const struct ac_plan_want *w) {
  return memcmp(h->digest, w->digest, AC_DIGEST_LEN) == 0;
}

struct out {
  struct ac_action *a;
  size_t n, cap;
};

static int push(struct out *o, enum ac_act kind, size_t have, size_t want, size_t file) {
  if (o->n == o->cap) {
    size_t cap = o->cap ? o->cap * 2 : 16;
    struct ac_action *a = reallocarray(o->a, cap, sizeof(*a));
    if (!a)
      return -ENOMEM;
    o->a = a;
    o->cap = cap;
  }
  o->a[o->n++] = (struct ac_action){kind, have, want, file};
  return 0;
}

int ac_plan(const struct ac_plan_want *want, size_t n_want, const struct ac_plan_have *have,
            size_t n_have, uint64_t now_ms, struct ac_action **ret, size_t *ret_n,
            uint64_t *ret_wake_ms) {
  struct out o = {0};
  uint64_t wake = UINT64_MAX;
  int r = 0;

  /* 1. Revocations, in every running task that stays. */
  for (size_t i = 0; i < n_have && r == 0; i++) {
    const struct ac_plan_have *h = &have[i];
    size_t w = find_want(want, n_want, h->task_id);
    if (h->phase != AC_PHASE_RUNNING || w == SIZE_MAX || !same_task(h, &want[w]))
      continue;
    for (size_t f = 0; f < h->n_files && r == 0; f++)
      if (!find_file(want[w].files, want[w].n_files, h->files[f].target))
        r = push(&o, AC_ACT_REMOVE, i, SIZE_MAX, f);
  }
  /* 2. Stops: not wanted, or wanted with another spec. */
  for (size_t i = 0; i < n_have && r == 0; i++) {
    const struct ac_plan_have *h = &have[i];
    size_t w = find_want(want, n_want, h->task_id);
    if (h->phase == AC_PHASE_STOPPING)
      continue;
    if (w == SIZE_MAX || !same_task(h, &want[w]))
      r = push(&o, AC_ACT_STOP, i, SIZE_MAX, SIZE_MAX);
  }
  /* 3. New and changed files in running tasks. */
  for (size_t i = 0; i < n_have && r == 0; i++) {
    const struct ac_plan_have *h = &have[i];
    size_t w = find_want(want, n_want, h->task_id);
    if (h->phase != AC_PHASE_RUNNING || h->busy || w == SIZE_MAX || !same_task(h, &want[w]))
      continue;
    for (size_t f = 0; f < want[w].n_files && r == 0; f++) {
      const struct ac_file *cur = find_file(h->files, h->n_files, want[w].files[f].target);
      if (!cur || ac_file_differs(cur, &want[w].files[f]))
        r = push(&o, AC_ACT_PUT, i, w, f);
    }
  }
  /* 4. Starts: missing tasks, and waiting ones that are due. */
  for (size_t w = 0; w < n_want && r == 0; w++) {
    size_t i = find_have(have, n_have, want[w].task_id);
    if (i == SIZE_MAX) {
      r = push(&o, AC_ACT_START, SIZE_MAX, w, SIZE_MAX);
      continue;
    }
    const struct ac_plan_have *h = &have[i];
    if (h->phase != AC_PHASE_WAITING || !same_task(h, &want[w]))
      continue; /* runs, starts, stops, or is replaced once stopped */
    if (h->start_at_ms <= now_ms)
      r = push(&o, AC_ACT_START, i, w, SIZE_MAX);
    else if (h->start_at_ms < wake)
      wake = h->start_at_ms;
  }
  if (r < 0) {
    free(o.a);
    return r;
  }
  *ret = o.a;
  *ret_n = o.n;
  *ret_wake_ms = wake;
  return 0;
}

bool ac_restart_due(enum launch_restart policy, bool failed, unsigned streak,
                    uint64_t *ret_delay_ms) {
  if (policy == LAUNCH_RESTART_NO || (policy == LAUNCH_RESTART_ON_FAILURE && !failed))
    return false;
  uint64_t d = AC_BACKOFF_FIRST_MS;
  for (unsigned i = 0; i < streak && d < AC_BACKOFF_MAX_MS; i++)
    d *= 2;
  *ret_delay_ms = d < AC_BACKOFF_MAX_MS ? d : AC_BACKOFF_MAX_MS;
  return true;
}
