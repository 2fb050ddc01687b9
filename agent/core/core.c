/*
 * The reconciler's executor (see agentcore.h): it keeps what the agent has of each task,
 * asks plan.c what to do, and does it with runtime/ and the fetcher: fetches, starts,
 * live puts and removes, stops, exits and restarts. The desired set, opening, taking
 * back and node removal are in core_state.c.
 */
#include "agent/core/agentcore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/core/plan.h"
#include "agent/core/record.h"
#include "agent/core/supervise.h"
#include "base/error.h"
#include "base/macro.h"
#include "base/secbuf.h"
#include "runtime/caps.h"
#include "runtime/runtime.h"
#include "runtime/secrets_fs.h"
#include "runtime/state.h"

#include "agent/core/core_internal.h"

const char *agentcore_state_name(enum agentcore_state s) {
  static const char *const names[] = {"pending", "running", "exited", "failed", "stopped"};
  return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "?";
}

uint64_t ac_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t ac_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void ac_files_free(struct ac_file *f, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free((char *)f[i].secret);
    free((char *)f[i].target);
  }
  free(f);
}

int ac_file_copy(struct ac_file *dst, const struct ac_file *src) {
  *dst = *src;
  dst->secret = strdup(src->secret);
  dst->target = strdup(src->target);
  if (!dst->secret || !dst->target) {
    free((char *)dst->secret);
    free((char *)dst->target);
    dst->secret = dst->target = NULL;
    return -ENOMEM;
  }
  return 0;
}

int ac_files_dup(const struct ac_file *src, size_t n, struct ac_file **ret) {
  struct ac_file *f = n ? calloc(n, sizeof *f) : NULL;
  if (n && !f)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++)
    if (ac_file_copy(&f[i], &src[i]) < 0) {
      ac_files_free(f, i);
      return -ENOMEM;
    }
  *ret = f;
  return 0;
}

void ac_want_clear(struct want *w) {
  free(w->id);
  free(w->service);
  launch_spec_clear(&w->ls);
  ac_files_free(w->files, w->n_files);
  memset(w, 0, sizeof *w);
}

void ac_wants_free(struct want *w, size_t n) {
  for (size_t i = 0; i < n; i++)
    ac_want_clear(&w[i]);
  free(w);
}

struct want *ac_find_want(struct agentcore *ac, const char *id) {
  for (size_t i = 0; i < ac->n_wants; i++)
    if (strcmp(ac->wants[i].id, id) == 0)
      return &ac->wants[i];
  return NULL;
}

/* ---- reports and records ---- */

void ac_report(struct agentcore *ac, struct task *t, enum agentcore_state s, const char *msg) {
  if (t->reported && t->state == s && strcmp(t->msg, msg ? msg : "") == 0)
    return;
  t->state = s;
  t->reported = true;
  t->since = ac_wall_ms();
  snprintf(t->msg, sizeof t->msg, "%s", msg ? msg : "");
  if (!ac->ops.report)
    return;
  struct agentcore_report r = {t->id, t->service, s, t->since, t->exit_code, t->restarts, t->msg};
  ac->ops.report(ac->ops.ud, &r);
}

static int task_record(struct agentcore *ac, struct task *t) {
  struct ac_record rec = {
      .task_id = t->id,
      .service = t->service,
      .running = t->phase == AC_PHASE_RUNNING || t->phase == AC_PHASE_STOPPING,
      .done = t->phase == AC_PHASE_WAITING && t->start_at == UINT64_MAX,
      .restarts = t->restarts,
      .exit_code = t->exit_code,
      .restart = t->restart,
      .stop_timeout_ms = t->stop_timeout_ms,
      .files = t->applied,
      .n_files = t->n_applied,
  };
  memcpy(rec.digest, t->digest, AC_DIGEST_LEN);
  t->dirty = false;
  return ac_record_write(ac->tasks_fd, t->id, &rec);
}

/* ---- tasks ---- */

void ac_epoll_forget(struct agentcore *ac, struct task *t) {
  if (t->c)
    epoll_ctl(ac->epfd, EPOLL_CTL_DEL, rt_container_pidfd(t->c), NULL);
}

