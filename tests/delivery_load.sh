#!/bin/bash
# Deliveries under concurrent load are group-committed with their audit
# records (issue 11): secretd --listen on loopback, AGENTS nodes joined with
# `secret-agent join`, each with a service placed on it and granted one
# secret; bench/deliver_load holds one mutual-TLS session per node and keeps
# PIPELINE node.deliver requests in flight on each for 2 s, after reporting
# its task running (task.report). Checked:
#  - every reply carried the value asked for (deliver_load fails otherwise);
#  - every value received has its own secret.deliver record with outcome ok,
#    node (actor), service and version: received <= ok records <= received +
#    the requests cancelled in flight at the end (audited, reply unread);
#    no refusal, no other outcome; never the value in the audit (store chain
#    and the JSON-lines file);
#  - the records were group-committed: secretd's stop line reports fewer
#    write batches than requests and a batch of more than one request;
#  - the audit chain verifies.
# Not a timing test: no rate is asserted.
# Usage: delivery_load.sh SECRETD SECRET SECRET-AGENT DELIVER_LOAD
AGENT_BIN=${3:?usage: $0 SECRETD SECRET SECRET-AGENT DELIVER_LOAD}
LOAD_BIN=${4:?usage: $0 SECRETD SECRET SECRET-AGENT DELIVER_LOAD}
source "$(dirname "$0")/daemon_lib.sh" "$1" "$2"
AGENTS=6
PIPELINE=8

PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
init_store
start_daemon --listen "127.0.0.1:$PORT"
S join-token worker --uses "$AGENTS" --quiet >"$T/tok" || fail "join-token"
MARKER=dlv-$RANDOM$RANDOM-value
printf '%s' "$MARKER" | S create dl - >/dev/null || fail "secret create"
mkdir "$T/rootfs"
STATES=()
declare -A SVC_OF
for i in $(seq 1 "$AGENTS"); do
  "$AGENT_BIN" join --token-file "$T/tok" --manager "127.0.0.1:$PORT" --state "$T/n$i" \
    >"$T/n$i.id" 2>"$T/join.err" || fail "join $i: $(cat "$T/join.err")"
  S grant dl --service "d$i" >/dev/null || fail "grant d$i"
  S service create "d$i" --rootfs "$T/rootfs" --node "$(cat "$T/n$i.id")" -- /bin/true \
    >/dev/null || fail "service create d$i"
  SVC_OF[d$i]=$(cat "$T/n$i.id")
  STATES+=("$T/n$i")
done
ok "$AGENTS nodes joined, each with a service placed on it and granted the secret"

"$LOAD_BIN" "127.0.0.1:$PORT" "$PID" 2 "$PIPELINE" "${STATES[@]}" >"$T/load.out" 2>"$T/load.err" ||
  fail "deliver_load: $(cat "$T/load.err")"
received=$(grep -o 'received_total=[0-9]*' "$T/load.out" | cut -d= -f2)
cancelled=$(grep -o 'cancelled=[0-9]*' "$T/load.out" | cut -d= -f2)
if [ -z "$received" ] || [ -z "$cancelled" ]; then
  fail "deliver_load printed no totals: $(cat "$T/load.out")"
fi
[ "$received" -gt $((AGENTS * PIPELINE)) ] || fail "only $received values delivered"
ok "$received values delivered over $AGENTS pipelined mutual-TLS sessions ($cancelled cancelled in flight at the end)"

for s in "${!SVC_OF[@]}"; do
  st=$(S service ps "$s" --json | json_get '",".join(t["state"] for t in d)') || fail "service ps $s"
  [ "$st" = running ] || fail "$s's task is not reported running: $st"
done
ok "every task reported running by its node (task.report)"

S audit --json >"$T/audit.json" || fail "audit"
for f in "$T/audit.json" "$AUDIT"; do
  grep -F -q "$MARKER" "$f" && fail "the value is in the audit ($f)"
done
map=$(for s in "${!SVC_OF[@]}"; do echo "$s=${SVC_OF[$s]}"; done)
python3 - "$T/audit.json" "$received" "$cancelled" "$map" <<'PY' || fail "audit of deliveries"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
received, cancelled = int(sys.argv[2]), int(sys.argv[3])
node_of = dict(l.split("=", 1) for l in sys.argv[4].split())
dl = [r for r in recs if r.get("action") == "secret.deliver"]
bad = [r for r in dl if r.get("outcome") != "ok"]
assert not bad, "refused or failed deliveries: %r" % bad[:3]
per = {}
for r in dl:
    o = r["object"]
    svc = o.split("service:")[1].split()[0]
    assert "secret:dl " in o and "version:1 " in o and "task:" in o, o
    assert node_of[svc] in json.dumps(r.get("actor", r)), (svc, r)
    per[svc] = per.get(svc, 0) + 1
assert set(per) == set(node_of), "deliveries audited for %s, not %s" % (sorted(per), sorted(node_of))
n = len(dl)
assert received <= n <= received + cancelled, \
    "%d secret.deliver records for %d values received (+%d cancelled)" % (n, received, cancelled)
print("ok - %d secret.deliver records (outcome ok, node, service, version) for %d values received,"
      " %d cancelled; every node's deliveries audited" % (n, received, cancelled))
PY
S audit --verify >"$T/verify" 2>&1 || fail "audit does not verify: $(cat "$T/verify")"
ok "audit chain verifies"

stop_daemon
line=$(grep -o 'stopped: [0-9]* write batches, [0-9]* requests, largest batch [0-9]*' "$T/err.log" |
  tail -n1)
[ -n "$line" ] || fail "no batch statistics in secretd's log: $(tail -n 3 "$T/err.log")"
read -r batches requests largest < <(awk '{print $2, $5, $9}' <<<"$line")
if [ "$batches" -ge "$requests" ] || [ "$largest" -le 1 ]; then
  fail "deliveries were not group-committed: $line"
fi
[ "$requests" -ge "$received" ] || fail "fewer committed requests ($requests) than deliveries ($received)"
ok "group commit: $line"
