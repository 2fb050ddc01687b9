#!/bin/bash
# Paging (issue 8 §5): `secret ls` over 20,000 secrets (made in-process by
# store_secret_fill: a reply of them all would be about 3 MiB, over the 1 MiB
# frame) pages through all of them through the real secretd and CLI, each
# name exactly once, in name order, with the default page size and with a
# small one (hundreds of pages); the output does not depend on the page
# size. A client that does not page gets a clear error instead of a cut
# listing; a hostile cursor is refused; `secret audit` pages the same way,
# and `secret inspect` lists 1,500 grants of one secret (inspect's first
# page, then grant.ls pages).
# Extra argument: the store_secret_fill helper. 20,000 secrets in every build.
source "$(dirname "$0")/daemon_lib.sh" "$@"
FILL=${3:?usage: $0 SECRETD SECRET STORE_SECRET_FILL}
N=20000
export LC_ALL=C # sort in byte order: the names table's order

init_store
G=1500
# Under ASan every store op's nested LMDB txn allocates about 3 MiB of page
# lists, and poisoning their shadow (fresh pages each time, through the
# quarantine) made the fill alone take 30 to 70 s. The helper only makes test
# data (the store's own tests run fully checked), so it runs without heap
# poisoning and quarantine: 20,000 secrets in a few seconds. Ignored by the
# release build.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}poison_heap=0:quarantine_size_mb=0" \
  "$FILL" "$DATA" "$N" "$G" >"$T/created" || fail "store_secret_fill failed"
sort "$T/created" >"$T/expected"
(sort "$T/created"; echo granted) | sort >"$T/expected_all"
seq -f 'svc%05g' 0 $((G - 1)) >"$T/expected_svcs"
[ "$(wc -l <"$T/expected")" = "$N" ] || fail "the filler did not create $N secrets"
start_daemon

# the default page size (1000): table and JSON
S ls >"$T/ls.txt" || fail "secret ls failed"
S ls --json >"$T/ls.json" || fail "secret ls --json failed"
head -n 1 "$T/ls.txt" | grep -q '^NAME  *ID  *LATEST  *VERSIONS  *GRANTS  *UPDATED  *LABELS' ||
  fail "ls header changed: $(head -n 1 "$T/ls.txt")"
tail -n +2 "$T/ls.txt" | awk '{print $1}' >"$T/table.names"
cmp -s "$T/table.names" "$T/expected_all" ||
  fail "ls did not list each of the $N names exactly once in order ($(wc -l <"$T/table.names") rows)"
json_names <"$T/ls.json" >"$T/json.names"
cmp -s "$T/json.names" "$T/expected_all" ||
  fail "ls --json did not list each of the $N names exactly once in order"
ok "secret ls and ls --json list all $N secrets, each once, in name order"

# a small page: many more requests, the same bytes out
# (the daemon appends each committed audit record to $AUDIT)
before=$(grep -c '"action":"secret.ls"' "$AUDIT")
S ls --page-size 37 >"$T/ls37.txt" || fail "secret ls --page-size 37 failed"
S ls --json --page-size 37 >"$T/ls37.json" || fail "secret ls --json --page-size 37 failed"
after=$(grep -c '"action":"secret.ls"' "$AUDIT")
cmp -s "$T/ls37.txt" "$T/ls.txt" || fail "ls output depends on the page size"
cmp -s "$T/ls37.json" "$T/ls.json" || fail "ls --json output depends on the page size"
pages=$((after - before))
min=$((2 * ((N + 1 + 36) / 37)))
[ "$pages" -ge "$min" ] || fail "ls --page-size 37 made $pages secret.ls requests, expected at least $min"
ok "ls --page-size 37 pages $pages times ($((pages / 2)) per listing) and prints the same"

S ls --page-size 0 >/dev/null 2>"$T/err" && fail "--page-size 0 accepted"
grep -q 'page-size' "$T/err" || fail "bad --page-size not explained: $(cat "$T/err")"

# a client from before paging, and hostile cursors (raw frames)
python3 - "$SOCK" "$N" <<'PY' || fail "unpaged and hostile-cursor requests"
import socket, struct, sys
def enc(v):
    if isinstance(v, bool): return b"\xc3" if v else b"\xc2"
    if isinstance(v, int): return b"\xce" + struct.pack(">I", v)
    if isinstance(v, str):
        b = v.encode(); return b"\xd9" + bytes([len(b)]) + b
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(enc(k) + enc(x) for k, x in v.items())
    raise TypeError(v)
def call(args):
    s = socket.socket(socket.AF_UNIX); s.settimeout(20); s.connect(sys.argv[1])
    body = enc({"v": 1, "id": 9, "op": "secret.ls", "args": args})
    s.sendall(struct.pack(">I", len(body)) + body)
    buf = b""
    while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
        c = s.recv(1 << 20)
        assert c, "closed"
        buf += c
    s.close()
    return buf[4:]
r = call({})
if int(sys.argv[2]) + 1 > 10000:  # the N secrets and "granted"
    assert b"\xa2ok\xc2" in r and b"list them in pages" in r, r[:200]
else:  # the whole listing in one reply, or an error if it does not fit one frame
    assert (b"\xa2ok\xc2" in r and b"too large" in r) or b"next" not in r, r[:200]
print("ok - a client that does not page gets an error, not a cut listing")
for cur in ["", "zz", "0101" + "61" * 65, "0103" + "00" * 8, "0201" + "61", "0101" + "6"]:
    r = call({"limit": 5, "cursor": cur})
    assert b"\xa2ok\xc2" in r and b"cursor" in r, (cur, r[:200])
r = call({"limit": 5, "cursor": "0101" + "ff" * 64})  # past every name: an empty last page
assert b"\xa2ok\xc3" in r and b"\xa7secrets\x90" in r and b"next" not in r, r[:200]
print("ok - hostile cursors refused, a cursor past the end gives an empty last page")
PY

# the grants of one secret: more than one page of them
S inspect granted >"$T/inspect.txt" || fail "secret inspect granted failed"
S inspect granted --json >"$T/inspect.json" || fail "secret inspect --json granted failed"
sed -n '/^grants:$/,$p' "$T/inspect.txt" | tail -n +3 | awk '{print $1}' >"$T/svcs.txt"
cmp -s "$T/svcs.txt" "$T/expected_svcs" ||
  fail "inspect did not list each of the $G grants once in order ($(wc -l <"$T/svcs.txt") rows)"
json_get 'chr(10).join(g["service"] for g in d["grants"])' <"$T/inspect.json" >"$T/svcs.json"
cmp -s "$T/svcs.json" "$T/expected_svcs" || fail "inspect --json did not list each of the $G grants once"
[ "$(grep -c '"action":"grant.ls"' "$AUDIT")" -ge 2 ] ||
  fail "inspect of $G grants did not page through grant.ls"
ok "inspect lists all $G grants of a secret, each once, in service order"

# audit pages through the 20,000 create records too
S audit --json --page-size 400 >"$T/audit.json" || fail "secret audit failed"
python3 - "$T/audit.json" "$N" <<'PY' || fail "audit --json records are not consecutive from 1"
import json, sys
seqs = [json.loads(l)["seq"] for l in open(sys.argv[1])]
assert seqs == list(range(1, len(seqs) + 1)), seqs[:5]
assert len(seqs) > int(sys.argv[2]), len(seqs)
PY
S audit --page-size 1 >/dev/null 2>"$T/err" && fail "audit --page-size 1 accepted"
ok "secret audit pages through $(wc -l <"$T/audit.json") records"
stop_daemon