void ac_task_free(struct task *t) {
  if (!t)
    return;
  if (t->fetch)
    t->fetch->task = NULL; /* its done call frees it */
  rt_container_detach(t->c);
  ac_files_free(t->applied, t->n_applied);
  free(t->id);
  free(t->service);
  free(t);
}

struct task *ac_task_new(struct agentcore *ac, const char *id, const char *service) {
  struct task *t = calloc(1, sizeof *t);
  struct task **v = reallocarray(ac->tasks, ac->n_tasks + 1, sizeof *v);
  if (!t || !v) {
    free(t);
    if (v)
      ac->tasks = v;
    return NULL;
  }
  ac->tasks = v;
  if (!(t->id = strdup(id)) || !(t->service = strdup(service ? service : ""))) {
    ac_task_free(t);
    return NULL;
  }
  t->exit_code = -1;
  t->phase = AC_PHASE_WAITING;
  ac->tasks[ac->n_tasks++] = t;
  return t;
}

/* Drop a task that no longer runs: its record goes, its container state too. */
void ac_task_forget(struct agentcore *ac, struct task *t) {
  char path[96];
  struct rt_state st;
  ac_epoll_forget(ac, t);
  snprintf(path, sizeof path, "%s.json", t->id);
  unlinkat(ac->tasks_fd, path, 0);
  (void)ac_container_reap(ac->run_fd, t->id, &st);
  for (size_t i = 0; i < ac->n_tasks; i++)
    if (ac->tasks[i] == t) {
      ac->tasks[i] = ac->tasks[--ac->n_tasks];
      break;
    }
  ac_task_free(t);
}

static void set_applied(struct task *t, struct ac_file *files, size_t n) {
  ac_files_free(t->applied, t->n_applied);
  t->applied = files;
  t->n_applied = n;
  t->dirty = true;
}

/* PID 1 of a running or stopping task exited: record how, then restart per policy,
 * or forget it when it was being stopped. */
void ac_task_exited(struct agentcore *ac, struct task *t, const char *why) {
  struct rt_state st;
  bool stopping = t->phase == AC_PHASE_STOPPING;
  ac_epoll_forget(ac, t);
  rt_container_detach(t->c); /* an adopted handle: closes the pidfd and secrets handle */
  t->c = NULL;
  set_applied(t, NULL, 0);
  (void)ac_container_reap(ac->run_fd, t->id, &st);
  if (st.exited)
    t->exit_code = st.exit_signal ? 128 + st.exit_signal : st.exit_code;
  else
    t->exit_code = -1; /* its supervisor died too: status unknown */
  if (stopping) {
    ac_report(ac, t, AGENTCORE_STOPPED, "");
    ac_task_forget(ac, t);
    return;
  }
  bool failed = t->exit_code != 0;
  uint64_t now = ac_now_ms(), delay = 0;
  if (t->started_ms && now - t->started_ms >= AC_BACKOFF_RESET_MS)
    t->streak = 0;
  char msg[AGENTCORE_MSG_LEN] = "";
  if (why && *why)
    snprintf(msg, sizeof msg, "%s", why);
  else if (st.oom_killed)
    snprintf(msg, sizeof msg, "killed by the OOM killer");
  else if (!st.exited)
    snprintf(msg, sizeof msg, "ended while its supervisor was gone: status unknown");
  if (ac_restart_due(t->restart, failed, t->streak, &delay)) {
    t->phase = AC_PHASE_WAITING;
    t->start_at = now + delay;
    t->streak++;
  } else {
    t->phase = AC_PHASE_WAITING;
    t->start_at = UINT64_MAX;
  }
  t->dirty = true;
  ac_report(ac, t, failed ? AGENTCORE_FAILED : AGENTCORE_EXITED, msg);
}

/* ---- fetches ---- */

void ac_pending_free(struct pending *p) {
  if (!p)
    return;
  for (size_t i = 0; i < p->f.n_items; i++) {
    secbuf_free(p->f.items[i].value);
    free((char *)p->f.items[i].secret);
  }
  free(p->f.items);
  free((char *)p->f.task_id);
  free((char *)p->f.service);
  ac_files_free(p->files, p->n_files);
  free(p);
}

