#!/bin/bash
# secret-agent run through the real binaries (issue 9): the long-lived
# session to secretd's --listen, the node's status from its heartbeats
# (ready / down within the documented window / ready again), automatic
# renewal inside its window under libfaketime over the live connection, the
# cut-off of a removed node's live session, and reconnection after secretd
# restarts, over loopback and across two network namespaces this test
# creates and removes.
# Usage: agent_run.sh SECRETD SECRET SECRET-AGENT
source "$(dirname "$0")/daemon_lib.sh" "$@"
AGENT=${3:?usage: $0 SECRETD SECRET SECRET-AGENT}
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENT() { python3 "$HERE/identity_client.py" "$@"; }
FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n1 || true)
SLACK=${SD_TIME_SLACK:-1}

if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
  echo "SKIP[root]: network namespaces need root and iproute2"
  exit 77
fi
[ -n "$FAKETIME_LIB" ] || fail "libfaketime not installed (scripts/deps.sh installs faketime)"


# Heartbeats every 500 ms, a node is down after 3 missed ones (1.5 s).
HB_MS=500
HB_MISSED=3
WINDOW_MS=$((HB_MS * HB_MISSED))
PORT=$(free_port)
LISTEN=127.0.0.1
init_store
start_listener() {
  "$SECRETD" serve --data "$DATA" --admin-socket "$SOCK" --audit-file "$AUDIT" \
    --listen "$LISTEN:$PORT" --heartbeat-ms $HB_MS --heartbeat-missed $HB_MISSED \
    >>"$T/out.log" 2>>"$T/err.log" </dev/null &
  PID=$!
  wait_ready "$PID" "$SOCK"
}
start_listener
grep -q "heartbeat $HB_MS ms, down after $WINDOW_MS ms" "$T/err.log" ||
  fail "heartbeat settings not in force: $(cat "$T/err.log")"

# status_of ID: the node's status column in `secret node ls`
status_of() { S node ls | awk -v id="$1" '$1 == id {print $4}'; }
# wait_status ID STATUS MS: poll until the node shows STATUS; prints the wait in ms
wait_status() {
  local start end
  start=$(now_ms)
  end=$((start + $3))
  while [ "$(now_ms)" -le "$end" ]; do
    if [ "$(status_of "$1")" = "$2" ]; then
      echo $(($(now_ms) - start))
      return 0
    fi
    sleep 0.05
  done
  return 1
}
# wait_log FILE PATTERN [COUNT] [SECONDS]
wait_log() {
  local i n=${3:-1} s=${4:-10}
  for i in $(seq 1 $((s * 20 * SLACK))); do
    [ "$(grep -c -- "$2" "$1" 2>/dev/null || true)" -ge "$n" ] && return 0
    sleep 0.05
  done
  fail "no '$2' (x$n) in $1: $(cat "$1")"
}
AGENT_PIDS=()
start_agent() { # start_agent STATE LOG [env...]
  local state=$1 log=$2
  shift 2
  env "$@" "$AGENT" run --state "$state" >>"$log" 2>&1 </dev/null &
  AGENT_PID=$!
  EXTRA_PIDS+=("$AGENT_PID")
}
stop_agent() { # SIGTERM: a clean exit 0
  kill -TERM "$1"
  local rc=0
  wait "$1" || rc=$?
  [ $rc -eq 0 ] || fail "secret-agent exited with status $rc after SIGTERM"
}

S join-token worker --quiet >"$T/tok" 2>"$T/jt.err" || fail "join-token: $(cat "$T/jt.err")"
"$AGENT" join --token-file "$T/tok" --manager "127.0.0.1:$PORT" --state "$T/a1" \
  >"$T/a1.out" 2>"$T/a1.err" || fail "join: $(cat "$T/a1.err")"
NODE1=$(cat "$T/a1.out")

# ---- run: ready, down when stopped, ready again ----
# a joined node stays ready for one window from its join: let that pass first
sleep $(((WINDOW_MS + 999) / 1000 + 1))
[ "$(status_of "$NODE1")" = down ] || fail "a node that does not run is $(status_of "$NODE1")"
start_agent "$T/a1" "$T/run1.log"
A1=$AGENT_PID
wait_log "$T/run1.log" "connected to 127.0.0.1:$PORT as node $NODE1"
wait_status "$NODE1" ready $((2000 * SLACK)) >/dev/null || fail "the running agent is not ready: $(S node ls)"
S node ls | awk -v id="$NODE1" '$1 == id {print $2, $5}' | grep -qx "$(hostname) 127.0.0.1" ||
  fail "hostname/address not reported: $(S node ls)"
