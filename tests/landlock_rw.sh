#!/bin/bash
# Integration: --landlock-rw (the container writes only below the given paths) and the
# MAC options on a host without AppArmor/SELinux.
# usage: landlock_rw.sh SECRET_LAUNCH PROBE MKROOTFS PEERS_DIR
set -euo pipefail
L=$1 PROBE=$2 MK=$3
T=$(mktemp -d /tmp/landlock-rw.XXXXXX)
trap 'rm -rf "$T"' EXIT
sh "$MK" "$T/rootfs" >/dev/null
cp "$PROBE" "$T/rootfs/bin/seccomp-probe"

fail() { echo "FAIL: $*" >&2; exit 1; }
run() { timeout 30 "$L" --rootfs "$T/rootfs" "$@"; }

# 1. Without Landlock the rootfs is writable (so the next checks can fail).
out=$(run -- /bin/seccomp-probe write:/x) || fail "probe failed"
[ "$out" = "write ok" ] || fail "without Landlock: $out"
rm -f "$T/rootfs/x"

# 2. With --landlock-rw /tmp: /tmp is writable, / is not (EACCES), reading works.
out=$(run --landlock-rw /tmp -- /bin/sh -c 'echo a > /tmp/x && cat /tmp/x && cat /etc/hostname >/dev/null && echo b > /dev/null && echo ok') \
  || fail "writing below /tmp failed under Landlock"
[ "$out" = $'a\nok' ] || fail "Landlock /tmp: printed '$out'"
out=$(run --landlock-rw /tmp -- /bin/seccomp-probe write:/x) || fail "probe failed"
[ "$out" = "write EACCES" ] || fail "writing /x under Landlock: $out"
[ ! -e "$T/rootfs/x" ] || fail "/x was created"
out=$(run --landlock-rw /tmp -- /bin/seccomp-probe mkdir:/newdir) || fail "probe failed"
[ "$out" = "mkdir EACCES" ] || fail "mkdir /newdir under Landlock: $out"
if run --landlock-rw /tmp -- /bin/rm /bin/ls 2>/dev/null; then fail "removed /bin/ls"; fi
[ -e "$T/rootfs/bin/ls" ] || fail "/bin/ls is gone"
echo "ok: Landlock allows writes only below --landlock-rw"

# 3. A missing --landlock-rw path is a launcher error.
rc=0; run --landlock-rw /nonexistent -- /bin/true 2>/dev/null || rc=$?
[ $rc -eq 125 ] || fail "missing landlock path: exit $rc, expected 125"
echo "ok: missing --landlock-rw path refused"

# 4. MAC options where the LSM is missing: exit 125 and a clear message.
lsms=$(cat /sys/kernel/security/lsm 2>/dev/null || true)
if [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null || echo N)" != Y ]; then
  rc=0; err=$(run --apparmor secretd-default -- /bin/true 2>&1) || rc=$?
  [ $rc -eq 125 ] || fail "--apparmor without AppArmor: exit $rc"
  grep -q "AppArmor" <<<"$err" || fail "--apparmor message: $err"
  echo "ok: --apparmor refused clearly (no AppArmor here)"
fi
if [ ! -e /sys/fs/selinux/enforce ] && ! grep -q selinux <<<"$lsms"; then
  rc=0; err=$(run --selinux-label system_u:system_r:container_t:s0 -- /bin/true 2>&1) || rc=$?
  [ $rc -eq 125 ] || fail "--selinux-label without SELinux: exit $rc"
  grep -q "SELinux" <<<"$err" || fail "--selinux-label message: $err"
  echo "ok: --selinux-label refused clearly (no SELinux here)"
fi
