/*
 * The agent's delivery core, continued (see agentcore.h): checking and taking the
 * desired set, opening the state directory and taking back running containers after an
 * agent restart, node removal.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#include "agent/core/core_internal.h"
#include "agent/core/record.h"
#include "agent/core/supervise.h"
#include "base/error.h"
#include "base/macro.h"
#include "runtime/runtime.h"
#include "runtime/secrets_fs.h"
#include "runtime/state.h"

/* ---- the desired set ---- */

static bool secret_name_ok(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > 255)
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
      return false;
  return true;
}

static int check_set(const struct agentcore_task *tasks, size_t n, char *err) {
  if (n > AGENTCORE_MAX_TASKS)
    return snprintf(err, AGENTCORE_MSG_LEN, "more than %d tasks", AGENTCORE_MAX_TASKS), -EINVAL;
  for (size_t i = 0; i < n; i++) {
    const struct agentcore_task *t = &tasks[i];
    if (!t->id || strlen(t->id) > TASK_ID_MAX || !rt_name_valid(t->id))
      return snprintf(err, AGENTCORE_MSG_LEN,
                      "task %zu: invalid id (1..%d of A-Z a-z 0-9 _ . -, not starting with . or -)",
                      i, TASK_ID_MAX), -EINVAL;
    for (size_t j = 0; j < i; j++)
      if (strcmp(tasks[j].id, t->id) == 0)
        return snprintf(err, AGENTCORE_MSG_LEN, "task %s assigned twice", t->id), -EINVAL;
    if ((unsigned)t->restart > LAUNCH_RESTART_ALWAYS || (!t->spec && t->spec_len) ||
        (t->service && strlen(t->service) > 255))
      return snprintf(err, AGENTCORE_MSG_LEN, "task %s: invalid restart policy or spec", t->id),
             -EINVAL;
    if (t->n_grants > AGENTCORE_MAX_GRANTS || (t->n_grants && !t->grants))
      return snprintf(err, AGENTCORE_MSG_LEN, "task %s: more than %d grants", t->id,
                      AGENTCORE_MAX_GRANTS), -EINVAL;
    for (size_t g = 0; g < t->n_grants; g++) {
      const struct agentcore_grant *x = &t->grants[g];
      if (!secret_name_ok(x->secret))
        return snprintf(err, AGENTCORE_MSG_LEN, "task %s: grant %zu: invalid secret name", t->id,
                        g), -EINVAL;
      if (!x->target || !rt_secret_target_valid(x->target))
        return snprintf(err, AGENTCORE_MSG_LEN, "task %s: secret %s: invalid target", t->id,
                        x->secret), -EINVAL;
      if (x->mode > 0777)
        return snprintf(err, AGENTCORE_MSG_LEN, "task %s: secret %s: invalid mode %o", t->id,
                        x->secret, x->mode), -EINVAL;
      for (size_t h = 0; h < g; h++)
        if (strcmp(t->grants[h].target, x->target) == 0)
          return snprintf(err, AGENTCORE_MSG_LEN, "task %s: two secrets at target %s", t->id,
                          x->target), -EINVAL;
    }
  }
  return 0;
}

/* Under --userns a file's owner is a container id, and the tmpfs (the host's) needs the
 * host id it maps to: resolved here once, so that the first delivery and every later
 * put write the same host ids. An unmapped owner keeps the task from starting. */
static void owner_to_host(struct want *w, struct ac_file *f) {
  char why[LAUNCH_SPEC_ERRLEN];
  if (!w->ls_ok || launch_spec_host_owner(&w->ls, f->uid, f->gid, &f->uid, &f->gid, why) == 0)
    return;
  w->ls_ok = false;
  snprintf(w->ls_err, sizeof w->ls_err, "secret at %.200s: %.100s", f->target, why);
}