S audit | grep "node.hello" | grep -q "$NODE1" || fail "node.hello not audited"
# heartbeats keep it ready well past the window
sleep $(((WINDOW_MS * 3 + 999) / 1000))
[ "$(status_of "$NODE1")" = ready ] || fail "heartbeats do not keep the node ready: $(S node ls)"
ok "secret-agent run: the node reports itself and its heartbeats keep it ready"

stop_agent "$A1"
grep -q "stopping (signal 15)" "$T/run1.log" || fail "no clean stop: $(cat "$T/run1.log")"
# down after the window (plus one heartbeat tick of the writer), with slack
took=$(wait_status "$NODE1" down $(((WINDOW_MS + HB_MS) * SLACK + 1000))) ||
  fail "the stopped node is not down within the window: $(S node ls)"
[ "$took" -le $(((WINDOW_MS + HB_MS) * SLACK + 1000)) ] || fail "down after $took ms"
ok "SIGTERM stops the agent cleanly; its node is down ${took} ms later (window ${WINDOW_MS} ms)"
start_agent "$T/a1" "$T/run1.log"
A1=$AGENT_PID
took=$(wait_status "$NODE1" ready $((3000 * SLACK))) || fail "not ready again: $(S node ls)"
ok "restarted, the node is ready again (${took} ms)"

# ---- secretd restarts: the agent reconnects by itself (jittered backoff) ----
n_before=$(grep -c "connected to" "$T/run1.log")
stop_daemon
wait_log "$T/run1.log" "connection to 127.0.0.1:$PORT lost"
sleep 1
start_listener
wait_log "$T/run1.log" "connected to 127.0.0.1:$PORT" $((n_before + 1)) 40
wait_status "$NODE1" ready $((3000 * SLACK)) >/dev/null || fail "not ready after the restart"
ok "after secretd restarts the agent reconnects and the node is ready"

# ---- renewal inside its window, under libfaketime, over the live connection ----
S cluster update --cert-expiry 1h >/dev/null 2>&1 || fail "cluster update"
"$AGENT" join --token-file "$T/tok" --manager "127.0.0.1:$PORT" --state "$T/a2" \
  >"$T/a2.out" 2>"$T/a2.err" || fail "join a2: $(cat "$T/a2.err")"
NODE2=$(cat "$T/a2.out")
cp "$T/a2/node.crt" "$T/a2-old.crt"
openssl x509 -inform DER -in "$T/a2/node.crt" -out "$T/n2old.pem"
openssl pkey -inform DER -in "$T/a2/node.key" -out "$T/n2old.key" 2>/dev/null
start_agent "$T/a2" "$T/run2.log"
A2=$AGENT_PID
wait_log "$T/run2.log" "renewal planned at"
plan=$(grep -m1 "renewal planned at" "$T/run2.log")
at=$(sed -E 's/.*planned at ([^ ]+) .*/\1/' <<<"$plan")
pct=$(sed -E 's/.*\(([0-9]+)\.[0-9]% of its lifetime.*/\1/' <<<"$plan")
[ "$pct" -ge 50 ] && [ "$pct" -lt 80 ] || [ "$pct" = 80 ] || fail "planned outside 50-80%: $plan"
issued=$(($(date -d "$(openssl x509 -inform DER -in "$T/a2-old.crt" -noout -startdate | cut -d= -f2)" +%s) + 3600))
expiry=$(date -d "$(openssl x509 -inform DER -in "$T/a2-old.crt" -noout -enddate | cut -d= -f2)" +%s)
at_s=$(date -d "$at" +%s)
[ $(((at_s - issued) * 100)) -ge $(((expiry - issued) * 50)) ] &&
  [ $(((at_s - issued) * 100)) -le $(((expiry - issued) * 80 + 100)) ] ||
  fail "the planned point $at is not within 50-80% of [$issued, $expiry]"
