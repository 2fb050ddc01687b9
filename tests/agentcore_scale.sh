#!/bin/bash
# agentcore_scale.sh DRIVER MKROOTFS SANITIZED
# 50 containers on one node with 10 secrets each through the agent's delivery core
# (agent/core): every container sees exactly its own 10 files with the right content,
# owner and mode, also after one rotation of all 500; the values (with a random
# marker) are in no file under the state dir, /tmp or /var. Prints the times.
source "$(dirname "$0")/agentcore_lib.sh"

N=50 K=10
MARKER=mk$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
# val T S V: the value of secret S of task T at version V.
val() { printf -v V 'v%s-%s-%s-%s' "$3" "$1" "$2" "$MARKER"; }

start_driver
assign_all() { # assign_all VERSION
  local t s
  for t in $(seq 1 "$N"); do
    for s in $(seq 1 "$K"); do
      val "$t" "$s" "$1"
      send_value "s$t-$s" "$1" "$V"
    done
  done
  for t in $(seq 1 "$N"); do
    send "task t$t svc$t no --rootfs $ROOTFS --stop-timeout 0 --user $((1000 + t)) -- sleep 100000"
    for s in $(seq 1 "$K"); do
      send "grant t$t s$t-$s $1 dir$((s % 3))/s$s"
    done
  done
  send commit
  expect '^(assigned|error)' $((120 * SLACK)) || fail "no answer to commit"
  [ "$LINE" = assigned ] || fail "commit: $LINE"
}

# check VERSION: each container's own view (/proc/PID/root is the container's root).
check() {
  local t s p f
  for t in $(seq 1 "$N"); do
    p=$(task_pid "t$t")
    [ "$p" -gt 0 ] || fail "t$t does not run"
    n=$(find /proc/"$p"/root/run/secrets -type f | wc -l)
    [ "$n" = "$K" ] || fail "t$t has $n files, not $K"
    for s in $(seq 1 "$K"); do
      f=/proc/$p/root/run/secrets/dir$((s % 3))/s$s
      val "$t" "$s" "$1"
      [ "$(cat "$f")" = "$V" ] || fail "t$t s$s: wrong content"
      [ "$(stat -c '%u %a' "$f")" = "$((1000 + t)) 400" ] || fail "t$t s$s: owner/mode $(stat -c '%u %a' "$f")"
    done
  done
}

t0=$(now_ms)
assign_all 1
converge $((300 * SLACK))
t1=$(now_ms)
check 1
pass "$N containers with $K secrets each all correct (started in $((t1 - t0)) ms)"
t0=$(now_ms)
assign_all 2
converge $((120 * SLACK))
t1=$(now_ms)
check 2
pass "all $((N * K)) secrets rotated in place in $((t1 - t0)) ms"
send removed
expect '^removed$' $((120 * SLACK)) || fail "node removal"
stop_driver
check_no_marker "$MARKER"
echo "PASS"