void agentcore_fetch_done(struct agentcore *ac, struct agentcore_fetch *f, int status) {
  struct pending *p = (struct pending *)f;
  uint64_t one = 1;
  p->status = status;
  pthread_mutex_lock(&ac->lock);
  p->next = ac->completed;
  ac->completed = p;
  pthread_mutex_unlock(&ac->lock);
  if (write(ac->evfd, &one, sizeof one) < 0) {
    /* the counter is saturated: a wake-up is pending anyway */
  }
}

/* Ask for the values of files (copied) for task t. */
static int fetch(struct agentcore *ac, struct task *t, const struct ac_file *files, size_t n,
                 bool for_start) {
  struct pending *p = calloc(1, sizeof *p);
  if (!p)
    return -ENOMEM;
  p->ac = ac;
  p->task = t;
  p->for_start = for_start;
  p->f.items = n ? calloc(n, sizeof *p->f.items) : NULL;
  if ((n && !p->f.items) || !(p->f.task_id = strdup(t->id)) ||
      !(p->f.service = strdup(t->service)) || ac_files_dup(files, n, &p->files) < 0) {
    ac_pending_free(p);
    return -ENOMEM;
  }
  p->n_files = n;
  for (size_t i = 0; i < n; i++) { /* distinct (secret, version) pairs */
    bool seen = false;
    for (size_t j = 0; j < p->f.n_items && !seen; j++)
      seen = p->f.items[j].version == files[i].version &&
             strcmp(p->f.items[j].secret, files[i].secret) == 0;
    if (seen)
      continue;
    struct agentcore_fetch_item *it = &p->f.items[p->f.n_items];
    if (!(it->secret = strdup(files[i].secret))) {
      ac_pending_free(p);
      return -ENOMEM;
    }
    it->version = files[i].version;
    p->f.n_items++;
  }
  t->fetch = p;
  ac->n_outstanding++;
  if (n == 0 || !ac->ops.fetch)
    agentcore_fetch_done(ac, &p->f, n == 0 ? 0 : -ENOSYS);
  else
    ac->ops.fetch(ac->ops.ud, ac, &p->f);
  return 0;
}

static const struct secbuf *value_of(const struct pending *p, const struct ac_file *f) {
  for (size_t i = 0; i < p->f.n_items; i++)
    if (p->f.items[i].version == f->version && strcmp(p->f.items[i].secret, f->secret) == 0)
      return p->f.items[i].value;
  return NULL;
}

static void wipe_values(struct pending *p) {
  for (size_t i = 0; i < p->f.n_items; i++) {
    secbuf_free(p->f.items[i].value);
    p->f.items[i].value = NULL;
  }
}

/* ---- starting ---- */

/* It never ran (no values, or the node's launch gate refused it): try again with
 * backoff whatever its policy, so that a fix on the manager or the node takes effect. */
static void retry_unstarted(struct agentcore *ac, struct task *t, enum agentcore_state st,
                            const char *msg) {
  uint64_t delay = 0;
  ac_restart_due(LAUNCH_RESTART_ALWAYS, true, t->streak, &delay);
  t->streak++;
  t->phase = AC_PHASE_WAITING;
  t->start_at = ac_now_ms() + delay;
  ac_report(ac, t, st, msg);
}

static void start_failed(struct agentcore *ac, struct task *t, int exit_code, const char *msg) {
  uint64_t delay = 0;
  t->exit_code = exit_code;
  if (ac_restart_due(t->restart, true, t->streak, &delay)) {
    t->start_at = ac_now_ms() + delay;
    t->streak++;
  } else {
    t->start_at = UINT64_MAX;
  }
  t->phase = AC_PHASE_WAITING;
  t->dirty = true;
  ac_report(ac, t, AGENTCORE_FAILED, msg);
}

/* The values of a start arrived: fill a new secrets tmpfs, then start the container
 * with it (its command runs only once every file is in place). */
