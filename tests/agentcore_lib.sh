# Sourced by tests/agentcore_*.sh. Usage: agentcore_X.sh DRIVER MKROOTFS SANITIZED
# Builds a busybox rootfs in a temp dir, runs tests/agentcore_driver (the agent's
# delivery core, agent/core) as a coprocess, and cleans up even on failure: every
# container the core started is stopped by a last "removed" (a fresh driver takes them
# back first when the test killed its own), then the temp dir goes.
set -u
DRIVER=${1:?usage: $0 DRIVER MKROOTFS SANITIZED}
MKROOTFS=${2:?usage: $0 DRIVER MKROOTFS SANITIZED}
SANITIZED=${3:-0}
[ -x "$DRIVER" ] || { echo "FAIL: $DRIVER is not executable"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP[root]: namespaces, mounts and cgroups need root"; exit 77; }

# Timing limits: real bound times SLACK (the driver runs 3x slower under the sanitizers).
SLACK=1
[ "$SANITIZED" = 1 ] && SLACK=3

TMP=$(mktemp -d /tmp/agentcore-test.XXXXXX)
STATE=$TMP/state
ROOTFS=$TMP/rootfs
OUT=$TMP/out
mkdir -p "$OUT"
chmod 0777 "$OUT" # non-root tasks write their observations here
DRIVER_PID=
STAMP=$TMP/stamp
touch "$STAMP"

stop_driver() {
  if [ -n "$DRIVER_PID" ] && kill -0 "$DRIVER_PID" 2>/dev/null; then
    send quit
    for _ in $(seq 100); do kill -0 "$DRIVER_PID" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$DRIVER_PID" 2>/dev/null
  fi
  wait "$DRIVER_PID" 2>/dev/null
  DRIVER_PID=
  # Under the sanitizers, a report (leak, overflow, undefined behaviour) fails the test.
  if grep -qE 'Sanitizer|runtime error' "$TMP/driver.err" 2>/dev/null; then
    fail "sanitizer report from the driver"
  fi
}

cleanup() {
  trap - EXIT
  [ -n "$DRIVER_PID" ] && kill -KILL "$DRIVER_PID" 2>/dev/null
  wait 2>/dev/null
  DRIVER_PID=
  if [ -d "$STATE" ]; then
    # Take back whatever runs and stop it all.
    printf 'removed\nquit\n' | timeout -s KILL 120 "$DRIVER" "$STATE" >/dev/null 2>&1
  fi
  grep -o " $TMP[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

"$MKROOTFS" "$ROOTFS" >/dev/null || { echo "FAIL: mkrootfs"; exit 1; }

fail() {
  echo "FAIL: $*"
  echo "--- driver output (last 30 lines) ---"
  tail -n 30 "$TMP/driver.out" 2>/dev/null
  echo "--- driver stderr ---"
  tail -n 30 "$TMP/driver.err" 2>/dev/null
  exit 1
}
pass() { echo "ok: $*"; }

# start_driver: the driver as a coprocess on STATE; waits for its "ready".
start_driver() {
  coproc DRV { exec "$DRIVER" "$STATE" 2>>"$TMP/driver.err"; }
  DRIVER_PID=$DRV_PID
  exec {DRV_IN}>&"${DRV[1]}" {DRV_OUT}<&"${DRV[0]}"
  expect '^ready$' 10 || fail "the driver did not start"
}

# send LINE...: one command line each.
send() { printf '%s\n' "$@" >&"$DRV_IN"; }

# send_value SECRET VERSION BYTES: a value over the pipe (never a file, never argv of a
# program: printf is a bash builtin).
send_value() { printf 'value %s %s %d\n%s\n' "$1" "$2" "${#3}" "$3" >&"$DRV_IN"; }

# expect REGEX [SECONDS]: read driver lines (kept in driver.out) until one matches.
# Sets LINE. Returns 1 on timeout or EOF.
expect() {
  local deadline=$((SECONDS + ${2:-20}))
  while [ "$SECONDS" -le "$deadline" ]; do
    if IFS= read -r -t 1 LINE <&"$DRV_OUT"; then
      printf '%s\n' "$LINE" >>"$TMP/driver.out"
      [[ $LINE =~ $1 ]] && return 0
      [[ $LINE =~ ^error ]] && echo "driver: $LINE"
    elif ! kill -0 "$DRIVER_PID" 2>/dev/null; then
      return 1
    fi
  done
  return 1
}

# seen REGEX [SECONDS]: a driver line matching REGEX was read already, or comes.
seen() {
  grep -qE -- "$1" "$TMP/driver.out" 2>/dev/null && return 0
  expect "$1" "${2:-20}"
}

# converge: ask and wait for "converged" (default 60 s x SLACK).
converge() {
  send wait
  expect '^converged$' "${1:-$((60 * SLACK))}" || fail "no convergence"
}

# task_pid ID: PID 1 of a running task (0 when not running).
task_pid() {
  send "pid $1"
  expect "^pid $1 " 10 || fail "no pid answer for $1"
  echo "${LINE##* }"
}

# Clock and sleep without a fork, so that timings measure the agent, not this shell.
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((10#$t / 1000)); }
mkfifo "$TMP/.sleep"
exec {SLEEP_FD}<>"$TMP/.sleep"
nap() { read -r -t "$1" -u "$SLEEP_FD" _; }

# wait_line FILE LINE SECONDS [T0_MS]: until FILE holds LINE; prints the ms it took
# since T0_MS (default: now). Polls every 2 ms with builtins only.
wait_line() {
  local t0 t deadline l
  t=${EPOCHREALTIME/[.,]/}
  t0=${4:-$((10#$t / 1000))}
  deadline=$((t0 + $3 * 1000))
  while :; do
    if [ -f "$1" ]; then
      mapfile -t WL_LINES <"$1"
      for l in "${WL_LINES[@]}"; do
        if [ "$l" = "$2" ]; then
          t=${EPOCHREALTIME/[.,]/}
          echo $((10#$t / 1000 - t0))
          return 0
        fi
      done
    fi
    t=${EPOCHREALTIME/[.,]/}
    [ $((10#$t / 1000)) -le "$deadline" ] || return 1
    nap 0.002
  done
}

# check_no_marker MARKER: the value is in no file under the state dir, /tmp or /var
# that changed during the test (the containers' tmpfs are no such file).
check_no_marker() {
  local hits
  hits=$(find "$STATE" /tmp /var -xdev -type f -newer "$STAMP" -print0 2>/dev/null |
         xargs -0 -r grep -lF -- "$1" 2>/dev/null)
  [ -z "$hits" ] || fail "the marker value is on disk: $hits"
  pass "the marker value is in no file under the state dir, /tmp or /var"
}
