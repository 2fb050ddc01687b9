#!/bin/bash
# cgroup_limits.sh LAUNCH HELPER MKROOTFS
# cgroup limits through the real secret-launch: the limits are in the group's files while
# the container runs and the group is gone afterwards; a memory limit OOM-kills a process
# that exceeds it (and the launcher says so); a pids limit bounds a fork bomb; container
# root can mknod a block device but not open it (devices allow-list).
set -euo pipefail
launch=$1 mkrootfs=$3
tmp=$(mktemp -d /tmp/cgroup_limits.XXXXXX)
name=cgtest-$$
bgpid=
cleanup() {
  [ -n "$bgpid" ] && kill -9 "$bgpid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
sh "$mkrootfs" "$tmp/rootfs" >/dev/null
R=$tmp/rootfs

# Where a controller's group lives: v2 if the v2 root offers it, else v1.
group_dir() { # CONTROLLER
  local v2=/sys/fs/cgroup
  [ "$(stat -fc %T $v2)" = cgroup2fs ] || v2=/sys/fs/cgroup/unified
  if [ -r $v2/cgroup.controllers ] && grep -qw "$1" $v2/cgroup.controllers; then
    echo "$v2/secretd/$name"
  else
    echo "/sys/fs/cgroup/$1/secretd/$name"
  fi
}
mem=$(group_dir memory) cpu=$(group_dir cpu) pids=$(group_dir pids)

# 1. Limits visible while running; groups removed afterwards.
"$launch" --rootfs "$R" --name "$name" --memory 64m --cpus 0.5 --pids-limit 50 -- sleep 2 &
bgpid=$!
for _ in $(seq 50); do [ -d "$pids" ] && break; sleep 0.05; done
[ -d "$mem" ] && [ -d "$cpu" ] && [ -d "$pids" ] || fail "groups missing: $mem $cpu $pids"
if [ -e "$mem/memory.max" ]; then v=$(cat "$mem/memory.max"); else v=$(cat "$mem/memory.limit_in_bytes"); fi
[ "$v" = 67108864 ] || fail "memory limit $v"
if [ -e "$cpu/cpu.max" ]; then v=$(cat "$cpu/cpu.max"); else v="$(cat "$cpu/cpu.cfs_quota_us") $(cat "$cpu/cpu.cfs_period_us")"; fi
[ "$v" = "50000 100000" ] || fail "cpu limit $v"
[ "$(cat "$pids/pids.max")" = 50 ] || fail "pids limit $(cat "$pids/pids.max")"
[ -n "$(cat "$pids/cgroup.procs")" ] || fail "container not in its pids group"
wait "$bgpid" || fail "limited sleep exited $?"
bgpid=
for d in "$mem" "$cpu" "$pids" "/sys/fs/cgroup/devices/secretd/$name"; do
  [ ! -e "$d" ] || fail "$d left behind"
done

# 2. Memory limit: a process that allocates 100 MB under a 32 MB limit is OOM-killed.
set +e
"$launch" --rootfs "$R" --memory 32m -- sh -c 'head -c 100m /dev/zero | tail >/dev/null' \
  2>"$tmp/oom.err"
rc=$?
set -e
echo "memory: rc=$rc $(cat "$tmp/oom.err")"
[ $rc -ne 0 ] || fail "100 MB under a 32 MB limit succeeded"
grep -qi "oom" "$tmp/oom.err" || fail "OOM kill not reported: $(cat "$tmp/oom.err")"

# 3. pids limit bounds a fork bomb (PID 1 exits after 1 s, which ends the namespace).
start=$(date +%s)
out=$(timeout -s KILL 30 "$launch" --rootfs "$R" --pids-limit 10 --memory 128m -- sh -c \
  'bomb() { bomb | bomb & }; bomb 2>/dev/null
   # Only shell builtins from here on: with the pids limit reached, nothing can fork.
   i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done
   set -- /proc/[0-9]*; echo $#' \
  2>/dev/null) || true
echo "fork bomb: processes seen at the end: $out"
[ -n "$out" ] && [ "$out" -le 10 ] || fail "fork bomb not bounded (saw '$out' processes)"
[ $(($(date +%s) - start)) -lt 25 ] || fail "fork bomb container took too long"

# 3b. Deterministic: 20 background sleeps under --pids-limit 10 leave at most 10 processes
# (and at least a few: the forks up to the limit did succeed).
# (busybox sh gives up at the first failed fork: fork from a subshell, count with builtins)
count='(i=0; while [ $i -lt 20 ]; do sleep 10 & i=$((i+1)); done) 2>/dev/null; set -- /proc/[0-9]*; echo $#'
out=$(timeout -s KILL 30 "$launch" --rootfs "$R" --pids-limit 10 -- sh -c "$count" 2>/dev/null) || true
echo "20 sleeps under pids 10: $out processes"
[ -n "$out" ] && [ "$out" -le 10 ] && [ "$out" -ge 5 ] || fail "pids limit not enforced ($out)"
out=$(timeout -s KILL 30 "$launch" --rootfs "$R" -- sh -c "$count" 2>/dev/null) || true
[ "$out" -gt 10 ] || fail "control without limit saw only $out processes"

# 4. Devices: mknod of a block device works (Docker allows m), opening it does not.
out=$("$launch" --rootfs "$R" -- sh -c '
  mknod /tmp/blk b 7 0 && echo MKNOD-OK
  head -c 1 /tmp/blk >/dev/null 2>&1 && echo BLOCK-OPENED
  mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem >/dev/null 2>&1 && echo MEM-OPENED
  head -c 1 /dev/zero | wc -c') || fail "devices container exited $?"
echo "devices: $out"
grep -q MKNOD-OK <<<"$out" || fail "mknod of a block device refused (Docker allows it)"
grep -q BLOCK-OPENED <<<"$out" && fail "container opened a block device"
grep -q MEM-OPENED <<<"$out" && fail "container opened /dev/mem"
[ "$(tail -1 <<<"$out")" = 1 ] || fail "/dev/zero unreadable"
echo PASS
