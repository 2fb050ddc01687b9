#!/bin/bash
# 50 containers on one node with 10 secrets each, through the real binaries
# (issue 11): secretd --listen on loopback, one node joined with a join token
# running `secret-agent run`, 50 services from a busybox rootfs made with
# `secret service create`, each granted the same 10 secrets (distinct values,
# targets in subdirectories; half with no owner flags -> the service's own
# --user, half with --uid/--gid/--mode):
#  - every one of the 500 files, in each container's own view
#    (/proc/PID/root/run/secrets/..., its mount namespace), has the right
#    content, owner and mode, and no container has any other file;
#  - one rotation of each of the 10 secrets reaches all 50 containers (500
#    files) within 5 s (x SLACK) of the first `secret rotate`;
#  - a non-root service under --userns (--user 1000:1000, no owner flags on
#    its grant) reads its secret; `stat` inside shows the container ids
#    (1000:1000; an explicit --uid 5 --gid 1000 shows 5:1000), the host's view
#    the mapped ids (101000, 100005), on the first delivery and after the rotation;
#    a grant to an owner outside the maps (--uid 70000) fails its task (nothing runs);
#  - content trust on the node (issue 13): with `secret-image policy enforce on`
#    in the agent's policy file, a new --rootfs service is refused before any
#    value is delivered (failed, no container, no secret.deliver audited); with
#    enforcement off again it starts, without restarting the agent;
#  - `secret node rm` stops every container; the values (with a random
#    marker) are in no file under the agent's state dir, /tmp or /var.
# Prints the times. Usage: delivery_scale.sh SECRETD SECRET SECRET-AGENT MKROOTFS SECRET-IMAGE
source "$(dirname "$0")/daemon_lib.sh" "$@"
AGENT=${3:?usage: $0 SECRETD SECRET SECRET-AGENT MKROOTFS SECRET-IMAGE}
MKROOTFS=${4:?usage: $0 SECRETD SECRET SECRET-AGENT MKROOTFS SECRET-IMAGE}
IMAGE=${5:?usage: $0 SECRETD SECRET SECRET-AGENT MKROOTFS SECRET-IMAGE}
SLACK=${SD_TIME_SLACK:-1}

if [ "$(id -u)" != 0 ]; then
  echo "SKIP[root]: containers, tmpfs and cgroups need root"
  exit 77
fi

N=50 K=10
STAMP=$T/stamp
touch "$STAMP"
ROOTFS=$T/rootfs
OUT=$T/out
STATE=$T/agent
mkdir -p "$OUT"
chmod 0777 "$OUT" # the userns task (host uid 101000) writes its observations here
"$MKROOTFS" "$ROOTFS" >/dev/null || fail "mkrootfs"
MARKER=mk$(random_hex)
# value S V: secret S's bytes at version V (distinct contents and lengths)
value() { printf 's%s:v%s:%s:%s' "$1" "$2" "$MARKER" "$(printf "%$(($1 * 7))s" '' | tr ' ' x)"; }

# converged VERSION SINCE_MS SECONDS: wait until all N containers see their K files
# at VERSION with the right owner and mode (in their own view), SECONDS at most after
# SINCE_MS (epoch ms); prints the ms from SINCE_MS to the start of the scan of the 500
# files that found them all right (an upper bound: a scan takes some 50 ms).
converged() {
  python3 - "$STATE" "$N" "$K" "$1" "$MARKER" "$2" "$3" <<'PY'
import glob
import json
import os
import sys
import time

state, n, k, version, marker, since_ms, seconds = sys.argv[1:8]
n, k, since, seconds = int(n), int(k), int(since_ms) / 1000.0, float(seconds)


def value(s, v):
    # the same bytes as delivery_scale.sh's value(): distinct per secret and version
    return "s%d:v%s:%s:%s" % (s, v, marker, "x" * (s * 7))


def pids():
    """service name -> PID 1 of its container, from the agent's records."""
    out = {}
    d = os.path.join(state, "delivery")
    for f in glob.glob(os.path.join(d, "tasks", "*.json")):
        try:
            rec = json.load(open(f))
            st = json.load(open(os.path.join(d, "run", os.path.basename(f)[:-5], "state.json")))
            pid = st.get("pid")
            if pid and os.path.exists("/proc/%d" % pid):
                out[rec.get("service")] = pid
        except (OSError, ValueError):
            pass
    return out


def problems():
    """the differences from what every container should see now (empty when none)."""
    bad = []
    running = pids()
    for i in range(1, n + 1):
        pid = running.get("svc%d" % i)
        if not pid:
            bad.append("svc%d does not run" % i)
            continue
        root = "/proc/%d/root/run/secrets" % pid
        try:
            files = sorted(os.path.relpath(os.path.join(dp, f), root)
                           for dp, _, fs in os.walk(root) for f in fs)
        except OSError as e:
            bad.append("svc%d: %s" % (i, e))
            continue
        want = sorted("d%d/s%d" % (s % 3, s) for s in range(1, k + 1))
        if files != want:
            bad.append("svc%d has %s" % (i, files))
            continue
        for s in range(1, k + 1):
            p = os.path.join(root, "d%d/s%d" % (s % 3, s))
            try:
                got = open(p).read()
                st = os.stat(p)
            except OSError as e:
                bad.append("svc%d s%d: %s" % (i, s, e))
                continue
            if got != value(s, version):
                bad.append("svc%d s%d: content of another version or secret (%d bytes)"
                           % (i, s, len(got)))
            if s % 2:
                owner = (2000 + i, 3000 + i, 0o400)
            else:
                owner = (5000 + s, 6000 + i, 0o440)
            if (st.st_uid, st.st_gid, st.st_mode & 0o7777) != owner:
                bad.append("svc%d s%d: owner %d:%d mode %o, not %d:%d %o"
                           % (i, s, st.st_uid, st.st_gid, st.st_mode & 0o7777, *owner))
    return bad


while True:
    scan = time.time()
    bad = problems()
    if not bad:
        print(max(0, int((scan - since) * 1000)))
        sys.exit(0)
    if time.time() - since > seconds:
        print("%d differences, first: %s" % (len(bad), "; ".join(bad[:5])), file=sys.stderr)
        sys.exit(1)
    time.sleep(0.05)
PY
}

