/*
 * agentcore_driver STATE_DIR: drives the agent's delivery core (agent/core) as the
 * network layer will, from commands on stdin, so that integration tests run it with
 * real containers, tmpfs and cgroups. Values arrive on the same pipe (never argv, never
 * a file) and live in secret memory (base/secbuf.h) until written.
 *
 * Commands, one per line (tokens separated by single spaces, no quoting):
 *   task ID SERVICE no|on-failure|always [LAUNCH OPTIONS] -- CMD [ARG...]
 *                                   add a task to the set being built
 *                                   (--seccomp-profile FILE: its content travels)
 *   grant ID SECRET VERSION TARGET [UID|- [GID|- [MODE|-]]]
 *   commit                          assign the set built (then start a new one)
 *   value SECRET VERSION LEN        followed by exactly LEN raw bytes and a newline:
 *                                   what the manager would answer for that version
 *   forget SECRET VERSION           the manager no longer answers for it
 *   wait                            print "converged" once the node has converged
 *   pid ID                          print "pid ID N" (0: not running)
 *   removed                         the node was removed: print "removed"
 *   quit                            exit, leaving the containers running
 * Output (stdout, a line each): "state ID STATE exit=N restarts=N [message]",
 * "assigned", "error MESSAGE", "converged", "pid ...", "removed". A set with a refused
 * task or grant line is not assigned at its commit ("error ...").
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agent/core/agentcore.h"
#include "base/macro.h"
#include "base/parse.h"
#include "base/secbuf.h"
#include "runtime/launch_spec.h"

#define LINE_MAX_LEN 65536
#define MAX_TOKENS 512

struct value {
  char *secret;
  uint64_t version;
  struct secbuf *bytes;
};

struct task_in {
  char *id, *service;
  enum launch_restart restart;
  msgpack_sbuffer spec;
  struct agentcore_grant grants[AGENTCORE_MAX_GRANTS];
  char *grant_strs[AGENTCORE_MAX_GRANTS][2];
  size_t n_grants;
};

static struct value values[4096];
static size_t n_values;
static struct task_in tasks[512];
static size_t n_tasks;
static bool set_bad;    /* a task or grant line of the set was refused: commit refuses it */
static bool in_set_cmd; /* handling a task or grant line */
static char inbuf[LINE_MAX_LEN];
static size_t in_len;
static bool in_eof;

static struct value *find_value(const char *secret, uint64_t version) {
  for (size_t i = 0; i < n_values; i++)
    if (values[i].version == version && strcmp(values[i].secret, secret) == 0)
      return &values[i];
  return NULL;
}

/* The fetcher: answers from the values given on stdin, synchronously. */
static void fetch(void *ud, struct agentcore *ac, struct agentcore_fetch *f) {
  int r = 0;
  for (size_t i = 0; i < f->n_items && r == 0; i++) {
    struct value *v = find_value(f->items[i].secret, f->items[i].version);
    if (!v)
      r = -ENOENT;
    else
      r = secbuf_from(secbuf_cdata(v->bytes), secbuf_len(v->bytes), &f->items[i].value);
  }
  agentcore_fetch_done(ac, f, r);
}

static void report(void *ud, const struct agentcore_report *r) {
  printf("state %s %s exit=%d restarts=%u%s%s\n", r->task_id, agentcore_state_name(r->state),
         r->exit_code, r->restarts, *r->message ? " " : "", r->message);
  fflush(stdout);
}

static void tasks_clear(void) {
  for (size_t i = 0; i < n_tasks; i++) {
    free(tasks[i].id);
    free(tasks[i].service);
    msgpack_sbuffer_destroy(&tasks[i].spec);
    for (size_t g = 0; g < tasks[i].n_grants; g++) {
      free(tasks[i].grant_strs[g][0]);
      free(tasks[i].grant_strs[g][1]);
    }
  }
  n_tasks = 0;
}

static void err(const char *fmt, const char *a) {
  set_bad = set_bad || in_set_cmd;
  printf("error ");
  printf(fmt, a);
  printf("\n");
  fflush(stdout);
}

