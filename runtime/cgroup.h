/*
 * cgroup limits for one container, on cgroup v1 and v2 (and hybrid hosts).
 *
 * Each controller (memory, cpu, pids) is used on cgroup v2 where a v2 hierarchy
 * (/sys/fs/cgroup itself, or /sys/fs/cgroup/unified on hybrid hosts) offers it in
 * cgroup.controllers and it can be enabled in the parents' cgroup.subtree_control;
 * otherwise on its v1 hierarchy /sys/fs/cgroup/<controller>. Devices are always
 * restricted to Docker's allow-list: with the v1 devices controller when mounted,
 * else with a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the v2 cgroup.
 *
 * Every group is named "secretd/<name>" below the hierarchy's root. Parent side only;
 * not thread-safe for one handle (distinct handles may be used from distinct threads,
 * but rt_cgroup_last_error() is per thread).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct rt_limits {
  int64_t memory_bytes;   /* 0 = unlimited */
  int64_t cpu_quota_us;   /* 0 = unlimited; --cpus 1.5 => quota 150000, period 100000 */
  int64_t cpu_period_us;
  int64_t pids_max;       /* 0 = unlimited */
};

struct rt_cgroup;

/*
 * Create cgroup "secretd/<name>" on every controller needed: memory, cpu, pids on
 * cgroup v2 where /sys/fs/cgroup(/unified) cgroup.controllers offers it, else on v1;
 * devices always (v1 devices controller, or a v2 BPF_PROG_TYPE_CGROUP_DEVICE program)
 * with Docker's allow-list. A limit that cannot be applied is an error (never silently
 * skipped). Parent side, before the child runs.
 * name: 1..80 characters of [A-Za-z0-9_.-], not "." or "..". lim: NULL = no limits.
 * On success *ret owns the handle (rt_cgroup_destroy). On failure every directory
 * created is removed again and *ret is untouched.
 * Returns 0, -EINVAL (bad name or negative/incoherent limit), -EEXIST (a group of that
 * name exists), -ENOMEM, -EOPNOTSUPP (a needed controller is mounted nowhere), or the
 * negative errno of the write that failed; rt_cgroup_last_error() names the file.
 */
int  rt_cgroup_create(const char *name, const struct rt_limits *lim, struct rt_cgroup **ret);

/* Parent, while the child waits: move pid into every group of cg.
 * Returns 0 or the negative errno of the failed cgroup.procs write. */
int  rt_cgroup_attach(struct rt_cgroup *cg, pid_t pid);

/*
 * Faster alternative to rt_cgroup_attach for a freshly cloned, single-threaded child.
 * Moving another process into a group takes the kernel's global cgroup_threadgroup_rwsem
 * for writing, which waits for an RCU grace period (10-30 ms on an idle host); a
 * single-threaded process writing "0" to a v1 "tasks" file moves itself without that
 * lock (~0.03 ms). v2 groups are joined through cgroup.procs (the lock is taken there).
 *
 * Parent, before clone(): rt_cgroup_prepare_join opens the groups' files (O_CLOEXEC);
 * the permission check uses the opener's (the parent's) credentials, so this also works
 * from a child in a new user namespace. Returns 0 or a negative errno (message in
 * rt_cgroup_last_error()).
 * Child, before it runs anything that must be limited: rt_cgroup_join_self writes "0"
 * to each prepared file and closes the child's copies. Async-signal-safe, no allocation,
 * does not touch rt_cgroup_last_error. Returns 0 or the negative errno of the failed
 * write (the child should then fail its setup).
 * Parent, once the child has joined (or failed): rt_cgroup_join_close closes the
 * parent's copies (rt_cgroup_destroy does too). NULL ok.
 */
int  rt_cgroup_prepare_join(struct rt_cgroup *cg);
int  rt_cgroup_join_self(struct rt_cgroup *cg);
void rt_cgroup_join_close(struct rt_cgroup *cg);

/* After the container exited: true when the kernel's OOM killer killed a process of
 * the group (v2 memory.events oom_kill, v1 memory.oom_control oom_kill). NULL: false. */
bool rt_cgroup_oom_killed(struct rt_cgroup *cg);

/* SIGKILL every process left in the groups (cgroup.kill on v2, else cgroup.procs),
 * wait up to ~1 s for them to go, rmdir every group (which also drops the device
 * program), free cg. The shared "secretd" parents stay (removing them would race with
 * concurrent creates). NULL ok. Returns 0, or the first negative errno (cg is freed
 * regardless). */
int  rt_cgroup_destroy(struct rt_cgroup *cg);

/* Release the handle without touching the groups (a detached container keeps its
 * group; rt_cgroup_remove_name removes it later). NULL ok. */
void rt_cgroup_forget(struct rt_cgroup *cg);

/*
 * Remove the group secretd/<name> wherever it exists (every hierarchy), first killing
 * what is left in it when kill_first. Returns how many directories existed (0: none),
 * -EBUSY (processes left: not removed), -EINVAL (bad name) or another negative errno.
 */
int rt_cgroup_remove_name(const char *name, bool kill_first);

/*
 * Sweep empty groups secretd/launch-<pid>-<nonce> whose launcher <pid> is gone (left by
 * a launcher killed with SIGKILL). Non-empty groups and groups of live launchers are
 * kept (rmdir refuses a group with processes). Returns how many were removed.
 */
int rt_cgroup_sweep_stale(void);

/* Static, per-thread text describing the last failure of this module (names the
 * cgroup file or step); "" when none. Never contains secret data. */
const char *rt_cgroup_last_error(void);

/* Path of the group for controller ("memory", "cpu", "pids", "devices") copied into
 * buf, and whether it is on v2 in *ret_v2 (may be NULL). For tests and diagnostics.
 * Returns 0, -ENOENT (controller not used by cg), -ENAMETOOLONG. */
int  rt_cgroup_path(const struct rt_cgroup *cg, const char *controller, char *buf, size_t len,
                    bool *ret_v2);
