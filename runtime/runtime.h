/*
 * The container launcher: a spec describing one container and its lifecycle
 * (start, signal, wait, free). Used by secret-launch and by the node agent.
 *
 * rt_container_start() does, in this order (see runtime/container.c):
 *   parent: seccomp compile, MAC check, rootfs layer (overlay on a tmpfs, unless
 *           rootfs_writable), cgroup create + join fds, secrets tmpfs + files, one
 *           clone() with every namespace flag, uid/gid maps, release of the child;
 *   child:  join the cgroup (writes "0"), cgroup namespace, private propagation, rootfs
 *           layer (or bind), /run/secrets, /proc, MAC attr fd, /dev, /sys, --mount
 *           binds, masked and read-only paths, pivot_root + detach of the old root,
 *           read-only rootfs, hostname, lo up, cwd, MAC exec label, Landlock,
 *           groups/gid/uid, capabilities, no_new_privs, fds > 2 close-on-exec,
 *           seccomp, execve.
 * It returns once the command has been exec'd (or setup failed), so a failure of
 * any step is reported by rt_container_start() itself with a message.
 *
 * The container outlives its starter unless spec->pdeathsig asks for PR_SET_PDEATHSIG
 * SIGKILL (then it dies with the THREAD that called rt_container_start(): foreground
 * secret-launch asks for it). Every container has a secrets tmpfs, also with no
 * secrets; it grows on demand up to spec->secrets_max. With --userns, secret owners
 * are container ids; they are mapped to host ids here.
 *
 * x86_64 Linux >= 5.12 (open_tree, move_mount, mount_setattr, openat2, close_range).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/cgroup.h"

/* Docker's default PATH, used to find the command and set in its environment. */
#define RT_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define RT_DEFAULT_STOP_TIMEOUT_MS 10000u
/* Default --userns range: container ids 0..65535 are host ids 100000..165535. */
#define RT_DEFAULT_IDMAP_OUTSIDE 100000u
#define RT_DEFAULT_IDMAP_COUNT 65536u
#define RT_MAX_IDMAPS 5 /* what the kernel accepts without CAP_SYS_ADMIN games */
/* Default cap of a container's secrets tmpfs (--secrets-max-size). */
#define RT_SECRETS_DEFAULT_MAX ((size_t)16 << 20)

/* One line of /proc/PID/uid_map or gid_map. */
struct rt_idmap {
  uint32_t inside;
  uint32_t outside;
  uint32_t count;
};

/* --mount SRC:DST[:ro]: source is a host path, target a path inside the container. */
struct rt_mount {
  const char *source;
  const char *target;
  bool readonly;
};

/* One file of /run/secrets. data is only read (the caller owns and wipes it). */
struct rt_secret {
  const char *target; /* relative to /run/secrets, validated by rt_secret_target_valid */
  const void *data;
  size_t len;
  uid_t uid;
  gid_t gid;
  mode_t mode;
};

