#!/bin/bash
# The agent's side of the cluster identity, through the real binaries:
#  1. `secret-agent run` checks the manager on every connection as `join`
#     does: a server of another cluster, a worker certificate presented as
#     the server, a certificate of another cluster id under the node's root,
#     or a worker-role certificate with serverAuth are refused inside the
#     handshake with a clear line (openssl s_server and a second secretd as
#     the impostors); the right manager is accepted.
#  2. A removed node's agent stops, wipes and exits with status 3 (the one
#     systemd/secret-agent.service does not restart on), whether it is cut
#     off live, restarted after the removal (deny list), or meets a manager
#     that does not know it (store restored from an older copy).
#  3. secretd renews its own manager certificate once less than a third of
#     its lifetime is left (its clock moved by libfaketime while it runs),
#     stores it, serves it to new connections without a restart, audits it;
#     an agent joins and runs against the renewed certificate.
# Usage: identity_agent.sh SECRETD SECRET SECRET-AGENT
source "$(dirname "$0")/daemon_lib.sh" "$@"
AGENT=${3:?usage: $0 SECRETD SECRET SECRET-AGENT}
HERE=$(cd "$(dirname "$0")" && pwd)
SLACK=${SD_TIME_SLACK:-1}
EXIT_REMOVED=3
FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n1 || true)
if [ "$(id -u)" != 0 ]; then
  echo "SKIP[root]: the agent's task delivery (stopped and wiped on removal) needs root"
  exit 77
fi
[ -n "$FAKETIME_LIB" ] || fail "libfaketime not installed (scripts/deps.sh installs faketime)"

# wait_log FILE PATTERN [COUNT] [SECONDS]
wait_log() {
  local i c n=${3:-1} s=${4:-10}
  for i in $(seq 1 $((s * 20 * SLACK))); do
    c=$(grep -c -- "$2" "$1" 2>/dev/null || true)
    [ "${c:-0}" -ge "$n" ] && return 0
    sleep 0.05
  done
  fail "no '$2' (x$n) in $1: $(cat "$1" 2>/dev/null)"
}
# wait_exit PID SECONDS: its exit status in RC, or fail when it still runs
wait_exit() {
  local i
  for i in $(seq 1 $(($2 * 20 * SLACK))); do
    if ! kill -0 "$1" 2>/dev/null; then
      RC=0
      wait "$1" || RC=$?
      return 0
    fi
    sleep 0.05
  done
  fail "process $1 still runs after $2 s"
}
start_agent() { # start_agent STATE LOG
  "$AGENT" run --state "$1" >>"$2" 2>&1 </dev/null &
  AGENT_PID=$!
  EXTRA_PIDS+=("$AGENT_PID")
}
stop_agent() { # SIGTERM: a clean exit 0
  kill -TERM "$1"
  local rc=0
  wait "$1" || rc=$?
  [ $rc -eq 0 ] || fail "secret-agent exited with status $rc after SIGTERM"
}
set_manager() { printf '%s' "$2" >"$1/manager"; }
der2pem() { openssl x509 -inform DER -in "$1" -out "$2"; }
key2pem() { openssl pkey -inform DER -in "$1" -out "$2" 2>/dev/null; }

PORT=$(free_port)
init_store
start_listener() {
  "$SECRETD" serve --data "$DATA" --admin-socket "$SOCK" --audit-file "$AUDIT" \
    --listen "127.0.0.1:$PORT" --heartbeat-ms 500 --heartbeat-missed 3 \
    >>"$T/out.log" 2>>"$T/err.log" </dev/null &
  PID=$!
  wait_ready "$PID" "$SOCK"
}
start_listener
S join-token worker --quiet >"$T/tok" 2>"$T/jt.err" || fail "join-token: $(cat "$T/jt.err")"
join() { # join NAME
  "$AGENT" join --token-file "$T/tok" --manager "127.0.0.1:$PORT" --state "$T/$1" \
    >"$T/$1.out" 2>"$T/$1.err" || fail "join $1: $(cat "$T/$1.err")"
  cat "$T/$1.out"
}
NODE1=$(join a1)
NODE2=$(join a2)