static void start_with(struct agentcore *ac, struct task *t, struct pending *p) {
  struct want *w = ac_find_want(ac, t->id);
  struct rt_secrets_fs *fs = NULL, *own = NULL;
  struct rt_container *c = NULL;
  char msg[AGENTCORE_MSG_LEN] = "";
  size_t total = 0, largest = 0;
  int r;

  if (!w || memcmp(w->digest, t->digest, AC_DIGEST_LEN) != 0) {
    t->phase = AC_PHASE_WAITING; /* unassigned meanwhile: the plan stops it */
    t->start_at = ac_now_ms();
    return;
  }
  if (p->status < 0) { /* no values, no start */
    snprintf(msg, sizeof msg, "fetching its secrets: %s", sd_strerror(p->status));
    retry_unstarted(ac, t, AGENTCORE_PENDING, msg);
    return;
  }
  for (size_t i = 0; i < p->n_files; i++) {
    const struct secbuf *v = value_of(p, &p->files[i]);
    size_t len = v ? secbuf_len(v) : 0;
    if (len > AGENTCORE_VALUE_MAX) {
      snprintf(msg, sizeof msg, "secret %s version %llu: larger than %u bytes",
               p->files[i].secret, (unsigned long long)p->files[i].version, AGENTCORE_VALUE_MAX);
      r = -EFBIG;
      goto fail;
    }
    total += len;
    if (len > largest)
      largest = len;
  }
  if ((r = rt_secrets_fs_new(total, largest, &fs)) < 0 ||
      (r = rt_secrets_fs_set_max(fs, RT_SECRETS_DEFAULT_MAX)) < 0) {
    snprintf(msg, sizeof msg, "creating the secrets tmpfs: %s", sd_strerror(r));
    goto fail;
  }
  for (size_t i = 0; i < p->n_files; i++) {
    const struct ac_file *f = &p->files[i];
    const struct secbuf *v = value_of(p, f);
    if (!v) {
      snprintf(msg, sizeof msg, "the fetcher gave no value for %s version %llu", f->secret,
               (unsigned long long)f->version);
      r = -EPROTO;
      goto fail;
    }
    if ((r = rt_secrets_fs_put(fs, f->target, secbuf_cdata(v), secbuf_len(v), f->uid, f->gid,
                               f->mode)) < 0) {
      snprintf(msg, sizeof msg, "writing secret %s: %s", f->target, sd_strerror(r));
      goto fail;
    }
  }
  wipe_values(p); /* the bytes now live only in the tmpfs */

  /* The runtime's spec, from the shared launch spec. */
  struct rt_spec spec = {0};
  char *env[LAUNCH_SPEC_MAX_ITEMS + 1];
  struct rt_mount mounts[LAUNCH_SPEC_MAX_ITEMS];
  char err[LAUNCH_SPEC_ERRLEN];
  uint64_t host = 0;
  launch_spec_fill_rt(&w->ls, &spec, env, mounts);
  spec.argv = w->ls.argv;
  if ((r = rt_caps_host_bounding(&host)) < 0 ||
      (r = launch_spec_caps(&w->ls, host, &spec.caps, err)) < 0) {
    snprintf(msg, sizeof msg, "%s", r == -EINVAL ? err : sd_strerror(r));
    goto fail;
  }
  if (!spec.hostname)
    spec.hostname = *t->service && strlen(t->service) <= 64 ? t->service : t->id;
  spec.secrets_fs = fs;
  /* Recorded before the start: an agent killed during it finds the container. */
  t->phase = AC_PHASE_RUNNING;
  t->stop_timeout_ms = spec.stop_timeout_ms;
  if ((r = ac_files_dup(p->files, p->n_files, &t->applied)) < 0)
    goto fail;
  t->n_applied = p->n_files;
  task_record(ac, t);
  r = ac_container_start(ac->run_fd, ac->run_dir, t->id, &spec, &c, msg, sizeof msg);
  if (r < 0)
    goto fail;
  /* Our own handle on the tmpfs: the writable fd only (the read-only clone was the
   * container's). */
  int mfd = fcntl(rt_secrets_fs_fd(fs), F_DUPFD_CLOEXEC, 3);
  if (mfd < 0 || (r = rt_secrets_fs_from_fd(mfd, rt_secrets_fs_max(fs), &own)) < 0) {
    r = mfd < 0 ? -errno : r;
    if (mfd >= 0)
      close(mfd);
    snprintf(msg, sizeof msg, "keeping the secrets handle: %s", sd_strerror(r));
    rt_container_stop(c, 0, SIGKILL, NULL);
    rt_container_detach(c);
    c = NULL;
    goto fail;
  }
  rt_secrets_fs_free(fs);
  rt_container_set_secrets(c, own);
  t->c = c;
  t->started_ms = ac_now_ms();
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = t};
  epoll_ctl(ac->epfd, EPOLL_CTL_ADD, rt_container_pidfd(c), &ev);
  t->dirty = true;
  ac_report(ac, t, AGENTCORE_RUNNING, "");
  return;
