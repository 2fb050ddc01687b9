/*
 * The state of detached containers, as the OCI runtime spec keeps it: one directory
 * per container under a state root (default /run/secretd/launch, root-only, on tmpfs),
 *
 *   ROOT/                 0700 root
 *   ROOT/NAME/            0700 root; mkdir'ed exclusively: a name is taken once
 *   ROOT/NAME/state.json  OCI state (ociVersion, id, status, pid, bundle, created) plus
 *                         what adoption checks (startTime, cgroup, supervisor pid and
 *                         start time, secretsMax, uidMap/gidMap with --userns) and,
 *                         once stopped, exitCode,
 *                         exitSignal, oomKilled; replaced atomically (rename)
 *   ROOT/NAME/sock        the supervisor's socket (SOCK_SEQPACKET, 0600): hands the
 *                         writable secrets tmpfs fd to a root peer (SCM_RIGHTS)
 *
 * No secret is ever written here. The file is parsed with a size bound and strict
 * types (fuzzed: tests/fuzz/fuzz_runtime_state.c). Errors are negative errno; library
 * code, no logging.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/runtime.h"

#define RT_STATE_ROOT_DEFAULT "/run/secretd/launch"
#define RT_STATE_MAX_BYTES 65536
#define RT_NAME_MAX 64

enum rt_status { RT_STATUS_CREATED, RT_STATUS_RUNNING, RT_STATUS_STOPPED };

struct rt_state {
  char id[RT_NAME_MAX + 1];
  enum rt_status status;
  pid_t pid;                   /* PID 1 of the container, host pid namespace */
  uint64_t start_time;         /* /proc/PID/stat field 22 of pid */
  pid_t supervisor;            /* the process that reaps pid and holds the secrets fd */
  uint64_t supervisor_start;
  char bundle[4096];           /* the rootfs directory */
  char created[40];            /* RFC 3339, UTC */
  char cgroup[RT_NAME_MAX + 16]; /* "secretd/NAME" */
  uint64_t secrets_max;
  struct rt_idmap uidmap[RT_MAX_IDMAPS]; /* --userns: container -> host ids (n = 0: none) */
  size_t n_uidmap;
  struct rt_idmap gidmap[RT_MAX_IDMAPS];
  size_t n_gidmap;
  bool exited;                 /* exit fields valid (set by the supervisor) */
  int exit_code;
  int exit_signal;
  bool oom_killed;
};

/* Valid container name: 1..64 of [A-Za-z0-9_.-], not starting with '.' or '-'. */
bool rt_name_valid(const char *name);

const char *rt_status_name(enum rt_status s);

/* /proc/PID/stat start time (field 22, clock ticks since boot). 0 or -ESRCH, -errno. */
int rt_proc_start_time(pid_t pid, uint64_t *ret);

/*
 * Create (if missing) and open the state root: a directory owned by root, mode 0700
 * (created so; refused with -EPERM when it exists with another owner or any group/other
 * permission). *ret_fd: O_PATH|O_DIRECTORY fd. Returns 0 or a negative errno.
 */
int rt_state_root_open(const char *root, int *ret_fd);

/* mkdir ROOT/NAME 0700: -EEXIST when the name is taken, -EINVAL for a bad name.
 * *ret_fd: O_PATH fd of the new directory. */
int rt_state_create(int root_fd, const char *name, int *ret_fd);

/* Open ROOT/NAME: -ENOENT when there is no such container. */
int rt_state_open(int root_fd, const char *name, int *ret_fd);

/* Write state.json atomically into dir_fd (temp + fsync-free rename). */
int rt_state_write(int dir_fd, const struct rt_state *st);

/* Read and parse dir_fd/state.json. -EBADMSG for a malformed file. */
int rt_state_read(int dir_fd, struct rt_state *ret);

/* Parse len bytes of state JSON (need not be NUL-terminated). 0 or -EBADMSG. */
int rt_state_parse(const char *buf, size_t len, struct rt_state *ret);

/* Remove ROOT/NAME and its files (state.json, sock, temporaries). */
int rt_state_remove(int root_fd, const char *name);

/*
 * Names of the containers under root_fd, sorted: *ret_names is a NULL-terminated
 * malloc'ed array of malloc'ed strings (free with rt_state_names_free). Entries that
 * are not valid names are skipped.
 */
int rt_state_list(int root_fd, char ***ret_names);
void rt_state_names_free(char **names);
