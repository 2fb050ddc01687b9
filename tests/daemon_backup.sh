#!/bin/bash
# `secretd backup` while secretd serves (and writes): the copy is a store
# that a new secretd opens with the unlock key and that lists the secrets;
# the backup holds no key.
source "$(dirname "$0")/daemon_lib.sh" "$@"

init_store
start_daemon
for i in 1 2 3 4 5; do printf 'v%s' "$i" | S create "s$i" - >/dev/null || fail "create $i"; done
# Writes keep flowing while the backup runs: the writer creates w1, w2, ...
# until told to stop. It has committed before the backup starts and keeps
# committing after the backup ended, so the two overlapped.
( i=0; while [ ! -e "$T/stop" ]; do i=$((i + 1)); printf 'w' | S create "w$i" - >/dev/null 2>&1; done ) &
WRITER=$!
EXTRA_PIDS+=($WRITER)
for i in $(seq 1 100); do S ls --json | json_names | grep -q '^w' && break; sleep 0.05; done
before=$(S ls --json | json_names | grep -c '^w' || true)
[ "$before" -ge 1 ] || fail "the writer did not start"
"$SECRETD" backup --data "$DATA" "$T/backup.mdb" 2>"$T/backup.err" || fail "backup failed: $(cat "$T/backup.err")"
kill -0 $WRITER 2>/dev/null || fail "the writer ended before the backup did"
sleep 0.3
touch "$T/stop"
wait $WRITER || true
after=$(S ls --json | json_names | grep -c '^w' || true)
[ "$after" -gt "$before" ] || fail "no write committed after the backup ($before before, $after after)"
[ "$(stat -c %a "$T/backup.mdb")" = 600 ] || fail "backup is not 0600"
file_has_key "$T/backup.mdb" "$(cat "$DATA/unlock.key")" && fail "backup carries the unlock key"
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
inbk=$(grep -c '^w' "$T/restored" || true)
[ "$inbk" -ge "$before" ] && [ "$inbk" -lt "$after" ] ||
  fail "backup holds $inbk writer secrets; expected between $before and $after (a snapshot inside the writes)"
SECRETD_SOCKET=$T/r.sock "$SECRET" audit --verify >/dev/null || fail "restored audit does not verify"
kill -TERM $RPID && wait $RPID || fail "restored secretd did not stop cleanly"
stop_daemon
ok "backup opens with the key and lists the secrets"
