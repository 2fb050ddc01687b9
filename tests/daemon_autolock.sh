#!/bin/bash
# Autolock: init prints the unlock token once and keeps no copy; serve reads
# it from stdin or --unlock-key-file (never argv); a wrong or malformed key
# refuses to start with a clear message. Unlock- and master-key rotation keep
# the store usable and the old unlock key stops working.
source "$(dirname "$0")/daemon_lib.sh" "$@"

"$SECRETD" init --data "$DATA" --autolock >"$T/token" 2>"$T/init.err" || fail "init --autolock failed"
TOKEN=$(cat "$T/token")
[ "$(wc -l <"$T/token")" = 1 ] || fail "init printed more than the token on stdout"
[[ "$TOKEN" == SDUNLOCK-1-* ]] || fail "token has an unexpected form"
[ ! -e "$DATA/unlock.key" ] || fail "autolock kept a key file"
for f in "$DATA"/*; do file_has_key "$f" "$TOKEN" && fail "unlock key found in $f"; done
ok "init --autolock prints the token once and keeps no copy"

serve_with_stdin() { # INPUT: expect refusal, print stderr
  local rc=0
  printf '%s\n' "$1" | timeout 10 "$SECRETD" serve --data "$DATA" --admin-socket "$SOCK" \
    >/dev/null 2>"$T/refused.err" || rc=$?
  [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "serve started with a bad key (rc $rc)"
  [ ! -S "$SOCK" ] || fail "socket left after a refused start"
}
"$SECRETD" init --data "$T/other" --autolock >"$T/other.token" 2>/dev/null
serve_with_stdin "$(cat "$T/other.token")"
grep -qx "secretd: wrong unlock key" "$T/refused.err" || fail "unclear error: $(cat "$T/refused.err")"
serve_with_stdin "not-a-token"
grep -qi "unlock key" "$T/refused.err" || fail "unclear error for garbage: $(cat "$T/refused.err")"
serve_with_stdin ""
grep -qi "unlock key" "$T/refused.err" || fail "unclear error for empty stdin: $(cat "$T/refused.err")"
ok "wrong, malformed and empty keys refuse to start"

printf '%s\n' "$TOKEN" | "$SECRETD" serve --data "$DATA" --admin-socket "$SOCK" \
  >>"$T/out.log" 2>>"$T/err.log" &
PID=$!
wait_ready "$PID" "$SOCK"
grep -q -- "${TOKEN#SDUNLOCK-1-}" /proc/$PID/cmdline && fail "token in cmdline"
printf 'v1' | S create s1 - >/dev/null || fail "create failed"
stop_daemon
ok "serve reads the token from stdin"

printf '%s\n' "$TOKEN" >"$T/key.tok"
chmod 600 "$T/key.tok"
start_daemon --unlock-key-file "$T/key.tok"
stop_daemon
ok "serve reads the token from --unlock-key-file"

# A key file is refused as ssh refuses a private key (issue 7 §2): readable
# by others, owned by another user, or reached through a symbolic link; the
# message says how to fix it.
refused_key() { # WHAT PATTERN: serve must refuse the key file with PATTERN in its message
  local rc=0
  timeout 10 "$SECRETD" serve --data "$DATA" --admin-socket "$SOCK" --unlock-key-file "$T/key.tok" \
    </dev/null >/dev/null 2>"$T/perm.err" || rc=$?
  [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "$1: serve started (rc $rc)"
  grep -q -- "$2" "$T/perm.err" || fail "$1: unclear message: $(cat "$T/perm.err")"
  [ ! -e "$SOCK" ] || fail "$1: socket left behind"
}
chmod 0644 "$T/key.tok"
refused_key "mode 0644" "mode 0644.*chmod 600"
chmod 0640 "$T/key.tok"
refused_key "mode 0640" "chmod 600"
chmod 0600 "$T/key.tok"
chown nobody "$T/key.tok"
refused_key "owned by nobody" "owned by uid $(id -u nobody).*chown"
chown root "$T/key.tok"
mv "$T/key.tok" "$T/key.real"
ln -s "$T/key.real" "$T/key.tok"
refused_key "a symlink" "symbolic link"
rm "$T/key.tok"
mv "$T/key.real" "$T/key.tok"
start_daemon --unlock-key-file "$T/key.tok"
stop_daemon
ok "key files readable by others, owned by another user or behind a symlink are refused"

# rotate-unlock-key: autolock -> key file (crash-safe staging), old key refused
printf '%s\n' "$TOKEN" | "$SECRETD" rotate-unlock-key --data "$DATA" --key-file "$T/new.key" \
  >/dev/null 2>"$T/rot.err" || fail "rotate-unlock-key failed: $(cat "$T/rot.err")"
[ "$(stat -c %a "$T/new.key")" = 600 ] || fail "new key file is not 0600"
[ ! -e "$T/new.key.new" ] || fail "staging file left behind"
serve_with_stdin "$TOKEN"
grep -qx "secretd: wrong unlock key" "$T/refused.err" || fail "old key still accepted"
start_daemon --unlock-key-file "$T/new.key"
S ls --json | json_names | grep -qx s1 || fail "s1 lost after unlock-key rotation"
ok "rotate-unlock-key: new key works, old key refused"

# rotate-unlock-key while serving: the running daemon keeps working.
"$SECRETD" rotate-unlock-key --data "$DATA" --unlock-key-file "$T/new.key" --key-file "$T/new2.key" \
  >/dev/null 2>"$T/rot2.err" || fail "rotate-unlock-key while serving failed: $(cat "$T/rot2.err")"
printf 'v2' | S create s2 - >/dev/null || fail "create after an online unlock-key rotation failed"
S audit --verify >/dev/null || fail "audit does not verify after an online unlock-key rotation"
mv "$T/new2.key" "$T/new.key"
ok "rotate-unlock-key while serving: the daemon keeps serving"

# rotate-master-key: refused while serving, works when stopped
"$SECRETD" rotate-master-key --data "$DATA" --unlock-key-file "$T/new.key" 2>"$T/rmk.err" &&
  fail "master-key rotation ran while serving"
grep -q "in use by another secretd (pid $PID)" "$T/rmk.err" || fail "unclear: $(cat "$T/rmk.err")"
stop_daemon
"$SECRETD" rotate-master-key --data "$DATA" --unlock-key-file "$T/new.key" 2>"$T/rmk.err" ||
  fail "rotate-master-key failed: $(cat "$T/rmk.err")"
start_daemon --unlock-key-file "$T/new.key"
printf 'v2' | S rotate s1 - >/dev/null || fail "rotate after master-key rotation failed"
S inspect s1 --json | json_get 'd["latest"]' | grep -qx 2 || fail "rotate did not add version 2"
S audit --verify >/dev/null || fail "audit does not verify after master-key rotation"
# (into a variable first: with pipefail, grep -q exiting early would SIGPIPE the CLI)
AUDIT_JSON=$(S audit --json)
grep -q 'master' <<<"$AUDIT_JSON" || fail "master-key rotation not audited"
stop_daemon
ok "rotate-master-key: store usable, audit verifies"
