#!/bin/bash
# agentcore_restart.sh DRIVER MKROOTFS SANITIZED
# Failures around the agent's delivery core (agent/core), with real containers:
#  - a task whose values cannot be fetched does not run its command (secrets first),
#    and starts with them in place once they can;
#  - restart policies: on-failure restarts a failing task with backoff (restarts counted,
#    exit code reported), no leaves it failed, always restarts a task that exits 0;
#  - the agent killed with SIGKILL: containers keep running; the restarted agent takes
#    them back (same PID 1) and applies a revoke and a rotation issued while it was down;
#  - a task removed from the assignments is stopped;
#  - node removal stops every task and leaves the state directory empty.
source "$(dirname "$0")/agentcore_lib.sh"

cat >"$OUT/first.sh" <<'EOF'
# what the command saw at its very first instruction, then stay
cat /run/secrets/tok >/out/first.$1 2>/dev/null || echo MISSING >/out/first.$1
exec sleep 100000
EOF
cat >"$OUT/fail.sh" <<'EOF'
echo run >>/out/fail.$1
exit 3
EOF
cat >"$OUT/ok.sh" <<'EOF'
echo run >>/out/ok.$1
exit 0
EOF
RUN="--rootfs $ROOTFS --mount $OUT:/out --stop-timeout 1"

start_driver

# 1. No value, no command: the start waits (pending, retried with backoff).
send "task S svc no $RUN -- sh /out/first.sh S" "grant S tok 1 tok" "commit"
expect '^state S pending .*fetching its secrets' 20 || fail "S was not held back without its value"
nap 0.5
[ ! -e "$OUT/first.S" ] || fail "S's command ran without its secret"
send_value tok 1 "token-one"
expect '^state S running' $((20 * SLACK)) || fail "S did not start once its value was there"
for _ in $(seq 100); do [ -s "$OUT/first.S" ] && break; nap 0.05; done
[ "$(cat "$OUT/first.S")" = token-one ] || fail "S's first instruction saw: $(cat "$OUT/first.S")"
pass "a task starts only once its secrets are fetched, and its command sees them at once"

# 2. Restart policies.
assign_all() {
  send "task S svc no $RUN -- sh /out/first.sh S" "grant S tok ${TOK_V:-1} tok"
  [ -n "${WITH_POLICIES:-}" ] &&
    send "task F flaky on-failure $RUN -- sh /out/fail.sh F" \
         "task N once no $RUN -- sh /out/fail.sh N" \
         "task K keep always $RUN -- sh /out/ok.sh K"
  [ -n "${WITH_R:-}" ] && send "task R removed no $RUN -- sh /out/first.sh R"
  send commit
  expect '^(assigned|error)' 20 || fail "no answer to commit"
  [ "$LINE" = assigned ] || fail "commit: $LINE"
}
WITH_POLICIES=1
assign_all
expect '^state F running exit=3 restarts=2' $((20 * SLACK)) || fail "on-failure: F was not restarted twice"
grep -q '^state F failed exit=3 restarts=0' "$TMP/driver.out" || fail "F's failure (exit 3) was not reported"
seen '^state K running exit=0 restarts=2' $((20 * SLACK)) || fail "always: K (exit 0) was not restarted"
grep -q '^state N failed exit=3 restarts=0' "$TMP/driver.out" || fail "no: N's failure not reported"
grep -q '^state N running exit=3' "$TMP/driver.out" && fail "no: N was restarted"
pass "restart policies: on-failure and always restart with backoff, no does not"
WITH_POLICIES=
WITH_R=1
assign_all
converge
PS=$(task_pid S) PR=$(task_pid R)
[ "$PS" -gt 0 ] && [ "$PR" -gt 0 ] || fail "S or R does not run"

# 3. The agent killed with SIGKILL; changes while it is down; a new agent takes back.
kill -KILL "$DRIVER_PID"
wait "$DRIVER_PID" 2>/dev/null
DRIVER_PID=
nap 0.3
kill -0 "$PS" && kill -0 "$PR" || fail "containers died with the agent"
[ -e /proc/"$PS"/root/run/secrets/tok ] || fail "S lost its file with the agent"
pass "the agent killed with SIGKILL: containers keep running with their secrets"
before=$(wc -l <"$TMP/driver.out")
start_driver
tail -n +$((before + 1)) "$TMP/driver.out" | grep -q '^state S running' ||
  fail "S was not reported running after the take-back"
[ "$(task_pid S)" = "$PS" ] || fail "S taken back with another PID 1"
[ "$(task_pid R)" = "$PR" ] || fail "R taken back with another PID 1"
pass "the restarted agent takes back its running containers (same PID 1)"
# What the manager changed meanwhile: S's grant revoked, R removed. The new agent
# converges to it.
send "task S svc no $RUN -- sh /out/first.sh S" "commit"
expect '^assigned' 20 || fail "no answer to commit"
converge
[ ! -e /proc/"$PS"/root/run/secrets/tok ] || fail "the revoke issued while the agent was down was not applied"
[ "$(task_pid S)" = "$PS" ] || fail "S was restarted"
seen '^state R stopped' 10 || fail "R was not reported stopped"
for _ in $(seq 100); do kill -0 "$PR" 2>/dev/null || break; nap 0.05; done
kill -0 "$PR" 2>/dev/null && fail "R still runs"
pass "after the restart, a revoke issued while the agent was down is applied; a removed task is stopped"
# A grant again (rotation to version 2) after the take-back works through the fetched fd.
send_value tok 2 "token-two"
TOK_V=2 WITH_R= assign_all
converge
[ "$(cat /proc/"$PS"/root/run/secrets/tok)" = token-two ] || fail "no delivery after take-back"
pass "delivery to a taken-back container (secrets fd from its supervisor)"

# 4. Node removal.
send removed
expect '^removed$' $((30 * SLACK)) || fail "node removal did not finish"
for _ in $(seq 100); do kill -0 "$PS" 2>/dev/null || break; nap 0.05; done
kill -0 "$PS" 2>/dev/null && fail "S still runs after node removal"
left=$(find "$STATE" -mindepth 1 -not -path "$STATE/tasks" -not -path "$STATE/run")
[ -z "$left" ] || fail "state left after node removal: $left"
pass "node removal stops every task and empties the state directory"
stop_driver
echo "PASS"
