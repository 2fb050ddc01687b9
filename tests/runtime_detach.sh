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
  for r in "$SR" "$TMP/state2"; do
    for n in $(ls "$r" 2>/dev/null); do "$LAUNCH" delete --force "$n" --state-root "$r" >/dev/null 2>&1; done
  done
  # the foreground --name container of 9a, if a failure killed its launcher
  for p in $BG_PIDS; do kill -KILL "$p" 2>/dev/null; done; wait 2>/dev/null
  for d in /sys/fs/cgroup/*/secretd/fg-$$ /sys/fs/cgroup/secretd/fg-$$; do
    [ -d "$d" ] || continue
    for _ in $(seq 40); do rmdir "$d" 2>/dev/null && break; sleep 0.05; done
  done
}
trap 'cleanup_containers; cleanup' EXIT
# Names unique to this run: two runs at once (two checkouts) or a user's own container
# of the same name must not meet, in the state root or in the cgroup tree.
WEB=web-$$ DUP=dup-$$ UNS=uns-$$ QUICK=quick-$$ REUSE=reuse-$$ STALE=stale-$$
# cgroup_of NAME: the group a container's state records ("secretd/NAME.<root tag>").
cgroup_of() { sed -n 's/.*"cgroup":"\([^"]*\)".*/\1/p' "$SR/$1/state.json" | sed 's#\\/#/#g'; }

# 1. Start detached from a process group that is then SIGKILLed: the container, started
#    with no secrets, keeps running with the same PID 1.
setsid bash -c "\"$LAUNCH\" run --detach --name $WEB --state-root \"$SR\" --rootfs \"$ROOTFS\" \
  --mount \"$TMP/ctl:/ctl\" --secrets-max-size 1m -- /bin/sh -c 'trap \"\" TERM; touch /ctl/up; \
  while :; do sleep 1; done' && echo started > \"$TMP/started\"; exec sleep 60" &
starter=$!; BG_PIDS="$BG_PIDS $starter"
for _ in $(seq 200); do [ -e "$TMP/started" ] && break; sleep 0.02; done
expect_eq "run --detach returned once the command runs" "$(cat "$TMP/started" 2>/dev/null)" started
pid1=$(jfield $WEB pid)
st1=$(starttime "$pid1")
kill -KILL -- "-$starter"; wait "$starter" 2>/dev/null
sleep 0.2
expect_eq "container runs after its starter was SIGKILLed" "$(jfield $WEB status)" running
expect_eq "same PID 1" "$(jfield $WEB pid)" "$pid1"
expect_eq "same process (start time)" "$(starttime "$pid1")" "$st1"
[ -e "$TMP/ctl/up" ] && pass "command ran" || fail "command did not run"
cg_web=$(cgroup_of $WEB)
expect_match "cgroup tagged with the state root" "$cg_web" "^secretd/$WEB\.[0-9a-f]{8}\$"
grep -q ":/$cg_web\$" "/proc/$pid1/cgroup" && pass "PID 1 is in that group" || fail "no group $cg_web"

# 2. A new process lists it (text and JSON).
OUT=$(sl list --state-root "$SR")
expect_match "list shows it running" "$OUT" "^$WEB +$pid1 +running"
OUT=$(sl list --json --state-root "$SR" | tr -d ' \n')
expect_match "list --json" "$OUT" "^\[\{\"ociVersion\":\"1.0.2\",\"id\":\"$WEB\",\"status\":\"running\",\"pid\":$pid1,.*\}\]$"
OUT=$(sl state $WEB --state-root "$SR" | sed -n 's/^ *"\([a-zA-Z]*\)":.*/\1/p' | sort | tr '\n' ' ')
expect_eq "state has the OCI fields" "$OUT" "bundle created id ociVersion pid status "

# 3. The state directory and the writable secrets mount are invisible inside.
"$LAUNCH" secret put $WEB probe --state-root "$SR" --uid 0 --mode 0400 <<<"p" || fail "put probe"
OUT=$(nsenter -t "$pid1" -m -p /bin/sh -c "ls /run/secretd 2>&1; grep -c '$SR' /proc/self/mountinfo; grep ' /run/secrets ' /proc/self/mountinfo | grep -c ' ro,'; ls /run/secrets")
expect_eq "no state dir, only the ro secrets view inside" "$OUT" \
  "$(printf "ls: /run/secretd: No such file or directory\n0\n1\nprobe")"
"$LAUNCH" secret rm $WEB probe --state-root "$SR" || fail "rm probe"

# 4. A secret from stdin (never on disk), replaced 100 times while a reader loops.
val() { printf 'BEGIN-%s-%03d-%s-END' "$SECRET" "$1" "$(head -c 3000 /dev/zero | tr '\0' x)"; }
SECRET=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
val 0 | sl secret put $WEB db/password - --uid 1000 --gid 1000 --mode 0440 --state-root "$SR"
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
  val "$i" | "$LAUNCH" secret put $WEB db/password --uid 1000 --gid 1000 --mode 0440 --state-root "$SR" ||
    fail "replacement $i"