PORT=$(free_port)
init_store
start_daemon --listen "127.0.0.1:$PORT"

# The containers are stopped at the end whatever happens: a removed node stops
# them (the last step); on a failure before it, by their PIDs from the records.
agent_cleanup() {
  [ -n "${AGENT_PID:-}" ] && kill -KILL "$AGENT_PID" 2>/dev/null
  kill_containers "$STATE/delivery"
}
CLEANUP_HOOKS+=(agent_cleanup)

S join-token worker --quiet >"$T/tok" 2>"$T/jt.err" || fail "join-token: $(cat "$T/jt.err")"
"$AGENT" join --token-file "$T/tok" --manager "127.0.0.1:$PORT" --state "$STATE" \
  >"$T/join.out" 2>"$T/join.err" || fail "join: $(cat "$T/join.err")"
NODE=$(cat "$T/join.out")
# The node's content-trust policy (read by the agent at every start), off for now.
POL=$T/etc/trust.json
mkdir -p "$T/etc" && chmod 0755 "$T/etc"
{ "$IMAGE" policy require prod --policy "$POL" && "$IMAGE" policy enforce off --policy "$POL"; } \
  >/dev/null 2>"$T/pol.err" || fail "policy: $(cat "$T/pol.err")"
SECRET_TRUST_POLICY=$POL "$AGENT" run --state "$STATE" >>"$T/agent.log" 2>&1 </dev/null &
AGENT_PID=$!
for _ in $(seq 1 $((200 * SLACK))); do
  grep -q "connected to" "$T/agent.log" && break
  sleep 0.05
done
grep -q "connected to" "$T/agent.log" || fail "the agent did not connect: $(tail -n 5 "$T/agent.log")"
ok "node $NODE joined; its agent is connected"

# ---- 10 secrets, 50 services granted all 10 ----
t0=$(now_ms)
for ((s = 1; s <= K; s++)); do
  value "$s" 1 | S create "s$s" - >/dev/null || fail "create s$s"
done
# setup I: service svcI's grants, then the service (4 at a time: the CLI's
# round trips overlap, secretd groups their commits)
setup() {
  local i=$1 s own
  for ((s = 1; s <= K; s++)); do
    own=()
    ((s % 2)) || own=(--uid $((5000 + s)) --gid $((6000 + i)) --mode 0440)
    S grant "s$s" --service "svc$i" --target "d$((s % 3))/s$s" "${own[@]}" >/dev/null ||
      { echo "grant s$s svc$i failed" >&2; return 1; }
  done
  S service create "svc$i" --node "$NODE" --rootfs "$ROOTFS" --user $((2000 + i)):$((3000 + i)) \
    --stop-timeout 0 -- sleep 1000000 >/dev/null || { echo "create svc$i failed" >&2; return 1; }
}
export -f setup S
export SECRET K NODE ROOTFS
seq 1 "$N" | xargs -P 4 -I{} bash -c 'setup {}' 2>"$T/setup.err" ||
  fail "grants and services: $(head -n 3 "$T/setup.err")"