stop_agent "$A2"
# the same agent, its clock 4 s before the planned point: it renews within
# seconds, over its one connection, which goes on serving
shift_s=$((at_s - $(date +%s) - 4))
# (ASan: libfaketime's constructor resolves symbols with dlsym, which
# allocates; the sanitizer allocator reads the monotonic clock while it
# populates a size class, re-entering libfaketime under the allocator's lock:
# a deadlock at start. Without the release-to-OS timer it reads no clock.)
start_agent "$T/a2" "$T/run3.log" LD_PRELOAD="$FAKETIME_LIB" FAKETIME="+${shift_s}" \
  FAKETIME_DONT_FAKE_MONOTONIC=1 \
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0:allocator_release_to_os_interval_ms=-1"
A2=$AGENT_PID
wait_log "$T/run3.log" "connected to 127.0.0.1:$PORT as node $NODE2"
t0=$(now_ms)
wait_log "$T/run3.log" "certificate renewed over the live connection" 1 20
took=$(($(now_ms) - t0))
[ "$took" -ge 1500 ] || fail "renewed ${took} ms after start: before its planned point"
grep -q "connection to .* lost" "$T/run3.log" && fail "the connection was lost during the renewal"
[ "$(grep -c "connected to" "$T/run3.log")" = 1 ] || fail "reconnected during the renewal: $(cat "$T/run3.log")"
cmp -s "$T/a2/node.crt" "$T/a2-old.crt" && fail "the certificate on disk was not replaced"
[ "$(stat -c %a "$T/a2/node.key")" = 600 ] || fail "new key mode $(stat -c %a "$T/a2/node.key")"
CLIENT "127.0.0.1:$PORT" node.ls --cert "$T/n2old.pem" --key "$T/n2old.key" >"$T/old.out" || true
grep -q "renewed since" "$T/old.out" || fail "the previous certificate after the renewal: $(cat "$T/old.out")"
sleep $(((WINDOW_MS * 2 + 999) / 1000))
[ "$(status_of "$NODE2")" = ready ] || fail "the renewed node's session does not serve: $(S node ls)"
S audit | grep "node.renew" | grep -q "$NODE2" || fail "renewal not audited"
# the new certificate serves the next connection
stop_agent "$A2"
start_agent "$T/a2" "$T/run4.log"
A2=$AGENT_PID
wait_log "$T/run4.log" "connected to 127.0.0.1:$PORT as node $NODE2"
ok "renewal at the planned point ($pct% of the lifetime) over the live connection; the old certificate is refused, the new one serves"

# ---- node.ls in pages of one: every node once, in order, like `secret node ls` ----
S node ls | awk 'NR > 1 {print $1}' >"$T/ids.txt"
[ "$(wc -l <"$T/ids.txt")" -ge 2 ] || fail "want 2 nodes or more: $(S node ls)"
python3 - "$SOCK" >"$T/paged.txt" <<'PY' || fail "node.ls paging"
import re, socket, struct, sys
def enc(v):
    if isinstance(v, int): return b"\xce" + struct.pack(">I", v)
    if isinstance(v, str):
        b = v.encode(); return b"\xd9" + bytes([len(b)]) + b
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(enc(k) + enc(x) for k, x in v.items())
    raise TypeError(v)
def call(args):
    s = socket.socket(socket.AF_UNIX); s.settimeout(20); s.connect(sys.argv[1])
    body = enc({"v": 1, "id": 9, "op": "node.ls", "args": args})
    s.sendall(struct.pack(">I", len(body)) + body)
    buf = b""
    while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
        c = s.recv(1 << 20)
        assert c, "closed"
        buf += c
    s.close()
    return buf[4:]
cur, pages = "", 0
while True:
    r = call({"limit": 1, "cursor": cur} if cur else {"limit": 1})
    assert b"\xa2ok\xc3" in r, r[:200]
    ids = re.findall(rb"\xa2id\xba([a-z2-7]{26})", r)
    assert len(ids) == 1, r[:200]
    print(ids[0].decode())
    pages += 1
    m = re.search(rb"\xa4next[\xa0-\xbf\xd9](?:[\x00-\xff])?([0-9a-f]+)", r)
    if not m:
        break
    assert m.group(1).decode() != cur
    cur = m.group(1).decode()
    assert pages < 100
PY
cmp -s "$T/ids.txt" "$T/paged.txt" || fail "paged node.ls: $(cat "$T/paged.txt") vs $(cat "$T/ids.txt")"
ok "node.ls in pages of one lists each of the $(wc -l <"$T/ids.txt") nodes once, in order"

