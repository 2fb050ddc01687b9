/*
 * Detached containers of the agent, each with its own supervisor process (the reaper
 * of PID 1 and keeper of the secrets tmpfs handle, as secret-launch run --detach has),
 * recorded under the runtime's state root (runtime/state.h). The agent's copy of the
 * secrets handle is its own: it writes to it directly while it runs, and gets it back
 * from the supervisor (SCM_RIGHTS) after a restart.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "runtime/runtime.h"
#include "runtime/state.h"

struct rt_secrets_fs;

/*
 * Start spec (spec->secrets_fs: the tmpfs the caller filled; spec->name is set here to
 * the cgroup name of name under root) as container name: the state directory
 * root_fd/NAME is created (a stale one of a container that no longer runs is removed
 * first), a supervisor is forked (double fork: it is never our child, before or after an
 * agent restart) that keeps no fd of ours but the tmpfs, starts the container, records
 * its state, and then only reaps and serves the handle. Returns once the command has
 * been exec'd: *ret_c is an adopted handle (pidfd) without secrets. On failure, msg
 * (AGENTCORE_MSG_LEN) says why and nothing is left behind.
 * Returns 0, -EEXIST (a container of that name runs), or a negative errno.
 */
int ac_container_start(int root_fd, const char *root, const char *name, struct rt_spec *spec,
                       struct rt_container **ret_c, char *msg, size_t msg_len);

/*
 * Take back the running container name: read its state, adopt PID 1 (start time and
 * cgroup checked) and receive its secrets tmpfs from its supervisor. *ret_c owns both.
 * Returns 0, -ESRCH (not running: *ret_st tells how it ended when its supervisor
 * recorded it), -ENOENT (no such container), or a negative errno.
 */
int ac_container_adopt(int root_fd, const char *name, struct rt_container **ret_c,
                       struct rt_state *ret_st);

/*
 * After PID 1 of name exited: wait (up to 2 s) for its supervisor to record the exit,
 * fill *ret_st, remove the state directory and a leftover cgroup. Returns 0 or -errno
 * (*ret_st then has exited false).
 */
int ac_container_reap(int root_fd, const char *name, struct rt_state *ret_st);