done
touch "$TMP/ctl/stop"; wait "$reader"
read -r reads bad < "$TMP/ctl/reader"
expect_eq "no partial or empty read across 100 replacements" "$bad" 0
[ "$reads" -ge 20 ] && pass "reader read $reads times" || fail "reader read only $reads times"
OUT=$(nsenter -t "$pid1" -m -p /bin/cat /run/secrets/db/password)
expect_eq "last value visible" "$OUT" "$(val 100)"

# 5. Remove it; remove again fails clearly.
sl secret rm $WEB db/password --state-root "$SR"; expect_eq "rm" "$?" 0
OUT=$(nsenter -t "$pid1" -m -p /bin/sh -c 'ls /run/secrets/db')
expect_eq "removed inside" "$OUT" ""
ERR=$(sl secret rm $WEB db/password --state-root "$SR" 2>&1); RC=$?
expect_eq "rm of a missing secret fails" "$RC" 1
expect_match "rm of a missing secret: message" "$ERR" "no secret"

# 6. The tmpfs grows up to the cap (1m here); beyond it a put is refused and the
#    container keeps running.
head -c 600000 /dev/urandom > "$TMP/big1"
sl secret put $WEB big1 "$TMP/big1" --state-root "$SR"; expect_eq "600 KB put grows the tmpfs" "$?" 0
ERR=$(sl secret put $WEB big2 "$TMP/big1" --state-root "$SR" 2>&1); RC=$?
expect_eq "put beyond the cap refused" "$RC" 1
expect_match "cap message" "$ERR" "at its cap of 1048576 bytes"
OUT=$(nsenter -t "$pid1" -m -p /bin/sh -c 'ls /run/secrets; md5sum < /run/secrets/big1')
expect_eq "nothing half-written, first file intact" "$OUT" "$(printf 'big1\ndb\n%s' "$(md5sum < "$TMP/big1")")"
expect_eq "still running after the refused put" "$(jfield $WEB status)" running
rm -f "$TMP/big1"

# 7. Stop with a timeout: the container ignores SIGTERM, so it is killed at the timeout.
t0=$(date +%s%N)
ERR=$(sl stop $WEB --timeout 1 --state-root "$SR" 2>&1); RC=$?
t1=$(date +%s%N); ms=$(( (t1 - t0) / 1000000 ))
expect_eq "stop rc" "$RC" 0
expect_match "stop says it killed" "$ERR" "did not stop within 1 s"
[ "$ms" -ge 950 ] && [ "$ms" -lt 5000 ] && pass "killed at the timeout ($ms ms)" || fail "stop took $ms ms"
expect_eq "stopped" "$(jfield $WEB status)" stopped
expect_eq "killed by SIGKILL" "$(jfield $WEB exitSignal)" 9
[ ! -e "/proc/$pid1" ] || [ "$(starttime "$pid1")" != "$st1" ] && pass "PID 1 gone" || fail "PID 1 alive"

# 8. Delete: gone from the list, no cgroup left; the name can be taken again.
sl delete $WEB --state-root "$SR"; expect_eq "delete" "$?" 0
expect_eq "list empty" "$(sl list --state-root "$SR" | tail -n +2)" ""
expect_eq "no cgroup left" "$(ls -d /sys/fs/cgroup/*/"$cg_web" /sys/fs/cgroup/"$cg_web" 2>/dev/null)" ""

# 9. A name is taken once.
run run --detach --name $DUP --state-root "$SR" --rootfs "$ROOTFS" -- /bin/sleep 30
expect_eq "first dup" "$RC" 0
run run --detach --name $DUP --state-root "$SR" --rootfs "$ROOTFS" -- /bin/sleep 30
expect_eq "second dup refused" "$RC" 125
expect_match "second dup message" "$ERR" "a container named \"$DUP\" exists"

# 9a. One name under two state roots at once: each has its own group (the name alone
#     would collide: "cgroup: File exists"); deleting one leaves the other running.
SR2=$TMP/state2
run run --detach --name $DUP --state-root "$SR2" --rootfs "$ROOTFS" -- /bin/sleep 30
expect_eq "same name, other state root: runs" "$RC" 0
cg1=$(cgroup_of $DUP); cg2=$(SR=$SR2 cgroup_of $DUP)
[ -n "$cg1" ] && [ -n "$cg2" ] && [ "$cg1" != "$cg2" ] && pass "two groups: $cg1 $cg2" ||
  fail "groups [$cg1] [$cg2]"
