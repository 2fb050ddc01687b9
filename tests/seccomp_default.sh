#!/bin/bash
# Integration: the built-in default seccomp filter, checked from inside real containers
# started by secret-launch, with the static probe copied into a busybox rootfs.
# usage: seccomp_default.sh SECRET_LAUNCH PROBE MKROOTFS PEERS_DIR
set -euo pipefail
L=$1 PROBE=$2 MK=$3
T=$(mktemp -d /tmp/seccomp-default.XXXXXX)
trap 'rm -rf "$T"' EXIT
sh "$MK" "$T/rootfs" >/dev/null
cp "$PROBE" "$T/rootfs/bin/seccomp-probe"

fail() { echo "FAIL: $*" >&2; exit 1; }
run() { timeout 30 "$L" --rootfs "$T/rootfs" "$@"; }
# expect OUTPUT CHECK RESULT: the probe printed "CHECK RESULT"
expect() {
  grep -qx "$2 $3" <<<"$1" || fail "$2: expected $3, got '$(grep "^$2 " <<<"$1" || true)'"
}

# 1. Default filter: everything Docker denies fails with EPERM (64-bit, x32 and int $0x80),
#    clone3 with ENOSYS; Seccomp: 2.
out=$(run -- /bin/seccomp-probe all) || fail "probe under the default filter exited $?"
for c in mount umount2 unshare setns keyctl add_key bpf perf_event_open open_by_handle_at \
         kexec_load syslog nr1000 clone_newuser personality_set x32_mount int80_setns \
         int80_unshare int80_mount; do
  expect "$out" $c EPERM
done
expect "$out" clone3 ENOSYS
expect "$out" personality ok
expect "$out" int80_getpid ok
grep -qx $'Seccomp:\t2' <<<"$out" || fail "Seccomp status is not 2"
echo "ok: default filter denies with EPERM, clone3 ENOSYS, Seccomp 2"

# 2. Normal work succeeds.
out=$(run -- /bin/sh -c 'echo hello > /tmp/f && cat /tmp/f && ls / | grep -qx bin && echo done') \
  || fail "normal work failed under the default filter"
[ "$out" = $'hello\ndone' ] || fail "normal work printed '$out'"
echo "ok: echo, cat, ls work"

# 3. Unconfined: the same calls now reach the kernel, which answers differently, so the
#    EPERMs above came from the filter.
out=$(run --seccomp-profile unconfined -- /bin/seccomp-probe all) || fail "unconfined probe failed"
expect "$out" setns EBADF
expect "$out" unshare EINVAL
expect "$out" nr1000 ENOSYS
expect "$out" clone3 EINVAL
expect "$out" int80_setns EBADF
expect "$out" int80_unshare EINVAL
expect "$out" personality_set ok
grep -qx $'Seccomp:\t0' <<<"$out" || fail "unconfined: Seccomp status is not 0"
echo "ok: --seccomp-profile unconfined removes the filter"

# 4. Docker's includes by capability: with CAP_SYS_ADMIN the mount family is allowed.
out=$(run --cap-add SYS_ADMIN -- /bin/seccomp-probe mount unshare setns keyctl seccomp) \
  || fail "probe with --cap-add SYS_ADMIN failed"
expect "$out" mount ENOENT
expect "$out" unshare EINVAL
expect "$out" setns EBADF
expect "$out" keyctl EPERM
grep -qx $'Seccomp:\t2' <<<"$out" || fail "cap-add: Seccomp status is not 2"
echo "ok: --cap-add SYS_ADMIN allows the mount family as Docker does"

# 5. Another capability set (compiled, then cached) still filters.
for i in 1 2; do
  out=$(run --cap-drop ALL -- /bin/seccomp-probe mount setns nr1000 seccomp) \
    || fail "probe with --cap-drop ALL failed"
  expect "$out" setns EPERM
  expect "$out" nr1000 EPERM
  grep -qx $'Seccomp:\t2' <<<"$out" || fail "cap-drop: Seccomp status is not 2"
done
echo "ok: --cap-drop ALL filter (compiled, then from the cache)"
