#!/bin/bash
# Malformed frames on the admin socket (truncated, length 0, 0xFFFFFFFF, over
# the maximum, deep nesting, wrong types, unknown op/keys, random bytes) get an
# error reply or a closed connection, while the daemon keeps serving: a
# concurrent `secret ls` succeeds, and a slow truncated frame does not block
# other clients. Requests that decode an op are audited even when refused.
source "$(dirname "$0")/daemon_lib.sh" "$@"

init_store
start_daemon
printf 'v' | S create keep - >/dev/null || fail "create failed"
printf 'v' | S create keep2 - >/dev/null || fail "create failed"

python3 - "$SOCK" "$SECRET" <<'PY' || fail "malformed-frame checks failed"
import os, socket, struct, subprocess, sys, time, random

sock_path, secret = sys.argv[1], sys.argv[2]

# --- a tiny msgpack encoder/decoder (python3-msgpack is not installed) ---
def enc(v):
    if v is None: return b"\xc0"
    if v is True: return b"\xc3"
    if v is False: return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128: return bytes([v])
        if 0 <= v < 2**32: return b"\xce" + struct.pack(">I", v)
        if -32 <= v < 0: return struct.pack("b", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, str):
        b = v.encode()
        return (bytes([0xa0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b
    if isinstance(v, bytes):
        return b"\xc4" + bytes([len(v)]) + v
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(enc(x) for x in v)
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(enc(k) + enc(x) for k, x in v.items())
    raise TypeError(v)

def dec(b, i=0):
    t = b[i]
    if t < 0x80: return t, i + 1
    if 0x80 <= t <= 0x8f:
        n, i, d = t & 15, i + 1, {}
        for _ in range(n):
            k, i = dec(b, i); v, i = dec(b, i); d[k] = v
        return d, i
    if 0x90 <= t <= 0x9f:
        n, i, l = t & 15, i + 1, []
        for _ in range(n):
            v, i = dec(b, i); l.append(v)
        return l, i
    if 0xa0 <= t <= 0xbf:
        n = t & 31; return b[i+1:i+1+n].decode(), i + 1 + n
    if t >= 0xe0: return t - 256, i + 1
    if t == 0xc0: return None, i + 1
    if t == 0xc2: return False, i + 1
    if t == 0xc3: return True, i + 1
    if t == 0xcc: return b[i+1], i + 2
    if t == 0xcd: return struct.unpack(">H", b[i+1:i+3])[0], i + 3
    if t == 0xce: return struct.unpack(">I", b[i+1:i+5])[0], i + 5
    if t == 0xcf: return struct.unpack(">Q", b[i+1:i+9])[0], i + 9
    if t == 0xd0: return struct.unpack(">b", b[i+1:i+2])[0], i + 2
    if t == 0xd1: return struct.unpack(">h", b[i+1:i+3])[0], i + 3
    if t == 0xd2: return struct.unpack(">i", b[i+1:i+5])[0], i + 5
    if t == 0xd3: return struct.unpack(">q", b[i+1:i+9])[0], i + 9
    if t == 0xd9: n = b[i+1]; return b[i+2:i+2+n].decode(), i + 2 + n
    if t == 0xda: n = struct.unpack(">H", b[i+1:i+3])[0]; return b[i+3:i+3+n].decode(), i + 3 + n
    if t == 0xdc:
        n, i, l = struct.unpack(">H", b[i+1:i+3])[0], i + 3, []
        for _ in range(n):
            v, i = dec(b, i); l.append(v)
        return l, i
    if t == 0xde:
        n, i, d = struct.unpack(">H", b[i+1:i+3])[0], i + 3, {}
        for _ in range(n):
            k, i = dec(b, i); v, i = dec(b, i); d[k] = v
        return d, i
    if t == 0xc4: n = b[i+1]; return b[i+2:i+2+n], i + 2 + n
    raise ValueError("unsupported msgpack byte %#x" % t)

def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sock_path)
    return s

def read_reply(s):
    """Return the decoded reply map, or None when the daemon closed the connection."""
    buf = b""
    try:
        while len(buf) < 4:
            c = s.recv(4096)
            if not c: return None
            buf += c
        n = struct.unpack(">I", buf[:4])[0]
        while len(buf) < 4 + n:
            c = s.recv(65536)
            if not c: return None
            buf += c
    except ConnectionResetError:
        return None
    v, _ = dec(buf[4:4 + n])
    return v

def frame(body): return struct.pack(">I", len(body)) + body

def expect_refused(name, data, close_write=False):
    s = connect()
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        s.close(); print("ok - %s: connection closed" % name); return
    if close_write: s.shutdown(socket.SHUT_WR)
    try:
        r = read_reply(s)
    except socket.timeout:
        raise SystemExit("FAIL: %s: no reply and connection left open" % name)
    if r is not None:
        assert isinstance(r, dict) and r.get("ok") is False, (name, r)
        assert isinstance(r.get("code"), int) and r["code"] < 0, (name, r)
        assert isinstance(r.get("error"), str) and r["error"], (name, r)
        # a broken frame stream must not be used further
        print("ok - %s: error reply: %s" % (name, r["error"]))
    else:
        print("ok - %s: connection closed" % name)
    s.close()

def ls_works():
    p = subprocess.run([secret, "ls"], capture_output=True, timeout=10)
    assert p.returncode == 0, p.stderr

# A slow client holding a truncated frame must not block anyone.
slow = connect()
slow.sendall(struct.pack(">I", 100) + b"\x84\xa1v")
ls_works()

good = {"v": 1, "id": 7, "op": "secret.ls", "args": {}}
s = connect(); s.sendall(frame(enc(good))); r = read_reply(s); s.close()
assert r and r["ok"] is True and r["id"] == 7, r

expect_refused("length 0", struct.pack(">I", 0))
expect_refused("length 0xFFFFFFFF", struct.pack(">I", 0xFFFFFFFF) + b"\x80" * 64)
expect_refused("over the maximum", struct.pack(">I", 2 * 1024 * 1024) + b"\x80" * 1024)
expect_refused("truncated then EOF", struct.pack(">I", 50) + b"\x84\xa1v\x01", close_write=True)
deep = b"\x91" * 100 + b"\xc0"
expect_refused("deep nesting", frame(deep))
expect_refused("deep nesting in args",
               frame(b"\x84" + enc("v") + enc(1) + enc("id") + enc(2) + enc("op") + enc("secret.ls")
                     + enc("args") + b"\x81\xa1a" * 40 + b"\xc0"))
expect_refused("wrong types", frame(enc({"v": 1, "id": "x", "op": 5, "args": []})))
expect_refused("value of wrong type", frame(enc({"v": 1, "id": 3, "op": "secret.create",
                                                  "args": {"name": "bad", "value": "text-not-bin"}})))
expect_refused("missing args", frame(enc({"v": 1, "id": 4, "op": "secret.create", "args": {}})))
# Field evolution: keys a newer peer added are ignored, within bounds.
s = connect(); s.sendall(frame(enc({"v": 1, "id": 5, "op": "secret.ls", "args": {"x": 1},
                                    "trace": {"a": [1, 2]}}))); r = read_reply(s); s.close()
assert r and r["ok"] is True and r["id"] == 5, r
print("ok - unknown arg and top-level key ignored")
expect_refused("too many ignored args", frame(enc({"v": 1, "id": 5, "op": "secret.ls",
                                                    "args": {"x%d" % i: 1 for i in range(40)}})))
expect_refused("ignored key too long", frame(enc({"v": 1, "id": 5, "op": "secret.ls",
                                                   "args": {"x" * 65: 1}})))
s = connect(); s.sendall(frame(enc({"v": 1, "id": 6, "op": "secret.steal", "args": {}})))
r = read_reply(s); s.close()
assert r and r["ok"] is False and r["id"] == 6 and r["code"] == -5016, r
assert r["error"] == "unsupported operation 'secret.steal'", r
print("ok - unknown op answered with SD_E_UNSUPPORTED naming it")
expect_refused("hostile cursor", frame(enc({"v": 1, "id": 7, "op": "secret.ls",
                                             "args": {"cursor": "0103" + "ff" * 8}})))
expect_refused("wrong version", frame(enc({"v": 9, "id": 6, "op": "secret.ls", "args": {}})))
# Empty strings and keys (msgpack-c gives them a NULL pointer; the sanitizer build
# aborts on a memcpy/memcmp of one): refused with a reply, never a crash.
expect_refused("empty key twice", frame(b"\x86" + enc("v") + enc(1) + enc("id") + enc(6)
                                        + enc("op") + enc("secret.ls") + enc("args") + b"\x80"
                                        + b"\xa0\x01\xa0\x01"))
for op, args in (("secret.create", {"name": "", "value": b"x"}),
                 ("secret.inspect", {"ref": ""}), ("grant.add", {"ref": "", "service": ""}),
                 ("node.inspect", {"ref": ""}), ("service.inspect", {"name": ""})):
    s = connect(); s.sendall(frame(enc({"v": 1, "id": 8, "op": op, "args": args})))
    r = read_reply(s); s.close()
    assert r and r["ok"] is False and r["error"], (op, r)
    print("ok - %s with an empty name: %s" % (op, r["error"]))
expect_refused("not a map", frame(enc([1, 2, 3])))
expect_refused("str length beyond frame", frame(b"\xdb\xff\xff\xff\xf0abc"))
expect_refused("array length beyond frame", frame(b"\xdd\xff\xff\xff\xf0\xc0"))
expect_refused("trailing bytes", frame(enc(good) + b"\xc0"))
rnd = random.Random(1234)
for i in range(40):
    body = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 300)))
    expect_refused("random bytes %d" % i, frame(body))
    if i % 10 == 0: ls_works()