t1=$(now_ms)
ok "$K secrets, $((N * K)) grants and $N services created ($((t1 - t0)) ms)"

w=$(converged 1 "$t1" $((60 * SLACK))) ||
  fail "the $N containers did not all get their $K secrets; agent: $(tail -n 5 "$T/agent.log")"
ok "$N containers with $K secrets each all correct (content, owner, mode) in their own view" \
  "(in the scan begun $w ms after the last service create, $((t1 - t0 + w)) ms from the first" \
  "secret create)"

# ---- one service under --userns, non-root, with no owner flags ----
cat >"$OUT/uns.sh" <<'SH'
last=
while :; do
  # "s1:v1:mk<marker>:..." -> "s1:v1 LENGTH": the value itself is never logged
  a=$(cat /run/secrets/s1 2>&1)
  b=$(cat /run/secrets/u/s2 2>&1)
  v="$(id -u) $(stat -c '%u %g %a' /run/secrets/s1 /run/secrets/u/s2 2>&1 | tr '\n' ' ')${a%%:mk*} ${#a}|${b%%:mk*} ${#b}"
  if [ "$v" != "$last" ]; then
    echo "$v" >>/out/uns.log
    last=$v
  fi
  usleep 20000
done
SH
S grant s1 --service uns --target s1 >/dev/null || fail "grant s1 uns"
S grant s2 --service uns --target u/s2 --uid 5 --gid 1000 --mode 0440 >/dev/null || fail "grant s2 uns"
S service create uns --node "$NODE" --rootfs "$ROOTFS" --userns --user 1000:1000 \
  --mount "$OUT:/out" --stop-timeout 0 -- sh /out/uns.sh >/dev/null 2>"$T/uns.err" ||
  fail "service create --userns: $(cat "$T/uns.err")"
uns_line() { # the line uns.sh logs when it reads version $1 of s1 and s2
  local a b
  a=$(value 1 "$1")
  b=$(value 2 "$1")
  echo "1000 1000 1000 400 5 1000 440 s1:v$1 ${#a}|s2:v$1 ${#b}"
}
# svc_pid NAME: PID 1 of service NAME's running container (empty when none)
svc_pid() { service_pid "$1" "$STATE/delivery"; }
# uns_host VERSION: the userns task's files as the host sees them (mapped ids)
uns_host() {
  local p
  p=$(svc_pid uns)
  [ -n "$p" ] || fail "no container for uns"
  stat -c '%u %g %a' "/proc/$p/root/run/secrets/s1" "/proc/$p/root/run/secrets/u/s2" | tr '\n' ' '
}
wait_uns() { # wait_uns VERSION SECONDS
  for _ in $(seq 1 $(($2 * 20))); do
    [ "$(tail -n1 "$OUT/uns.log" 2>/dev/null)" = "$(uns_line "$1")" ] && return 0
    sleep 0.05
  done
  fail "the userns service saw: $(tail -n 2 "$OUT/uns.log" 2>/dev/null); wanted" \
    "$(uns_line "$1"); ps: $(S service ps uns | tail -n 1)"
}
wait_uns 1 $((10 * SLACK))
[ "$(uns_host 1)" = "101000 101000 400 100005 101000 440 " ] ||
  fail "under --userns the host sees $(uns_host 1)"
ok "a non-root service under --userns reads its secrets with container ids 1000:1000 (no owner" \
  "flags) and 5:1000 (--uid 5 --gid 1000) inside; the host sees 101000:101000 and 100005:101000"

# An owner outside the maps (container id 70000; the default map is 0..65535) keeps
# the task from starting: no file is ever written with an unmapped id.
S grant s3 --service unsbad --target s3 --uid 70000 >/dev/null || fail "grant s3 unsbad"
S service create unsbad --node "$NODE" --rootfs "$ROOTFS" --userns --user 1000:1000 \
  --stop-timeout 0 -- sleep 1000000 >/dev/null || fail "service create unsbad"
for _ in $(seq 1 $((100 * SLACK))); do
  [ "$(S service ps unsbad | awk 'NR == 2 {print $4}')" = failed ] && break
  sleep 0.05
done
[ "$(S service ps unsbad | awk 'NR == 2 {print $4}')" = failed ] ||
  fail "a grant to an unmapped owner did not fail the task: $(S service ps unsbad | tail -n 1)"
[ -z "$(svc_pid unsbad)" ] || fail "the task with an unmapped owner runs"
ok "under --userns, a grant to an unmapped owner (--uid 70000) fails the task: nothing runs"