static int read_file(const char *path, char **ret, size_t *ret_len) {
  FILE *f = fopen(path, "re");
  if (!f)
    return -errno;
  char *buf = malloc(LAUNCH_SPEC_SECCOMP_MAX + 1);
  size_t n = buf ? fread(buf, 1, LAUNCH_SPEC_SECCOMP_MAX + 1, f) : 0;
  fclose(f);
  if (!buf || n > LAUNCH_SPEC_SECCOMP_MAX) {
    free(buf);
    return -E2BIG;
  }
  *ret = buf;
  *ret_len = n;
  return 0;
}

static void cmd_task(char **tok, int n) {
  if (n < 5 || n_tasks == ARRAY_SIZE(tasks))
    return err("%s", "usage: task ID SERVICE RESTART [OPTIONS] -- CMD [ARG...]");
  struct task_in *t = &tasks[n_tasks];
  struct launch_spec ls;
  char e[LAUNCH_SPEC_ERRLEN];
  int i = 4, r = 0;
  memset(t, 0, sizeof *t);
  if (strcmp(tok[3], "no") == 0)
    t->restart = LAUNCH_RESTART_NO;
  else if (strcmp(tok[3], "on-failure") == 0)
    t->restart = LAUNCH_RESTART_ON_FAILURE;
  else if (strcmp(tok[3], "always") == 0)
    t->restart = LAUNCH_RESTART_ALWAYS;
  else
    return err("bad restart policy %s", tok[3]);
  launch_spec_init(&ls);
  for (; i < n && strcmp(tok[i], "--") != 0 && r == 0; i++) {
    int opt = strncmp(tok[i], "--", 2) == 0 ? launch_spec_option_lookup(tok[i] + 2) : -ENOENT;
    if (opt < 0) {
      snprintf(e, sizeof e, "unknown option %s", tok[i]);
      r = -EINVAL;
      break;
    }
    const char *v = NULL;
    if (launch_spec_option_has_arg(opt)) {
      if (i + 1 >= n) {
        snprintf(e, sizeof e, "%s needs a value", tok[i]);
        r = -EINVAL;
        break;
      }
      v = tok[++i];
    }
    r = launch_spec_apply(&ls, opt, v, e);
    if (r == 0 && opt == LAUNCH_OPT_SECCOMP_PROFILE && strcmp(v, "unconfined") != 0) {
      char *json = NULL;
      size_t len = 0;
      if ((r = read_file(v, &json, &len)) < 0)
        snprintf(e, sizeof e, "%s: %s", v, strerror(-r));
      else
        r = launch_spec_set_seccomp(&ls, json, len, e);
      free(json);
    }
  }
  if (r == 0 && i < n)
    r = launch_spec_set_command(&ls, n - i - 1, tok + i + 1, "task ... -- CMD", e);
  else if (r == 0)
    r = launch_spec_set_command(&ls, 0, NULL, "task ... -- CMD", e);
  msgpack_sbuffer_init(&t->spec);
  if (r == 0)
    r = launch_spec_encode(&ls, &t->spec);
  launch_spec_clear(&ls);
  if (r < 0) {
    msgpack_sbuffer_destroy(&t->spec);
    return err("%s", e);
  }
  t->id = strdup(tok[1]);
  t->service = strdup(tok[2]);
  n_tasks++;
}

static bool parse_id(const char *s, uint32_t *ret) {
  uint64_t v;
  if (strcmp(s, "-") == 0) {
    *ret = AGENTCORE_ID_UNSET;
    return true;
  }
  if (sd_parse_u64(s, UINT32_MAX - 1, &v) < 0)
    return false;
  *ret = (uint32_t)v;
  return true;
}