static int want_from(struct want *w, const struct agentcore_task *t) {
  launch_spec_init(&w->ls);
  if (!(w->id = strdup(t->id)) || !(w->service = strdup(t->service ? t->service : "")))
    return -ENOMEM;
  w->restart = t->restart;
  crypto_generichash(w->digest, AC_DIGEST_LEN, t->spec, t->spec_len, NULL, 0);
  int r = launch_spec_decode(t->spec, t->spec_len, &w->ls, w->ls_err);
  if (r == -ENOMEM)
    return r;
  w->ls_ok = r == 0;
  if (r < 0 && !w->ls_err[0])
    snprintf(w->ls_err, sizeof w->ls_err, "launch spec: %s", sd_strerror(r));
  if (t->n_grants && !(w->files = calloc(t->n_grants, sizeof *w->files)))
    return -ENOMEM;
  for (size_t g = 0; g < t->n_grants; g++) {
    const struct agentcore_grant *x = &t->grants[g];
    struct ac_file f = {x->secret, x->version, x->target, x->uid, x->gid, x->mode};
    ac_file_resolve(&f, w->ls.uid, w->ls.gid);
    owner_to_host(w, &f);
    if (ac_file_copy(&w->files[g], &f) < 0)
      return -ENOMEM;
    w->n_files = g + 1;
  }
  return 0;
}

int agentcore_assign(struct agentcore *ac, const struct agentcore_task *tasks, size_t n,
                     char *err) {
  struct want *w = NULL;
  int r;

  err[0] = '\0';
  if (ac->removed)
    return -ESHUTDOWN;
  if ((r = check_set(tasks, n, err)) < 0)
    return r;
  if (n && !(w = calloc(n, sizeof *w)))
    return -ENOMEM;
  for (size_t i = 0; i < n; i++)
    if ((r = want_from(&w[i], &tasks[i])) < 0) {
      ac_wants_free(w, i + 1);
      snprintf(err, AGENTCORE_MSG_LEN, "out of memory");
      return r;
    }
  ac_wants_free(ac->wants, ac->n_wants);
  ac->wants = w;
  ac->n_wants = n;
  ac->assigned = true;
  /* A policy change applies to the next exit; it restarts nothing by itself. */
  for (size_t i = 0; i < ac->n_tasks; i++) {
    struct want *x = ac_find_want(ac, ac->tasks[i]->id);
    if (x && ac->tasks[i]->restart != x->restart) {
      ac->tasks[i]->restart = x->restart;
      ac->tasks[i]->dirty = true;
    }
  }
  return agentcore_process(ac);
}

/* ---- open, take back, remove ---- */

static int open_dir_at(int at, const char *path, int *ret_fd) {
  struct stat st;
  if (mkdirat(at, path, 0700) < 0 && errno != EEXIST)
    return -errno;
  int fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return -errno;
  if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 077)) {
    close(fd);
    return -EPERM;
  }
  *ret_fd = fd;
  return 0;
}

/* A recorded task: take its container back, or learn how it ended. */
static int take_back(struct agentcore *ac, struct ac_record *rec) {
  struct task *t = ac_task_new(ac, rec->task_id, rec->service);
  struct rt_state st;
  if (!t)
    return -ENOMEM;
  memcpy(t->digest, rec->digest, AC_DIGEST_LEN);
  t->restarts = rec->restarts;
  t->exit_code = rec->exit_code;
  t->restart = rec->restart;
  t->phase = AC_PHASE_WAITING;
  t->start_at = rec->done ? UINT64_MAX : ac_now_ms();
  if (!rec->running) {
    ac_report(ac, t, rec->done ? (rec->exit_code == 0 ? AGENTCORE_EXITED : AGENTCORE_FAILED)
                            : AGENTCORE_PENDING, "");
    return 0;
  }
  int r = ac_container_adopt(ac->run_fd, t->id, &t->c, &st);
  if (r == 0) {
    t->phase = AC_PHASE_RUNNING;
    t->applied = rec->files;
    t->n_applied = rec->n_files;
    rec->files = NULL;
    rec->n_files = 0;
    t->stop_timeout_ms = rec->stop_timeout_ms;
    t->started_ms = ac_now_ms();
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = t};
    epoll_ctl(ac->epfd, EPOLL_CTL_ADD, rt_container_pidfd(t->c), &ev);
    ac_report(ac, t, AGENTCORE_RUNNING, "");
    return 0;
  }
  /* Ended while we were away (or cannot be taken back: then it is stopped, as an
   * orphan would be, and started again). */
  char why[AGENTCORE_MSG_LEN] = "";
  if (r != -ESRCH && r != -ENOENT) {
    struct rt_container *c = NULL;
    snprintf(why, sizeof why, "could not be taken back (%s): stopped", sd_strerror(r));
    if (st.status == RT_STATUS_RUNNING &&
        rt_container_adopt(st.pid, st.start_time, st.cgroup, &c) == 0) {
      rt_container_stop(c, 0, SIGKILL, NULL);
      rt_container_detach(c);
    }
  }
  t->phase = AC_PHASE_RUNNING; /* for task_exited: an exit like any other */
  t->c = NULL;
  ac_task_exited(ac, t, why);
  return 0;
}

