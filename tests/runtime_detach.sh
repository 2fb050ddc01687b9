#!/bin/bash
# Detached containers (issue 10): run --detach, list, state, kill, stop, delete,
# adoption by pidfd + start time + cgroup, live secrets put/rm with a growable tmpfs
# up to a cap, stale state, swept cgroups, and no secret on disk.
. "$(dirname "$0")/runtime_lib.sh"

SR=$TMP/state
marker=$TMP/marker; touch "$marker"; sleep 0.01
mkdir -p "$TMP/ctl"
sl() { timeout -s KILL 20 "$LAUNCH" "$@"; }
# jfield NAME FIELD: a field of `state NAME` (pretty JSON: one "key":value per line).
jfield() {
  sl state "$1" --state-root "$SR" | sed -n "s/^ *\"$2\":\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p"
}
# edit_state NAME PID STARTTIME: make a state file claim that PID runs as the container.
edit_state() {
  sed -i -E "s/\"status\":\"[a-z]+\"/\"status\":\"running\"/; s/\"pid\":[0-9]+/\"pid\":$2/;
    s/\"startTime\":[0-9]+/\"startTime\":$3/; s/\"supervisor\":[0-9]+/\"supervisor\":0/;
    s/,\"exitCode\".*\}/}/" "$SR/$1/state.json"
}
starttime() { awk '{sub(/.*\) /, ""); print $20}' "/proc/$1/stat"; }
cleanup_containers() {
  for n in $(ls "$SR" 2>/dev/null); do "$LAUNCH" delete --force "$n" --state-root "$SR" >/dev/null 2>&1; done
}
trap 'cleanup_containers; cleanup' EXIT

# 1. Start detached from a process group that is then SIGKILLed: the container, started
#    with no secrets, keeps running with the same PID 1.
setsid bash -c "\"$LAUNCH\" run --detach --name web --state-root \"$SR\" --rootfs \"$ROOTFS\" \
  --mount \"$TMP/ctl:/ctl\" --secrets-max-size 1m -- /bin/sh -c 'trap \"\" TERM; touch /ctl/up; \
  while :; do sleep 1; done' && echo started > \"$TMP/started\"; exec sleep 60" &
starter=$!; BG_PIDS="$BG_PIDS $starter"
for _ in $(seq 200); do [ -e "$TMP/started" ] && break; sleep 0.02; done
expect_eq "run --detach returned once the command runs" "$(cat "$TMP/started" 2>/dev/null)" started
pid1=$(jfield web pid)
st1=$(starttime "$pid1")
kill -KILL -- "-$starter"; wait "$starter" 2>/dev/null
sleep 0.2
expect_eq "container runs after its starter was SIGKILLed" "$(jfield web status)" running
expect_eq "same PID 1" "$(jfield web pid)" "$pid1"
expect_eq "same process (start time)" "$(starttime "$pid1")" "$st1"
[ -e "$TMP/ctl/up" ] && pass "command ran" || fail "command did not run"

# 2. A new process lists it (text and JSON).
OUT=$(sl list --state-root "$SR")
expect_match "list shows it running" "$OUT" "^web +$pid1 +running"
OUT=$(sl list --json --state-root "$SR" | tr -d ' \n')
expect_match "list --json" "$OUT" "^\[\{\"ociVersion\":\"1.0.2\",\"id\":\"web\",\"status\":\"running\",\"pid\":$pid1,.*\}\]$"
OUT=$(sl state web --state-root "$SR" | sed -n 's/^ *"\([a-zA-Z]*\)":.*/\1/p' | sort | tr '\n' ' ')
expect_eq "state has the OCI fields" "$OUT" "bundle created id ociVersion pid status "

# 3. The state directory and the writable secrets mount are invisible inside.
"$LAUNCH" secret put web probe --state-root "$SR" --uid 0 --mode 0400 <<<"p" || fail "put probe"
OUT=$(nsenter -t "$pid1" -m -p /bin/sh -c "ls /run/secretd 2>&1; grep -c '$SR' /proc/self/mountinfo; grep ' /run/secrets ' /proc/self/mountinfo | grep -c ' ro,'; ls /run/secrets")
expect_eq "no state dir, only the ro secrets view inside" "$OUT" \
  "$(printf "ls: /run/secretd: No such file or directory\n0\n1\nprobe")"
"$LAUNCH" secret rm web probe --state-root "$SR" || fail "rm probe"

