#!/bin/bash
# secretd killed with SIGKILL at random moments during 1,000 creates (four
# concurrent `secret create` loops, so batches of several ops are cut too),
# restarted each time: every create the CLI reported as done is present, the
# store opens cleanly and the audit chain verifies. Bounded to ~100 s.
source "$(dirname "$0")/daemon_lib.sh" "$@"

TOTAL=${CRASH_CREATES:-1000}
WORKERS=4
init_store
start_daemon
head -c 1024 /dev/urandom >"$T/value"

creator() { # worker index: creates k<w>_<i>, appends reported successes to done.<w>
  local w=$1 i
  for ((i = w; i < TOTAL; i += WORKERS)); do
    [ -e "$T/stop" ] && break
    rc=0
    S create "k$i" "$T/value" >/dev/null 2>>"$T/cli.err" || rc=$?
    if [ $rc = 0 ]; then
      echo "k$i" >>"$T/done.$w"
    else
      echo "$rc" >>"$T/rc.$w"
    fi
  done
}
deadline=$((SECONDS + 90))
CPIDS=()
for ((w = 0; w < WORKERS; w++)); do
  creator "$w" &
  CPIDS+=($!)
  EXTRA_PIDS+=($!)
done
CLEANUP_HOOKS+=('touch "$T/stop"')

kills=0
while :; do
  alive=0
  for p in "${CPIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ $alive = 1 ] || break
  [ $SECONDS -lt $deadline ] || { touch "$T/stop"; fail "creates did not finish within 90 s"; }
  sleep "$(printf '0.%03d' $((RANDOM % 200 + 20)))"
  kill_daemon
  kills=$((kills + 1))
  # the socket file of the killed daemon stays behind: serve must replace it
  start_daemon
done
for p in "${CPIDS[@]}"; do wait "$p" || true; done
# every failed create said why in "secret: ..." lines and exited 3 (no daemon
# or connection lost), never 1 (a create the daemon refused) nor a crash
if [ -s "$T/cli.err" ]; then
  grep -qv "^secret: " "$T/cli.err" && fail "CLI error lines not in the secret: form: $(grep -v "^secret: " "$T/cli.err" | head -3)"
fi
bad_rc=$( (cat "$T"/rc.* 2>/dev/null || true) | (grep -vx 3 || true) | sort | uniq -c | tr "\n" " ")
[ -z "$bad_rc" ] || fail "failed creates exited with unexpected statuses (count status): $bad_rc; $(grep -v 'cannot reach\|lost' "$T/cli.err" | head -3)"
kill_daemon
start_daemon

cat "$T"/done.* 2>/dev/null | sort >"$T/done"
S ls --json | json_names | sort >"$T/present"
n_done=$(wc -l <"$T/done")
missing=$(comm -23 "$T/done" "$T/present" | wc -l)
[ "$missing" = 0 ] || fail "$missing reported creates are missing: $(comm -23 "$T/done" "$T/present" | head)"
[ "$n_done" -ge $((TOTAL / 4)) ] || fail "only $n_done of $TOTAL creates succeeded"
S audit --verify >"$T/verify" 2>&1 || fail "audit chain does not verify: $(cat "$T/verify")"
stop_daemon
ok "$kills SIGKILLs during $TOTAL creates: all $n_done reported creates present, audit verifies"
