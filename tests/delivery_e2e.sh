#!/bin/bash
# Secret delivery end to end through the real binaries (issue 11): secretd
# with --listen on a veth pair this test creates (and removes), two nodes
# joined with a join token, each running `secret-agent run` (one in the root
# network namespace, one in a network namespace of its own), services from a
# busybox rootfs created with `secret service create`:
#  - a granted service's command reads /run/secrets/db, on either node; a
#    service without the grant on the same node has no such file;
#  - `secret rotate` is seen inside the running container within 1 s (x SLACK;
#    100 rotations, latencies printed), never a partial or empty file;
#  - another node (a test client with that node's real certificate) asking for
#    the secret is refused and audited; this node asking for an old version is
#    refused that version and audited;
#  - a new grant to a running service adds the file within 1 s;
#  - a non-root service (--user 1000:1000) reads its secret with no owner flags;
#  - `secret revoke` removes the file within 1 s;
#  - `secret service ps` shows the tasks running as the agent reported them;
#  - `secret audit` shows each delivery (node, task, secret, version; never the value);
#  - the agent killed with SIGKILL and restarted takes its container back (same
#    PID 1) and applies a revoke made while it was down;
#  - secretd killed with SIGKILL and restarted: the agent reconnects and
#    later rotations are seen live again;
#  - `secret node rm` makes the agent stop its tasks and wipe their state;
#  - a random marker in every value is in no file under the agent's state
#    dir, /tmp or /var changed during the run.
# Usage: delivery_e2e.sh SECRETD SECRET SECRET-AGENT MKROOTFS
source "$(dirname "$0")/daemon_lib.sh" "$@"
AGENT=${3:?usage: $0 SECRETD SECRET SECRET-AGENT MKROOTFS}
MKROOTFS=${4:?usage: $0 SECRETD SECRET SECRET-AGENT MKROOTFS}
SLACK=${SD_TIME_SLACK:-1}

if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v nsenter >/dev/null; then
  echo "SKIP[root]: containers, tmpfs, cgroups and network namespaces need root"
  exit 77
fi

STAMP=$T/stamp
touch "$STAMP"
ROOTFS=$T/rootfs
OUT=$T/out
STATE=$T/agent
mkdir -p "$OUT"
chmod 0777 "$OUT" # the non-root task writes its observations here
"$MKROOTFS" "$ROOTFS" >/dev/null || fail "mkrootfs"
MARKER=mk$(random_hex)
# value N: version N's bytes, "N:MARKER:end" (the reader logs only N and the length)
value() { printf '%s:%s:end' "$1" "$MARKER"; }
vlen() { local v; v=$(value "$1"); echo "${#v}"; }

# reader.sh NAME: logs every change it sees at /run/secrets/db as "PREFIX LENGTH"
# (" 0" when there is no file); `read` is a builtin: a read costs no fork.
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

# wait_line FILE LINE SECONDS: until FILE has LINE as its last line; prints the wait in ms
wait_line() {
  local start end
  start=$(now_ms)
  end=$((start + $3 * 1000))
  while [ "$(now_ms)" -le "$end" ]; do
    if [ -f "$1" ] && [ "$(tail -n1 "$1")" = "$2" ]; then
      echo $(($(now_ms) - start))
      return 0
    fi
    sleep 0.005
  done
  return 1
}
wait_log() { # wait_log FILE PATTERN SECONDS
  for _ in $(seq 1 $(($3 * 20 * SLACK))); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  fail "no '$2' in $1: $(tail -n 20 "$1")"
}

# The manager's address on a veth pair; node 2's agent runs in NSN behind it.
NSN=sdde-n-$$
CLEANUP_HOOKS+=("ip netns del $NSN 2>/dev/null")
ip netns add "$NSN"
ip link add "sde1$$" type veth peer name "sde2$$"
ip link set "sde2$$" netns "$NSN"
NET=10.233.$(($$ % 250)) # a subnet of this run's own
ip addr add "$NET.1/24" dev "sde1$$"
ip -n "$NSN" addr add "$NET.2/24" dev "sde2$$"
ip link set "sde1$$" up
ip -n "$NSN" link set "sde2$$" up
ip -n "$NSN" link set lo up
IN_NS() { nsenter --net="/run/netns/$NSN" "$@"; } # the network namespace only
MGR=$NET.1
PORT=$(free_port)
init_store
start_daemon --listen "$MGR:$PORT" --heartbeat-ms 500 --heartbeat-missed 3

