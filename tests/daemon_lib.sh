# Shared helpers for the daemon integration tests (sourced, not a test).
# Usage in a test: source "$(dirname "$0")/daemon_lib.sh" "$@"
# Arguments: SECRETD SECRET. Every test runs in its own temp dir, and the
# EXIT trap kills any secretd it started, even when the test fails.
set -euo pipefail

SECRETD=${1:?usage: $0 SECRETD SECRET}
SECRET=${2:?usage: $0 SECRETD SECRET}
T=$(mktemp -d /tmp/secretd-test.XXXXXX)
chmod 0700 "$T"
DATA=$T/data
SOCK=$T/admin.sock
AUDIT=$T/audit.jsonl
PID=""
EXTRA_PIDS=()
CLEANUP_HOOKS=()
export SECRETD_SOCKET=$SOCK

cleanup() {
  local rc=$?
  set +e
  for h in "${CLEANUP_HOOKS[@]}"; do eval "$h"; done
  for p in $PID "${EXTRA_PIDS[@]}"; do
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
      kill -9 "$p" 2>/dev/null
      wait "$p" 2>/dev/null
    fi
  done
  if [ $rc -ne 0 ] && [ -f "$T/err.log" ]; then
    echo "--- secretd stderr (last 20 lines) ---" >&2
    tail -n 20 "$T/err.log" >&2
  fi
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
ok() { echo "ok - $*"; }

# secret CLI against the test socket
S() { "$SECRET" "$@"; }

init_store() {
  "$SECRETD" init --data "$DATA" "$@" >"$T/init.out" 2>"$T/init.err" ||
    fail "secretd init failed: $(cat "$T/init.err")"
}

# wait_ready PID SOCKET: until `secret ls` answers (10 s at most)
wait_ready() {
  local pid=$1 sock=$2 i
  for i in $(seq 1 200); do
    if SECRETD_SOCKET=$sock "$SECRET" ls >/dev/null 2>&1; then return 0; fi
    kill -0 "$pid" 2>/dev/null || fail "secretd exited early: $(tail -n 5 "$T/err.log" 2>/dev/null)"
    sleep 0.05
  done
  fail "secretd did not answer on $sock within 10 s"
}

# start_daemon [extra serve options...]: serve DATA on SOCK in the background
start_daemon() {
  "$SECRETD" serve --data "$DATA" --admin-socket "$SOCK" --audit-file "$AUDIT" "$@" \
    >>"$T/out.log" 2>>"$T/err.log" </dev/null &
  PID=$!
  wait_ready "$PID" "$SOCK"
}

# stop_daemon: SIGTERM, expect a clean exit and the socket removed
stop_daemon() {
  kill -TERM "$PID"
  local rc=0
  wait "$PID" || rc=$?
  PID=""
  [ $rc -eq 0 ] || fail "secretd exited with status $rc after SIGTERM"
  [ ! -e "$SOCK" ] || fail "socket $SOCK left behind after SIGTERM"
}

kill_daemon() {
  kill -9 "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=""
}

# json_names: names of `secret ls --json` on stdin, one per line
json_names() {
  python3 -c '
import json, sys
text = sys.stdin.read().strip()
try:
    docs = [json.loads(text)] if text else []
except ValueError:
    docs = [json.loads(l) for l in text.splitlines() if l.strip()]
items = []
for d in docs:
    if isinstance(d, list): items += d
    elif isinstance(d, dict) and "secrets" in d: items += d["secrets"]
    else: items.append(d)
for it in items: print(it["name"])
'
}

# json_get EXPR: evaluate a Python expression over the JSON on stdin (as d)
json_get() {
  python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

# file_has_key FILE TOKEN: true when FILE holds the unlock key of TOKEN
# ("SDUNLOCK-1-<base64url>") as its base64 text or as its 32 raw bytes.
file_has_key() {
  python3 - "$1" "$2" <<'PY'
import base64, sys
data = open(sys.argv[1], "rb").read()
b64 = sys.argv[2].strip().split("-", 2)[2]
raw = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
assert len(raw) == 32, len(raw)
sys.exit(0 if (b64.encode() in data or raw in data) else 1)
PY
}

random_hex() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
# free_port: a TCP port free on 127.0.0.1 now (for secretd --listen)
free_port() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}
now_ms() { date +%s%3N; }
# kill_containers DELIVERY_DIR...: clean-up after a failed run: SIGKILL the PID 1 of
# every container the agents recorded under the delivery dirs, then lazily unmount
# whatever is still mounted under $T (deepest first).
kill_containers() {
  local d f pid
  for d in "$@"; do
    for f in "$d"/run/*/state.json; do
      [ -f "$f" ] || continue
      pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("pid",0))' "$f")
      [ "$pid" -gt 1 ] && kill -KILL "$pid" 2>/dev/null
    done
  done
  grep -o " ${T}[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null; done
}
# service_pid SERVICE DELIVERY_DIR...: PID 1 of SERVICE's running container, from the
# agents' task records and runtime state under each delivery dir (empty when none)
service_pid() {
  python3 - "$@" <<'PY'
import glob, json, os, sys
for d in sys.argv[2:]:
    for f in glob.glob(os.path.join(d, "tasks", "*.json")):
        try:
            if json.load(open(f)).get("service") != sys.argv[1]:
                continue
            pid = json.load(open(os.path.join(d, "run", os.path.basename(f)[:-5], "state.json")))["pid"]
            if os.path.exists("/proc/%d" % pid):
                print(pid)
        except (OSError, ValueError, KeyError):
            pass
PY
}