static void cmd_grant(char **tok, int n) {
  if (n < 5)
    return err("%s", "usage: grant ID SECRET VERSION TARGET [UID [GID [MODE]]]");
  struct task_in *t = NULL;
  for (size_t i = 0; i < n_tasks; i++)
    if (strcmp(tasks[i].id, tok[1]) == 0)
      t = &tasks[i];
  if (!t || t->n_grants == AGENTCORE_MAX_GRANTS)
    return err("no task %s in the set (or too many grants)", tok[1]);
  struct agentcore_grant *g = &t->grants[t->n_grants];
  uint64_t version;
  g->uid = g->gid = AGENTCORE_ID_UNSET;
  g->mode = 0;
  if (sd_parse_u64(tok[3], UINT64_MAX, &version) < 0 || (n > 5 && !parse_id(tok[5], &g->uid)) ||
      (n > 6 && !parse_id(tok[6], &g->gid)))
    return err("%s", "bad version or owner");
  if (n > 7 && strcmp(tok[7], "-") != 0) {
    char *end;
    unsigned long m = strtoul(tok[7], &end, 8);
    if (*end || m > UINT32_MAX) /* the core checks the range */
      return err("bad mode %s", tok[7]);
    g->mode = (uint32_t)m;
  }
  g->version = version;
  g->secret = t->grant_strs[t->n_grants][0] = strdup(tok[2]);
  g->target = t->grant_strs[t->n_grants][1] = strdup(tok[4]);
  t->n_grants++;
}

static void cmd_commit(struct agentcore *ac) {
  struct agentcore_task set[ARRAY_SIZE(tasks)];
  char e[AGENTCORE_MSG_LEN];
  for (size_t i = 0; i < n_tasks; i++)
    set[i] = (struct agentcore_task){tasks[i].id,        tasks[i].service, tasks[i].spec.data,
                                     tasks[i].spec.size, tasks[i].restart, tasks[i].grants,
                                     tasks[i].n_grants};
  if (set_bad) { /* never assign a set that lost a line */
    tasks_clear();
    err("%s", "the set had refused lines: not assigned");
    set_bad = false;
    return;
  }
  int r = agentcore_assign(ac, set, n_tasks, e);
  tasks_clear();
  if (r < 0)
    return err("%s", *e ? e : strerror(-r));
  printf("assigned\n");
  fflush(stdout);
}

/* Fill inbuf from stdin; false at EOF with nothing left. */
static bool fill(void) {
  if (in_len == sizeof inbuf)
    return true;
  ssize_t k;
  do
    k = read(0, inbuf + in_len, sizeof inbuf - in_len);
  while (k < 0 && errno == EINTR);
  if (k <= 0) {
    in_eof = true;
    return false;
  }
  in_len += (size_t)k;
  return true;
}

/* The LEN value bytes after a "value" line, straight into secret memory; what of them
 * sat in inbuf is wiped there. */
static void cmd_value(char **tok, int n) {
  uint64_t version, len;
  if (n != 4 || sd_parse_u64(tok[2], UINT64_MAX, &version) < 0 ||
      sd_parse_u64(tok[3], AGENTCORE_VALUE_MAX, &len) < 0)
    return err("%s", "usage: value SECRET VERSION LEN");
  struct secbuf *b = NULL;
  if (secbuf_new((size_t)len + 1, &b) < 0)
    return err("%s", "out of memory");
  size_t got = 0;
  while (got < len + 1) { /* the bytes and the newline after them */
    if (in_len == 0 && !fill())
      break;
    size_t take = in_len < len + 1 - got ? in_len : (size_t)len + 1 - got;
    memcpy(secbuf_data(b) + got, inbuf, take);
    explicit_bzero(inbuf, take);
    memmove(inbuf, inbuf + take, in_len - take);
    in_len -= take;
    got += take;
  }
  if (got < len + 1 || secbuf_data(b)[len] != '\n') {
    secbuf_free(b);
    return err("%s", "value: short or not followed by a newline");
  }
  secbuf_truncate(b, (size_t)len);
  struct value *v = find_value(tok[1], version);
  if (!v) {
    if (n_values == ARRAY_SIZE(values)) {
      secbuf_free(b);
      return err("%s", "too many values");
    }
    v = &values[n_values++];
    v->secret = strdup(tok[1]);
    v->version = version;
  }
  secbuf_free(v->bytes);
  v->bytes = b;
}