# The agent's containers are stopped at the end whatever happens: a removed
# node stops them (the last step); otherwise the agent's delivery state is
# taken back by a last agent run that is told the node is gone.
agent_cleanup() {
  [ -n "${AGENT_PID:-}" ] && kill -KILL "$AGENT_PID" 2>/dev/null
  [ -n "${AGENT2_PID:-}" ] && kill -KILL "$AGENT2_PID" 2>/dev/null
  kill_containers "$STATE/delivery" "$T/agent2/delivery"
}
CLEANUP_HOOKS+=(agent_cleanup)

S join-token worker --quiet >"$T/tok" 2>"$T/jt.err" || fail "join-token: $(cat "$T/jt.err")"
"$AGENT" join --token-file "$T/tok" --manager "$MGR:$PORT" --state "$STATE" \
  >"$T/join.out" 2>"$T/join.err" || fail "join: $(cat "$T/join.err")"
NODE=$(cat "$T/join.out")
start_agent() {
  "$AGENT" run --state "$STATE" >>"$T/agent.log" 2>&1 </dev/null &
  AGENT_PID=$!
}
start_agent
wait_log "$T/agent.log" "connected to $MGR:$PORT" 10
IN_NS "$AGENT" join --token-file "$T/tok" --manager "$MGR:$PORT" --state "$T/agent2" \
  >"$T/join2.out" 2>"$T/join2.err" || fail "join 2: $(cat "$T/join2.err")"
NODE2=$(cat "$T/join2.out")
# not through IN_NS: $! must be the agent's own pid (nsenter execs it)
nsenter --net="/run/netns/$NSN" "$AGENT" run --state "$T/agent2" >>"$T/agent2.log" 2>&1 </dev/null &
AGENT2_PID=$!
wait_log "$T/agent2.log" "connected to $MGR:$PORT" 10
ok "nodes $NODE (root namespace) and $NODE2 (namespace $NSN, $NET.2) joined; their agents are connected"

# ---- services: granted, not granted, non-root ----
value 1 | S create db - >/dev/null || fail "secret create"
RUN=(--node "$NODE" --rootfs "$ROOTFS" --mount "$OUT:/out" --stop-timeout 1)
S grant db --service web >/dev/null || fail "grant web"
S grant db --service nonroot >/dev/null || fail "grant nonroot"
t0=$(now_ms)
S service create web "${RUN[@]}" -- sh /out/reader.sh web >/dev/null || fail "create web"
S service create batch "${RUN[@]}" -- sh /out/reader.sh batch >/dev/null || fail "create batch"
S service create nonroot "${RUN[@]}" --user 1000:1000 -- sh /out/reader.sh nonroot >/dev/null ||
  fail "create nonroot"
wait_line "$OUT/web.log" "1 $(vlen 1)" $((10 * SLACK)) >/dev/null ||
  fail "web never read its secret: $(cat "$OUT/web.log" 2>/dev/null); agent: $(tail -n 20 "$T/agent.log")"
[ "$(head -n1 "$OUT/web.log")" = "1 $(vlen 1)" ] ||
  fail "web's first read was not its secret: $(cat "$OUT/web.log")"
ok "service create -> web's command reads /run/secrets/db from its first read ($(($(now_ms) - t0)) ms after create)"
wait_line "$OUT/nonroot.log" "1 $(vlen 1)" $((5 * SLACK)) >/dev/null ||
  fail "the non-root service cannot read its secret: $(cat "$OUT/nonroot.log" 2>/dev/null)"
ok "a non-root service (--user 1000:1000) reads its secret with no owner flags"
wait_line "$OUT/batch.log" " 0" $((5 * SLACK)) >/dev/null || fail "batch did not start"
S grant db --service far >/dev/null || fail "grant far"
S service create far --node "$NODE2" --rootfs "$ROOTFS" --mount "$OUT:/out" --stop-timeout 1 \
  -- sh /out/reader.sh far >/dev/null || fail "create far"