# ---- 1. the manager check of every connection ----
start_agent "$T/a1" "$T/run1.log"
A1=$AGENT_PID
wait_log "$T/run1.log" "connected to 127.0.0.1:$PORT as node $NODE1"
grep -q "refusing manager" "$T/run1.log" && fail "the real manager was refused: $(cat "$T/run1.log")"
stop_agent "$A1"
ok "run accepts its cluster's manager"

# refused_by LOG PATTERN: the agent logs one refusal naming the reason and
# never gets a session
refused_by() {
  wait_log "$1" "refusing manager .*$2.*nothing was sent"
  grep -q "connected to" "$1" && fail "the agent connected to an impostor: $(cat "$1")"
  [ "$(grep -c "refusing manager" "$1")" = 1 ] || fail "the refusal is not logged once: $(cat "$1")"
  true
}
# wait_port PORT: until something listens there
wait_port() {
  local i
  for i in $(seq 1 $((100 * SLACK))); do
    python3 -c 'import socket,sys;socket.create_connection(("127.0.0.1",int(sys.argv[1])),1)' "$1" \
      2>/dev/null && return 0
    sleep 0.05
  done
  fail "nothing listens on $1"
}
S_SERVER_PIDS=()
# s_server PORT CERT KEY CA LOG: an openssl TLS 1.3 server asking for a client certificate
s_server() {
  openssl s_server -accept "127.0.0.1:$1" -cert "$2" -key "$3" -CAfile "$4" -chainCAfile "$4" \
    -tls1_3 -verify 1 -naccept 50 -rev >"$5" 2>&1 </dev/null &
  S_SERVER_PIDS+=($!)
  EXTRA_PIDS+=($!)
  wait_port "$1"
}
stop_s_servers() {
  local p
  for p in "${S_SERVER_PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  S_SERVER_PIDS=()
}

# a) secretd of a second cluster (a real manager certificate, another root)
D2=$T/data2 SOCK2=$T/admin2.sock PORT2=$(free_port)
"$SECRETD" init --data "$D2" >/dev/null 2>"$T/init2.err" || fail "init 2: $(cat "$T/init2.err")"
"$SECRETD" serve --data "$D2" --admin-socket "$SOCK2" --listen "127.0.0.1:$PORT2" \
  >>"$T/out2.log" 2>>"$T/err2.log" </dev/null &
PID2=$!
EXTRA_PIDS+=("$PID2")
wait_ready "$PID2" "$SOCK2"
set_manager "$T/a1" "127.0.0.1:$PORT2"
start_agent "$T/a1" "$T/imp1.log"
A1=$AGENT_PID
refused_by "$T/imp1.log" "does not verify to the cluster root"
sleep 0.5
SECRETD_SOCKET=$SOCK2 S audit | grep -q "node.hello" && fail "the agent reported itself to another cluster"
stop_agent "$A1"
kill -TERM "$PID2"
wait "$PID2" || fail "second secretd exit"
ok "run refuses the manager of another cluster (secretd of a second cluster); nothing sent"

# b) a worker certificate of this cluster presented as the server (openssl s_server)
PORT3=$(free_port)
der2pem "$T/a2/node.crt" "$T/w.pem"
key2pem "$T/a2/node.key" "$T/w.key"
der2pem "$T/a2/ca.crt" "$T/root.pem"
s_server "$PORT3" "$T/w.pem" "$T/w.key" "$T/root.pem" "$T/s3.log"
set_manager "$T/a1" "127.0.0.1:$PORT3"
start_agent "$T/a1" "$T/imp2.log"
A1=$AGENT_PID
refused_by "$T/imp2.log" "does not verify to the cluster root as a server certificate"
stop_agent "$A1"
stop_s_servers
ok "run refuses a worker's certificate of its own cluster presented as the server"