static void cmd_forget(char **tok, int n) {
  uint64_t version;
  struct value *v;
  if (n != 3 || sd_parse_u64(tok[2], UINT64_MAX, &version) < 0 || !(v = find_value(tok[1], version)))
    return err("%s", "usage: forget SECRET VERSION (a value given before)");
  secbuf_free(v->bytes);
  free(v->secret);
  *v = values[--n_values];
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s STATE_DIR\n", argv[0]);
    return 2;
  }
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  struct rlimit nocore = {0, 0};
  setrlimit(RLIMIT_CORE, &nocore);
  struct agentcore_ops ops = {.fetch = fetch, .report = report};
  struct agentcore *ac = NULL;
  int r = agentcore_open(argv[1], &ops, &ac);
  if (r < 0) {
    fprintf(stderr, "agentcore_open %s: %s\n", argv[1], strerror(-r));
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  bool waiting = false, quit = false;
  while (!quit) {
    /* Whole lines in the buffer first. */
    char *nl;
    while (!quit && (nl = memchr(inbuf, '\n', in_len))) {
      *nl = '\0';
      char line[LINE_MAX_LEN];
      size_t ll = (size_t)(nl - inbuf);
      memcpy(line, inbuf, ll + 1);
      memmove(inbuf, nl + 1, in_len - ll - 1);
      in_len -= ll + 1;
      char *tok[MAX_TOKENS], *save = NULL;
      int n = 0;
      for (char *p = strtok_r(line, " ", &save); p && n < MAX_TOKENS; p = strtok_r(NULL, " ", &save))
        tok[n++] = p;
      if (n == 0)
        continue;
      in_set_cmd = strcmp(tok[0], "task") == 0 || strcmp(tok[0], "grant") == 0;
      if (strcmp(tok[0], "task") == 0)
        cmd_task(tok, n);
      else if (strcmp(tok[0], "grant") == 0)
        cmd_grant(tok, n);
      else if (strcmp(tok[0], "commit") == 0)
        cmd_commit(ac);
      else if (strcmp(tok[0], "value") == 0)
        cmd_value(tok, n);
      else if (strcmp(tok[0], "forget") == 0)
        cmd_forget(tok, n);
      else if (strcmp(tok[0], "wait") == 0)
        waiting = true;
      else if (strcmp(tok[0], "pid") == 0 && n == 2)
        printf("pid %s %d\n", tok[1], (int)agentcore_task_pid(ac, tok[1])), fflush(stdout);
      else if (strcmp(tok[0], "removed") == 0) {
        r = agentcore_node_removed(ac);
        printf(r < 0 ? "error %s\n" : "removed\n", strerror(-r));
        fflush(stdout);
      } else if (strcmp(tok[0], "quit") == 0)
        quit = true;
      else
        err("unknown command %s", tok[0]);
      in_set_cmd = false;
    }
    if (quit)
      break;
    if (agentcore_process(ac) == -ENOMEM)
      break;
    if (waiting && agentcore_converged(ac)) {
      waiting = false;
      printf("converged\n");
      fflush(stdout);
    }
    struct pollfd p[2] = {{.fd = in_eof ? -1 : 0, .events = POLLIN},
                          {.fd = agentcore_fd(ac), .events = POLLIN}};
    int timeout = agentcore_timeout_ms(ac);
    if (waiting && (timeout < 0 || timeout > 50))
      timeout = 50; /* converged is a condition, not an event */
    if (in_eof && timeout < 0 && !waiting)
      break;
    if (poll(p, 2, timeout) < 0 && errno != EINTR)
      break;
    if (p[0].revents & (POLLIN | POLLHUP))
      fill();
  }
  agentcore_free(ac);
  tasks_clear();
  for (size_t i = 0; i < n_values; i++) {
    secbuf_free(values[i].bytes);
    free(values[i].secret);
  }
  explicit_bzero(inbuf, sizeof inbuf);
  return 0;
}
