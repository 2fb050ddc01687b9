/*
 * seccomp for secret-launch: compile a filter in the parent (built-in default or a
 * Docker-format JSON profile), load it in the child as the very last step before execve.
 *
 * The built-in default (profile NULL) is an allow-list derived from Docker's default
 * profile (see runtime/seccomp_default.c and docs/seccomp.md); for Docker's default
 * capability set its BPF is precompiled at build time, so compiling it costs no
 * libseccomp work. Other (profile, caps) pairs are cached on disk in
 * RT_SECCOMP_CACHE_DIR when that directory can be made root-only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_SECCOMP_CACHE_DIR "/var/cache/secretd/seccomp"

struct rt_seccomp;                          /* a compiled BPF filter, ready to load */

/*
 * profile: NULL = built-in default allow-list; a path = Docker JSON profile. "unconfined"
 * is handled by the caller (no filter at all). caps = the container's capability mask
 * (bit N = CAP number N), used for Docker's includes/excludes by capability. Called in the
 * parent before clone; may use a cache. On success *ret owns a filter freed with
 * rt_seccomp_free(); *ret is untouched on failure.
 * Returns 0, -ENOENT, -EINVAL (with a message via rt_seccomp_last_error()), -ENOMEM,
 * -EOPNOTSUPP (SCMP_ACT_NOTIFY, listenerPath or an unsupported flag; with a message), or
 * another negative errno from reading the profile (also with a message).
 * Note: as in Docker, a profile with neither defaultAction nor syscalls yields an empty
 * filter (rt_seccomp_is_empty() true) that rt_seccomp_load() does not install.
 */
int  rt_seccomp_compile(const char *profile, uint64_t caps, struct rt_seccomp **ret);

/*
 * As rt_seccomp_compile for a Docker JSON profile given by its CONTENT (json, len bytes,
 * need not be NUL-terminated; at most 4 MiB), e.g. one that travelled in a launch spec:
 * the profile is never written to or read from a file, and not cached on disk either
 * (the cache's key holds the profile's bytes): it is compiled each time. Returns 0, -EINVAL, -ENOMEM, -EOPNOTSUPP (with a message
 * via rt_seccomp_last_error()).
 */
int  rt_seccomp_compile_json(const void *json, size_t len, uint64_t caps, struct rt_seccomp **ret);

/*
 * Called in the child as the very last step before execve (after no_new_privs and the
 * capability drop). Does not allocate. Returns 0 or negative errno (-EACCES when
 * no_new_privs is not set and the caller lacks CAP_SYS_ADMIN, -EINVAL on a bad filter).
 */
int  rt_seccomp_load(const struct rt_seccomp *f);

void rt_seccomp_free(struct rt_seccomp *f);  /* NULL ok */

/* Static text describing the last compile error (thread-local; "" when none). */
const char *rt_seccomp_last_error(void);

/* --- additions beyond the shared contract --- */

/* Where the compiled filter came from, for tests and benchmarks. */
enum rt_seccomp_source {
  RT_SECCOMP_SRC_PRECOMPILED,  /* built-in default, BPF generated at build time */
  RT_SECCOMP_SRC_CACHE,        /* read from the on-disk cache */
  RT_SECCOMP_SRC_COMPILED,     /* compiled with libseccomp now */
};
enum rt_seccomp_source rt_seccomp_source(const struct rt_seccomp *f);

/* The BPF program: number of instructions and a pointer to them (owned by f). */
size_t rt_seccomp_bpf(const struct rt_seccomp *f, const void **ret_insns);

/* True when the filter is empty (Docker's "no defaultAction and no syscalls"). */
bool rt_seccomp_is_empty(const struct rt_seccomp *f);

/*
 * Override the cache directory (tests); NULL restores RT_SECCOMP_CACHE_DIR, "" disables
 * the cache. The string must outlive its use. Not thread-safe.
 */
void rt_seccomp_set_cache_dir(const char *dir);
