#!/bin/bash
# agentcore_delivery.sh DRIVER MKROOTFS SANITIZED
# The agent's delivery core (agent/core) with real containers, tmpfs and cgroups:
#  - a granted task reads its value at /run/secrets/NAME from its first instruction on
#    (the tmpfs is filled before the command runs); a task without the grant has none;
#  - a reader looping inside the container across 100 rotations never sees a partial or
#    empty file, sees them in order, and sees each new value within 1 s (x SLACK);
#    the latencies are printed (p50/p99/max);
#  - a non-root task (--user 1000) reads its secret with no owner flags (owner 1000, 0400);
#  - a grant to a running task that started with none adds the file;
#  - a pin moved back to an older version moves the file back;
#  - revoke removes the file within 1 s (x SLACK);
#  - a seccomp profile given by content (it travels in the spec) is enforced;
#  - the value (with a random marker) is in no file under the state dir, /tmp or /var.
source "$(dirname "$0")/agentcore_lib.sh"

MARKER=mk$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
PAD=$(printf '%*s' 2000 '' | tr ' ' x)
# value N: sets V to version N's bytes and VLEN to its length (no fork: the timing below
# measures the agent, not the test's shell).
value() { printf -v V '%s:%s:%s:end' "$1" "$MARKER" "$PAD"; VLEN=${#V}; }
vlen() { value "$1"; echo "$VLEN"; }

# reader.sh NAME: logs every change it sees at /run/secrets/db as "PREFIX LENGTH"
# ("" 0 when there is no file). `read` is a shell builtin: a read costs no fork.
cat >"$OUT/reader.sh" <<'EOF'
last=none
while :; do
  v=
  IFS= read -r v </run/secrets/db 2>/dev/null
  if [ "$v" != "$last" ]; then
    echo "${v%%:*} ${#v}" >>/out/$1.log
    last=$v
  fi
  usleep 2000
done
EOF
# The seccomp profile of task D (its CONTENT travels in the spec): mkdir is refused.
cat >"$TMP/nomkdir.json" <<'EOF'
{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}
EOF
cat >"$OUT/d.sh" <<'EOF'
mkdir /tmp/d-made 2>/dev/null; echo $? >/out/d.rc
exec sleep 100000
EOF

RUN="--rootfs $ROOTFS --mount $OUT:/out --stop-timeout 1"
A_DB=1 B_DB= C_DB=1 A_GRANT=1
# assign: the whole desired set, as the manager would push it.
assign() {
  send "task A web no $RUN -- sh /out/reader.sh A" \
       "task B batch no $RUN -- sh /out/reader.sh B" \
       "task C nonroot no $RUN --user 1000:1000 -- sh /out/reader.sh C" \
       "task D confined no $RUN --seccomp-profile $TMP/nomkdir.json -- sh /out/d.sh"
  [ -n "$A_GRANT" ] && send "grant A db $A_DB db"
  [ -n "$B_DB" ] && send "grant B db $B_DB db"
  send "grant C db $C_DB db" "commit"
  expect '^(assigned|error)' 20 || fail "no answer to commit"
  [ "$LINE" = assigned ] || fail "commit: $LINE"
}

start_driver
value 1
send_value db 1 "$V"
assign
converge
for t in A B C D; do
  [ "$(task_pid $t)" -gt 0 ] || fail "task $t does not run"
done
PA=$(task_pid A) PB=$(task_pid B) PC=$(task_pid C) PD=$(task_pid D)

# 1. Delivery before the command, and only where granted.
wait_line "$OUT/A.log" "1 $(vlen 1)" 10 >/dev/null || fail "A never read its value"
[ "$(head -n1 "$OUT/A.log")" = "1 $(vlen 1)" ] ||
  fail "A's first read was not its value (secrets after the command?): $(head -n1 "$OUT/A.log")"
pass "a granted task reads its value at /run/secrets/db from its first instruction on"
wait_line "$OUT/B.log" " 0" 10 >/dev/null || fail "B logged nothing"
[ -z "$(ls -A /proc/"$PB"/root/run/secrets)" ] || fail "B has secrets: $(ls -A /proc/"$PB"/root/run/secrets)"
pass "a task without the grant has no file"
wait_line "$OUT/C.log" "1 $(vlen 1)" 10 >/dev/null || fail "the non-root task cannot read its secret"
[ "$(stat -c '%u %g %a' /proc/"$PC"/root/run/secrets/db)" = "1000 1000 400" ] ||
  fail "C's file: $(stat -c '%u %g %a' /proc/"$PC"/root/run/secrets/db)"
[ "$(stat -c '%u %g %a' /proc/"$PA"/root/run/secrets/db)" = "0 0 400" ] ||
  fail "A's file: $(stat -c '%u %g %a' /proc/"$PA"/root/run/secrets/db)"
pass "a non-root task (--user 1000) reads its secret with no owner flags (1000:1000 0400)"
for _ in $(seq 100); do [ -s "$OUT/d.rc" ] && break; sleep 0.05; done
[ "$(cat "$OUT/d.rc" 2>/dev/null)" = 1 ] || fail "mkdir under the content-only seccomp profile: rc $(cat "$OUT/d.rc" 2>/dev/null)"
pass "a seccomp profile given by content is enforced"

# Hostile assignment sets are refused whole, with a message, and change nothing.
refused() { # refused REGEX LINE...: the set of LINEs is refused with a message matching REGEX
  local re=$1
  shift
  send "$@" commit
  expect '^(assigned|error)' 20 || fail "no answer to a hostile set"
  [[ $LINE =~ ^error\ .*$re ]] || fail "hostile set not refused as expected ($re): $LINE"
}
T="task A web no $RUN -- sh /out/reader.sh A"
refused 'invalid target' "$T" "grant A db 1 ../../etc/passwd"
refused 'invalid target' "$T" "grant A db 1 /abs"
refused 'two secrets at target' "$T" "grant A db 1 db" "grant A other 1 db"
refused 'assigned twice' "$T" "$T"
refused 'invalid id' "task ../x web no $RUN -- sh /out/reader.sh A"
refused 'invalid mode' "$T" "grant A db 1 db - - 7777"
converge
[ "$(task_pid A)" = "$PA" ] && [ "$(task_pid B)" = "$PB" ] || fail "a refused set changed the tasks"
[ -e /proc/"$PA"/root/run/secrets/db ] || fail "a refused set removed A's file"
pass "hostile assignment sets (escaping targets, duplicates, bad ids and modes) are refused whole"

# 2. 100 rotations, each seen whole and within 1 s by the reader in A.
lat=()
for n in $(seq 2 101); do
  value "$n"
  t0=$(now_ms) # from the moment the manager's change would reach the agent
  send_value db "$n" "$V"
  A_DB=$n C_DB=$n
  assign
  ms=$(wait_line "$OUT/A.log" "$n $VLEN" $((1 * SLACK)) "$t0") ||
    fail "rotation $n not seen by the reader within $((1 * SLACK)) s"
  lat+=("$ms")
done
converge
sorted=$(printf '%s\n' "${lat[@]}" | sort -n)
p50=$(sed -n 50p <<<"$sorted") p99=$(sed -n 99p <<<"$sorted") max=$(tail -n1 <<<"$sorted")
echo "rotation visible inside the container: p50 ${p50} ms, p99 ${p99} ms, max ${max} ms (100 rotations, reader polls every ~2 ms)"
bad=$(awk -v pad=2000 '{ if ($2 != length($1) + length("'"$MARKER"'") + pad + 6) print }' "$OUT/A.log")
[ -z "$bad" ] || fail "the reader saw partial or empty files: $(head -n3 <<<"$bad")"
order=$(awk 'NR > 1 && $1 + 0 != prev + 1 { print prev " -> " $1 } { prev = $1 + 0 }' "$OUT/A.log")
[ -z "$order" ] || fail "the reader saw the versions out of order: $(head -n3 <<<"$order")"
pass "100 rotations: never a partial or empty file, each version in order"
wait_line "$OUT/C.log" "101 $(vlen 101)" 5 >/dev/null || fail "C did not follow the rotations"
[ "$(task_pid A)" = "$PA" ] || fail "A was restarted by the rotations"
pass "each rotation seen within 1 s; the task kept running"

# 3. A grant to a running task that started with none.
B_DB=101
assign
wait_line "$OUT/B.log" "101 $(vlen 101)" $((1 * SLACK)) >/dev/null || fail "B never got its new grant"
[ "$(task_pid B)" = "$PB" ] || fail "B was restarted to get its grant"
pass "a grant to a running task that started with none adds the file"

# 4. A pin moved back to an older version.
A_DB=50
assign
wait_line "$OUT/A.log" "50 $(vlen 50)" $((1 * SLACK)) >/dev/null || fail "A did not move back to version 50"
pass "a pin moved to an older version moves the file"

# 5. Revoke.
A_GRANT=
t0=$(now_ms)
assign
ms=$(wait_line "$OUT/A.log" " 0" $((1 * SLACK)) "$t0") || fail "revoke not seen within $((1 * SLACK)) s"
[ ! -e /proc/"$PA"/root/run/secrets/db ] || fail "the file is still there after the revoke"
echo "revoke visible inside the container after ${ms} ms"
pass "revoke removes the file within 1 s"
[ "$(task_pid A)" = "$PA" ] && [ "$(task_pid D)" = "$PD" ] || fail "tasks restarted"

# 6. Nothing of the value on disk; the state dir holds no value either.
converge
stop_driver
check_no_marker "$MARKER"
ls -R "$STATE/tasks" >/dev/null || fail "no task records"
grep -l "db" "$STATE"/tasks/*.json >/dev/null || fail "the records do not name the secret"
echo "PASS"