# c) certificates under the node's own root that differ only in O or OU: a
# test root (openssl) stands in for the cluster CA, whose key never leaves
# secretd's store; the node's state is made the same way
P=$T/pki
mkdir -p "$P"
ID_A=aaaaaaaaaaaaaaaaaaaaaaaaaa ID_B=bbbbbbbbbbbbbbbbbbbbbbbbbb NODE_X=cccccccccccccccccccccccccc
cat >"$P/ext.cnf" <<'EOF'
[root]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
newkey "$P/root.key"
openssl req -new -x509 -key "$P/root.key" -subj "/O=$ID_A/CN=secretd root CA" -days 2 \
  -extensions root -config <(cat /etc/ssl/openssl.cnf "$P/ext.cnf") -out "$P/root.pem" 2>/dev/null ||
  fail "test root"
issue() { # issue NAME SUBJECT EXT
  newkey "$P/$1.key"
  openssl req -new -key "$P/$1.key" -subj "$2" -out "$P/$1.csr" 2>/dev/null
  openssl x509 -req -in "$P/$1.csr" -CA "$P/root.pem" -CAkey "$P/root.key" -CAcreateserial \
    -days 1 -extfile "$P/ext.cnf" -extensions "$3" -out "$P/$1.pem" 2>/dev/null || fail "issue $1"
}
issue node "/O=$ID_A/OU=worker/CN=$NODE_X" client
issue other "/O=$ID_B/OU=manager/CN=$NODE_X" server
issue worker "/O=$ID_A/OU=worker/CN=$NODE_X" server
issue good "/O=$ID_A/OU=manager/CN=$NODE_X" server
mkdir -m 0700 "$T/ax"
openssl x509 -in "$P/root.pem" -outform DER -out "$T/ax/ca.crt"
openssl x509 -in "$P/node.pem" -outform DER -out "$T/ax/node.crt"
openssl pkey -in "$P/node.key" -outform DER -out "$T/ax/node.key"
chmod 0600 "$T/ax/node.key"
echo "$NODE_X" >"$T/ax/node.id"
try_server() { # try_server NAME: run the agent against s_server with P/NAME.pem
  local port
  port=$(free_port)
  s_server "$port" "$P/$1.pem" "$P/$1.key" "$P/root.pem" "$T/s-$1.log"
  set_manager "$T/ax" "127.0.0.1:$port"
  start_agent "$T/ax" "$T/ax-$1.log"
  AX=$AGENT_PID
}
try_server other
refused_by "$T/ax-other.log" "is not of this cluster"
stop_agent "$AX"
stop_s_servers
grep -q "CN=$NODE_X" "$T/s-other.log" && fail "the node's certificate reached the impostor: $(cat "$T/s-other.log")"
try_server worker
refused_by "$T/ax-worker.log" "does not carry the manager role"
stop_agent "$AX"
stop_s_servers
grep -q "CN=$NODE_X" "$T/s-worker.log" && fail "the node's certificate reached the impostor"
# the control: the same root, O and OU right: the handshake completes (the
# client certificate reaches the server) and nothing is refused
try_server good
wait_log "$T/s-good.log" "CN *= *$NODE_X"
sleep 0.5
grep -q "refusing manager" "$T/ax-good.log" && fail "a right manager certificate was refused: $(cat "$T/ax-good.log")"
stop_agent "$AX"
stop_s_servers
ok "run refuses a server certificate of another cluster id or without the manager role under its own root, before sending its certificate; the right one passes"

# ---- 2. a removed node's agent exits with status $EXIT_REMOVED ----
unit=$HERE/../systemd/secret-agent.service
grep -qx "RestartPreventExitStatus=$EXIT_REMOVED" "$unit" ||
  fail "the unit restarts a removed agent: $(grep Restart "$unit")"