wait_line "$OUT/far.log" "1 $(vlen 1)" $((10 * SLACK)) >/dev/null ||
  fail "far (node 2) never read its secret: $(cat "$OUT/far.log" 2>/dev/null); agent 2: $(tail -n 20 "$T/agent2.log")"
[ "$(head -n1 "$OUT/far.log")" = "1 $(vlen 1)" ] || fail "far's first read: $(cat "$OUT/far.log")"
ok "a service without the grant on the same node has no /run/secrets/db"

# service ps shows what the agent reported
for _ in $(seq 1 $((40 * SLACK))); do
  S service ps web >"$T/ps" 2>&1 && grep -q running "$T/ps" && break
  sleep 0.05
done
grep -q running "$T/ps" || fail "service ps web: $(cat "$T/ps")"
grep -q "$NODE" "$T/ps" || fail "service ps does not name the node: $(cat "$T/ps")"
ok "secret service ps shows web running on $NODE (task.report)"

# ---- rotations, seen live ----
lat=()
LAST=101 # 100 rotations
ROT_SINCE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for v in $(seq 2 $LAST); do
  t0=$(now_ms)
  value "$v" | S rotate db - >/dev/null || fail "rotate $v"
  w=$(wait_line "$OUT/web.log" "$v $(vlen "$v")" $((2 * SLACK))) ||
    fail "rotation $v not seen by web: $(tail -n3 "$OUT/web.log"); agent: $(tail -n 10 "$T/agent.log")"
  w=$(($(now_ms) - t0))
  [ "$w" -le $((1000 * SLACK)) ] || fail "rotation $v seen after $w ms (limit $((1000 * SLACK)))"
  lat+=("$w")
done
bad=$(awk -v m="$MARKER" '{ if ($2 != length($1) + length(m) + 5) print }' "$OUT/web.log")
[ -z "$bad" ] || fail "web saw partial or empty files: $(head -n3 <<<"$bad")"
sorted=$(printf '%s\n' "${lat[@]}" | sort -n)
p50=$(sed -n 50p <<<"$sorted")
p99=$(sed -n 99p <<<"$sorted")
max=$(tail -n1 <<<"$sorted")
echo "rotation latency, secret rotate -> new content read inside the container (100 rotations," \
  "incl. the CLI): p50 ${p50} ms, p99 ${p99} ms, max ${max} ms"
wait_line "$OUT/nonroot.log" "$LAST $(vlen $LAST)" $((2 * SLACK)) >/dev/null ||
  fail "nonroot did not follow the rotations"
wait_line "$OUT/far.log" "$LAST $(vlen $LAST)" $((2 * SLACK)) >/dev/null ||
  fail "far (node 2) did not follow the rotations: $(tail -n 3 "$OUT/far.log")"
ok "100 rotations seen inside the running containers within 1 s each (x$SLACK), never a partial file"
# the push carries the new set: the agents apply it without asking back (a
# node.assignments per rotation would be 100 requests and audited commits per node)
S audit --json --since "$ROT_SINCE" >"$T/audit_rot.json" || fail "audit"
asked=$(grep -c '"node.assignments"' "$T/audit_rot.json" || true)
[ "$asked" -lt 10 ] || fail "the agents asked node.assignments $asked times during 100 rotations"
ok "rotations reach the agents with their set in the push ($asked node.assignments during 100 rotations)"

# ---- the node authorizer: another node's real certificate, an old version ----
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENT() { python3 "$HERE/identity_client.py" "$@"; }
pem() { # pem STATE NAME: the node's certificate and key as PEM for the test client
  openssl x509 -inform DER -in "$1/node.crt" -out "$T/$2.pem"
  openssl pkey -inform DER -in "$1/node.key" -out "$T/$2.key" 2>/dev/null
}
pem "$T/agent2" n2
pem "$STATE" n1
SINCE=$(date -u -d '-2 seconds' +%Y-%m-%dT%H:%M:%SZ)
TASK=$(S service ps web | awk 'NR == 2 {print $1}')
SID=$(S inspect db | awk '$1 == "id:" {print $2}')
[[ "$TASK" =~ ^[0-9a-f]{32}$ && "$SID" =~ ^[0-9a-f]{32}$ ]] || fail "task $TASK secret $SID"
CLIENT "$MGR:$PORT" node.deliver --cert "$T/n2.pem" --key "$T/n2.key" \
  --args-json "{\"service\":\"web\",\"task\":\"$TASK\",\"secrets\":{\"$SID\":$LAST}}" >"$T/other.out" ||
  fail "client: $(cat "$T/other.out")"
