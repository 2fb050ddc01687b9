#!/bin/bash
# `secretd backup` while secretd serves (and writes): the copy is a store
# that a new secretd opens with the unlock key and that lists the secrets;
# the backup holds no key.
source "$(dirname "$0")/daemon_lib.sh" "$@"

init_store
start_daemon
for i in 1 2 3 4 5; do printf 'v%s' "$i" | S create "s$i" - >/dev/null || fail "create $i"; done
# writes keep flowing while the backup runs
( for i in $(seq 100 140); do printf 'w' | S create "w$i" - >/dev/null 2>&1; done ) &
WRITER=$!
EXTRA_PIDS+=($WRITER)
"$SECRETD" backup --data "$DATA" "$T/backup.mdb" 2>"$T/backup.err" || fail "backup failed: $(cat "$T/backup.err")"
wait $WRITER || true
[ "$(stat -c %a "$T/backup.mdb")" = 600 ] || fail "backup is not 0600"
KEY=$(cut -c12- "$DATA/unlock.key" | tr -d '\n')
grep -qa -- "$KEY" "$T/backup.mdb" && fail "backup carries the unlock key"
"$SECRETD" backup --data "$DATA" "$T/backup.mdb" 2>/dev/null && fail "backup overwrote an existing file"
ok "backup while serving"

# Restore: the backup file becomes the data file of an empty directory.
mkdir -m 0700 "$T/restore"
cp "$T/backup.mdb" "$T/restore/data.mdb"
"$SECRETD" serve --data "$T/restore" --admin-socket "$T/r.sock" --unlock-key-file "$DATA/unlock.key" \
  </dev/null >>"$T/out.log" 2>>"$T/err.log" &
RPID=$!
EXTRA_PIDS+=($RPID)
wait_ready "$RPID" "$T/r.sock"
SECRETD_SOCKET=$T/r.sock "$SECRET" ls --json | json_names | sort >"$T/restored"
for i in 1 2 3 4 5; do grep -qx "s$i" "$T/restored" || fail "s$i missing from the restored store"; done
SECRETD_SOCKET=$T/r.sock "$SECRET" audit --verify >/dev/null || fail "restored audit does not verify"
kill -TERM $RPID && wait $RPID || fail "restored secretd did not stop cleanly"
stop_daemon
ok "backup opens with the key and lists the secrets"
