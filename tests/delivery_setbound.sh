#!/bin/bash
# A node's assignment set stays within one frame, through the real binaries:
# secretd --listen on loopback, two nodes joined with a join token, each with its
# `secret-agent run`, busybox containers.
#  - services with large seccomp profiles (about 254 KiB of JSON each) fill node A
#    up to the bound (docs/delivery-manager.md, "The bound on a node's set"): all
#    are accepted and run;
#  - the next service (a large one, then a small one) and the next grant to a
#    service on A are refused before they commit, with a message naming the node,
#    the size its set would reach and the limit; each refusal is audited
#    (error:too_big) and leaves no service or grant behind;
#  - node A still converges: a rotation and then a revoke of a running
#    container's secret reach it (the revoke within 1 s x SLACK), although its set
#    (about 1.06 MiB) is fetched whole with node.assignments each time;
#  - node B is unaffected: a large service placed there is accepted and gets its
#    secret;
#  - nothing says "too large for one frame" in either agent's log or secretd's.
# Usage: delivery_setbound.sh SECRETD SECRET SECRET-AGENT MKROOTFS
source "$(dirname "$0")/daemon_lib.sh" "$@"
AGENT=${3:?usage: $0 SECRETD SECRET SECRET-AGENT MKROOTFS}
MKROOTFS=${4:?usage: $0 SECRETD SECRET SECRET-AGENT MKROOTFS}
SLACK=${SD_TIME_SLACK:-1}

if [ "$(id -u)" != 0 ]; then
  echo "SKIP[root]: containers, tmpfs and cgroups need root"
  exit 77
fi

# The bound: WIRE_MAX_FRAME (1 MiB + 64 KiB) less DISPATCH_SET_RESERVE (1 KiB).
LIMIT=$(((1 << 20) + (64 << 10) - 1024))
BIG=260000 # bytes of one seccomp profile (at most 256 KiB = 262144)
ROOTFS=$T/rootfs
"$MKROOTFS" "$ROOTFS" >/dev/null || fail "mkrootfs"

# profile FILE BYTES: a valid Docker-format profile of exactly BYTES bytes (JSON
# whitespace makes up the size; secretd stores and sends the content as given)
profile() {
  python3 - "$1" "$2" <<'PY'
import sys
head = '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["acct"],"action":"SCMP_ACT_ERRNO"}]'
n = int(sys.argv[2]) - len(head) - 1
open(sys.argv[1], "w").write(head + " " * n + "}")
PY
}

PORT=$(free_port)
init_store
start_daemon --listen "127.0.0.1:$PORT"

agent_cleanup() {
  local p
  for p in ${AGENT_A:-} ${AGENT_B:-}; do kill -KILL "$p" 2>/dev/null; done
  kill_containers "$T"/agent-*/delivery
}
CLEANUP_HOOKS+=(agent_cleanup)

S join-token worker --quiet >"$T/tok" 2>"$T/jt.err" || fail "join-token: $(cat "$T/jt.err")"
join_run() { # join_run NAME: join a node with state $T/agent-NAME, run its agent; prints the node id
  "$AGENT" join --token-file "$T/tok" --manager "127.0.0.1:$PORT" --state "$T/agent-$1" \
    >"$T/join-$1.out" 2>"$T/join-$1.err" || fail "join $1: $(cat "$T/join-$1.err")"
  cat "$T/join-$1.out"
}
NODE_A=$(join_run a)
NODE_B=$(join_run b)
"$AGENT" run --state "$T/agent-a" >>"$T/agent-a.log" 2>&1 </dev/null &
AGENT_A=$!
"$AGENT" run --state "$T/agent-b" >>"$T/agent-b.log" 2>&1 </dev/null &
AGENT_B=$!
for n in a b; do
  for _ in $(seq 1 $((200 * SLACK))); do
    grep -q "connected to" "$T/agent-$n.log" && break
    sleep 0.05
  done
  grep -q "connected to" "$T/agent-$n.log" || fail "agent $n did not connect: $(tail -n 5 "$T/agent-$n.log")"