for i in range(10):
    expect_refused("random stream %d" % i, os.urandom(rnd.randint(1, 200)), close_write=True)

ls_works()
slow.close()
ls_works()
print("ok - daemon kept serving through malformed frames")

# An attacker-chosen op name never reaches the audit (issue 7 §4).
expect_refused("unknown op with a marker", frame(enc({"v": 1, "id": 9, "op": "PAYLOADMARKXYZ",
                                                      "args": {}})))

# Replies name what the op acted on, resolved in the op's own transaction
# (issue 6 §4, issue 7 §7): "keep2" exists; pipeline rm, create, rm on one
# connection. The second rm removes the secret the create made, and its reply
# must carry that id and name, not the id "keep2" had when the rm arrived.
def call_all(reqs):
    s = connect()
    s.sendall(b"".join(frame(enc(r)) for r in reqs))
    out, buf = {}, b""
    while len(out) < len(reqs):  # replies may share one recv: keep the rest
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
            c = s.recv(65536)
            assert c, "connection closed"
            buf += c
        n = struct.unpack(">I", buf[:4])[0]
        r, _ = dec(buf[4:4 + n])
        buf = buf[4 + n:]
        out[r["id"]] = r
    s.close()
    return out
r = call_all([{"v": 1, "id": 1, "op": "secret.inspect", "args": {"ref": "keep2"}}])
old_id = r[1]["result"]["id"]
r = call_all([{"v": 1, "id": 11, "op": "secret.rm", "args": {"ref": "keep2"}},
              {"v": 1, "id": 12, "op": "secret.create", "args": {"name": "keep2", "value": b"n"}},
              {"v": 1, "id": 13, "op": "secret.rm", "args": {"ref": "keep2"}}])