set_manager "$T/a1" "127.0.0.1:$PORT"
start_agent "$T/a1" "$T/rm1.log"
A1=$AGENT_PID
wait_log "$T/rm1.log" "connected to 127.0.0.1:$PORT as node $NODE1"
t0=$(now_ms)
S node rm "$NODE1" --force >/dev/null 2>&1 || fail "node rm --force"
wait_exit "$A1" 10
rc=$RC
took=$(($(now_ms) - t0))
[ "$rc" = $EXIT_REMOVED ] || fail "the removed node's agent exited with $rc: $(cat "$T/rm1.log")"
grep -q "this node was removed from the cluster; join again with a new token" "$T/rm1.log" ||
  fail "no clear message: $(cat "$T/rm1.log")"
grep -q "stopping its tasks and wiping their state" "$T/rm1.log" ||
  fail "the tasks were not stopped before the exit: $(cat "$T/rm1.log")"
ok "node rm: the running agent stops its tasks and exits with status $rc ${took} ms after the command"

# restarted after the removal: refused at the handshake (deny list), the same exit, no retry loop
t0=$(now_ms)
start_agent "$T/a1" "$T/rm2.log"
wait_exit "$AGENT_PID" 10
rc=$RC
took=$(($(now_ms) - t0))
[ "$rc" = $EXIT_REMOVED ] || fail "restarted after removal: exit $rc: $(cat "$T/rm2.log")"
grep -q "refused: the node is on the deny list" "$T/rm2.log" || fail "reason: $(cat "$T/rm2.log")"
grep -q "this node was removed from the cluster; join again with a new token" "$T/rm2.log" ||
  fail "no clear message: $(cat "$T/rm2.log")"
[ "$(grep -c "connection to" "$T/rm2.log")" = 1 ] || fail "it retried: $(cat "$T/rm2.log")"
ok "restarted after its removal the agent is refused once and exits with status $rc (${took} ms)"

# a manager that does not know the node (its store is older than the join)
stop_daemon
cp -a "$DATA" "$T/data-before"
start_listener
NODE3=$(join a3)
stop_daemon
rm -rf "$DATA"
mv "$T/data-before" "$DATA"
start_listener
start_agent "$T/a3" "$T/rm3.log"
wait_exit "$AGENT_PID" 10
rc=$RC
[ "$rc" = $EXIT_REMOVED ] || fail "unknown node: exit $rc: $(cat "$T/rm3.log")"
grep -q "refused: the manager does not know this node" "$T/rm3.log" || fail "reason: $(cat "$T/rm3.log")"
grep -q "join again with a new token" "$T/rm3.log" || fail "no clear message: $(cat "$T/rm3.log")"
ok "an agent its manager does not know ($NODE3) exits with status $rc as well"
# a node still in the cluster keeps running through a manager restart
start_agent "$T/a2" "$T/run2.log"
A2=$AGENT_PID
wait_log "$T/run2.log" "connected to 127.0.0.1:$PORT as node $NODE2"
stop_daemon
wait_log "$T/run2.log" "connection to 127.0.0.1:$PORT lost"
start_listener
wait_log "$T/run2.log" "connected to 127.0.0.1:$PORT as node $NODE2" 2 40
kill -0 "$A2" || fail "a node still in the cluster exited"
stop_agent "$A2"
ok "a node still in the cluster reconnects after a manager restart (no exit)"
stop_daemon