grep -q "^error .*another node" "$T/other.out" || fail "another node was answered: $(cat "$T/other.out")"
CLIENT "$MGR:$PORT" node.deliver --cert "$T/n1.pem" --key "$T/n1.key" \
  --args-json "{\"service\":\"web\",\"task\":\"$TASK\",\"secrets\":{\"$SID\":3}}" >"$T/old.out" ||
  fail "client: $(cat "$T/old.out")"
grep -q "^ok secrets refused:.*older" "$T/old.out" || fail "an old version was answered: $(cat "$T/old.out")"
S audit --json --since "$SINCE" >"$T/audit2.json" || fail "audit"
# (grep -c, not -q, at a pipeline's end: -q would stop early and, under
# pipefail, fail the pipeline with the writer's SIGPIPE)
[ "$(grep '"secret.deliver"' "$T/audit2.json" | grep "$NODE2" | grep -c '"denied"')" -gt 0 ] ||
  fail "the other node's refusal is not audited: $(grep "$NODE2" "$T/audit2.json" | grep -v -e assignments -e "deliver.*\"ok\"" | tail -n 6)"
[ "$(grep '"secret.deliver"' "$T/audit2.json" | grep "version:3 " | grep -c '"denied"')" -gt 0 ] ||
  fail "the old version's refusal is not audited"
ok "node authorizer: node $NODE2's real certificate is refused web's secret, an old version is refused; both audited"

# ---- a new grant to a running service ----
t0=$(now_ms)
S grant db --service batch >/dev/null || fail "grant batch"
wait_line "$OUT/batch.log" "$LAST $(vlen $LAST)" $((2 * SLACK)) >/dev/null ||
  fail "the new grant did not reach batch: $(cat "$OUT/batch.log")"
w=$(($(now_ms) - t0))
[ "$w" -le $((1000 * SLACK)) ] || fail "the grant took $w ms"
ok "a grant to the running service batch adds the file (${w} ms)"

# ---- a pinned version does not move on rotation; a new grant moves it ----
PIN=$((LAST - 2)) # older, still kept (the store keeps the 5 newest versions)
S grant db --service batch --version $PIN >/dev/null 2>"$T/pin.err" || fail "pin $PIN: $(cat "$T/pin.err")"
wait_line "$OUT/batch.log" "$PIN $(vlen $PIN)" $((2 * SLACK)) >/dev/null ||
  fail "the pin did not move batch to version $PIN: $(tail -n 3 "$OUT/batch.log")"
LAST=$((LAST + 1))
value "$LAST" | S rotate db - >/dev/null || fail "rotate $LAST"
wait_line "$OUT/nonroot.log" "$LAST $(vlen $LAST)" $((2 * SLACK)) >/dev/null ||
  fail "nonroot did not see $LAST"
sleep 0.2
[ "$(tail -n1 "$OUT/batch.log")" = "$PIN $(vlen $PIN)" ] ||
  fail "the pinned version moved on rotation: $(tail -n 3 "$OUT/batch.log")"
S grant db --service batch --version 0 >/dev/null || fail "unpin"
wait_line "$OUT/batch.log" "$LAST $(vlen $LAST)" $((2 * SLACK)) >/dev/null ||
  fail "a new grant did not move the pin to the latest: $(tail -n 3 "$OUT/batch.log")"
ok "a pinned version ($PIN) does not move on rotation, and moves with a new grant"

# ---- revoke ----
t0=$(now_ms)
S revoke db --service web >/dev/null || fail "revoke"
wait_line "$OUT/web.log" " 0" $((2 * SLACK)) >/dev/null ||
  fail "revoke: web still has the file: $(tail -n3 "$OUT/web.log")"
