#!/bin/bash
# The `secret` CLI through a real secretd: exit statuses (0 ok, 1 daemon or
# local error, 2 usage, 3 no daemon / connection lost), one "secret: ..." line
# per error, --help on stdout, value size limits checked locally, JSON that
# parses and round-trips odd label text, audit paging past one page (1000),
# --json lines identical to the audit file, --since and --expect-head.
source "$(dirname "$0")/daemon_lib.sh" "$@"

# expect_rc RC CMD...: run, check the status and that stderr is one "secret: " line
expect_rc() {
  local want=$1 rc=0
  shift
  "$@" >"$T/out" 2>"$T/err" || rc=$?
  [ "$rc" = "$want" ] || fail "'$*' exited $rc, want $want: $(cat "$T/err")"
  if [ "$want" != 0 ]; then
    [ "$(wc -l <"$T/err")" = 1 ] || fail "'$*': stderr is not one line: $(cat "$T/err")"
    grep -q '^secret: ' "$T/err" || fail "'$*': stderr lacks the secret: prefix: $(cat "$T/err")"
  fi
}

# --- without a daemon ---
start=$SECONDS
expect_rc 3 env SECRETD_SOCKET="$T/none.sock" "$SECRET" ls
grep -q "cannot reach secretd at $T/none.sock" "$T/err" || fail "unclear: $(cat "$T/err")"
touch "$T/plain"
expect_rc 3 "$SECRET" --socket "$T/plain" ls
expect_rc 3 "$SECRET" ls --socket "$T/plain"
[ $((SECONDS - start)) -le 2 ] || fail "failing to connect took $((SECONDS - start)) s"
ok "no daemon: exit 3 at once, one clear line"

expect_rc 0 "$SECRET" --help
grep -q '^Usage: secret' "$T/out" || fail "--help not on stdout"
for v in create ls inspect rotate rm grant revoke audit; do
  expect_rc 0 "$SECRET" "$v" --help
  grep -q "^Usage: secret $v" "$T/out" || fail "$v --help not on stdout"
done
expect_rc 2 "$SECRET"
expect_rc 2 "$SECRET" steal
expect_rc 2 "$SECRET" create
expect_rc 2 "$SECRET" create a b c
expect_rc 2 "$SECRET" grant a --service web --mode 0999
expect_rc 2 "$SECRET" grant a
expect_rc 2 "$SECRET" audit --since yesterday
expect_rc 2 "$SECRET" ls --bogus
ok "help on stdout with exit 0; usage errors exit 2"

# local value checks need no daemon either
expect_rc 1 "$SECRET" create v /dev/null
grep -q empty "$T/err" || fail "unclear: $(cat "$T/err")"
head -c 512001 /dev/zero >"$T/big"
expect_rc 1 "$SECRET" create v "$T/big"
grep -q "500 KiB" "$T/err" || fail "unclear: $(cat "$T/err")"
expect_rc 1 "$SECRET" create v "$T/nosuchfile"
if command -v script >/dev/null; then
  rc=0
  script -qec "$SECRET create v" /dev/null >"$T/tty.out" 2>&1 </dev/null || rc=$?
  [ $rc = 2 ] || fail "create from a terminal exited $rc: $(cat "$T/tty.out")"
  grep -q terminal "$T/tty.out" || fail "unclear: $(cat "$T/tty.out")"
fi
ok "empty, oversized, unreadable and terminal values refused locally"

# --- a daemon that drops the connection: exit 3 ---
python3 - "$T/drop.sock" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4); s.settimeout(10)
for _ in range(2):
    c, _ = s.accept(); c.recv(65536); c.close()
PY
DROP=$!
EXTRA_PIDS+=($DROP)
for i in $(seq 50); do [ -S "$T/drop.sock" ] && break; sleep 0.05; done
expect_rc 3 "$SECRET" --socket "$T/drop.sock" ls
grep -q lost "$T/err" || fail "unclear: $(cat "$T/err")"
printf 'v' >"$T/v"
expect_rc 3 "$SECRET" --socket "$T/drop.sock" create x "$T/v"
wait $DROP || true
ok "connection lost: exit 3"

# --- with a daemon ---
init_store
start_daemon
head -c 512000 /dev/urandom >"$T/max"
expect_rc 0 "$SECRET" create maxed "$T/max"
expect_rc 1 "$SECRET" create maxed "$T/max"
grep -q "already exists" "$T/err" || fail "unclear: $(cat "$T/err")"
expect_rc 1 "$SECRET" inspect nosuch
expect_rc 1 "$SECRET" create 'bad/name' "$T/v"
expect_rc 1 "$SECRET" grant maxed --service web --mode 4755
expect_rc 1 "$SECRET" revoke maxed --service nobody
ok "512000-byte value accepted; daemon refusals exit 1 with one line"

