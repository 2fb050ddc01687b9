#!/bin/bash
# Full disk: the data dir on a small tmpfs. Creates of 100 KiB values until
# one fails: `secret create` prints a clear error, nothing stored before is
# lost, the daemon keeps serving reads and the audit chain verifies; after a
# restart everything reported as created is still there.
source "$(dirname "$0")/daemon_lib.sh" "$@"

MNT=$T/mnt
mkdir "$MNT"
mount -t tmpfs -o size=3m,mode=0700 tmpfs "$MNT" || fail "cannot mount a tmpfs"
CLEANUP_HOOKS+=('[ -n "$PID" ] && kill -9 $PID 2>/dev/null; wait $PID 2>/dev/null; umount "$MNT"')
DATA=$MNT/data
init_store
start_daemon
head -c 102400 /dev/urandom >"$T/big"

created=()
err=""
for i in $(seq 1 200); do
  if S create "big$i" "$T/big" >/dev/null 2>"$T/create.err"; then
    created+=("big$i")
  else
    err=$(cat "$T/create.err")
    break
  fi
done
[ -n "$err" ] || fail "200 creates of 100 KiB fit into a 3 MiB tmpfs?"
[ ${#created[@]} -ge 3 ] || fail "only ${#created[@]} creates before failure: $err"
echo "$err" | grep -Eqi 'no space|full' || fail "unclear error on a full disk: $err"
[ "$(echo "$err" | wc -l)" = 1 ] || fail "error is not one line: $err"
ok "create on a full disk fails clearly after ${#created[@]} creates: $err"

kill -0 "$PID" || fail "secretd died on a full disk"
S ls --json | json_names | sort >"$T/present"
for n in "${created[@]}"; do grep -qx "$n" "$T/present" || fail "$n lost"; done
S inspect "${created[0]}" >/dev/null || fail "inspect fails on a full disk"
S audit --verify >"$T/verify" 2>&1 || fail "audit does not verify on a full disk: $(cat "$T/verify")"
ok "reads still served, nothing lost, audit verifies"

stop_daemon
start_daemon
S ls --json | json_names | sort >"$T/present"
for n in "${created[@]}"; do grep -qx "$n" "$T/present" || fail "$n lost after restart"; done
S audit --verify >/dev/null 2>&1 || fail "audit does not verify after restart"
stop_daemon
ok "store intact after a restart"