/* Containers under run/ that no task record names: an agent killed between creating
 * one and recording it. Nobody owns them: stop and remove. */
static void sweep_orphans(struct agentcore *ac) {
  char **names = NULL;
  if (rt_state_list(ac->run_fd, &names) < 0)
    return;
  for (char **n = names; *n; n++) {
    bool known = false;
    for (size_t i = 0; i < ac->n_tasks && !known; i++)
      known = strcmp(ac->tasks[i]->id, *n) == 0;
    if (known)
      continue;
    struct rt_container *c = NULL;
    struct rt_state st;
    _cleanup_close_ int dfd = -1;
    if (rt_state_open(ac->run_fd, *n, &dfd) == 0 && rt_state_read(dfd, &st) == 0 &&
        st.status == RT_STATUS_RUNNING &&
        rt_container_adopt(st.pid, st.start_time, st.cgroup, &c) == 0) {
      rt_container_stop(c, 0, SIGKILL, NULL);
      rt_container_detach(c);
    }
    (void)ac_container_reap(ac->run_fd, *n, &st);
  }
  rt_state_names_free(names);
}

int agentcore_open(const char *state_dir, const struct agentcore_ops *ops,
                   struct agentcore **ret) {
  struct agentcore *ac = calloc(1, sizeof *ac);
  int r;

  if (!ac)
    return -ENOMEM;
  ac->dir_fd = ac->tasks_fd = ac->run_fd = ac->epfd = ac->evfd = -1;
  ac->wake_at = UINT64_MAX;
  pthread_mutex_init(&ac->lock, NULL);
  if (ops)
    ac->ops = *ops;
  if (sodium_init() < 0) {
    r = -ENOMEM;
    goto fail;
  }
  if (!(ac->dir = realpath(state_dir, NULL)) && errno == ENOENT) {
    if (mkdir(state_dir, 0700) < 0 && errno != EEXIST) {
      r = -errno;
      goto fail;
    }
    ac->dir = realpath(state_dir, NULL);
  }
  if (!ac->dir) {
    r = -errno;
    goto fail;
  }
  if ((r = open_dir_at(AT_FDCWD, ac->dir, &ac->dir_fd)) < 0 ||
      (r = open_dir_at(ac->dir_fd, "tasks", &ac->tasks_fd)) < 0)
    goto fail;
  if (asprintf(&ac->run_dir, "%s/run", ac->dir) < 0) {
    ac->run_dir = NULL;
    r = -ENOMEM;
    goto fail;
  }
  if ((r = rt_state_root_open(ac->run_dir, &ac->run_fd)) < 0)
    goto fail;
  ac->epfd = epoll_create1(EPOLL_CLOEXEC);
  ac->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (ac->epfd < 0 || ac->evfd < 0) {
    r = -errno;
    goto fail;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (epoll_ctl(ac->epfd, EPOLL_CTL_ADD, ac->evfd, &ev) < 0) {
    r = -errno;
    goto fail;
  }
  /* Take back what the records name. */
  int lfd = openat(ac->tasks_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
  if (!d) {
    r = -errno;
    if (lfd >= 0)
      close(lfd);
    goto fail;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    char name[RT_NAME_MAX + 1];
    struct ac_record rec;
    if (len < 6 || len - 5 > TASK_ID_MAX || strcmp(e->d_name + len - 5, ".json") != 0 ||
        e->d_name[0] == '.')
      continue;
    snprintf(name, sizeof name, "%.*s", (int)(len - 5), e->d_name);
    if (!rt_name_valid(name) || ac_record_read(ac->tasks_fd, name, &rec) < 0 ||
        strcmp(rec.task_id, name) != 0) {
      /* unreadable: its container (if any) is swept as an orphan */
      ac_record_clear(&rec);
      unlinkat(ac->tasks_fd, e->d_name, 0);
      continue;
    }
    r = take_back(ac, &rec);
    ac_record_clear(&rec);
    if (r < 0) {
      closedir(d);
      goto fail;
    }
  }
  closedir(d);
  sweep_orphans(ac);
  ac_write_dirty(ac);
  *ret = ac;
  return 0;
fail:
  agentcore_free(ac);
  return r;
}

void agentcore_free(struct agentcore *ac) {
  if (!ac)
    return;
  if (!ac->removed && ac->tasks_fd >= 0)
    ac_write_dirty(ac); /* what agentcore_process had not written yet */
  for (size_t i = 0; i < ac->n_tasks; i++)
    ac_task_free(ac->tasks[i]);
  free(ac->tasks);
  /* Completed fetches not yet taken; outstanding ones are the fetcher's to drop. */
  struct pending *p = ac->completed;
  while (p) {
    struct pending *next = p->next;
    ac_pending_free(p);
    p = next;
  }
  ac_wants_free(ac->wants, ac->n_wants);
  if (ac->dir_fd >= 0)
    close(ac->dir_fd);
  if (ac->tasks_fd >= 0)
    close(ac->tasks_fd);
  if (ac->run_fd >= 0)
    close(ac->run_fd);
  if (ac->epfd >= 0)
    close(ac->epfd);
  if (ac->evfd >= 0)
    close(ac->evfd);
  pthread_mutex_destroy(&ac->lock);
  free(ac->dir);
  free(ac->run_dir);
  free(ac);
}

static void sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int agentcore_node_removed(struct agentcore *ac) {
  if (ac->removed)
    return -ESHUTDOWN;
  /* SIGTERM to all at once; each gets its own stop timeout, then SIGKILL. */
  uint64_t now = ac_now_ms();
  for (size_t i = 0; i < ac->n_tasks; i++) {
    struct task *t = ac->tasks[i];
    if (t->c && t->phase != AC_PHASE_STOPPING) {
      t->phase = AC_PHASE_STOPPING;
      t->kill_at = now + t->stop_timeout_ms;
      rt_container_kill(t->c, SIGTERM);
    }
  }
  while (ac->n_tasks) {
    now = ac_now_ms();
    for (size_t i = 0; i < ac->n_tasks;) {
      struct task *t = ac->tasks[i];
      if (t->c && !rt_container_exited(t->c)) {
        if (t->kill_at <= now) {
          rt_container_kill(t->c, SIGKILL);
          t->kill_at = UINT64_MAX;
        }
        i++;
        continue;
      }
      ac_epoll_forget(ac, t);
      rt_container_detach(t->c);
      t->c = NULL;
      t->phase = AC_PHASE_WAITING;
      ac_report(ac, t, AGENTCORE_STOPPED, "the node was removed");
      ac_task_forget(ac, t); /* the slot now holds another task */
    }
    if (ac->n_tasks)
      sleep_ms(10);
  }
  sweep_orphans(ac);
  ac_wants_free(ac->wants, ac->n_wants);
  ac->wants = NULL;
  ac->n_wants = 0;
  ac->removed = true;
  /* The state directory keeps only its two empty folders. */
  return 0;
}