printf 'v' | "$SECRET" create odd - --label 'q=a"b\c' --label 'u=é€🔑' --label 'e=' >/dev/null ||
  fail "create with odd labels failed"
"$SECRET" inspect odd --json >"$T/odd.json"
python3 - "$T/odd.json" <<'PY' || fail "labels do not round-trip through JSON: $(cat "$T/odd.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["labels"] == {"q": 'a"b\\c', "u": "é€🔑", "e": ""}, d["labels"]
assert d["name"] == "odd" and d["latest"] == 1 and len(d["versions"]) == 1, d
assert d["versions"][0]["created"].endswith("Z"), d
PY
"$SECRET" ls --json | python3 -c 'import json,sys; l=json.load(sys.stdin); assert isinstance(l, list) and {"maxed","odd"} <= {x["name"] for x in l}, l' ||
  fail "ls --json is not an array of the secrets"
"$SECRET" inspect odd | grep -q '^labels: ' || fail "human inspect lacks labels"
ok "JSON output parses and round-trips quotes, backslashes and UTF-8"

# audit: many pages of requests (pages of 7 records; daemon_paging pages
# through full 1000-record pages, with 20,000 records)
for i in $(seq 1 60); do "$SECRET" ls >/dev/null || fail "ls $i failed"; done
"$SECRET" audit --json --page-size 7 >"$T/audit.json"
n=$(wc -l <"$T/audit.json")
[ "$n" -gt 60 ] || fail "audit --json gave $n records, expected more than 60"
python3 - "$T/audit.json" <<'PY' || fail "audit --json records are not consecutive from 1"
import json, sys
seqs = [json.loads(l)["seq"] for l in open(sys.argv[1])]
assert seqs == list(range(1, len(seqs) + 1)), seqs[:5]
PY
# every line the CLI printed is byte-identical to the daemon's audit file line
# of the same record (the file starts at serve: init's record is not in it)
python3 - "$T/audit.json" "$AUDIT" <<'PY' || fail "audit --json lines differ from the audit file"
import json, sys
cli = open(sys.argv[1]).read().splitlines()
fil = {json.loads(l)["seq"]: l for l in open(sys.argv[2]).read().splitlines()}
both = [l for l in cli if json.loads(l)["seq"] in fil]
assert len(both) >= 60, len(both)
for l in both:
    assert l == fil[json.loads(l)["seq"]], (l, fil[json.loads(l)["seq"]])
PY
ok "audit pages through $n records; --json lines equal the audit file's"

# (each audit.ls page is audited too, so the chain grew since)
[ "$("$SECRET" audit --since 1h --json | wc -l)" -gt "$n" ] || fail "--since 1h does not list everything"
[ "$("$SECRET" audit --since 2099-01-01T00:00:00Z --json | wc -l)" = 0 ] ||
  fail "--since a future time lists records"
mid=$(sed -n '50p' "$T/audit.json" | json_get 'd["time"]')
"$SECRET" audit --since "$mid" --json >"$T/since.json"
got=$(head -n 1 "$T/since.json" | json_get 'd["seq"]')
[ "$got" -ge 40 ] && [ "$got" -le 50 ] || fail "--since $mid starts at seq $got, want about 50"
ok "--since filters by RFC 3339 time and by duration"

expect_rc 0 "$SECRET" audit --verify
grep -Eq '^audit chain OK: [0-9]+ records, head [0-9]+:[0-9a-f]{64}$' "$T/out" ||
  fail "unexpected verify output: $(cat "$T/out")"
HEAD=$(sed -E 's/.*head ([0-9]+:[0-9a-f]{64})$/\1/' "$T/out")
expect_rc 0 "$SECRET" audit --expect-head "$HEAD"
SEQ=${HEAD%%:*}
expect_rc 1 "$SECRET" audit --expect-head "$((SEQ + 100)):${HEAD#*:}"
grep -q "cut off" "$T/err" || fail "unclear: $(cat "$T/err")"
expect_rc 1 "$SECRET" audit --expect-head "$SEQ:$(printf '0%.0s' $(seq 64))"
"$SECRET" audit --verify --json | json_get 'd["ok"] and d["head_seq"] > 0' | grep -qx True ||
  fail "verify --json"
stop_daemon
ok "audit --verify prints the head; --expect-head detects a cut-off or different head"
