#!/bin/bash
# The CLI against a hostile or broken server that pages: a "next" that
# repeats the cursor just sent, a "next" with an empty page, and a "next"
# that is not a string must each end `secret ls` / `secret audit` with exit
# status 1 and one "unexpected reply" line, never a loop. The server is a
# stub on a Unix socket in this test (no secretd: it would never send these).
# Arguments: SECRETD SECRET (daemon_lib.sh's; only SECRET is used).
source "$(dirname "$0")/daemon_lib.sh" "$@"

for mode in repeat empty badtype; do
  for verb in ls audit; do
    rm -f "$SOCK"
    python3 - "$SOCK" "$mode" <<'PY' &
import socket, struct, sys
path, mode = sys.argv[1], sys.argv[2]
def enc(v):
    if v is None: return b"\xc0"
    if isinstance(v, bool): return b"\xc3" if v else b"\xc2"
    if isinstance(v, int): return b"\xcf" + struct.pack(">Q", v)
    if isinstance(v, str):
        b = v.encode(); return b"\xd9" + bytes([len(b)]) + b
    if isinstance(v, list): return b"\xdc" + struct.pack(">H", len(v)) + b"".join(enc(x) for x in v)
    if isinstance(v, dict):
        return b"\xde" + struct.pack(">H", len(v)) + b"".join(enc(k) + enc(x) for k, x in v.items())
    raise TypeError(v)
def req_id(body):  # msgpack-c packs "id" as a uint of 1..9 bytes
    i = body.index(b"\xa2id") + 3
    t = body[i]
    if t < 0x80: return t
    n = {0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8}[t]
    return int.from_bytes(body[i + 1:i + 1 + n], "big")
secret = {"id": "0" * 32, "name": "a", "created_ns": 1, "updated_ns": 1, "latest": 1,
          "versions": 1, "labels": {}, "grants": 0}
record = {"seq": 1, "time_ns": 1, "actor": "uid:0", "action": "x", "object": "y",
          "outcome": "ok", "prev": "0" * 64, "hash": "0" * 64}
srv = socket.socket(socket.AF_UNIX); srv.bind(path); srv.listen(1); srv.settimeout(20)
c, _ = srv.accept(); c.settimeout(20)
served = 0
while served < 50:  # a client that loops is caught by this bound
    hdr = c.recv(4, socket.MSG_WAITALL)
    if len(hdr) < 4: break
    body = c.recv(struct.unpack(">I", hdr)[0], socket.MSG_WAITALL)
    audit = b"audit.ls" in body
    items = [] if mode == "empty" else [dict(record, seq=served + 1) if audit else secret]
    nxt = 7 if mode == "badtype" else "0101" + "61"  # the same cursor every time
    result = {("records" if audit else "secrets"): items, "next": nxt}
    if audit: result["more"] = True
    out = enc({"v": 1, "id": req_id(body), "ok": True, "code": 0, "result": result})
    c.sendall(struct.pack(">I", len(out)) + out)
    served += 1
print(served, file=open(path + ".served", "w"))
PY
    EXTRA_PIDS+=($!)
    for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
    rc=0
    timeout 20 "$SECRET" $verb >"$T/out" 2>"$T/err" || rc=$?
    [ "$rc" = 1 ] || fail "$mode/$verb: exit $rc, want 1: $(cat "$T/err")"
    [ "$(wc -l <"$T/err")" = 1 ] && grep -q "unexpected reply from secretd (field 'next'" "$T/err" ||
      fail "$mode/$verb: not one clear line: $(cat "$T/err")"
    wait "${EXTRA_PIDS[-1]}" || fail "$mode/$verb: stub server failed"
    served=$(cat "$SOCK.served")
    [ "$served" -le 2 ] || fail "$mode/$verb: the CLI asked $served pages of a server that does not advance"
    ok "$mode/$verb: refused after $served page(s) with one clear line"
  done
done