assert all(r[i]["ok"] for i in (11, 12, 13)), r
new_id = r[12]["result"]["id"]
assert new_id != old_id
assert r[11]["result"]["id"] == old_id, (r[11], old_id)
assert r[13]["result"]["id"] == new_id, ("rm replied with the id resolved before the batch", r[13], new_id)
assert r[13]["result"]["name"] == "keep2", r[13]
print("ok - pipelined rm/create/rm: each reply names the secret its op removed")

# A reply that cannot be written ends the connection: later requests on it
# are not executed. The peer stops reading (SHUT_RD makes our writes fail
# with EPIPE) and then sends two creates.
s = connect()
s.shutdown(socket.SHUT_RD)
s.sendall(frame(enc({"v": 1, "id": 21, "op": "secret.create", "args": {"name": "w1", "value": b"v"}})))
time.sleep(0.5)
try:
    s.sendall(frame(enc({"v": 1, "id": 22, "op": "secret.create", "args": {"name": "w2", "value": b"v"}})))
except (BrokenPipeError, ConnectionResetError):
    pass
time.sleep(0.5)
s.close()
p = subprocess.run([secret, "ls", "--json"], capture_output=True, timeout=10, text=True)
assert '"w2"' not in p.stdout, "a request after a failed reply was executed"
print("ok - a failed reply closes the connection")
PY
kill -0 "$PID" || fail "secretd died"
S ls --json | json_names | grep -x keep >/dev/null || fail "stored secret lost"
S audit --json >"$T/audit.json"
grep -q '"action":"secret.create".*"outcome":"error' "$T/audit.json" ||
  grep -q '"action":"secret.create".*"outcome":"[^o]' "$T/audit.json" ||
  fail "refused malformed secret.create was not audited"
grep -q PAYLOADMARKXYZ "$T/audit.json" && fail "the peer's op name reached the audit chain"
grep -q '"action":"request.unknown"' "$T/audit.json" || fail "unknown op not audited as request.unknown"
grep -q '"action":"request.unknown".*"outcome":"error:unsupported' "$T/audit.json" ||
  fail "unknown op not audited with outcome error:unsupported"
S audit --verify >/dev/null || fail "audit does not verify"
stop_daemon
grep -q PAYLOADMARKXYZ "$AUDIT" && fail "the peer's op name reached the audit file"
ok "malformed frames refused, daemon kept serving"
