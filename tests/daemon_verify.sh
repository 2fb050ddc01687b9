#!/bin/bash
# `secret audit --verify` walks the chain off the loop thread (issue 6 §4):
# with a chain of 1,000,000 records (made in-process by store_audit_fill in
# large transactions), other clients are answered promptly while the walk
# runs. Timing limits: 600 ms per ls+inspect pair (two CLI processes), times SD_TIME_SLACK (5 under the
# sanitizers, set by tests/daemon.cmake).
# Extra argument: the store_audit_fill helper.
source "$(dirname "$0")/daemon_lib.sh" "$@"
FILL=${3:?usage: $0 SECRETD SECRET STORE_AUDIT_FILL}
SLACK=${SD_TIME_SLACK:-1}
# 1,000,000 records; the sanitizer build (Debug, -O0, ASan+UBSan: the walk is
# ~40x slower) sets SD_VERIFY_RECORDS=200000 so that it fits the CLI's 60 s
# reply timeout (tests/daemon.cmake).
N=${SD_VERIFY_RECORDS:-1000000}

init_store
"$FILL" "$DATA" "$N" || fail "store_audit_fill failed"
# no --audit-file: secretd would first append the 1,000,000 lines it lacks
"$SECRETD" serve --data "$DATA" --admin-socket "$SOCK" >>"$T/out.log" 2>>"$T/err.log" </dev/null &
PID=$!
wait_ready "$PID" "$SOCK"
printf 'v' | S create probe - >/dev/null || fail "create failed"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
t0=$(now_ms)
S audit --verify >"$T/verify.out" 2>&1 &
VPID=$!
EXTRA_PIDS+=("$VPID")
# Probe while the walk runs: each request must be answered within the limit;
# and at least one probe must be answered before the walk ended, or the test
# proved nothing.
limit=$((600 * SLACK))
worst=0
n=0
pairs=0 # every pair started: each request is audited
while kill -0 "$VPID" 2>/dev/null; do
  pairs=$((pairs + 1))
  a=$(now_ms)
  S ls >/dev/null || fail "ls failed while verify ran"
  S inspect probe >/dev/null || fail "inspect failed while verify ran"
  b=$(now_ms)
  kill -0 "$VPID" 2>/dev/null && n=$((n + 1))
  [ $((b - a)) -gt "$worst" ] && worst=$((b - a))
  [ $((b - a)) -le "$limit" ] || fail "two requests took $((b - a)) ms while verify ran (limit $limit ms)"
  sleep 0.05
done
vrc=0
wait "$VPID" || vrc=$?
t1=$(now_ms)
[ $vrc -eq 0 ] || fail "verify failed: $(cat "$T/verify.out")"
# N + 4: three records as before the cluster identity work, plus the
# cluster.init record that `secretd init` now writes. The walk reads the chain
# as it stood when it began: the verify request's own record and the probes'
# (reads are audited too) may have committed before that, or not, so the
# count lies between N + 4 and N + 4 + 1 + 2 x the pairs started.
got=$(sed -n 's/^audit chain OK: \([0-9]*\) records.*/\1/p' "$T/verify.out")
[ -n "$got" ] && [ "$got" -ge $((N + 4)) ] && [ "$got" -le $((N + 5 + 2 * pairs)) ] ||
  fail "unexpected verify output (want $((N + 4))..$((N + 5 + 2 * pairs)) records): $(cat "$T/verify.out")"
[ "$n" -ge 3 ] || fail "only $n probes ran while verify ran ($((t1 - t0)) ms): nothing proven"
stop_daemon
ok "verify of $got records took $((t1 - t0)) ms; $n probe pairs meanwhile, worst $worst ms"