struct rt_spec {
  const char *rootfs;        /* host path of the root filesystem (required) */
  char *const *argv;         /* command, NULL-terminated, argv[0] required */
  char *const *env;          /* NULL-terminated K=V list (only --env); PATH added if absent */
  const char *cwd;           /* absolute container path; NULL = "/" */
  const char *hostname;      /* NULL = name */
  const char *name;          /* cgroup name "secretd/<name>" (a detached container's carries
                                its state root's tag: rt_state_cgroup_name); NULL =
                                "launch-<pid>"; also the default hostname */
  bool readonly_rootfs;
  bool rootfs_writable;      /* no layer of its own: the container writes into the directory
                                itself (seen by every other container on it; see
                                runtime/rootfs_layer.h) */
  uint64_t rootfs_size;      /* size of the container's own writable layer; 0 = default */
  bool init;                 /* minimal init as PID 1 (reaps, forwards signals) */
  bool userns;               /* new user namespace with uidmap/gidmap */
  bool cgroupns;
  const struct rt_idmap *uidmap; /* n == 0 with userns: 0:100000:65536 */
  size_t n_uidmap;
  const struct rt_idmap *gidmap;
  size_t n_gidmap;
  uid_t uid;                 /* --user, container ids */
  gid_t gid;
  uint64_t caps;             /* bit N = capability N (for uid 0; none for other uids) */
  const char *seccomp_profile; /* NULL = built-in default, "unconfined", or a JSON path */
  const void *seccomp_json;  /* a profile's CONTENT (Docker JSON); when not NULL it is used
                                instead of seccomp_profile and never touches a file */
  size_t seccomp_json_len;
  const char *apparmor;
  const char *selinux_label;
  const char *const *landlock_rw; /* container paths writable under Landlock */
  size_t n_landlock_rw;
  struct rt_limits limits;
  const struct rt_mount *mounts;
  size_t n_mounts;
  const struct rt_secret *secrets;
  size_t n_secrets;
  unsigned stop_timeout_ms;  /* used by callers' stop logic; 0 = default */
  bool pdeathsig;            /* PID 1 dies with the starting thread (SIGKILL) */
  size_t secrets_max;        /* cap of the growable secrets tmpfs; 0 = RT_SECRETS_DEFAULT_MAX */
  /* A secrets tmpfs the caller made and filled (rt_secrets_fs_new + put) BEFORE the start,
   * e.g. in the node agent that holds the values: borrowed, not consumed; the container
   * gets a read-only view of it (rt_secrets_fs_share) and secrets/n_secrets must be empty.
   * Its cap is the handle's own (rt_secrets_fs_set_max); secrets_max is ignored. */
  const struct rt_secrets_fs *secrets_fs;
};

/* A human message about a failed rt_container_start() step; never holds secret data. */
struct rt_error {
  char msg[320];
  int exec_errno; /* non-zero when the command itself could not be found/exec'd */
};

/* How the container ended. */
struct rt_exit {
  int code;        /* exit status when !signaled */
  int signal;      /* terminating signal, 0 if exited */
  bool oom_killed; /* the cgroup's OOM killer killed a process */
};

struct rt_container;
struct rt_secrets_fs;

/* Docker's default capability set as a mask. */
uint64_t rt_default_caps(void);

/* Whether target is a valid /run/secrets file name: relative, 1..255 bytes, no "..",
 * "." or empty component, no leading '/', no NUL (len includes no NUL). */
bool rt_secret_target_valid(const char *target);

/*
 * Start a container. On success *ret owns it (rt_container_free) and the command has
 * been exec'd. On failure *ret is untouched, everything created is removed and, if err
 * is not NULL, err->msg says which step failed. Returns 0, -EINVAL (bad spec),
 * -ENOENT (rootfs or command missing), -EACCES (command not executable), or the
 * negative errno of the step that failed. Not thread-safe (the caller serialises
 * starts); the process must not rely on any fd above 2 being inherited.
 */
int rt_container_start(const struct rt_spec *spec, struct rt_container **ret,
                       struct rt_error *err);

/* The container's PID 1 as seen from the caller's pid namespace. */
pid_t rt_container_pid(const struct rt_container *c);

/* A pidfd for the container's PID 1 (owned by c; poll it for exit). */
int rt_container_pidfd(const struct rt_container *c);

/* The writable handle on the container's /run/secrets (owned by c; NULL if none). */
struct rt_secrets_fs *rt_container_secrets(struct rt_container *c);

/* Send sig to the container's PID 1. Returns 0, -ESRCH once it has been reaped. */
int rt_container_kill(struct rt_container *c, int sig);

/*
 * Reap PID 1 and fill *ret_exit. block: wait; otherwise return -EAGAIN when still
 * running. Returns 0, -EAGAIN, -ECHILD (already reaped). After it returns 0 the
 * cgroup is removed (any leftover process killed).
 */
int rt_container_wait(struct rt_container *c, bool block, struct rt_exit *ret_exit);

