#!/bin/bash
# Roles per operation through secretd's admin socket: the peer there is the
# local admin, and an op that only workers may call (session.echo) is refused
# before any handler runs, answered with "permission denied" and audited;
# the same session then goes on serving admin ops. Also the hello: secretd
# answers a version-1-only hello with version 1, and a full one with the
# highest version it speaks; a broken hello is refused naming the field and
# audited as request.malformed.
source "$(dirname "$0")/daemon_lib.sh" "$@"

init_store
start_daemon

python3 - "$SOCK" <<'PY' || fail "role checks failed"
import socket, struct, sys

def enc(v):
    if isinstance(v, bool): return b"\xc3" if v else b"\xc2"
    if isinstance(v, int): return bytes([v]) if 0 <= v < 128 else b"\xce" + struct.pack(">I", v)
    if isinstance(v, str):
        b = v.encode(); return bytes([0xa0 | len(b)]) + b
    if isinstance(v, list): return bytes([0x90 | len(v)]) + b"".join(enc(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(enc(k) + enc(x) for k, x in v.items())
    raise TypeError(v)

def dec(b, i=0):
    t = b[i]
    if t < 0x80: return t, i + 1
    if t >= 0xe0: return t - 256, i + 1
    if 0x80 <= t <= 0x8f:
        d, i = {}, i + 1
        for _ in range(t & 15):
            k, i = dec(b, i); v, i = dec(b, i); d[k] = v
        return d, i
    if 0x90 <= t <= 0x9f:
        l, i = [], i + 1
        for _ in range(t & 15):
            v, i = dec(b, i); l.append(v)
        return l, i
    if 0xa0 <= t <= 0xbf: n = t & 31; return b[i+1:i+1+n].decode(), i + 1 + n
    if t == 0xd9: n = b[i+1]; return b[i+2:i+2+n].decode(), i + 2 + n
    if t in (0xc2, 0xc3): return t == 0xc3, i + 1
    if t == 0xcc: return b[i+1], i + 2
    if t == 0xcd: return struct.unpack(">H", b[i+1:i+3])[0], i + 3
    if t == 0xce: return struct.unpack(">I", b[i+1:i+5])[0], i + 5
    if t == 0xcf: return struct.unpack(">Q", b[i+1:i+9])[0], i + 9
    if t == 0xd1: return struct.unpack(">h", b[i+1:i+3])[0], i + 3
    if t == 0xd2: return struct.unpack(">i", b[i+1:i+5])[0], i + 5
    if t == 0xd3: return struct.unpack(">q", b[i+1:i+9])[0], i + 9
    raise ValueError("unsupported msgpack byte %#x" % t)

def frame(v):
    b = enc(v); return struct.pack(">I", len(b)) + b

def read(s):
    buf = b""
    while len(buf) < 4: buf += s.recv(4 - len(buf))
    n = struct.unpack(">I", buf)[0]; body = b""
    while len(body) < n: body += s.recv(n - len(body))
    return dec(body)[0]

def session(versions, features):
    s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])
    s.sendall(frame({"v": 1, "t": "hello", "versions": versions, "features": features}))
    h = read(s)
    assert h.get("t") == "hello", h
    return s, h

s, h = session([1], [])
assert h["version"] == 1 and h["features"] == [], h
print("ok - a version-1 hello gets version 1 and no features")
s.close()

s, h = session([1, 2], ["push", "heartbeat"])
assert h["version"] == 2, h
s.sendall(frame({"v": 1, "id": 5, "op": "session.echo", "args": {"data": "x"}}))
r = read(s)
assert r["id"] == 5 and r["ok"] is False and r["code"] == -5013, r
assert "permission denied" in r["error"] and "role" in r["error"], r
print("ok - a worker-only op from the admin is refused: %s" % r["error"])
s.sendall(frame({"v": 1, "id": 6, "op": "ping", "args": {}}))
r = read(s)
assert r["id"] == 6 and r["ok"] is True, r
print("ok - the session goes on serving")
s.close()

s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])
s.sendall(frame({"v": 1, "t": "hello", "features": []}))
r = read(s)
assert r["id"] == 0 and r["ok"] is False and '"versions" is missing' in r["error"], r
assert s.recv(1) == b"", "the session did not end after a broken hello"
print("ok - a hello without versions is refused, naming the field: %s" % r["error"])
s.close()
PY
kill -0 "$PID" || fail "secretd died"
S audit --json >"$T/audit.json"
grep '"action":"session.echo"' "$T/audit.json" | grep -q '"outcome":"[^o]' ||
  fail "the refused session.echo was not audited as refused"
grep -q '"action":"request.malformed"' "$T/audit.json" || fail "the broken hello was not audited"
S ls >/dev/null || fail "secret ls fails after the refusal"
S audit --verify >/dev/null || fail "audit does not verify"
stop_daemon
ok "role refusal answered and audited"
