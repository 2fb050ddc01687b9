#!/bin/bash
# Integration: Docker-format profiles given with --seccomp-profile: Docker's own files,
# a custom profile that denies mkdir, and clear errors for bad profiles.
# usage: seccomp_profiles.sh SECRET_LAUNCH PROBE MKROOTFS PEERS_DIR
set -euo pipefail
L=$1 PROBE=$2 MK=$3 PEERS=$4
T=$(mktemp -d /tmp/seccomp-profiles.XXXXXX)
trap 'rm -rf "$T"' EXIT
sh "$MK" "$T/rootfs" >/dev/null
cp "$PROBE" "$T/rootfs/bin/seccomp-probe"

fail() { echo "FAIL: $*" >&2; exit 1; }
run() { timeout 30 "$L" --rootfs "$T/rootfs" "$@"; }
expect() {
  grep -qx "$2 $3" <<<"$1" || fail "$2: expected $3, got '$(grep "^$2 " <<<"$1" || true)'"
}

# 1. Docker's default profile file (Docker 20.10, from Debian's golang-github-docker-docker-dev).
out=$(run --seccomp-profile "$PEERS/docker-seccomp-default.json" -- /bin/seccomp-probe all) \
  || fail "Docker's default profile refused"
for c in mount umount2 unshare setns keyctl add_key bpf perf_event_open open_by_handle_at \
         nr1000 x32_mount int80_setns int80_unshare; do
  expect "$out" $c EPERM
done
expect "$out" clone3 ENOSYS
grep -qx $'Seccomp:\t2' <<<"$out" || fail "Docker profile: Seccomp status is not 2"
echo "ok: Docker's default profile accepted and enforced"

# 2. Docker's old-format fixture (single "name", "architectures").
out=$(run --seccomp-profile "$PEERS/docker-seccomp-fixture-default-old-format.json" -- \
      /bin/seccomp-probe setns int80_setns seccomp) || fail "old-format profile refused"
expect "$out" setns EPERM
expect "$out" int80_setns EPERM
grep -qx $'Seccomp:\t2' <<<"$out" || fail "old format: Seccomp status is not 2"
echo "ok: old-format profile accepted and enforced"

# 2b. Podman's default profile (golang-github-containers-common): default action
#     ERRNO(ENOSYS), explicit EPERM for kexec_load.
out=$(run --seccomp-profile "$PEERS/podman-seccomp.json" -- \
      /bin/seccomp-probe add_key kexec_load nr1000 int80_getpid seccomp) \
  || fail "Podman's profile refused"
expect "$out" add_key ENOSYS
expect "$out" nr1000 ENOSYS
expect "$out" kexec_load EPERM
expect "$out" int80_getpid ok
grep -qx $'Seccomp:\t2' <<<"$out" || fail "Podman profile: Seccomp status is not 2"
echo "ok: Podman's profile accepted and enforced"

# 3. A custom profile that denies mkdir/mkdirat with ENOSPC; everything else allowed.
cat > "$T/deny-mkdir.json" <<'J'
{
  "defaultAction": "SCMP_ACT_ALLOW",
  "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  "syscalls": [
    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28}
  ]
}
J
out=$(run --seccomp-profile "$T/deny-mkdir.json" -- /bin/seccomp-probe mkdir:/tmp/d write:/tmp/f setns seccomp) \
  || fail "custom profile refused"
expect "$out" mkdir ENOSPC
expect "$out" write ok
expect "$out" setns EBADF
grep -qx $'Seccomp:\t2' <<<"$out" || fail "custom: Seccomp status is not 2"
if run --seccomp-profile "$T/deny-mkdir.json" -- /bin/mkdir /tmp/d 2>/dev/null; then
  fail "busybox mkdir succeeded under a profile that denies mkdir"
fi
out=$(run -- /bin/seccomp-probe mkdir:/tmp/d) || fail "probe failed"
expect "$out" mkdir ok
echo "ok: custom profile denying mkdir is enforced"

# 4. Bad profiles: exit 125 and one clear line.
bad() {  # bad FILE NEEDLE
  local rc=0 err
  err=$(run --seccomp-profile "$1" -- /bin/true 2>&1 >/dev/null) || rc=$?
  [ $rc -eq 125 ] || fail "profile $1: exit $rc, expected 125"
  grep -q -- "$2" <<<"$err" || fail "profile $1: message '$err' lacks '$2'"
}
printf '{"defaultAction": ' > "$T/trunc.json"
bad "$T/trunc.json" "malformed JSON"
printf '{"defaultAction":"SCMP_ACT_MAYBE"}' > "$T/act.json"
bad "$T/act.json" 'unknown action "SCMP_ACT_MAYBE"'
printf '{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["kill"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_ABOUT"}]}]}' > "$T/op.json"
bad "$T/op.json" 'unknown operator'
printf '{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_NOTIFY"}]}' > "$T/notify.json"
bad "$T/notify.json" 'SCMP_ACT_NOTIFY'
bad "$T/missing.json" 'No such file'
echo "ok: bad profiles refused with exit 125 and a clear message"
