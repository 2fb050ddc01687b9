/*
 * Internals of the agent's delivery core shared by core.c (the reconcile loop) and
 * core_state.c (the desired set, opening and taking back, node removal). Not an
 * interface: see agentcore.h.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/core/agentcore.h"
#include "agent/core/plan.h"
#include "runtime/launch_spec.h"

#define TASK_ID_MAX 48
#define PUT_RETRY_MS 1000u
/* Container starts per agentcore_process call (each takes tens of ms): the caller's loop
 * gets back control between batches, so a revoke or a rotation pushed meanwhile never
 * waits behind a node's worth of starts. */
#define STARTS_PER_PASS 2
/* task records written per pass at most (core.c: write_dirty_some) */
#define RECORDS_PER_PASS 4

/* One assigned task, as agentcore_assign copied it. */
struct want {
  char *id, *service;
  enum launch_restart restart;
  uint8_t digest[AC_DIGEST_LEN];
  struct launch_spec ls;
  bool ls_ok;
  char ls_err[LAUNCH_SPEC_ERRLEN];
  struct ac_file *files; /* resolved owners; strings owned */
  size_t n_files;
};

struct pending;

/* What the agent has of one task. */
struct task {
  char *id, *service;
  uint8_t digest[AC_DIGEST_LEN];
  enum launch_restart restart;
  enum ac_phase phase;
  uint64_t start_at;   /* WAITING */
  uint64_t kill_at;    /* STOPPING: SIGKILL then */
  uint64_t retry_at;   /* a failed put or remove is tried again then */
  unsigned stop_timeout_ms;
  struct rt_container *c; /* RUNNING, STOPPING (owns the secrets handle) */
  struct ac_file *applied; /* strings owned */
  size_t n_applied;
  struct pending *fetch;   /* at most one */
  unsigned restarts, streak;
  int exit_code;
  uint64_t started_ms;
  bool dirty;              /* record to be written */
  enum agentcore_state state;
  bool reported;
  uint64_t since;
  char msg[AGENTCORE_MSG_LEN];
};

struct pending {
  struct agentcore_fetch f; /* what the fetcher sees */
  struct agentcore *ac;
  struct task *task;        /* NULL once cancelled */
  bool for_start;
  struct ac_file *files;    /* what to write with the values (strings owned) */
  size_t n_files;
  int status;
  struct pending *next;     /* completed list */
};

struct agentcore {
  struct agentcore_ops ops;
  char *dir, *run_dir;
  int dir_fd, tasks_fd, run_fd;
  int epfd, evfd;
  bool assigned, removed;
  struct want *wants;
  size_t n_wants;
  struct task **tasks;
  size_t n_tasks;
  uint64_t wake_at;
  pthread_mutex_t lock; /* the completed list */
  struct pending *completed;
  size_t n_outstanding;  /* fetches issued and not yet done */
  unsigned start_budget; /* starts left in this agentcore_process call */
};

uint64_t ac_now_ms(void);  /* CLOCK_MONOTONIC */
uint64_t ac_wall_ms(void); /* CLOCK_REALTIME */
void ac_files_free(struct ac_file *f, size_t n);
int ac_file_copy(struct ac_file *dst, const struct ac_file *src);       /* 0, -ENOMEM */
int ac_files_dup(const struct ac_file *src, size_t n, struct ac_file **ret);
void ac_want_clear(struct want *w);
void ac_wants_free(struct want *w, size_t n);
struct want *ac_find_want(struct agentcore *ac, const char *id);
/* Report a state change (nothing when state and message are unchanged). */
void ac_report(struct agentcore *ac, struct task *t, enum agentcore_state s, const char *msg);
struct task *ac_task_new(struct agentcore *ac, const char *id, const char *service);
void ac_task_free(struct task *t);
/* Drop a task that no longer runs: its record, its container state, its slot. */
void ac_task_forget(struct agentcore *ac, struct task *t);
/* PID 1 of a running or stopping task ended: report, restart per policy or forget. */
void ac_task_exited(struct agentcore *ac, struct task *t, const char *why);
void ac_epoll_forget(struct agentcore *ac, struct task *t);
void ac_write_dirty(struct agentcore *ac);
void ac_pending_free(struct pending *p);