# ---- content trust enforced on the node: a --rootfs service is refused ----
"$IMAGE" policy enforce on --policy "$POL" >/dev/null 2>"$T/pol.err" || fail "enforce on: $(cat "$T/pol.err")"
S grant s4 --service trusted --target s4 >/dev/null || fail "grant s4 trusted"
S service create trusted --node "$NODE" --rootfs "$ROOTFS" --stop-timeout 0 -- sleep 1000000 \
  >/dev/null || fail "service create trusted"
for _ in $(seq 1 $((100 * SLACK))); do
  grep -q "(trusted): failed: content trust: --rootfs refused" "$T/agent.log" && break
  sleep 0.05
done
grep -q "(trusted): failed: content trust: --rootfs refused" "$T/agent.log" ||
  fail "enforced content trust did not refuse the --rootfs service: $(grep trusted "$T/agent.log" | tail -n 3)"
[ "$(S service ps trusted | awk 'NR == 2 {print $4}')" = failed ] ||
  fail "service ps trusted: $(S service ps trusted | tail -n 1)"
[ -z "$(svc_pid trusted)" ] || fail "the refused service runs"
S audit >"$T/audit.txt" 2>&1 || fail "audit: $(tail -n 2 "$T/audit.txt")"
grep -q "secret.deliver .*service:svc" "$T/audit.txt" ||
  fail "the audit names no service in its deliveries: $(grep secret.deliver "$T/audit.txt" | head -n 1)"
grep -q "secret.deliver .*service:trusted " "$T/audit.txt" && fail "a value was delivered for the refused service"
ok "content trust enforced on the node: the --rootfs service is refused before any delivery"
"$IMAGE" policy enforce off --policy "$POL" >/dev/null 2>"$T/pol.err" || fail "enforce off: $(cat "$T/pol.err")"
for _ in $(seq 1 $((300 * SLACK))); do
  [ -n "$(svc_pid trusted)" ] && break
  sleep 0.05
done
[ -n "$(svc_pid trusted)" ] || fail "the service did not start once enforcement was off: $(S service ps trusted | tail -n 1)"
ok "with enforcement off again the service starts (the agent reads the policy at every start)"

# ---- one rotation of each secret reaches all 50 ----
t0=$(now_ms)
for ((s = 1; s <= K; s++)); do
  value "$s" 2 | S rotate "s$s" - >/dev/null || fail "rotate s$s"
done
t1=$(now_ms)
LIMIT=$((5 * SLACK))
w=$(converged 2 "$t0" "$LIMIT") ||
  fail "the rotations did not reach all $N containers within $LIMIT s; agent: $(tail -n 5 "$T/agent.log")"
ok "one rotation of each of the $K secrets reached all $N containers ($((N * K)) files): all" \
  "right in the scan begun $w ms after the first rotate (the $K rotates took $((t1 - t0)) ms;" \
  "limit $LIMIT s)"
wait_uns 2 $((5 * SLACK))
[ "$(uns_host 2)" = "101000 101000 400 100005 101000 440 " ] ||
  fail "after the rotation, under --userns the host sees $(uns_host 2)"
ok "the rotation reached the --userns service with the same mapped owners"

# ---- node rm: every container stops ----
S node rm "$NODE" --force >/dev/null 2>&1 || fail "node rm"
for _ in $(seq 1 $((200 * SLACK))); do
  grep -q "removed from the cluster" "$T/agent.log" &&
    [ -z "$(find "$STATE/delivery" -mindepth 2 2>/dev/null)" ] && break
  sleep 0.1
done
[ -z "$(find "$STATE/delivery" -mindepth 2 2>/dev/null)" ] ||
  fail "the agent's delivery state was not wiped after node rm: $(tail -n 5 "$T/agent.log")"
rc=0 # a removed node's agent exits by itself, with status 3
wait "$AGENT_PID" || rc=$?
[ $rc -eq 3 ] || fail "the agent exited with $rc after its removal: $(tail -n 5 "$T/agent.log")"
AGENT_PID=
left=$(grep -c " ${T}/" /proc/self/mountinfo || true)
[ "$left" = 0 ] || fail "$left mounts under $T left after node rm"
ok "node rm: the agent stopped all $((N + 2)) containers and wiped their state"

hits=$(find "$STATE" /tmp /var -xdev -type f -newer "$STAMP" -print0 2>/dev/null |
  xargs -0 -r grep -lF -- "$MARKER" 2>/dev/null || true)
[ -z "$hits" ] || fail "the marker value is on disk: $hits"
ok "the marker value is in no file under the agent's state dir, /tmp or /var"
grep -qE 'Sanitizer|runtime error' "$T/agent.log" "$T/err.log" && fail "sanitizer report"
stop_daemon
echo PASS
