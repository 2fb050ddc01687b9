#!/bin/bash
# One secretd per store: a second `secretd serve` on the same data dir is
# refused with the first one's pid; a stale socket left by a crash is
# replaced; a socket on which a live secretd answers is not taken over.
source "$(dirname "$0")/daemon_lib.sh" "$@"

init_store
start_daemon
rc=0
timeout 10 "$SECRETD" serve --data "$DATA" --admin-socket "$T/other.sock" \
  </dev/null >/dev/null 2>"$T/second.err" || rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "second serve on the same dir was not refused (rc $rc)"
grep -q "store is in use by another secretd (pid $PID)" "$T/second.err" ||
  fail "unclear error for a second serve: $(cat "$T/second.err")"
S ls >/dev/null || fail "first secretd disturbed"
ok "second serve on the same store refused: $(cat "$T/second.err")"

# Another store, same socket path, while the first one answers there.
"$SECRETD" init --data "$T/data2" >/dev/null 2>&1 || fail "init data2"
rc=0
timeout 10 "$SECRETD" serve --data "$T/data2" --admin-socket "$SOCK" \
  </dev/null >/dev/null 2>"$T/third.err" || rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "serve took over a live socket (rc $rc)"
grep -qi "another secretd" "$T/third.err" || fail "unclear error: $(cat "$T/third.err")"
S ls >/dev/null || fail "first secretd lost its socket"
ok "a live secretd's socket is not taken over"

printf 'v' | S create before_crash - >/dev/null || fail "create failed"
kill_daemon
[ -S "$SOCK" ] || fail "no stale socket after SIGKILL (test premise)"
start_daemon
S ls --json | json_names | grep -qx before_crash || fail "secret lost across crash"
ok "stale socket replaced after a crash"

# A non-socket file at the socket path is never removed.
stop_daemon
echo precious >"$T/notasock"
rc=0
timeout 10 "$SECRETD" serve --data "$DATA" --admin-socket "$T/notasock" </dev/null \
  >/dev/null 2>"$T/nas.err" || rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "serve replaced a regular file (rc $rc)"
grep -qx precious "$T/notasock" || fail "regular file at the socket path was clobbered"
ok "refuses to replace a regular file: $(cat "$T/nas.err")"
