/*
 * One container launch spec, shared by secret-launch, the manager (secretd: services)
 * and the node agent: the launcher's options parsed and validated into a struct with
 * one set of rules and messages, and its msgpack form for the store and the wire.
 *
 * No system calls: options are only parsed (a --seccomp-profile PATH is recorded, the
 * caller reads the file; its CONTENT is what travels and is compiled here in memory
 * with libseccomp to validate it), capability names are checked against libcap's
 * table, and the host's bounding set is an argument of launch_spec_caps().
 *
 * Messages are those of secret-launch ("--memory: expected a size such as 64m or 1g,
 * got \"x\""), written into a caller's buffer of LAUNCH_SPEC_ERRLEN bytes; they never
 * hold secret data (a spec holds none). Library code: never logs, never exits.
 * Thread-safe for distinct specs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "runtime/runtime.h" /* struct rt_idmap, RT_MAX_IDMAPS, the default --userns range */

#define LAUNCH_SPEC_ERRLEN 320
#define LAUNCH_SPEC_MAX_ITEMS 64        /* --env, --mount, --cap-add, --cap-drop each */
#define LAUNCH_SPEC_MAX_ARGV 256        /* command and its arguments */
#define LAUNCH_SPEC_STR_MAX 4096        /* any one string (path, K=V, argument) */
#define LAUNCH_SPEC_SECCOMP_MAX (256u << 10) /* a seccomp profile's JSON */
/* Largest encoded spec the decoder accepts (all the above fit). */
#define LAUNCH_SPEC_ENCODED_MAX ((size_t)2 << 20)
#define LAUNCH_SPEC_STOP_TIMEOUT_DEFAULT 10u
#define LAUNCH_SPEC_STOP_TIMEOUT_MAX 86400u
#define LAUNCH_SPEC_CPU_PERIOD_US 100000

enum launch_restart {
  LAUNCH_RESTART_NO,
  LAUNCH_RESTART_ON_FAILURE,
  LAUNCH_RESTART_ALWAYS,
};

/* The options of the shared set; secret-launch's own options (--name, --secret,
 * --detach, --cgroupns, ...) stay in launch_main.c. */
enum launch_opt {
  LAUNCH_OPT_ROOTFS,
  LAUNCH_OPT_MOUNT,
  LAUNCH_OPT_MEMORY,
  LAUNCH_OPT_CPUS,
  LAUNCH_OPT_PIDS_LIMIT,
  LAUNCH_OPT_CAP_ADD,
  LAUNCH_OPT_CAP_DROP,
  LAUNCH_OPT_SECCOMP_PROFILE,
  LAUNCH_OPT_USER,
  LAUNCH_OPT_READ_ONLY,
  LAUNCH_OPT_ENV,
  LAUNCH_OPT_HOSTNAME,
  LAUNCH_OPT_WORKDIR,
  LAUNCH_OPT_INIT,
  LAUNCH_OPT_STOP_TIMEOUT,
  LAUNCH_OPT_RESTART,
  LAUNCH_OPT_USERNS, /* a flag */
  LAUNCH_OPT_UIDMAP, /* CONTAINER:HOST:COUNT, up to RT_MAX_IDMAPS; implies --userns */
  LAUNCH_OPT_GIDMAP,
  LAUNCH_OPT__COUNT,
};

struct launch_mount {
  char *source; /* a path on the node */
  char *target; /* absolute container path */
  bool readonly;
};

/* Every pointer is owned by the spec (launch_spec_clear frees). */
struct launch_spec {
  char *rootfs;   /* a directory on the node; required */
  char *hostname; /* NULL: the launcher's default */
  char *workdir;  /* NULL: "/" */
  char *env[LAUNCH_SPEC_MAX_ITEMS];
  size_t n_env;
  struct launch_mount mounts[LAUNCH_SPEC_MAX_ITEMS];
  size_t n_mounts;
  char *cap_add[LAUNCH_SPEC_MAX_ITEMS], *cap_drop[LAUNCH_SPEC_MAX_ITEMS];
  size_t n_cap_add, n_cap_drop;
  uint32_t uid, gid; /* --user, container ids; 0:0 by default */
  /* --userns: a user namespace of its own. Its maps (--uidmap/--gidmap) are container
   * ranges onto host ranges; none given = 0:RT_DEFAULT_IDMAP_OUTSIDE:RT_DEFAULT_IDMAP_COUNT.
   * Every id of the spec and of its secrets' owners is a container id. */
  bool userns;
  struct rt_idmap uidmap[RT_MAX_IDMAPS], gidmap[RT_MAX_IDMAPS];
  size_t n_uidmap, n_gidmap;
  bool read_only, init;
  int64_t memory_bytes; /* 0 = unlimited */
  int64_t cpu_quota_us; /* per LAUNCH_SPEC_CPU_PERIOD_US; 0 = unlimited */
  int64_t pids_max;     /* 0 = unlimited */
  unsigned stop_timeout_s;
  enum launch_restart restart;
  /* --seccomp-profile: NULL/unset = the built-in default; "unconfined"; or a profile.
   * seccomp_path is only what the user typed (a local path, never encoded);
   * seccomp_json is the content that travels (launch_spec_set_seccomp). */
  char *seccomp_path;
  bool seccomp_unconfined;
  uint8_t *seccomp_json;
  size_t seccomp_len;
  char **argv; /* NULL-terminated; argc entries */
  size_t argc;
};

/* Defaults: everything empty, stop timeout 10 s, restart "no". */
void launch_spec_init(struct launch_spec *s);
/* Free everything the spec owns and re-init it. NULL ok. */
void launch_spec_clear(struct launch_spec *s);