fail:
  wipe_values(p);
  rt_secrets_fs_free(fs);
  if (r == -ESRCH) { /* its command ran and ended at once: an exit like any other */
    t->phase = AC_PHASE_RUNNING;
    t->started_ms = ac_now_ms();
    ac_report(ac, t, AGENTCORE_RUNNING, "");
    ac_task_exited(ac, t, NULL);
    return;
  }
  set_applied(t, NULL, 0);
  start_failed(ac, t, -1, msg);
}

/* START action: a new task, or a waiting one that is due. */
static int start(struct agentcore *ac, struct task *t, const struct want *w) {
  if (!t && !(t = ac_task_new(ac, w->id, w->service)))
    return -ENOMEM;
  memcpy(t->digest, w->digest, AC_DIGEST_LEN);
  t->restart = w->restart;
  if (!w->ls_ok) {
    t->phase = AC_PHASE_WAITING;
    t->start_at = UINT64_MAX;
    t->dirty = true;
    ac_report(ac, t, AGENTCORE_FAILED, w->ls_err);
    return 0;
  }
  char why[AGENTCORE_MSG_LEN] = "";
  if (ac->ops.admit && ac->ops.admit(ac->ops.ud, &w->ls, why, sizeof why) < 0) {
    retry_unstarted(ac, t, AGENTCORE_FAILED, why); /* refused before any value is fetched */
    return 0;
  }
  if (t->reported && (t->state == AGENTCORE_FAILED || t->state == AGENTCORE_EXITED))
    t->restarts++;
  t->phase = AC_PHASE_STARTING;
  if (!t->reported || t->state != AGENTCORE_PENDING)
    ac_report(ac, t, AGENTCORE_PENDING, "");
  return fetch(ac, t, w->files, w->n_files, true);
}

/* ---- live changes ---- */

/* The values of PUTs arrived: write each file that is still wanted as fetched. */
static void put_with(struct agentcore *ac, struct task *t, struct pending *p) {
  struct want *w = ac_find_want(ac, t->id);
  struct rt_secrets_fs *fs = t->c ? rt_container_secrets(t->c) : NULL;
  char msg[AGENTCORE_MSG_LEN] = "";

  if (t->phase != AC_PHASE_RUNNING || !fs || !w)
    return;
  if (p->status < 0) {
    t->retry_at = ac_now_ms() + PUT_RETRY_MS;
    snprintf(msg, sizeof msg, "fetching its secrets: %s", sd_strerror(p->status));
    ac_report(ac, t, AGENTCORE_RUNNING, msg);
    return;
  }
  for (size_t i = 0; i < p->n_files; i++) {
    const struct ac_file *f = &p->files[i], *now = NULL;
    for (size_t j = 0; j < w->n_files && !now; j++)
      if (strcmp(w->files[j].target, f->target) == 0)
        now = &w->files[j];
    if (!now || ac_file_differs(now, f))
      continue; /* changed again meanwhile: the next plan fetches the new one */
    const struct secbuf *v = value_of(p, f);
    int r = !v ? -EPROTO
            : secbuf_len(v) > AGENTCORE_VALUE_MAX
                ? -EFBIG
                : rt_secrets_fs_put(fs, f->target, secbuf_cdata(v), secbuf_len(v), f->uid,
                                    f->gid, f->mode);
    if (r < 0) {
      t->retry_at = ac_now_ms() + PUT_RETRY_MS;
      snprintf(msg, sizeof msg, "writing secret %s: %s", f->target, sd_strerror(r));
      continue;
    }
    size_t k = 0;
    while (k < t->n_applied && strcmp(t->applied[k].target, f->target) != 0)
      k++;
    if (k == t->n_applied) {
      struct ac_file *a = reallocarray(t->applied, t->n_applied + 1, sizeof *a);
      if (!a)
        continue; /* not recorded: written again later, harmless */
      t->applied = a;
      t->n_applied++;
    } else {
      free((char *)t->applied[k].secret);
      free((char *)t->applied[k].target);
    }
    if (ac_file_copy(&t->applied[k], f) < 0) {
      t->applied[k] = t->applied[--t->n_applied];
      continue;
    }
    t->dirty = true;
  }
  wipe_values(p);
  ac_report(ac, t, AGENTCORE_RUNNING, msg);
}