run delete $DUP --force --state-root "$SR2"
expect_eq "delete under the second root" "$RC" 0
expect_eq "the first still runs" "$(jfield $DUP status)" running
# A 64-character name still fits with its tag.
LONG=$(printf 'l%.0s' $(seq 57))-$$; LONG=${LONG:0:64}
run run --detach --name "$LONG" --state-root "$SR2" --rootfs "$ROOTFS" -- /bin/true
expect_eq "64-character name runs detached" "$RC" 0
run delete "$LONG" --force --state-root "$SR2"
expect_eq "64-character name deleted" "$RC" 0
# Two foreground containers of one --name: the second is refused, saying what to do.
FG=fg-$$
"$LAUNCH" --name $FG --stop-timeout 0 --rootfs "$ROOTFS" -- /bin/sleep 30 & fgl=$!; BG_PIDS="$BG_PIDS $fgl"
for _ in $(seq 100); do pgrep -P $fgl >/dev/null && break; sleep 0.02; done
run --name $FG --rootfs "$ROOTFS" -- /bin/true
expect_eq "same --name twice: refused" "$RC" 125
expect_match "same --name: what exists" "$ERR" "secretd/$FG exists: a container with this name runs"
expect_match "same --name: what to do" "$ERR" "choose another --name"
kill -TERM $fgl; wait $fgl 2>/dev/null
run delete $DUP --state-root "$SR"
expect_eq "delete of a running container refused" "$RC" 1
expect_match "delete running: message" "$ERR" "running"
run delete $DUP --force --state-root "$SR"
expect_eq "delete --force" "$RC" 0

# 9b. --userns: a put's owner is a container id, mapped like --secret's.
run run --detach --name $UNS --userns --state-root "$SR" --rootfs "$ROOTFS" -- /bin/sleep 30
expect_eq "userns detached" "$RC" 0
printf 'u' | sl secret put $UNS owned --uid 1000 --gid 1000 --state-root "$SR" || fail "userns put"
upid=$(jfield $UNS pid)
expect_eq "userns: owner seen inside" "$(nsenter -t "$upid" -m -U -p /bin/stat -c '%u %g' /run/secrets/owned)" "1000 1000"
expect_eq "userns: host owner" "$(nsenter -t "$upid" -m -p /bin/stat -c '%u %g' /run/secrets/owned)" "101000 101000"
ERR=$(printf 'u' | sl secret put $UNS bad --uid 70000 --state-root "$SR" 2>&1); RC=$?
expect_eq "userns: unmapped owner refused" "$RC" 1
expect_match "userns: unmapped owner message" "$ERR" "not mapped"
sl delete --force $UNS --state-root "$SR" || fail "delete $UNS"

# 10. A container that exits while nobody watches: stopped, with its exit status.
run run --detach --name $QUICK --state-root "$SR" --rootfs "$ROOTFS" -- /bin/sh -c 'sleep 0.2; exit 7'
expect_eq "quick started" "$RC" 0
sleep 0.6
expect_eq "exited: stopped" "$(jfield $QUICK status)" stopped
expect_eq "exited: exit code" "$(jfield $QUICK exitCode)" 7
sl delete $QUICK --state-root "$SR" || fail "delete $QUICK"

# 11. A pid reused by another process is never adopted: point a stopped container's
#     state at a live process (wrong start time; then right start time, wrong cgroup).
run run --detach --name $REUSE --state-root "$SR" --rootfs "$ROOTFS" -- /bin/true
sleep 0.3
sleep 30 & victim=$!; BG_PIDS="$BG_PIDS $victim"
edit_state $REUSE "$victim" 12345
grep -q "\"pid\":$victim,.*\"startTime\":12345," "$SR/$REUSE/state.json" || fail "state edit"
run kill $REUSE KILL --state-root "$SR"
expect_eq "reused pid, wrong start time: not adopted" "$RC" 1
kill -0 "$victim" 2>/dev/null && pass "the other process lives" || fail "the other process was killed"
expect_eq "stale state shows stopped" "$(jfield $REUSE status)" stopped
edit_state $REUSE "$victim" "$(starttime "$victim")"
run stop $REUSE --timeout 0 --state-root "$SR"
expect_eq "right start time, other cgroup: not adopted" "$RC" 1
kill -0 "$victim" 2>/dev/null && pass "the other process still lives" || fail "killed by stop"
kill "$victim"
sl delete $REUSE --state-root "$SR" >/dev/null || fail "delete $REUSE"

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
run run --detach --name $STALE --state-root "$SR" --rootfs "$ROOTFS" --memory 64m -- /bin/sleep 60
sup=$(sed -n 's/.*"supervisor":\([0-9]*\),.*/\1/p' "$SR/$STALE/state.json")
cg_stale=$(cgroup_of $STALE)
p1=$(jfield $STALE pid)
kill -KILL "$sup" "$p1"; sleep 0.2
expect_eq "stale: stopped" "$(jfield $STALE status)" stopped
[ -n "$cg_stale" ] || fail "no cgroup recorded for $STALE"
expect_eq "stale: its empty cgroup removed" "$(ls -d /sys/fs/cgroup/*/"$cg_stale" /sys/fs/cgroup/"$cg_stale" 2>/dev/null)" ""
run secret put $STALE x --state-root "$SR" <<<"y"
expect_match "put into a stopped container refused" "$ERR" "not running"
sl delete $STALE --state-root "$SR" || fail "delete $STALE"

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
