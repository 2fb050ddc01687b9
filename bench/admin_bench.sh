#!/bin/bash
# admin_bench.sh BUILD_DIR: end-to-end admin API figures. Inits a store in a
# temp dir, starts secretd, runs admin_bench (N concurrent client
# connections, 1 KiB values: creates/s at N = 1, 8, 64; inspects/s; rotates/s),
# stops secretd, then runs the store-level bench (store_bench) and etcd when
# they are available. Prints one table. Needs root only for /run-free paths:
# everything lives in the temp dir.
set -euo pipefail
B=${1:?usage: $0 BUILD_DIR [SECONDS_PER_POINT]}
SECS=${2:-3}
SECRETD=$(find "$B" -maxdepth 2 -type f -name secretd -perm -u+x | head -n1)
ADMIN_BENCH=$(find "$B" -maxdepth 2 -type f -name admin_bench -perm -u+x | head -n1)
STORE_BENCH=$(find "$B" -maxdepth 2 -type f -name store_bench -perm -u+x | head -n1)
[ -n "$SECRETD" ] && [ -n "$ADMIN_BENCH" ] || { echo "build secretd and admin_bench in $B first" >&2; exit 1; }

T=$(mktemp -d /tmp/secretd-bench.XXXXXX)
PID=""
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -9 "$PID"; wait "$PID" 2>/dev/null || true; fi
  [ -n "${ETCD_PID:-}" ] && kill -9 "$ETCD_PID" 2>/dev/null && wait "$ETCD_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

echo "# machine: $(nproc) cores, $(uname -r); data dir on $(df --output=fstype "$T" | tail -n1) ($T)"
"$SECRETD" init --data "$T/data" >/dev/null 2>&1
"$SECRETD" serve --data "$T/data" --admin-socket "$T/admin.sock" </dev/null >"$T/out.log" 2>"$T/err.log" &
PID=$!
for _ in $(seq 1 100); do [ -S "$T/admin.sock" ] && break; sleep 0.05; done
[ -S "$T/admin.sock" ] || { cat "$T/err.log" >&2; exit 1; }

echo
echo "## secretd admin API (client -> Unix socket -> group commit -> durable LMDB), 1 KiB values"
"$ADMIN_BENCH" --socket "$T/admin.sock" --seconds "$SECS" --clients 1,8,64
kill -TERM "$PID"
wait "$PID" || true
PID=""
grep -h "stopped:" "$T/err.log" | sed 's/^secretd: /# secretd /'

if [ -n "$STORE_BENCH" ]; then
  echo
  echo "## store directly ($STORE_BENCH)"
  "$STORE_BENCH" "$T/store" 2>&1 || echo "(store_bench failed)"
fi

if command -v etcd >/dev/null && command -v etcdctl >/dev/null; then
  echo
  echo "## etcd $(etcd --version | head -n1 | awk '{print $3}') (8 clients, 1 KiB puts)"
  etcd --data-dir "$T/etcd" --listen-client-urls http://127.0.0.1:23790 \
    --advertise-client-urls http://127.0.0.1:23790 --listen-peer-urls http://127.0.0.1:23800 \
    >"$T/etcd.log" 2>&1 &
  ETCD_PID=$!
  sleep 2
  v=$(head -c 768 /dev/urandom | base64 -w0 | head -c 1024)
  start=$(date +%s.%N)
  pids=()
  for c in $(seq 1 8); do
    (for i in $(seq 1 100); do etcdctl --endpoints=127.0.0.1:23790 put "k$c-$i" "$v" >/dev/null; done) &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  end=$(date +%s.%N)
  echo "etcd puts/s (8 clients x 100, etcdctl per put, includes process start): $(echo "800 / ($end - $start)" | bc -l | cut -d. -f1)"
else
  echo
  echo "## etcd: not installed (apt-get install etcd-server etcd-client to compare); reference from the issue: ~2,200 puts/s from 8 clients"
fi