static void remove_file(struct agentcore *ac, struct task *t, size_t idx) {
  struct rt_secrets_fs *fs = t->c ? rt_container_secrets(t->c) : NULL;
  int r = fs ? rt_secrets_fs_remove(fs, t->applied[idx].target) : -EBADF;
  if (r < 0 && r != -ENOENT) {
    char msg[AGENTCORE_MSG_LEN];
    snprintf(msg, sizeof msg, "removing secret %s: %s", t->applied[idx].target, sd_strerror(r));
    t->retry_at = ac_now_ms() + PUT_RETRY_MS;
    ac_report(ac, t, AGENTCORE_RUNNING, msg);
    return;
  }
  free((char *)t->applied[idx].secret);
  free((char *)t->applied[idx].target);
  t->applied[idx] = t->applied[--t->n_applied];
  t->dirty = true;
}

static void stop(struct agentcore *ac, struct task *t) {
  if (t->phase == AC_PHASE_RUNNING && t->c) {
    t->phase = AC_PHASE_STOPPING;
    t->kill_at = ac_now_ms() + t->stop_timeout_ms;
    if (rt_container_kill(t->c, SIGTERM) == -ESRCH)
      t->kill_at = 0;
    return;
  }
  ac_report(ac, t, AGENTCORE_STOPPED, "");
  ac_task_forget(ac, t);
}

/* ---- the loop ---- */

/* Give completed fetches back to the list (the start budget is spent): the eventfd
 * wakes the caller's loop for them. */
static void requeue(struct agentcore *ac, struct pending *p) {
  uint64_t one = 1;
  if (!p)
    return;
  struct pending *last = p;
  while (last->next)
    last = last->next;
  pthread_mutex_lock(&ac->lock);
  last->next = ac->completed;
  ac->completed = p;
  pthread_mutex_unlock(&ac->lock);
  if (write(ac->evfd, &one, sizeof one) < 0) {
    /* saturated: a wake-up is pending anyway */
  }
}

static void take_completed(struct agentcore *ac) {
  pthread_mutex_lock(&ac->lock);
  struct pending *p = ac->completed, *later = NULL, *starts = NULL, **st = &starts;
  ac->completed = NULL;
  pthread_mutex_unlock(&ac->lock);
  /* Live puts (rotations, new grants) first: a start forks and waits for its
   * container's exec (tens of ms), and the files of running containers must not
   * wait behind two of them. */
  for (struct pending **pp = &p; *pp;) {
    if ((*pp)->task && (*pp)->for_start) {
      *st = *pp;
      *pp = (*pp)->next;
      st = &(*st)->next;
      *st = NULL;
    } else {
      pp = &(*pp)->next;
    }
  }
  for (struct pending **pp = &p; ; pp = &(*pp)->next)
    if (!*pp) {
      *pp = starts;
      break;
    }
  while (p) {
    struct pending *next = p->next;
    struct task *t = p->task;
    if (t && p->for_start && ac->start_budget == 0) {
      p->next = later;
      later = p;
      p = next;
      continue;
    }
    if (t && p->for_start)
      ac->start_budget--;
    ac->n_outstanding--;
    if (t) {
      t->fetch = NULL;
      if (p->for_start)
        start_with(ac, t, p);
      else
        put_with(ac, t, p);
    }
    ac_pending_free(p);
    p = next;
  }
  requeue(ac, later);
}

