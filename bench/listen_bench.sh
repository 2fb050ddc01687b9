#!/bin/bash
# listen_bench.sh BUILD_DIR [SECONDS_PER_POINT] [SESSIONS]
#
# secretd's node listener (serve --listen) with node certificates, next to
# the bare TLS peer in the same run:
#   1. mutual-TLS 1.3 full handshakes/s and resumptions/s, driven by
#      `openssl s_time` with a node certificate (P-256) that secretd issued,
#      against (a) secretd --listen, where every handshake goes through the
#      session's role resolver (identity_authorize against the store) and
#      every resumption through the ticket check (identity_authorize again),
#      and (b) `openssl s_server -Verify` with a P-256 PKI of the same shape:
#      wire_bench's peer. The figure is connections per second of *server
#      CPU* (/proc/PID/schedstat), as in wire_bench (whose wire_tls server
#      figures are the bare transport's: run bench/wire_bench for them);
#      wall-clock rates too.
#   2. secretd's memory per connected agent: one load generator (listen_load)
#      holding SESSIONS (default 1000) sessions with the certificates of 10
#      joined nodes, each having said node.hello; secretd's VmRSS growth
#      divided by SESSIONS (goal: at most 64 KiB).
# A missing program is an error: no figure is printed in place of one that
# was not measured.
set -euo pipefail
B=${1:?usage: $0 BUILD_DIR [SECONDS_PER_POINT] [SESSIONS]}
SECS=${2:-3}
N=${3:-1000}
bin() {
  local f
  f=$(find "$B" -maxdepth 3 -type f -name "$1" -perm -u+x | head -n1)
  [ -n "$f" ] || { echo "$0: $1 is not built in $B (cmake --build $B)" >&2; exit 1; }
  printf '%s\n' "$f"
}
SECRETD=$(bin secretd)
SECRET=$(bin secret)
AGENT=$(bin secret-agent)
LOAD=$(bin listen_load)
command -v openssl >/dev/null || { echo "$0: openssl is not installed" >&2; exit 1; }
T=$(mktemp -d /tmp/listen-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
cpu_ns() { awk '{print $1}' "/proc/$1/schedstat"; }

# ---- secretd with a listener and 10 joined nodes ----
export SECRETD_SOCKET=$T/admin.sock
"$SECRETD" init --data "$T/data" >/dev/null 2>&1
P=$(port)
"$SECRETD" serve --data "$T/data" --admin-socket "$SECRETD_SOCKET" --listen "127.0.0.1:$P" \
  >"$T/secretd.out" 2>"$T/secretd.err" </dev/null &
SPID=$!
PIDS+=("$SPID")
for i in $(seq 1 100); do "$SECRET" ls >/dev/null 2>&1 && break; sleep 0.05; done
"$SECRET" join-token worker --uses 0 --quiet >"$T/tok" 2>/dev/null ||
  "$SECRET" join-token worker --quiet >"$T/tok"
STATES=()
for i in $(seq 1 10); do
  "$AGENT" join --token-file "$T/tok" --manager "127.0.0.1:$P" --state "$T/n$i" >/dev/null 2>"$T/join.err" ||
    { echo "$0: join failed: $(cat "$T/join.err")" >&2; exit 1; }
  STATES+=("$T/n$i")
done
openssl x509 -inform DER -in "$T/n1/node.crt" -out "$T/node.pem"
openssl pkey -inform DER -in "$T/n1/node.key" -out "$T/node.key" 2>/dev/null
openssl x509 -inform DER -in "$T/n1/ca.crt" -out "$T/ca.pem"

# ---- the peer: openssl s_server with a P-256 PKI of the same shape ----
openssl ecparam -name prime256v1 -genkey -noout -out "$T/pca.key" 2>/dev/null
openssl req -x509 -new -key "$T/pca.key" -subj /CN=bench-ca -days 2 -out "$T/pca.pem" 2>/dev/null
for n in server client; do
  openssl ecparam -name prime256v1 -genkey -noout -out "$T/p$n.key" 2>/dev/null
  openssl req -new -key "$T/p$n.key" -subj "/CN=$n" -out "$T/p$n.csr" 2>/dev/null
  openssl x509 -req -in "$T/p$n.csr" -CA "$T/pca.pem" -CAkey "$T/pca.key" -CAcreateserial \
    -days 2 -out "$T/p$n.pem" 2>/dev/null
done
PP=$(port)
(cd "$T" && exec openssl s_server -accept "127.0.0.1:$PP" -cert pserver.pem -key pserver.key \
  -CAfile pca.pem -Verify 2 -tls1_3 -WWW -quiet >/dev/null 2>&1 </dev/null) &
OPID=$!
PIDS+=("$OPID")
echo x >"$T/index.txt"
for i in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PP") 2>/dev/null && break; sleep 0.05; done
SPEER=$(pgrep -f "s_server -accept 127.0.0.1:$PP" | head -n1)

# measure SERVER_PID PORT CERT KEY CA MODE: prints "conns cpu_s wall_s"
measure() {
  local c0 c1 t0 t1 out n
  c0=$(cpu_ns "$1")
  t0=$(date +%s%N)
  out=$(openssl s_time -connect "127.0.0.1:$2" -cert "$3" -key "$4" -CAfile "$5" "$6" \
    -time "$SECS" -www /index.txt 2>&1 || true)
  t1=$(date +%s%N)
  c1=$(cpu_ns "$1")
  n=$(grep "real seconds" <<<"$out" | tail -n1 | awk '{print $1}')
  [ -n "$n" ] && [ "$n" -gt 0 ] || { echo "$0: s_time failed: $out" >&2; exit 1; }
  echo "$n $(((c1 - c0) / 1000)) $(((t1 - t0) / 1000))"
}
echo "== mutual TLS 1.3 with a node certificate (P-256), $SECS s per point, server CPU =="
printf '%-44s %14s %14s %12s\n' "" "conn/s (CPU)" "conn/s (wall)" "conns"
declare -A R
for mode in -new -reuse; do
  read -r n cpu wall < <(measure "$SPID" "$P" "$T/node.pem" "$T/node.key" "$T/ca.pem" "$mode")
  R[s$mode]=$(python3 -c "print(f'{$n / ($cpu / 1e6):.0f}')")
  printf '%-44s %14s %14s %12s\n' "secretd --listen + authorization ($mode)" "${R[s$mode]}" \
    "$(python3 -c "print(f'{$n / ($wall / 1e6):.0f}')")" "$n"
  read -r n cpu wall < <(measure "$SPEER" "$PP" "$T/pclient.pem" "$T/pclient.key" "$T/pca.pem" "$mode")
  R[o$mode]=$(python3 -c "print(f'{$n / ($cpu / 1e6):.0f}')")
  printf '%-44s %14s %14s %12s\n' "openssl s_server -Verify ($mode)" "${R[o$mode]}" \
    "$(python3 -c "print(f'{$n / ($wall / 1e6):.0f}')")" "$n"
done
python3 -c "print(f'ratio secretd/openssl: full handshakes {${R[s-new]}/${R[o-new]}:.2f}, resumptions {${R[s-reuse]}/${R[o-reuse]}:.2f}')"
if grep -q refused "$T/secretd.err"; then echo "(note: secretd refused some peers)"; fi

echo "== secretd memory per connected agent ($N sessions, one load generator) =="
"$LOAD" "127.0.0.1:$P" "$SPID" "$N" "${STATES[@]}" || { echo "$0: listen_load failed; secretd: $(tail -n 3 "$T/secretd.err")" >&2; exit 1; }
