# Sourced by tests/runtime_*.sh. Usage: runtime_X.sh SECRET_LAUNCH MKROOTFS
# Builds a busybox rootfs in a temp dir (removed on exit, even on failure) and
# offers small assertion helpers. Every check can fail; the first failure ends the test.
set -u
LAUNCH=${1:?usage: $0 SECRET_LAUNCH MKROOTFS}
MKROOTFS=${2:?usage: $0 SECRET_LAUNCH MKROOTFS}
[ -x "$LAUNCH" ] || { echo "FAIL: $LAUNCH is not executable"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }

TMP=$(mktemp -d /tmp/rt-test.XXXXXX)
ROOTFS=$TMP/rootfs
BG_PIDS=""
cleanup() {
  for p in $BG_PIDS; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  # A launcher killed with SIGKILL cannot remove its cgroups; they empty once
  # the container (killed by its parent-death signal) has been reaped.
  for p in $BG_PIDS; do
    for d in /sys/fs/cgroup/*/secretd/launch-"$p"-*; do
      [ -d "$d" ] || continue
      for _ in $(seq 40); do rmdir "$d" 2>/dev/null && break; sleep 0.05; done
    done
  done
  # A failed test may leave mounts under TMP on the host only if the launcher leaked
  # them (it must not): detach anything there before removing.
  grep -o " $TMP[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
"$MKROOTFS" "$ROOTFS" || { echo "FAIL: mkrootfs"; exit 1; }

FAILS=0
fail() {
  echo "FAIL: $*"
  [ -z "${ERR:-}" ] || echo "  (last launcher exit ${RC:-?}, stderr: $ERR)"
  FAILS=$((FAILS + 1)); exit 1
}
pass() { echo "ok: $*"; }

# expect_eq NAME ACTUAL EXPECTED
expect_eq() {
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got [$2] expected [$3]"; fi
}
# expect_match NAME ACTUAL REGEX
expect_match() {
  if printf '%s' "$2" | grep -Eq -- "$3"; then pass "$1"; else fail "$1: [$2] does not match /$3/"; fi
}
expect_nomatch() {
  if printf '%s' "$2" | grep -Eq -- "$3"; then fail "$1: [$2] matches /$3/"; else pass "$1"; fi
}

# run ARGS...: runs the launcher with a 20 s guard; sets OUT (stdout), ERR, RC.
run() {
  OUT=$(timeout -s KILL 20 "$LAUNCH" "$@" 2>"$TMP/stderr")
  RC=$?
  ERR=$(cat "$TMP/stderr")
}

# status_field FIELD TEXT: value of "Field:\tvalue" in /proc/PID/status text.
status_field() { printf '%s\n' "$2" | sed -n "s/^$1:[[:space:]]*//p"; }

# capmask N...: the mask (16 hex digits, as /proc/PID/status) of capability numbers.
capmask() {
  m=0
  for c in "$@"; do m=$((m | (1 << c))); done
  printf '%016x' "$m"
}
# Docker's default set as the launcher defines it ("NUMBER<TAB>CAP_NAME" lines; its one
# definition is runtime/caps.c, whose value test_runtime_launch_parse pins to 0xa80425fb):
# the tests prove the launcher applies the set it prints.
DEFAULT_CAPS_LIST=$("$LAUNCH" --print-default-caps) ||
  { echo "FAIL: $LAUNCH --print-default-caps"; exit 1; }
DOCKER_CAPS=$(capmask $(printf '%s\n' "$DEFAULT_CAPS_LIST" | cut -f1))
