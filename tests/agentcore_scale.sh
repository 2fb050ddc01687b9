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

send_values() { # send_values VERSION: the values the manager would answer with
  local t s
  for ((t = 1; t <= N; t++)); do
    for ((s = 1; s <= K; s++)); do
      val "$t" "$s" "$1"
      send_value "s$t-$s" "$1" "$V"
    done
  done
}
start_driver
E_GRANT=1
assign_all() { # assign_all VERSION [NO_WAIT]
  local t s
  if [ -z "${2:-}" ] || [ -n "$E_GRANT" ]; then send_values "$1"; fi
  # E: a task that runs before the others; its grant is revoked during their start.
  send "task E early no --rootfs $ROOTFS --stop-timeout 0 -- sleep 100000"
  [ -n "$E_GRANT" ] && send "grant E e 1 e"
  for ((t = 1; t <= N; t++)); do
    send "task t$t svc$t no --rootfs $ROOTFS --stop-timeout 0 --user $((1000 + t)) -- sleep 100000"
    for ((s = 1; s <= K; s++)); do
      send "grant t$t s$t-$s $1 dir$((s % 3))/s$s"
    done
  done
  send commit
  [ -n "${2:-}" ] && return
  expect '^(assigned|error)' $((120 * SLACK)) || fail "no answer to commit"
  [ "$LINE" = assigned ] || fail "commit: $LINE"
}

# 0. E alone, with its secret.
send_value e 1 "early-$MARKER"
send "task E early no --rootfs $ROOTFS --stop-timeout 0 -- sleep 100000" "grant E e 1 e" commit
expect '^assigned' 60 || fail "E not assigned"
converge
PE=$(task_pid E)
[ -e /proc/"$PE"/root/run/secrets/e ] || fail "E has no file"

# check VERSION: each container's own view (/proc/PID/root is the container's root).
check() {
  local t s p f
  for ((t = 1; t <= N; t++)); do
    p=$(task_pid "t$t")
    [ "$p" -gt 0 ] || fail "t$t does not run"
    n=$(find /proc/"$p"/root/run/secrets -type f | wc -l)
    [ "$n" = "$K" ] || fail "t$t has $n files, not $K"
    for ((s = 1; s <= K; s++)); do
      f=/proc/$p/root/run/secrets/dir$((s % 3))/s$s
      val "$t" "$s" "$1"
      [ "$(cat "$f")" = "$V" ] || fail "t$t s$s: wrong content"
      [ "$(stat -c '%u %a' "$f")" = "$((1000 + t)) 400" ] || fail "t$t s$s: owner/mode $(stat -c '%u %a' "$f")"
    done
  done
}

t0=$(now_ms)
assign_all 1 nowait
# While the 50 start, revoke E's grant: it must not wait behind the starts.
E_GRANT=
tr0=$(now_ms)
assign_all 1 nowait
while [ -e /proc/"$PE"/root/run/secrets/e ]; do
  [ $(($(now_ms) - tr0)) -le $((1000 * SLACK)) ] || fail "a revoke waited more than $SLACK s behind $N starts"
  nap 0.005
done
pass "a revoke during the start of $N containers applied after $(($(now_ms) - tr0)) ms"
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