done
ok "nodes A ($NODE_A) and B ($NODE_B) joined; their agents are connected"

# svc_pid NAME: PID 1 of service NAME's running container (empty when none)
svc_pid() { service_pid "$1" "$T"/agent-*/delivery; }
# wait_for SECONDS CMD...: until CMD succeeds (polling every 20 ms); 1 when it never did
wait_for() {
  local end=$(($(now_ms) + $1 * 1000))
  shift
  while [ "$(now_ms)" -le $end ]; do
    "$@" && return 0
    sleep 0.02
  done
  return 1
}
runs() { [ -n "$(svc_pid "$1")" ]; }
# file_is SERVICE CONTENT: SERVICE's container reads CONTENT at /run/secrets/s1 ("" = no file)
file_is() {
  local p got
  p=$(svc_pid "$1")
  [ -n "$p" ] || return 1
  got=$(cat "/proc/$p/root/run/secrets/s1" 2>/dev/null)
  [ "$got" = "$2" ]
}
create() { # create NAME NODE PROFILE_BYTES (0: no profile) ERRFILE
  local prof=()
  if [ "$3" -gt 0 ]; then
    profile "$T/prof-$1.json" "$3"
    prof=(--seccomp-profile "$T/prof-$1.json")
  fi
  S service create "$1" --node "$2" --rootfs "$ROOTFS" "${prof[@]}" --stop-timeout 0 \
    -- sleep 1000000 >/dev/null 2>"$4"
}
# refused ERRFILE: the message names node A, a size over the limit and the limit;
# prints the size
refused() {
  local msg bytes
  msg=$(cat "$1")
  [[ "$msg" == *"node $NODE_A"* && "$msg" == *"limit of $LIMIT bytes"* ]] ||
    fail "the refusal does not name the node and the limit: $msg"
  bytes=$(sed -n 's/.*would reach \([0-9]*\) bytes.*/\1/p' "$1")
  [ -n "$bytes" ] && [ "$bytes" -gt "$LIMIT" ] || fail "the refusal's size is not over the limit: $msg"
  echo "$bytes"
}

t_start=$(now_ms)
printf 'v1' | S create s1 - >/dev/null || fail "create s1"
printf 'w1' | S create s2 - >/dev/null || fail "create s2"
S grant s1 --service watch >/dev/null || fail "grant s1 watch"
create watch "$NODE_A" 0 "$T/c.err" || fail "create watch: $(cat "$T/c.err")"
wait_for $((10 * SLACK)) file_is watch v1 || fail "watch does not read s1: $(tail -n 5 "$T/agent-a.log")"
ok "a service on A reads its granted secret"

# ---- fill node A ----
for i in 1 2 3 4; do
  create "big$i" "$NODE_A" $BIG "$T/c.err" || fail "create big$i ($BIG-byte profile): $(cat "$T/c.err")"
done
create big5 "$NODE_A" $BIG "$T/c5.err" && fail "a fifth $BIG-byte profile was accepted on A"
over=$(refused "$T/c5.err")
# The same service with a profile smaller by what was over (and 32 bytes): the set's
# bound grows byte for byte with the profile, so this fills A to 32 bytes of the limit.
FILL=$((BIG - (over - LIMIT) - 32))
create big5 "$NODE_A" $FILL "$T/c.err" || fail "create big5 ($FILL bytes, to fill A): $(cat "$T/c.err")"
ok "node A holds 6 services (4 x $BIG-byte and one $FILL-byte seccomp profile: its set 32 bytes" \
  "under the limit of $LIMIT); a fifth $BIG-byte one was refused at $over bytes: $(cat "$T/c5.err")"