/* Kill (SIGKILL) a still running container, reap it, remove its cgroup, free. NULL ok.
 * For an adopted container: rt_container_detach (it is not ours to kill). */
void rt_container_free(struct rt_container *c);

/*
 * Foreground supervision: until PID 1 exits, forward every signal read from
 * signal_fd (a signalfd of the caller; -1 for none) to PID 1; after SIGTERM or SIGINT,
 * SIGKILL follows stop_timeout_ms later (*ret_timed_out, may be NULL, tells). Then reap
 * and fill *ret_exit (may be NULL) as rt_container_wait. Returns 0, -ECHILD (adopted or
 * already reaped) or a negative errno.
 */
int rt_container_run(struct rt_container *c, int signal_fd, unsigned stop_timeout_ms,
                     struct rt_exit *ret_exit, bool *ret_timed_out);

/* Let go of the container without stopping it: free the handle, close its pidfd and
 * secrets handle; the container and its cgroup stay. NULL ok. */
void rt_container_detach(struct rt_container *c);

/* Whether PID 1 has exited (pidfd readable); never blocks. */
bool rt_container_exited(const struct rt_container *c);

/*
 * Stop: send sig (0 = SIGTERM) to PID 1, wait up to timeout_ms for it to exit, then
 * SIGKILL and wait (up to 10 s). *ret_killed (may be NULL): whether SIGKILL was needed.
 * Works for children and adopted containers; a child is not reaped here (call
 * rt_container_wait). Returns 0 once PID 1 has exited, -ETIMEDOUT, or a negative errno.
 */
int rt_container_stop(struct rt_container *c, unsigned timeout_ms, int sig, bool *ret_killed);

/*
 * Take back a running container that another process started: pidfd_open(pid), then
 * check that the process's start time (/proc/PID/stat field 22) is start_time and that
 * it is in cgroup (e.g. "secretd/NAME"), then that the pidfd is still alive, so a pid
 * reused by another process is never adopted. *ret: an adopted handle (kill, stop,
 * exited, pidfd; wait gives -ECHILD; free detaches). Returns 0, -ESRCH (gone or not
 * that process), -EINVAL, -ENOMEM or a negative errno.
 */
int rt_container_adopt(pid_t pid, uint64_t start_time, const char *cgroup,
                       struct rt_container **ret);

/* Give an (adopted) container the handle on its secrets tmpfs; c owns fs (freed with c,
 * replacing any previous one). */
void rt_container_set_secrets(struct rt_container *c, struct rt_secrets_fs *fs);

/*
 * Start without blocking the caller (an event loop): a worker thread runs
 * rt_container_start(); *ret_job owns the job. rt_start_job_fd() is an eventfd that
 * becomes readable once the start finished; then rt_start_job_finish() joins the thread
 * and hands out the result exactly as rt_container_start() would (and frees the job).
 * spec and everything it points to must stay valid until then. spec->pdeathsig is
 * refused (-EINVAL): the worker thread exits after the start, which would kill PID 1.
 * Returns 0, -EINVAL, -ENOMEM, or the negative errno of eventfd/pthread_create.
 */
struct rt_start_job;
int rt_container_start_async(const struct rt_spec *spec, struct rt_start_job **ret_job);
int rt_start_job_fd(const struct rt_start_job *job);
int rt_start_job_finish(struct rt_start_job *job, struct rt_container **ret, struct rt_error *err);

/*
 * Protection against the /proc/self/exe class of attacks (CVE-2019-5736): if the
 * running binary is not on a read-only mount, re-exec it from a detached read-only
 * bind mount of itself (open_tree + mount_setattr + execveat), so that no process can
 * ever open the launcher's image for writing through /proc/PID/exe. Call first thing
 * in main(). Returns 0 when already protected or when protection is impossible
 * (no privilege: *ret_protected false); does not return on success of the re-exec.
 */
int rt_exe_protect(char **argv, char **envp, bool *ret_protected);