# ---- 3. the manager certificate renews itself ----
# secretd's clock comes from a file libfaketime reads at every call (the
# monotonic clock is real: timers run). ASan: see tests/agent_run.sh.
FT=$T/faketime
echo "+0" >"$FT"
FAKE=(LD_PRELOAD="$FAKETIME_LIB" FAKETIME_TIMESTAMP_FILE="$FT" FAKETIME_NO_CACHE=1
  FAKETIME_DONT_FAKE_MONOTONIC=1
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0:allocator_release_to_os_interval_ms=-1")
start_faked() {
  env "${FAKE[@]}" "$SECRETD" serve --data "$DATA" --admin-socket "$SOCK" --audit-file "$AUDIT" \
    --listen "127.0.0.1:$PORT" --manager-cert-check-ms 200 \
    >>"$T/out.log" 2>>"$T/err.log" </dev/null &
  PID=$!
  wait_ready "$PID" "$SOCK"
}
served_cert() { # the certificate the listener shows a new connection, PEM
  openssl s_client -connect "127.0.0.1:$PORT" -tls1_3 </dev/null 2>/dev/null |
    openssl x509 -out "$1" 2>/dev/null || fail "no certificate from the listener"
}
field() { openssl x509 -in "$1" -noout "$2" | cut -d= -f2-; }
n_renewed() { grep -c "manager certificate renewed" "$T/err.log" || true; }
start_faked
served_cert "$T/m1.pem"
sleep 1
[ "$(n_renewed)" = 0 ] || fail "a fresh manager certificate was renewed: $(cat "$T/err.log")"
end1=$(date -d "$(field "$T/m1.pem" -enddate)" +%s)
start1=$(date -d "$(field "$T/m1.pem" -startdate)" +%s)
life=$((end1 - start1 - 3600))
# two thirds of the lifetime later (plus a day): less than a third is left
shift_d=$(((life * 2 / 3) / 86400 + 1))
echo "+${shift_d}d" >"$FT"
wait_log "$T/err.log" "manager certificate renewed" 1 20
served_cert "$T/m2.pem"
[ "$(field "$T/m1.pem" -serial)" != "$(field "$T/m2.pem" -serial)" ] ||
  fail "the listener still serves the previous certificate"
[ "$(field "$T/m1.pem" -subject)" = "$(field "$T/m2.pem" -subject)" ] ||
  fail "the subject changed: $(field "$T/m2.pem" -subject)"
field "$T/m2.pem" -subject | grep -q "OU *= *manager" || fail "not a manager certificate"
end2=$(date -d "$(field "$T/m2.pem" -enddate)" +%s)
[ $((end2 - end1)) -ge $(((shift_d - 1) * 86400)) ] || fail "the new one does not live longer: $end1 -> $end2"
der2pem "$T/a2/ca.crt" "$T/root.pem"
openssl verify -CAfile "$T/root.pem" -purpose sslserver -x509_strict \
  -attime $(($(date +%s) + shift_d * 86400)) "$T/m2.pem" >/dev/null ||
  fail "the renewed certificate does not verify to the cluster root"
[ "$(openssl x509 -in "$T/m1.pem" -noout -pubkey)" != "$(openssl x509 -in "$T/m2.pem" -noout -pubkey)" ] ||
  fail "the renewed certificate kept the previous key"
S audit | grep "cluster.manager_renew" | grep -q ok || fail "the renewal is not audited: $(S audit | tail -n 3)"
ok "secretd renews its certificate ${shift_d} days on (a third of its lifetime left), with a new key, audited; new connections get it without a restart"
# an agent (its clock the same) joins and runs against the renewed certificate
S join-token worker --rotate --quiet >"$T/tok4" 2>/dev/null || fail "join-token"
env "${FAKE[@]}" "$AGENT" join --token-file "$T/tok4" --manager "127.0.0.1:$PORT" --state "$T/a4" \
  >"$T/a4.out" 2>"$T/a4.err" || fail "join against the renewed certificate: $(cat "$T/a4.err")"
NODE4=$(cat "$T/a4.out")
env "${FAKE[@]}" "$AGENT" run --state "$T/a4" >>"$T/run4.log" 2>&1 </dev/null &
A4=$!
EXTRA_PIDS+=("$A4")
wait_log "$T/run4.log" "connected to 127.0.0.1:$PORT as node $NODE4"
stop_agent "$A4"
ok "an agent joins and runs against the renewed manager certificate"
# stored: after a restart the listener shows the renewed certificate, not due again
stop_daemon
start_faked
served_cert "$T/m3.pem"
[ "$(field "$T/m2.pem" -serial)" = "$(field "$T/m3.pem" -serial)" ] ||
  fail "the renewal was not stored: $(field "$T/m3.pem" -serial)"
sleep 1
[ "$(n_renewed)" = 1 ] || fail "renewed again after the restart: $(grep renewed "$T/err.log")"
stop_daemon
ok "the renewed certificate is stored: the restarted secretd serves it and does not renew again"
