#!/bin/bash
# A random marker value stored as a secret (created and rotated) never
# appears in plaintext: not in any file under the data dir, not in the audit
# file or the audit listing, not in secretd's stdout/stderr, not in a backup,
# not in /proc/PID/cmdline or /proc/PID/environ of secretd. secretd is also
# not dumpable (core dumps and ptrace off), and OpenSSL's secure heap for
# private keys is locked and undumpable.
source "$(dirname "$0")/daemon_lib.sh" "$@"

M1=$(random_hex)
M2=$(random_hex)
init_store
start_daemon
printf '%s' "$M1" | S create marker - >/dev/null || fail "create failed"
printf '%s' "$M2" | S rotate marker - >/dev/null || fail "rotate failed"
printf '%s' "$M1" | S create "m2" - >/dev/null || fail "create 2 failed"
S inspect marker --json >"$T/inspect.json"
S ls --json >"$T/ls.json"
S audit --json >"$T/audit-ls.json"
"$SECRETD" backup --data "$DATA" "$T/backup.mdb" 2>>"$T/err.log" || fail "backup failed"

check_absent() { # FILE...
  local f
  for f in "$@"; do
    [ -e "$f" ] || fail "expected $f to exist"
    for m in "$M1" "$M2"; do
      if grep -a -q -- "$m" "$f"; then fail "marker found in $f"; fi
    done
  done
}
mapfile -t data_files < <(find "$DATA" -type f)
[ ${#data_files[@]} -ge 1 ] || fail "no files in the data dir"
check_absent "${data_files[@]}" "$AUDIT" "$T/inspect.json" "$T/ls.json" "$T/audit-ls.json" "$T/backup.mdb"
check_absent /proc/$PID/cmdline /proc/$PID/environ
python3 - "$PID" <<'PY2' || fail "secretd allows core dumps"
import sys
with open(f"/proc/{sys.argv[1]}/limits") as f:
    for line in f:
        if line.startswith("Max core file size"):
            assert line.split()[4] == "0", line
PY2
# OpenSSL's secure heap for private keys (docs/secret-memory.md): set up at
# start, 1 MiB, locked (lo) and excluded from core dumps (dd).
python3 - "$PID" <<'PY3' || fail "secretd has no locked, undumpable OpenSSL secure heap"
import re, sys
size = None
for line in open(f"/proc/{sys.argv[1]}/smaps"):
    if line.startswith("Size:"):
        size = int(line.split()[1])
    elif line.startswith("VmFlags:") and size == 1024:
        flags = line.split()[1:]
        if "lo" in flags and "dd" in flags:
            sys.exit(0)
sys.exit(1)
PY3
stop_daemon
check_absent "$T/out.log" "$T/err.log" "${data_files[@]}"
ok "marker never leaks into files, logs, backup, cmdline or environ"

# Not dumpable: run a secretd as an unprivileged uid; the kernel then makes its
# /proc/PID files root-owned (a dumpable one would own them), which also
# refuses ptrace attach by that uid.
chmod 0711 "$T"
NB=$T/nobody
mkdir "$NB" && chown 65534:65534 "$NB"
setpriv --reuid=65534 --regid=65534 --clear-groups "$SECRETD" init --data "$NB/data" \
  >/dev/null 2>"$T/nb-init.err" || fail "init as nobody failed: $(cat "$T/nb-init.err")"
setpriv --reuid=65534 --regid=65534 --clear-groups "$SECRETD" serve --data "$NB/data" \
  --admin-socket "$NB/admin.sock" >/dev/null 2>>"$T/err.log" </dev/null &
PID=$!
wait_ready "$PID" "$NB/admin.sock"
[ "$(awk '/^Uid:/{print $2}' /proc/$PID/status)" = 65534 ] || fail "secretd not running as nobody"
[ "$(stat -c %u /proc/$PID/environ)" = 0 ] || fail "secretd is dumpable (its /proc files belong to its uid)"
setpriv --reuid=65534 --regid=65534 --clear-groups cat /proc/$PID/environ >/dev/null 2>&1 &&
  fail "same uid can read secretd's environ"
kill -TERM "$PID"; wait "$PID" || fail "nobody secretd did not stop cleanly"
PID=""
ok "secretd is not dumpable: same-uid processes cannot read its memory or environ"