create small "$NODE_A" 0 "$T/c6.err" && fail "a small service was accepted on the full node A"
small=$(refused "$T/c6.err")
S grant s2 --service big5 >/dev/null 2>"$T/g.err" && fail "a grant to a service on the full node A was accepted"
g=$(refused "$T/g.err")
[ "$g" -le $((LIMIT + 400)) ] || fail "one grant would grow A's set to $g bytes: 32 under the limit before it?"
S service ls --json | json_get '" ".join(sorted(s["name"] for s in d))' | grep -qw small &&
  fail "the refused service exists"
S inspect s2 --json >"$T/s2.json" || fail "inspect s2"
grep -q big5 "$T/s2.json" && fail "the refused grant exists: $(cat "$T/s2.json")"
ok "the next service (at $small bytes) and the next grant (at $g bytes) are refused: $(cat "$T/g.err")"

S audit >"$T/audit.txt" 2>&1 || fail "audit: $(tail -n 2 "$T/audit.txt")"
[ "$(grep -c "service.create.*error:too_big" "$T/audit.txt")" = 2 ] ||
  fail "the refused creates are not audited: $(grep service.create "$T/audit.txt" | tail -n 3)"
line=$(grep "grant.add.*service:big5" "$T/audit.txt" | tail -n 1)
[[ "$line" == *"node:$NODE_A bytes:$g limit:$LIMIT"* && "$line" == *error:too_big* ]] ||
  fail "the refused grant is not audited with node, size and limit: $line"
ok "each refusal is audited (error:too_big, with the node, the size and the limit)"

for s in watch big1 big2 big3 big4 big5; do
  wait_for $((20 * SLACK)) runs "$s" ||
    fail "$s does not run on the full node A: $(S service ps "$s" | tail -n 1); $(tail -n 5 "$T/agent-a.log")"
done
ok "all 6 services on A run"

# ---- A still converges: a rotation, then a revoke reach the running container ----
printf 'v2' | S rotate s1 - >/dev/null || fail "rotate s1"
wait_for $((5 * SLACK)) file_is watch v2 || fail "the rotation did not reach watch on A: $(tail -n 5 "$T/agent-a.log")"
t0=$(now_ms)
S revoke s1 --service watch >/dev/null || fail "revoke"
wait_for $((2 * SLACK)) file_is watch "" || fail "the revoke did not reach watch on A: $(tail -n 5 "$T/agent-a.log")"
w=$(($(now_ms) - t0))
[ "$w" -le $((1000 * SLACK)) ] || fail "the revoke took $w ms on the full node A"
ok "on the full node A a rotation and a revoke still reach the running container (revoke: $w ms)"

# ---- node B is unaffected ----
S grant s1 --service other >/dev/null || fail "grant s1 other"
create other "$NODE_B" $BIG "$T/c.err" || fail "create other on B: $(cat "$T/c.err")"
wait_for $((10 * SLACK)) file_is other v2 || fail "other on B does not read s1: $(tail -n 5 "$T/agent-b.log")"
ok "node B is unaffected: a $BIG-byte-profile service placed there runs with its secret"

for f in "$T/agent-a.log" "$T/agent-b.log" "$T/err.log"; do
  grep -qi "too large\|exceed" "$f" && fail "$(basename "$f"): $(grep -i "too large\|exceed" "$f" | head -n 2)"
done
grep -qE 'Sanitizer|runtime error' "$T/agent-a.log" "$T/agent-b.log" "$T/err.log" && fail "sanitizer report"
ok "no frame was too large for anyone (agents' and secretd's logs); the whole test took" \
  "$(($(now_ms) - t_start)) ms"

# ---- end: node rm stops every container ----
for n in A B; do
  eval "node=\$NODE_$n pid=\$AGENT_$n"
  S node rm "$node" --force >/dev/null 2>&1 || fail "node rm $n"
  rc=0
  wait "$pid" || rc=$?
  [ $rc -eq 3 ] || fail "agent $n exited with $rc after its removal"
done
AGENT_A= AGENT_B=
stop_daemon
echo PASS