w=$(($(now_ms) - t0))
[ "$w" -le $((1000 * SLACK)) ] || fail "the revoke took $w ms"
ok "secret revoke removes web's file (${w} ms)"

# ---- audit: each delivery, never the value ----
S audit --json >"$T/audit.json" || fail "audit"
grep -F -q "$MARKER" "$T/audit.json" "$AUDIT" && fail "the value is in the audit"
python3 - "$T/audit.json" "$NODE" "$LAST" <<'PY' || fail "audit of deliveries: $(grep deliver "$T/audit.json" | head -n3)"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
node = sys.argv[2]
dl = [r for r in recs if r.get("action") == "secret.deliver"]
assert dl, "no secret.deliver record"
ok = [r for r in dl if r.get("outcome") == "ok"]
last = sys.argv[3]
need = {("web", "1"), ("web", last), ("batch", last), ("nonroot", last)}
seen = set()
for r in ok:
    if "service:far " in r["object"] + " ":
        continue  # node 2's
    assert node in str(r.get("actor", "")) or node in json.dumps(r), r
    o = r["object"]
    assert "secret:db" in o and "task:" in o, o
    svc = o.split("service:")[1].split()[0]
    ver = o.split("version:")[1].split()[0]
    seen.add((svc, ver))
missing = need - seen
assert not missing, "missing deliveries %s (seen %s)" % (missing, sorted(seen))
PY
ok "secret audit shows each delivery (node, task, secret, version), never the value"

# ---- agent SIGKILL + restart: same PID 1, a revoke made while down applied ----
task_pid() { # PID 1 of a service's running container, from the agent's records
  python3 - "$STATE/delivery" "$1" <<'PY'
import glob, json, os, sys
d, svc = sys.argv[1], sys.argv[2]
for f in glob.glob(os.path.join(d, "tasks", "*.json")):
    try:
        rec = json.load(open(f))
        if rec.get("service") != svc:
            continue
        st = json.load(open(os.path.join(d, "run", os.path.basename(f)[:-5], "state.json")))
        pid = st.get("pid")
        if pid and os.path.exists("/proc/%d" % pid):
            print(pid)
    except Exception:
        pass
PY
}
PB=$(task_pid batch)
[ -n "$PB" ] || fail "no process for batch"
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
t0=$(now_ms)
# ps_state SERVICE: the state column of its task
ps_state() { S service ps "$1" | awk 'NR == 2 {print $4}'; }
for _ in $(seq 1 $((100 * SLACK))); do [ "$(ps_state batch)" = node_down ] && break; sleep 0.05; done
w=$(($(now_ms) - t0))
[ "$(ps_state batch)" = node_down ] || fail "the node's tasks are not shown down: $(S service ps batch)"
[ "$w" -le $((1500 + 1000 * SLACK)) ] || fail "shown down $w ms after the agent died (window 1500 ms)"
ok "the agent gone, its tasks are shown node_down after $w ms (window 1500 ms)"
S revoke db --service batch >/dev/null || fail "revoke while the agent is down"
sleep 0.3
[ "$(tail -n1 "$OUT/batch.log")" = "$LAST $(vlen $LAST)" ] ||
  fail "delivered secrets did not stay while the agent was down"
start_agent
wait_line "$OUT/batch.log" " 0" $((10 * SLACK)) >/dev/null ||
  fail "the revoke made while the agent was down was not applied: $(tail -n 10 "$T/agent.log")"
[ "$(task_pid batch)" = "$PB" ] || fail "batch was restarted ($PB -> $(task_pid batch))"
for _ in $(seq 1 $((100 * SLACK))); do [ "$(ps_state batch)" = running ] && break; sleep 0.05; done
[ "$(ps_state batch)" = running ] || fail "the taken-back task is not shown running: $(S service ps batch)"
wait_line "$OUT/nonroot.log" "$LAST $(vlen $LAST)" 1 >/dev/null || fail "nonroot lost its secret"
ok "agent SIGKILL + restart: same container (pid $PB), the revoke made while it was down applied"