/* The option named name (without "--", e.g. "pids-limit"); -ENOENT if not shared. */
int launch_spec_option_lookup(const char *name);
/* Its name without "--"; NULL when out of range. */
const char *launch_spec_option_name(enum launch_opt opt);
/* Whether the option takes a value (all but --read-only, --init and --userns). */
bool launch_spec_option_has_arg(enum launch_opt opt);

/*
 * Apply one option with its value (NULL for flags) to s, with secret-launch's rules.
 * A later --rootfs/--hostname/... replaces the earlier; --env, --mount, --cap-add,
 * --cap-drop accumulate (at most LAUNCH_SPEC_MAX_ITEMS each); --uidmap and --gidmap
 * accumulate (at most RT_MAX_IDMAPS each: "at most 5 --uidmap/--gidmap ranges") and
 * turn --userns on. Whether the maps fit together (no overlap, container id 0 and the
 * --user ids mapped) depends on the other options: launch_spec_validate() checks it.
 * Returns 0, -EINVAL (err says why, in secret-launch's words), -ENOMEM.
 */
int launch_spec_apply(struct launch_spec *s, enum launch_opt opt, const char *value,
                      char err[LAUNCH_SPEC_ERRLEN]);

/* Take argv[0..argc) as the command (copied). -EINVAL when argc is 0 or too many or
 * too long arguments ("no command given (<usage>)"), -ENOMEM. */
int launch_spec_set_command(struct launch_spec *s, int argc, char *const *argv,
                            const char *usage, char err[LAUNCH_SPEC_ERRLEN]);

/* Set the seccomp profile's content (copied) after checking that it compiles for the
 * spec's capability set as far as it can be known here (ALL = every capability).
 * Returns 0, -EINVAL (err: "seccomp profile: <why>"), -E2BIG, -ENOMEM. */
int launch_spec_set_seccomp(struct launch_spec *s, const void *json, size_t len,
                            char err[LAUNCH_SPEC_ERRLEN]);

/*
 * Check a whole spec, e.g. one decoded from the wire: every field against the rules
 * launch_spec_apply() enforces (same messages), rootfs and command present, the
 * seccomp content compiles, and with --userns the runtime's rules for the maps
 * ("invalid --uidmap/--gidmap (1..5 non-overlapping ranges)", "--uidmap/--gidmap must
 * map container id 0 and the --user ids"; maps without --userns are refused).
 * Returns 0 or -EINVAL with err filled.
 */
int launch_spec_validate(const struct launch_spec *s, char err[LAUNCH_SPEC_ERRLEN]);

/*
 * The host ids that own a file whose owner inside the container is uid:gid (container
 * ids): the same ids without --userns, else what the spec's maps (or the default
 * range) make of them. *ret_uid and *ret_gid are set on success only. Returns 0, or
 * -ERANGE when either id is not mapped (err: "owner U:G is not mapped in the user
 * namespace"). No system calls; the spec is only read.
 */
int launch_spec_host_owner(const struct launch_spec *s, uint32_t uid, uint32_t gid,
                           uint32_t *ret_uid, uint32_t *ret_gid, char err[LAUNCH_SPEC_ERRLEN]);

/*
 * The capability mask of the container: Docker's default set, then the drops, then the
 * adds (Docker's order); "ALL" means host_bounding. An add outside host_bounding is
 * refused ("--cap-add: X is not in the host's bounding set"). Returns 0 or -EINVAL.
 */
int launch_spec_caps(const struct launch_spec *s, uint64_t host_bounding, uint64_t *ret_caps,
                     char err[LAUNCH_SPEC_ERRLEN]);

struct rt_spec;
struct rt_mount;
/*
 * Fill the fields of the runtime's spec (runtime/runtime.h) that the shared options
 * describe: rootfs, hostname, cwd, env, mounts, uid/gid, userns and its maps
 * (pointers into s; none = the runtime's default range), read-only rootfs, init,
 * limits, seccomp_profile ("unconfined", or the local path as typed, NULL when the
 * profile is only known by its content), seccomp_json/seccomp_json_len (the content,
 * which the runtime compiles from memory and prefers over the path) and
 * stop_timeout_ms. Capabilities are launch_spec_caps()'s (they need the host's
 * bounding set). env needs room for LAUNCH_SPEC_MAX_ITEMS + 1 pointers, mounts for
 * LAUNCH_SPEC_MAX_ITEMS; rt then points into s, env and mounts. Other fields of rt
 * are left as they are.
 */
void launch_spec_fill_rt(const struct launch_spec *s, struct rt_spec *rt, char **env,
                         struct rt_mount *mounts);

/* "64m", "1g", "512k", "1048576" (1024-based, as Docker). Returns 0 or -EINVAL. */
int launch_spec_parse_size(const char *s, int64_t *ret);

/* "no", "on-failure", "always". */
const char *launch_restart_name(enum launch_restart r);

/*
 * msgpack form (launch_spec_codec.c): a map with string keys, defaults omitted,
 * seccomp_path never included. Appends to sb. Returns 0 or -ENOMEM.
 */
int launch_spec_encode(const struct launch_spec *s, msgpack_sbuffer *sb);
/*
 * Strict decoder: exactly one map of known keys (no duplicates), each of its type
 * and within the bounds above, then launch_spec_validate(). On success *ret (which
 * must be launch_spec_init'ed, and is cleared first) owns the result; on failure it
 * is left empty. Returns 0, -EBADMSG (err says which field), -EINVAL (a rule,
 * err says which), -E2BIG (len above LAUNCH_SPEC_ENCODED_MAX), -ENOMEM.
 */
int launch_spec_decode(const void *data, size_t len, struct launch_spec *ret,
                       char err[LAUNCH_SPEC_ERRLEN]);