static void check_exits(struct agentcore *ac) {
  struct epoll_event ev[32];
  uint64_t n;
  /* Level-triggered: drain the wake-ups; exits are found by looking at every task. */
  (void)epoll_wait(ac->epfd, ev, ARRAY_SIZE(ev), 0);
  if (read(ac->evfd, &n, sizeof n) < 0) {
    /* nothing to drain */
  }
  uint64_t now = ac_now_ms();
  for (size_t i = 0; i < ac->n_tasks;) {
    struct task *t = ac->tasks[i];
    if (t->c && rt_container_exited(t->c)) {
      size_t before = ac->n_tasks;
      ac_task_exited(ac, t, NULL);
      if (ac->n_tasks < before)
        continue; /* forgotten: the slot holds another task now */
    } else if (t->phase == AC_PHASE_STOPPING && t->kill_at <= now) {
      rt_container_kill(t->c, SIGKILL);
      t->kill_at = UINT64_MAX;
    }
    i++;
  }
}

static int plan_and_act(struct agentcore *ac) {
  size_t nw = ac->n_wants, nh = ac->n_tasks, n = 0;
  struct ac_plan_want *pw = calloc(nw ? nw : 1, sizeof *pw);
  struct ac_plan_have *ph = calloc(nh ? nh : 1, sizeof *ph);
  struct task **snap = calloc(nh ? nh : 1, sizeof *snap);
  struct ac_action *a = NULL;
  uint64_t now = ac_now_ms(), wake = UINT64_MAX;
  int r = -ENOMEM;

  if (!pw || !ph || !snap)
    goto out;
  for (size_t i = 0; i < nw; i++)
    pw[i] = (struct ac_plan_want){ac->wants[i].id, ac->wants[i].digest, ac->wants[i].files,
                                  ac->wants[i].n_files};
  for (size_t i = 0; i < nh; i++) {
    struct task *t = snap[i] = ac->tasks[i];
    bool retry_wait = t->retry_at > now;
    if (retry_wait && t->retry_at < wake)
      wake = t->retry_at;
    ph[i] = (struct ac_plan_have){t->id,          t->digest,  t->phase, t->start_at,
                                  t->fetch || retry_wait, t->applied, t->n_applied};
  }
  uint64_t plan_wake;
  if ((r = ac_plan(pw, nw, ph, nh, now, &a, &n, &plan_wake)) < 0)
    goto out;
  if (plan_wake < wake)
    wake = plan_wake;
  /* REMOVEs name files by index: remove the highest index first per task, so that the
   * swap-with-last removal never moves a file still to be removed. */
  for (size_t i = n; i-- > 0;)
    if (a[i].kind == AC_ACT_REMOVE)
      remove_file(ac, snap[a[i].have], a[i].file);
  for (size_t i = 0; i < n; i++) {
    if (a[i].kind == AC_ACT_STOP) {
      stop(ac, snap[a[i].have]);
    } else if (a[i].kind == AC_ACT_PUT) {
      /* one fetch per task for all its PUTs (they are consecutive) */
      size_t j = i;
      while (j + 1 < n && a[j + 1].kind == AC_ACT_PUT && a[j + 1].have == a[i].have)
        j++;
      struct want *w = &ac->wants[a[i].want];
      struct ac_file *files = calloc(j - i + 1, sizeof *files);
      if (!files) {
        r = -ENOMEM;
        goto out;
      }
      for (size_t k = i; k <= j; k++)
        files[k - i] = w->files[a[k].file]; /* borrowed: fetch() copies */
      r = fetch(ac, snap[a[i].have], files, j - i + 1, false);
      free(files);
      if (r < 0)
        goto out;
      i = j;
    } else if (a[i].kind == AC_ACT_START) {
      if ((r = start(ac, a[i].have == SIZE_MAX ? NULL : snap[a[i].have], &ac->wants[a[i].want])) < 0)
        goto out;
    }
  }
  /* A start this pass put off (the launch gate refused it) is due at its own time. */
  for (size_t i = 0; i < ac->n_tasks; i++)
    if (ac->tasks[i]->phase == AC_PHASE_WAITING && ac->tasks[i]->start_at < wake)
      wake = ac->tasks[i]->start_at;
  ac->wake_at = wake;
  r = 0;
out:
  free(a);
  free(pw);
  free(ph);
  free(snap);
  return r;
}

void ac_write_dirty(struct agentcore *ac) {
  for (size_t i = 0; i < ac->n_tasks; i++)
    if (ac->tasks[i]->dirty)
      task_record(ac, ac->tasks[i]);
}