# 4. A secret from stdin (never on disk), replaced 100 times while a reader loops.
val() { printf 'BEGIN-%s-%03d-%s-END' "$SECRET" "$1" "$(head -c 3000 /dev/zero | tr '\0' x)"; }
SECRET=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
val 0 | sl secret put web db/password - --uid 1000 --gid 1000 --mode 0440 --state-root "$SR"
expect_eq "put into a container started with no secrets" "$?" 0
OUT=$(nsenter -t "$pid1" -m -p /bin/sh -c 'stat -c "%u %g %a %s" /run/secrets/db/password')
expect_eq "owner, mode, size" "$OUT" "1000 1000 440 $(val 0 | wc -c)"
nsenter -t "$pid1" -m -p /bin/sh -c 'n=0; bad=0; while [ ! -e /ctl/stop ]; do
  v=$(cat /run/secrets/db/password); n=$((n+1))
  case "$v" in BEGIN-*-END) [ ${#v} -eq '"$(val 0 | wc -c)"' ] || bad=$((bad+1));; *) bad=$((bad+1));; esac
  done; echo "$n $bad" > /ctl/reader' &
reader=$!; BG_PIDS="$BG_PIDS $reader"
sleep 0.1
for i in $(seq 1 100); do
  val "$i" | "$LAUNCH" secret put web db/password --uid 1000 --gid 1000 --mode 0440 --state-root "$SR" ||
    fail "replacement $i"
done
touch "$TMP/ctl/stop"; wait "$reader"
read -r reads bad < "$TMP/ctl/reader"
expect_eq "no partial or empty read across 100 replacements" "$bad" 0
[ "$reads" -ge 20 ] && pass "reader read $reads times" || fail "reader read only $reads times"
OUT=$(nsenter -t "$pid1" -m -p /bin/cat /run/secrets/db/password)
expect_eq "last value visible" "$OUT" "$(val 100)"

# 5. Remove it; remove again fails clearly.
sl secret rm web db/password --state-root "$SR"; expect_eq "rm" "$?" 0
OUT=$(nsenter -t "$pid1" -m -p /bin/sh -c 'ls /run/secrets/db')
expect_eq "removed inside" "$OUT" ""
ERR=$(sl secret rm web db/password --state-root "$SR" 2>&1); RC=$?
expect_eq "rm of a missing secret fails" "$RC" 1
expect_match "rm of a missing secret: message" "$ERR" "no secret"

# 6. The tmpfs grows up to the cap (1m here); beyond it a put is refused and the
#    container keeps running.
head -c 600000 /dev/urandom > "$TMP/big1"
sl secret put web big1 "$TMP/big1" --state-root "$SR"; expect_eq "600 KB put grows the tmpfs" "$?" 0
ERR=$(sl secret put web big2 "$TMP/big1" --state-root "$SR" 2>&1); RC=$?
expect_eq "put beyond the cap refused" "$RC" 1
expect_match "cap message" "$ERR" "at its cap of 1048576 bytes"
OUT=$(nsenter -t "$pid1" -m -p /bin/sh -c 'ls /run/secrets; md5sum < /run/secrets/big1')
expect_eq "nothing half-written, first file intact" "$OUT" "$(printf 'big1\ndb\n%s' "$(md5sum < "$TMP/big1")")"
expect_eq "still running after the refused put" "$(jfield web status)" running
rm -f "$TMP/big1"

# 7. Stop with a timeout: the container ignores SIGTERM, so it is killed at the timeout.
t0=$(date +%s%N)
ERR=$(sl stop web --timeout 1 --state-root "$SR" 2>&1); RC=$?
t1=$(date +%s%N); ms=$(( (t1 - t0) / 1000000 ))
expect_eq "stop rc" "$RC" 0
expect_match "stop says it killed" "$ERR" "did not stop within 1 s"
[ "$ms" -ge 950 ] && [ "$ms" -lt 5000 ] && pass "killed at the timeout ($ms ms)" || fail "stop took $ms ms"
expect_eq "stopped" "$(jfield web status)" stopped
expect_eq "killed by SIGKILL" "$(jfield web exitSignal)" 9
[ ! -e "/proc/$pid1" ] || [ "$(starttime "$pid1")" != "$st1" ] && pass "PID 1 gone" || fail "PID 1 alive"

# 8. Delete: gone from the list, no cgroup left; the name can be taken again.
sl delete web --state-root "$SR"; expect_eq "delete" "$?" 0
expect_eq "list empty" "$(sl list --state-root "$SR" | tail -n +2)" ""
expect_eq "no cgroup left" "$(ls -d /sys/fs/cgroup/*/secretd/web /sys/fs/cgroup/unified/secretd/web 2>/dev/null)" ""

# 9. A name is taken once.
run run --detach --name dup --state-root "$SR" --rootfs "$ROOTFS" -- /bin/sleep 30
expect_eq "first dup" "$RC" 0
run run --detach --name dup --state-root "$SR" --rootfs "$ROOTFS" -- /bin/sleep 30
expect_eq "second dup refused" "$RC" 125
expect_match "second dup message" "$ERR" "a container named \"dup\" exists"
run delete dup --state-root "$SR"
expect_eq "delete of a running container refused" "$RC" 1
expect_match "delete running: message" "$ERR" "running"
run delete dup --force --state-root "$SR"
expect_eq "delete --force" "$RC" 0

# 9b. --userns: a put's owner is a container id, mapped like --secret's.
run run --detach --name uns --userns --state-root "$SR" --rootfs "$ROOTFS" -- /bin/sleep 30
expect_eq "userns detached" "$RC" 0
printf 'u' | sl secret put uns owned --uid 1000 --gid 1000 --state-root "$SR" || fail "userns put"
upid=$(jfield uns pid)
expect_eq "userns: owner seen inside" "$(nsenter -t "$upid" -m -U -p /bin/stat -c '%u %g' /run/secrets/owned)" "1000 1000"
expect_eq "userns: host owner" "$(nsenter -t "$upid" -m -p /bin/stat -c '%u %g' /run/secrets/owned)" "101000 101000"
ERR=$(printf 'u' | sl secret put uns bad --uid 70000 --state-root "$SR" 2>&1); RC=$?
expect_eq "userns: unmapped owner refused" "$RC" 1
expect_match "userns: unmapped owner message" "$ERR" "not mapped"
sl delete --force uns --state-root "$SR" || fail "delete uns"

# 10. A container that exits while nobody watches: stopped, with its exit status.
run run --detach --name quick --state-root "$SR" --rootfs "$ROOTFS" -- /bin/sh -c 'sleep 0.2; exit 7'
expect_eq "quick started" "$RC" 0
sleep 0.6
expect_eq "exited: stopped" "$(jfield quick status)" stopped
expect_eq "exited: exit code" "$(jfield quick exitCode)" 7
sl delete quick --state-root "$SR" || fail "delete quick"

# 11. A pid reused by another process is never adopted: point a stopped container's
#     state at a live process (wrong start time; then right start time, wrong cgroup).
run run --detach --name reuse --state-root "$SR" --rootfs "$ROOTFS" -- /bin/true
sleep 0.3
sleep 30 & victim=$!; BG_PIDS="$BG_PIDS $victim"
edit_state reuse "$victim" 12345
grep -q "\"pid\":$victim,.*\"startTime\":12345," "$SR/reuse/state.json" || fail "state edit"
run kill reuse KILL --state-root "$SR"
expect_eq "reused pid, wrong start time: not adopted" "$RC" 1
kill -0 "$victim" 2>/dev/null && pass "the other process lives" || fail "the other process was killed"
expect_eq "stale state shows stopped" "$(jfield reuse status)" stopped
edit_state reuse "$victim" "$(starttime "$victim")"
run stop reuse --timeout 0 --state-root "$SR"
expect_eq "right start time, other cgroup: not adopted" "$RC" 1
kill -0 "$victim" 2>/dev/null && pass "the other process still lives" || fail "killed by stop"
kill "$victim"
sl delete reuse --state-root "$SR" >/dev/null || fail "delete reuse"

# 12. Unknown names fail clearly.
run kill nosuch --state-root "$SR"
expect_eq "kill unknown: exit 1" "$RC" 1
expect_match "kill unknown: message" "$ERR" "no container named \"nosuch\""
run stop nosuch --timeout 1 --state-root "$SR"
expect_eq "stop unknown: exit 1" "$RC" 1
expect_match "stop unknown: message" "$ERR" "no container named \"nosuch\""
run state ../etc --state-root "$SR"
expect_match "bad name refused" "$ERR" "invalid container name"

# 13. Stale state: supervisor and container killed; seen as stopped, cgroup removed.
run run --detach --name stale --state-root "$SR" --rootfs "$ROOTFS" --memory 64m -- /bin/sleep 60
sup=$(sed -n 's/.*"supervisor":\([0-9]*\),.*/\1/p' "$SR/stale/state.json")
p1=$(jfield stale pid)
kill -KILL "$sup" "$p1"; sleep 0.2
expect_eq "stale: stopped" "$(jfield stale status)" stopped
expect_eq "stale: its empty cgroup removed" "$(ls -d /sys/fs/cgroup/*/secretd/stale 2>/dev/null)" ""
run secret put stale x --state-root "$SR" <<<"y"
expect_match "put into a stopped container refused" "$ERR" "not running"
sl delete stale --state-root "$SR" || fail "delete stale"

# 14. Empty cgroups left by a SIGKILLed foreground launcher are swept by the next one.
"$LAUNCH" --rootfs "$ROOTFS" -- /bin/sleep 30 &
fl=$!
for _ in $(seq 100); do pgrep -P $fl >/dev/null && break; sleep 0.02; done
grp=$(ls -d /sys/fs/cgroup/*/secretd/launch-"$fl"-* 2>/dev/null | head -1)
[ -n "$grp" ] && pass "foreground group exists" || fail "no group for launcher $fl"
kill -KILL $fl; wait $fl 2>/dev/null; sleep 0.2
run --rootfs "$ROOTFS" -- /bin/true
expect_eq "next launch ok" "$RC" 0
expect_eq "left-over groups swept" "$(ls -d /sys/fs/cgroup/*/secretd/launch-"$fl"-* 2>/dev/null)" ""

# 15. No secret value on disk: files changed since the start under the state root, /tmp
#     and /var hold neither the secret's text nor its hex.
hits=$(find "$SR" /tmp /var -xdev -type f -newer "$marker" -size -20M 2>/dev/null |
       xargs -r grep -l -a -e "$SECRET" 2>/dev/null)
expect_eq "secret not on disk" "$hits" ""
expect_eq "state root empty" "$(ls -A "$SR")" ""
echo "PASS"
