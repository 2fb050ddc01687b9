/*
 * Internal to the seccomp module (runtime/seccomp*.c and the build-time generator):
 * turning rules into a libseccomp filter with runc's semantics, and reading Docker's
 * JSON profile format (moby/profiles "seccomp" types) with json-c.
 *
 * Semantics followed (Docker = moby/profiles setupSeccomp, runc = libcontainer/seccomp):
 *  - a rule whose action equals the default action is skipped (runc);
 *  - a syscall name libseccomp cannot resolve is skipped, not an error (runc);
 *  - conditions on distinct arguments are ANDed in one rule; when two conditions name
 *    the same argument, each becomes a rule of its own (ORed), as runc does;
 *  - SCMP_CMP_MASKED_EQ uses value as the mask and valueTwo as the datum;
 *  - ERRNO and TRACE without errnoRet mean EPERM; errnoRet is taken modulo 2^16 (runc)
 *    and then clamped to 4094, the largest errno libseccomp accepts;
 *  - includes/excludes: arches compare with Go's GOARCH of this host ("amd64"), caps
 *    with the container's capability (bounding) set, minKernel with uname's release.
 */
#pragma once

#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>

/* Size of the buffer that receives error text. */
#define RT_SCMP_ERRLEN 256

struct rt_scmp_cond {
  unsigned index;          /* argument 0..5 */
  enum scmp_compare op;
  uint64_t value;          /* datum, or the mask for SCMP_CMP_MASKED_EQ */
  uint64_t value_two;      /* datum for SCMP_CMP_MASKED_EQ */
};

/*
 * Add one syscall rule with runc's matchCall() semantics (see above). Returns 0 (also
 * when the rule was skipped) or a negative errno from libseccomp.
 */
int rt_scmp_add(scmp_filter_ctx ctx, uint32_t def_action, const char *name, uint32_t action,
                const struct rt_scmp_cond *conds, size_t n);

/*
 * Ask libseccomp for a binary-tree filter (SCMP_FLTATR_CTL_OPTIMIZE 2) instead of a linear
 * list: same decisions, but the kernel loads Docker's default in ~0.3 ms instead of
 * ~0.9 ms (it evaluates the filter for every syscall number to fill its action cache),
 * and each syscall walks O(log n) instructions. Best effort.
 */
void rt_scmp_optimize(scmp_filter_ctx ctx);

/*
 * Add the sub-architectures Docker's archMap lists for this host's native architecture
 * (x86_64: x86 and x32). Returns 0 or a negative errno.
 */
int rt_scmp_add_native_arches(scmp_filter_ctx ctx);

/* Capability number for a name such as "CAP_SYS_ADMIN" (case-insensitive), or -1. */
int rt_scmp_cap_from_name(const char *name);

/* Go's GOARCH for this host ("amd64" on x86_64). */
const char *rt_scmp_goarch(void);

/* Host kernel version as major * 256 + minor, from uname(2); 0 when unknown. */
unsigned rt_scmp_kernel_version(void);

/*
 * Export ctx as a classic BPF program (seccomp_export_bpf through a memfd). On success
 * *ret owns malloc'ed instructions (struct sock_filter) and *ret_len is their count.
 * Returns 0, -ENOMEM, -E2BIG (longer than BPF_MAXINSNS) or another negative errno.
 */
int rt_scmp_export(scmp_filter_ctx ctx, void **ret, size_t *ret_len);

/*
 * Build a libseccomp filter from a Docker JSON profile held in memory (json, len bytes,
 * need not be NUL-terminated) for the given capability mask. On success *ret_ctx owns a
 * context (seccomp_release) or is NULL when the profile means "no filter" (Docker: no
 * defaultAction and no syscalls), and *ret_flags holds SECCOMP_FILTER_FLAG_* values from
 * the profile's "flags". On failure err holds a human message. Returns 0, -EINVAL
 * (malformed profile), -EOPNOTSUPP (SCMP_ACT_NOTIFY, listenerPath, unknown flag),
 * -ENOMEM.
 */
int rt_seccomp_profile_build(const char *json, size_t len, uint64_t caps,
                             scmp_filter_ctx *ret_ctx, unsigned *ret_flags,
                             char err[RT_SCMP_ERRLEN]);
