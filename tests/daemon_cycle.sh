#!/bin/bash
# The full create, inspect, rotate, grant, revoke, rm cycle through `secret`
# against a real secretd; then a clean SIGTERM stop and a restart that still
# has the data; the audit chain verifies.
source "$(dirname "$0")/daemon_lib.sh" "$@"

init_store
[ -f "$DATA/unlock.key" ] || fail "init did not write DATA/unlock.key"
[ "$(stat -c %a "$DATA/unlock.key")" = 600 ] || fail "key file is not 0600"
grep -qi "backup" "$T/init.err" || fail "init did not warn that a backup carries the key"
"$SECRETD" init --data "$DATA" >/dev/null 2>"$T/init2.err" && fail "second init on a store succeeded"
ok "init creates the store and refuses an existing one"

start_daemon
printf 'hunter2-%s' "$(random_hex)" | S create db_password - --label env=prod >/dev/null ||
  fail "create failed"
printf 'x' >"$T/v2"
S create other "$T/v2" >/dev/null || fail "create from a file failed"
# a duplicate name with a valid value: the server refuses it (not the CLI)
printf 'other-value' | S create db_password - >/dev/null 2>"$T/dup.err" &&
  fail "create of an existing name succeeded"
grep -q "already exists" "$T/dup.err" || fail "duplicate refused without the server's reason: $(cat "$T/dup.err")"
S audit --json | grep '"action":"secret.create"' | grep '"object":"secret:db_password"' |
  grep -q '"outcome":"[^o]' || fail "the server did not record the refused duplicate create"
S ls --json | json_names | sort | tr '\n' ' ' | grep -qx "db_password other " || fail "ls lists $(S ls --json)"
S ls | grep -q db_password || fail "human ls lacks db_password"
ok "create and ls"

S inspect db_password --json >"$T/insp.json" || fail "inspect failed"
ID=$(json_get 'd["id"]' <"$T/insp.json")
[[ "$ID" =~ ^[0-9a-f]{32}$ ]] || fail "id '$ID' is not 32 hex chars"
[ "$(json_get 'd["labels"]["env"]' <"$T/insp.json")" = prod ] || fail "label env=prod missing"
[ "$(json_get 'len(d["versions"])' <"$T/insp.json")" = 1 ] || fail "expected 1 version"
S inspect "$ID" --json | json_get 'd["name"]' | grep -qx db_password || fail "inspect by id failed"
S inspect nosuch >/dev/null 2>&1 && fail "inspect of a missing secret succeeded"
ok "inspect by name and id"

printf 'v2-%s' "$(random_hex)" | S rotate db_password - >/dev/null || fail "rotate failed"
S inspect db_password --json >"$T/insp.json"
[ "$(json_get 'd["latest"]' <"$T/insp.json")" = 2 ] || fail "latest is not 2 after rotate"
ok "rotate"

S grant db_password --service web --target db/pw --uid 1000 --gid 1000 --mode 0440 >/dev/null ||
  fail "grant failed"
S grant db_password --service web2 --target ../x >/dev/null 2>&1 && fail "grant with .. target succeeded"
S inspect db_password --json >"$T/insp.json"
[ "$(json_get 'd["grants"][0]["service"]' <"$T/insp.json")" = web ] || fail "grant not shown"
[ "$(json_get 'd["grants"][0]["mode"]' <"$T/insp.json")" = 288 ] || fail "grant mode is not 0440"
S rm db_password >/dev/null 2>&1 && fail "rm of a granted secret succeeded without --force"
ok "grant, and rm refused while granted"

S revoke "$ID" --service web >"$T/revoke.out" || fail "revoke failed"
# the CLI prints what the daemon acted on (name and id), not the argument typed
grep -qx "revoked db_password (id $ID) from service web" "$T/revoke.out" ||
  fail "revoke printed: $(cat "$T/revoke.out")"
S revoke db_password --service web >/dev/null 2>&1 && fail "second revoke succeeded"
[ "$(S inspect db_password --json | json_get 'len(d["grants"])')" = 0 ] || fail "grant still there"
S rm "$ID" >"$T/rm.out" || fail "rm failed"
grep -qx "removed db_password (id $ID)" "$T/rm.out" || fail "rm printed: $(cat "$T/rm.out")"
S ls --json | json_names | grep -qx db_password && fail "db_password still listed after rm"
ok "revoke and rm"

stop_daemon
ok "SIGTERM stops cleanly and removes the socket"
start_daemon
S ls --json | json_names | grep -qx other || fail "'other' lost across restart"
S audit --verify >"$T/verify.out" || fail "audit --verify failed: $(cat "$T/verify.out")"
S audit --json >"$T/audit.json"
for a in secret.create secret.rotate grant.add grant.rm secret.rm; do
  grep -q "\"action\":\"$a\"" "$T/audit.json" || fail "no $a record in the audit chain"
done
grep -q '"outcome":"ok"' "$T/audit.json" || fail "no ok outcome"
grep -qv '"outcome":"ok"' "$T/audit.json" || fail "refused requests were not audited"
[ -s "$AUDIT" ] || fail "audit file is empty"
grep -q '"action":"secret.create"' "$AUDIT" || fail "audit file lacks creates"
stop_daemon
ok "restart keeps data; audit chain and file record every request"

# The first serve filled the new audit file with what init wrote: a start, not a loss.
grep -q "starts with the chain's 2 record(s) so far" "$T/err.log" ||
  fail "no start line for the new audit file: $(head -n 3 "$T/err.log")"
grep -q "lacked" "$T/err.log" && fail "a new audit file was reported as lacking records"
# A file that lost its last line is a loss: warned, and the line appended again.
sed -i '$d' "$AUDIT"
start_daemon
stop_daemon
grep -q "lacked 1 record(s) of the chain; appended them" "$T/err.log" ||
  fail "a truncated audit file was not reported: $(tail -n 3 "$T/err.log")"
ok "a new audit file starts with the chain (info); one that lost a record is warned and mended"
