#!/bin/bash
# --init (reaps zombies, forwards signals), signal forwarding, --stop-timeout.
. "$(dirname "$0")/runtime_lib.sh"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# An orphan (its parent sh exits at once) is reparented to PID 1. The checker runs in
# the background while the command execs sleep, which never reaps anything.
zcheck='sh -c "sleep 0.1 &"; (sleep 0.6; grep -l "^[0-9]* ([^)]*) Z" /proc/[0-9]*/stat | wc -l) & exec sleep 1'
run --rootfs "$ROOTFS" --init -- /bin/sh -c "$zcheck"
expect_eq "init: the orphan was reaped" "$OUT" 0
# The same without --init leaves the zombie (so the check above can fail).
run --rootfs "$ROOTFS" -- /bin/sh -c "$zcheck"
expect_eq "no init: the orphan stays a zombie" "$OUT" 1
run --rootfs "$ROOTFS" --init -- /bin/sh -c 'echo $$'
expect_eq "init: the command is PID 2" "$OUT" 2
# init's image cannot be read by the container (non-dumpable PID 1).
run --rootfs "$ROOTFS" --init -- /bin/sh -c 'cat /proc/1/exe > /dev/null'
[ "$RC" -ne 0 ] && pass "init: /proc/1/exe not readable" || fail "init exe readable"

# SIGTERM is forwarded: a command that handles it exits by itself, quickly.
"$LAUNCH" --rootfs "$ROOTFS" -- /bin/sh -c 'trap "exit 7" TERM; while :; do sleep 0.05; done' &
lp=$!; BG_PIDS="$BG_PIDS $lp"
sleep 0.5; t0=$(now_ms); kill -TERM $lp; wait $lp; rc=$?; t=$(( $(now_ms) - t0 ))
expect_eq "SIGTERM forwarded: handler's exit code" "$rc" 7
[ "$t" -lt 2000 ] && pass "SIGTERM handled in ${t} ms" || fail "SIGTERM took $t ms"

# PID 1 that ignores SIGTERM (no handler): killed after --stop-timeout, 128+9.
"$LAUNCH" --rootfs "$ROOTFS" --stop-timeout 1 -- /bin/sleep 30 &
lp=$!; BG_PIDS="$BG_PIDS $lp"
sleep 0.3; t0=$(now_ms); kill -TERM $lp; wait $lp; rc=$?; t=$(( $(now_ms) - t0 ))
expect_eq "stop timeout: SIGKILL" "$rc" 137
[ "$t" -ge 900 ] && [ "$t" -lt 5000 ] && pass "stop timeout after ${t} ms" || fail "stop timeout took $t ms"

# --init forwards SIGINT to the command (sleep dies of it: 128+2).
"$LAUNCH" --rootfs "$ROOTFS" --init -- /bin/sleep 30 &
lp=$!; BG_PIDS="$BG_PIDS $lp"
sleep 0.3; kill -INT $lp; wait $lp; rc=$?
expect_eq "init forwards SIGINT" "$rc" 130
# SIGUSR1 forwarded through init to a handler.
"$LAUNCH" --rootfs "$ROOTFS" --init -- /bin/sh -c 'trap "exit 11" USR1; while :; do sleep 0.05; done' &
lp=$!; BG_PIDS="$BG_PIDS $lp"
sleep 0.5; kill -USR1 $lp; wait $lp; rc=$?
expect_eq "init forwards SIGUSR1" "$rc" 11
echo "PASS"
