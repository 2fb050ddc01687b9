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

if command -v etcd >/dev/null; then
  echo
  echo "## etcd $(etcd --version | head -n1 | awk '{print $3}') on the same disk (1 KiB puts, durable)"
  etcd --data-dir "$T/etcd" --listen-client-urls http://127.0.0.1:23790 \
    --advertise-client-urls http://127.0.0.1:23790 --listen-peer-urls http://127.0.0.1:23800 \
    >"$T/etcd.log" 2>&1 &
  ETCD_PID=$!
  for _ in $(seq 1 100); do
    python3 -c 'import socket; socket.create_connection(("127.0.0.1", 23790), 0.2)' 2>/dev/null && break
    sleep 0.1
  done
  # N client threads, each with its own keep-alive HTTP connection to etcd's v3
  # JSON gateway (/v3/kv/put), for SECS seconds: the same shape as admin_bench.
  python3 - "$SECS" <<'PY'
import base64, http.client, json, os, sys, threading, time
secs = float(sys.argv[1])
val = base64.b64encode(os.urandom(1024)).decode()
def worker(cid, stop, counts):
    c = http.client.HTTPConnection("127.0.0.1", 23790, timeout=10)
    n = 0
    while time.monotonic() < stop:
        key = base64.b64encode(f"k{cid}-{n}".encode()).decode()
        c.request("POST", "/v3/kv/put", json.dumps({"key": key, "value": val}),
                  {"Content-Type": "application/json"})
        r = c.getresponse(); r.read()
        if r.status != 200:
            raise SystemExit(f"etcd put failed: {r.status}")
        n += 1
    counts[cid] = n
for clients in (1, 8, 64):
    counts = [0] * clients
    stop = time.monotonic() + secs
    t0 = time.monotonic()
    ts = [threading.Thread(target=worker, args=(i, stop, counts)) for i in range(clients)]
    for t in ts: t.start()
    for t in ts: t.join()
    print(f"etcd put (1 KiB, durable)        {clients:5d}  {sum(counts) / (time.monotonic() - t0):11.0f}")
PY
else
  echo
  echo "## etcd: not installed (scripts/deps.sh --bench installs it); reference from the issue: ~2,200 puts/s from 8 clients"
fi
