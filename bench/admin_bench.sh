#!/bin/bash
# admin_bench.sh BUILD_DIR [SECONDS_PER_POINT]
#
# End-to-end admin API figures and their peer, in one run, on one file system:
#   1. secretd: init a store, serve it, admin_bench (N concurrent client
#      connections, 1 KiB values: creates/s at N = 1, 8, 64; inspects/s; rotates/s);
#   2. etcd (the peer): serve a fresh data dir next to secretd's, etcd_bench
#      (the same closed-loop shape from C: N keep-alive HTTP/1.1 connections to
#      etcd's v3 JSON gateway, 1 KiB puts at N = 1, 8, 64);
#   3. the ratios secretd/etcd, with the CPU time each client and each server spent;
#   4. store_bench (the store without the daemon) and audit_verify_bench (the
#      verify time of a 1,000,000-record audit chain) in the same directory.
# Every section prints the file system it ran on. Everything lives in a temp dir
# under BENCH_DIR (default /var/tmp: on many systems /tmp is tmpfs, where fsync
# costs nothing). A missing peer or program is an error: no figure is printed
# in place of one that was not measured.
set -euo pipefail
B=${1:?usage: $0 BUILD_DIR [SECONDS_PER_POINT]}
SECS=${2:-3}
parent=${BENCH_DIR:-/var/tmp}
bin() { # NAME: the executable NAME under the build dir, or fail
  local f
  f=$(find "$B" -maxdepth 3 -type f -name "$1" -perm -u+x | head -n1)
  [ -n "$f" ] || { echo "$0: $1 is not built in $B (cmake --build $B)" >&2; exit 1; }
  printf '%s\n' "$f"
}
SECRETD=$(bin secretd)
ADMIN_BENCH=$(bin admin_bench)
ETCD_BENCH=$(bin etcd_bench)
STORE_BENCH=$(bin store_bench)
VERIFY_BENCH=$(bin audit_verify_bench)
for t in etcd findmnt ss; do
  command -v "$t" >/dev/null || {
    echo "$0: '$t' is not installed; etcd is the peer secretd is compared with:" \
         "run scripts/deps.sh --bench" >&2
    exit 1
  }
done

T=$(mktemp -d "$parent/secretd-bench.XXXXXX")
PID="" ETCD_PID=""
cleanup() {
  for p in $PID $ETCD_PID; do
    if kill -0 "$p" 2>/dev/null; then kill -9 "$p"; wait "$p" 2>/dev/null || true; fi
  done
  rm -rf "$T"
}
trap cleanup EXIT

fsline() { # DIR
  printf '# fs: %s (statfs 0x%s %s), %s mounted at %s\n' "$(findmnt -no FSTYPE -T "$1")" \
    "$(stat -f -c %t "$1")" "$(stat -f -c %T "$1")" "$(findmnt -no SOURCE -T "$1")" \
    "$(findmnt -no TARGET -T "$1")"
}

echo "# command: $0 $*"
echo "# machine: $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); dir $T"

echo
echo "## secretd admin API (client -> Unix socket -> group commit -> durable LMDB), 1 KiB values"
"$SECRETD" init --data "$T/data" >/dev/null 2>&1
fsline "$T/data"
"$SECRETD" serve --data "$T/data" --admin-socket "$T/admin.sock" </dev/null >"$T/out.log" 2>"$T/err.log" &
PID=$!
for _ in $(seq 1 100); do [ -S "$T/admin.sock" ] && break; sleep 0.05; done
[ -S "$T/admin.sock" ] || { echo "$0: secretd did not start:" >&2; cat "$T/err.log" >&2; exit 1; }
"$ADMIN_BENCH" --socket "$T/admin.sock" --seconds "$SECS" --clients 1,8,64 --server-pid "$PID" \
  | tee "$T/secretd.txt"
kill -TERM "$PID"
wait "$PID" || true
PID=""
grep -h "stopped:" "$T/err.log" | sed 's/^secretd: /# secretd /' || true

echo
echo "## etcd $(etcd --version | head -n1 | awk '{print $3}') v3 JSON gateway, same file system (1 KiB puts, durable)"
port=""
for _ in $(seq 1 20); do # two free loopback ports (client, peer)
  p=$((20000 + RANDOM % 20000))
  if [ -z "$(ss -Htln "( sport = :$p or sport = :$((p + 1)) )")" ]; then port=$p; break; fi
done
[ -n "$port" ] || { echo "$0: no free loopback port pair for etcd" >&2; exit 1; }
mkdir -m 0700 "$T/etcd"
fsline "$T/etcd"
etcd --name bench --data-dir "$T/etcd" \
  --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
  --listen-peer-urls "http://127.0.0.1:$((port + 1))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
  --initial-cluster "bench=http://127.0.0.1:$((port + 1))" >"$T/etcd.log" 2>&1 &
ETCD_PID=$!
if ! "$ETCD_BENCH" --endpoint "127.0.0.1:$port" --wait 20 --seconds "$SECS" --clients 1,8,64 \
     --server-pid "$ETCD_PID" | tee "$T/etcd.txt"; then
  echo "$0: etcd_bench failed; etcd's log:" >&2
  tail -n 20 "$T/etcd.log" >&2
  exit 1
fi
kill -TERM "$ETCD_PID"
wait "$ETCD_PID" || true
ETCD_PID=""

echo
echo "## secretd creates vs etcd puts: ratio = secretd ops/s / etcd ops/s; CPU us per op as secretd|etcd"
awk '
  # rows end with: clients ops/s clientCPU us/op serverCPU us/op
  FNR == 1 { file++ }
  file == 1 && /^secret\.create/ { s[$(NF-5)] = $(NF-4); sc[$(NF-5)] = $(NF-2); ss[$(NF-5)] = $NF }
  file == 2 && /^etcd put/       { e[$(NF-5)] = $(NF-4); ec[$(NF-5)] = $(NF-2); es[$(NF-5)] = $NF }
  END {
    printf "%7s %12s %10s %7s   %-22s %-22s\n", "clients", "secretd/s", "etcd/s", "ratio",
           "client us/op s|e", "server us/op s|e"
    n = 0
    split("1 8 64", cl, " ")
    for (i = 1; i <= 3; i++) {
      c = cl[i]
      if (!(c in s) || !(c in e) || e[c] == 0) { print "missing row for " c " clients" > "/dev/stderr"; exit 1 }
      printf "%7s %12.0f %10.0f %7.2f   %8.1f|%-13.1f %8.1f|%-13.1f\n", c, s[c], e[c], s[c] / e[c],
             sc[c], ec[c], ss[c], es[c]
    }
  }' "$T/secretd.txt" "$T/etcd.txt"

echo
echo "## store directly, no daemon ($STORE_BENCH)"
"$STORE_BENCH" --dir "$T" --seconds "$SECS"

echo
echo "## audit chain verification, 1,000,000 records ($VERIFY_BENCH)"
"$VERIFY_BENCH" --dir "$T" --records 1000000