# ---- secretd SIGKILL + restart: the agent reconnects and follows again ----
kill -KILL "$PID"
wait "$PID" 2>/dev/null || true
PID=
start_daemon --listen "$MGR:$PORT" --heartbeat-ms 500 --heartbeat-missed 3
for v in $((LAST + 1)) $((LAST + 2)) $((LAST + 3)); do
  value "$v" | S rotate db - >/dev/null || fail "rotate $v after the restart"
  t0=$(now_ms)
  wait_line "$OUT/nonroot.log" "$v $(vlen "$v")" $((5 * SLACK)) >/dev/null ||
    fail "rotation $v after secretd's restart not seen: $(tail -n 3 "$OUT/nonroot.log"); agent: $(tail -n 10 "$T/agent.log")"
  w=$(($(now_ms) - t0))
  # the first may wait for the reconnection; the next ones are pushed
  [ "$v" = $((LAST + 1)) ] || [ "$w" -le $((1000 * SLACK)) ] || fail "rotation $v after the restart took $w ms"
done
wait_line "$OUT/far.log" "$((LAST + 3)) $(vlen $((LAST + 3)))" $((5 * SLACK)) >/dev/null ||
  fail "node 2 did not converge after secretd's restart: $(tail -n 3 "$OUT/far.log")"
ok "secretd SIGKILL + restart: both agents reconnected and see rotations live again"

# ---- node rm: the agents stop their tasks and wipe their state ----
S node rm "$NODE2" --force >/dev/null 2>&1 || fail "node rm 2"
wait_log "$T/agent2.log" "removed from the cluster" 10
for _ in $(seq 1 $((100 * SLACK))); do [ -z "$(find "$T/agent2/delivery" -mindepth 2)" ] && break; sleep 0.1; done
[ -z "$(find "$T/agent2/delivery" -mindepth 2)" ] || fail "node 2's state was not wiped"
rc=0 # a removed node's agent exits by itself, with status 3
wait "$AGENT2_PID" || rc=$?
[ $rc -eq 3 ] || fail "agent 2 exited with $rc after its removal: $(tail -n 8 "$T/agent2.log")"
AGENT2_PID=
S node rm "$NODE" --force >/dev/null 2>&1 || fail "node rm"
wait_log "$T/agent.log" "removed from the cluster" 10
for _ in $(seq 1 $((100 * SLACK))); do
  [ -z "$(task_pid web)$(task_pid batch)$(task_pid nonroot)" ] && break
  sleep 0.1
done
[ -z "$(task_pid web)$(task_pid batch)$(task_pid nonroot)" ] || fail "tasks still run after node rm"
wiped() { [ -z "$(find "$STATE/delivery" -mindepth 2 2>/dev/null)" ]; }
for _ in $(seq 1 $((50 * SLACK))); do wiped && break; sleep 0.1; done
wiped || fail "the agent's delivery state was not wiped: $(ls -R "$STATE/delivery")"
rc=0
wait "$AGENT_PID" || rc=$?
[ $rc -eq 3 ] || fail "the agent exited with $rc after its removal: $(tail -n 8 "$T/agent.log")"
AGENT_PID=
sleep $((2 * SLACK)) # past the down window: removed stays removed
[ "$(ps_state web)" = node_removed ] || fail "web's task is not shown removed: $(S service ps web)"
ok "node rm: the agent stopped every task and wiped their state; the tasks are shown node_removed"

# ---- the marker is on no disk ----
hits=$(find "$STATE" /tmp /var -xdev -type f -newer "$STAMP" -print0 2>/dev/null |
  xargs -0 -r grep -lF -- "$MARKER" 2>/dev/null || true)
[ -z "$hits" ] || fail "the marker value is on disk: $hits"
ok "the marker value is in no file under the agent's state dir, /tmp or /var"
grep -qE 'Sanitizer|runtime error' "$T/agent.log" "$T/agent2.log" "$T/err.log" && fail "sanitizer report"
ip netns del "$NSN"
# the kernel tears the namespace (and the veth pair with it) down asynchronously
for _ in $(seq 1 100); do ip link show "sde1$$" >/dev/null 2>&1 || break; sleep 0.05; done
ip link show "sde1$$" >/dev/null 2>&1 && fail "the veth pair was left behind"
[ -e "/run/netns/$NSN" ] && fail "the namespace was left behind"
stop_daemon
echo PASS