/* At most max dirty records, then hand control back: after a rotation every task's
 * record changes (its files' versions), and writing 50 of them (a rename each: on
 * ext4 a flush each) would hold the caller's loop, and so the next replies with
 * values, for tens of milliseconds. A record written late only makes a restarted
 * agent put a file again or remove one already gone; starts record before they
 * fork (start_with), whatever this defers. */
static void write_dirty_some(struct agentcore *ac, size_t max) {
  for (size_t i = 0; i < ac->n_tasks && max; i++)
    if (ac->tasks[i]->dirty) {
      task_record(ac, ac->tasks[i]);
      max--;
    }
}

static bool any_dirty(const struct agentcore *ac) {
  for (size_t i = 0; i < ac->n_tasks; i++)
    if (ac->tasks[i]->dirty)
      return true;
  return false;
}

int agentcore_process(struct agentcore *ac) {
  int r = 0;
  if (ac->removed)
    return -ESHUTDOWN;
  /* Synchronous fetchers complete inside plan_and_act: loop until quiet (bounded, and
   * no further once the start budget is spent). */
  ac->start_budget = STARTS_PER_PASS;
  for (int round = 0; round < 8; round++) {
    check_exits(ac);
    take_completed(ac);
    if (ac->assigned && (r = plan_and_act(ac)) < 0)
      break;
    pthread_mutex_lock(&ac->lock);
    bool more = ac->completed != NULL;
    pthread_mutex_unlock(&ac->lock);
    if (!more || ac->start_budget == 0)
      break;
  }
  write_dirty_some(ac, RECORDS_PER_PASS);
  return r;
}

int agentcore_fd(const struct agentcore *ac) { return ac->epfd; }

int agentcore_timeout_ms(const struct agentcore *ac) {
  uint64_t at = ac->wake_at, now = ac_now_ms();
  if (any_dirty(ac))
    return 0; /* records still to write (write_dirty_some) */
  for (size_t i = 0; i < ac->n_tasks; i++)
    if (ac->tasks[i]->phase == AC_PHASE_STOPPING && ac->tasks[i]->kill_at < at)
      at = ac->tasks[i]->kill_at;
  if (at == UINT64_MAX)
    return -1;
  return at <= now ? 0 : (at - now > 60000 ? 60000 : (int)(at - now));
}

bool agentcore_converged(const struct agentcore *ac) {
  if (!ac->assigned || ac->n_outstanding)
    return false;
  for (size_t i = 0; i < ac->n_tasks; i++) {
    const struct task *t = ac->tasks[i];
    if (t->phase == AC_PHASE_STARTING || t->phase == AC_PHASE_STOPPING || t->fetch ||
        (t->phase == AC_PHASE_WAITING && t->start_at != UINT64_MAX))
      return false;
  }
  struct ac_plan_want *pw = calloc(ac->n_wants + 1, sizeof *pw);
  struct ac_plan_have *ph = calloc(ac->n_tasks + 1, sizeof *ph);
  struct ac_action *a = NULL;
  size_t n = 1;
  uint64_t wake;
  if (pw && ph) {
    for (size_t i = 0; i < ac->n_wants; i++)
      pw[i] = (struct ac_plan_want){ac->wants[i].id, ac->wants[i].digest, ac->wants[i].files,
                                    ac->wants[i].n_files};
    for (size_t i = 0; i < ac->n_tasks; i++) {
      const struct task *t = ac->tasks[i];
      ph[i] = (struct ac_plan_have){t->id, t->digest, t->phase, t->start_at, false,
                                    t->applied, t->n_applied};
    }
    if (ac_plan(pw, ac->n_wants, ph, ac->n_tasks, ac_now_ms(), &a, &n, &wake) < 0)
      n = 1;
  }
  free(a);
  free(pw);
  free(ph);
  return n == 0;
}

pid_t agentcore_task_pid(const struct agentcore *ac, const char *task_id) {
  for (size_t i = 0; i < ac->n_tasks; i++)
    if (strcmp(ac->tasks[i]->id, task_id) == 0 && ac->tasks[i]->c &&
        ac->tasks[i]->phase == AC_PHASE_RUNNING)
      return rt_container_pid(ac->tasks[i]->c);
  return 0;
}