# ---- node rm cuts the node's live session within one second ----
t0=$(now_ms)
S node rm "$NODE2" --force >/dev/null 2>&1 || fail "node rm --force"
wait_log "$T/run4.log" "connection to 127.0.0.1:$PORT lost" 1 2
took=$(($(now_ms) - t0))
[ "$took" -le $((1000 * SLACK)) ] || fail "the removed node's session lasted $took ms after rm"
grep -q "closed its 1 live session" "$T/err.log" || fail "cut-off not logged"
# the agent stops and exits with status 3 (tests/identity_agent.sh checks more)
rc=0
wait "$A2" || rc=$?
[ $rc -eq 3 ] || fail "the removed node's agent exited with $rc: $(cat "$T/run4.log")"
if grep "connected to" "$T/run4.log" | tail -n +2 | grep -q .; then
  fail "a removed node connected again: $(cat "$T/run4.log")"
fi
# and a later attempt is refused (deny list)
start_agent "$T/a2" "$T/run5.log"
rc=0
wait "$AGENT_PID" || rc=$?
[ $rc -eq 3 ] || fail "the removed node's agent restarted: exit $rc: $(cat "$T/run5.log")"
wait_log "$T/err.log" "last: node_denied" 1 10
ok "node rm ends the running agent's session ${took} ms after the command; it exits (3); later handshakes are refused"

# ---- across two network namespaces: ready with its address, reconnects after a restart ----
stop_agent "$A1"
stop_daemon
NSM=sdar-m-$$ NSN=sdar-n-$$
CLEANUP_HOOKS+=("ip netns del $NSM 2>/dev/null; ip netns del $NSN 2>/dev/null")
ip netns add "$NSM"
ip netns add "$NSN"
ip link add "sam$$" type veth peer name "san$$"
ip link set "sam$$" netns "$NSM"
ip link set "san$$" netns "$NSN"
ip -n "$NSM" addr add 10.232.0.1/24 dev "sam$$"
ip -n "$NSN" addr add 10.232.0.2/24 dev "san$$"
ip -n "$NSM" link set "sam$$" up
ip -n "$NSN" link set "san$$" up
ip -n "$NSM" link set lo up
start_ns_listener() {
  ip netns exec "$NSM" "$SECRETD" serve --data "$DATA" --admin-socket "$SOCK" \
    --audit-file "$AUDIT" --listen "10.232.0.1:$PORT" --heartbeat-ms $HB_MS \
    --heartbeat-missed $HB_MISSED >>"$T/out.log" 2>>"$T/err.log" </dev/null &
  PID=$!
  wait_ready "$PID" "$SOCK"
}
start_ns_listener
S join-token worker --rotate --quiet >"$T/tok-n" 2>/dev/null
ip netns exec "$NSN" "$AGENT" join --token-file "$T/tok-n" --manager "10.232.0.1:$PORT" \
  --state "$T/an" >"$T/an.out" 2>"$T/an.err" || fail "join across namespaces: $(cat "$T/an.err")"
NODEN=$(cat "$T/an.out")
ip netns exec "$NSN" "$AGENT" run --state "$T/an" >>"$T/runn.log" 2>&1 </dev/null &
AN=$!
EXTRA_PIDS+=("$AN")
wait_log "$T/runn.log" "connected to 10.232.0.1:$PORT as node $NODEN"
stop_daemon
wait_log "$T/runn.log" "connection to 10.232.0.1:$PORT lost"
start_ns_listener
wait_log "$T/runn.log" "connected to 10.232.0.1:$PORT as node $NODEN" 2 40
wait_status "$NODEN" ready $((3000 * SLACK)) >/dev/null || fail "not ready after the restart: $(S node ls)"
S node ls | awk -v id="$NODEN" '$1 == id {print $5}' | grep -qx "10.232.0.2" ||
  fail "address across namespaces: $(S node ls)"
stop_agent "$AN"
stop_daemon
ip netns del "$NSM"
ip netns del "$NSN"
if ip netns list | grep -q "sdar-.-$$"; then fail "namespaces left behind"; fi
ok "across namespaces: the agent reconnects after secretd restarts; the node is ready at 10.232.0.2; namespaces removed"
