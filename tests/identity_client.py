#!/usr/bin/env python3
"""A raw TLS 1.3 client of secretd's --listen port for tests/identity_join.sh.

It speaks the frame format by hand (4-byte length + msgpack, docs/protocol.md)
so that a test can send what secret-agent never would: an admin op with a
worker certificate, a padded token, a foreign or expired certificate.

usage: identity_client.py HOST:PORT OP [--cert PEM --key PEM]
                          [--token-file F] [--csr-file DER] [--repeat N]
                          [--args-json JSON]
Prints one line per reply: "ok <keys>" or "error <code> <message>"; a reply
with a "secrets" list (node.deliver) adds "refused:<reason>" per refused entry.
Exit status: 0 a reply came, 3 the connection or handshake was refused
(the reason is printed), 2 usage.
"""
import socket
import ssl
import struct
import sys


def pack(o):
    if o is True:
        return b"\xc3"
    if o is False:
        return b"\xc2"
    if isinstance(o, int):
        if 0 <= o < 128:
            return bytes([o])
        return b"\xcf" + struct.pack(">Q", o)
    if isinstance(o, str):
        b = o.encode()
        if len(b) < 32:
            return bytes([0xA0 | len(b)]) + b
        return b"\xd9" + bytes([len(b)]) + b if len(b) < 256 else b"\xda" + struct.pack(">H", len(b)) + b
    if isinstance(o, (bytes, bytearray)):
        return b"\xc6" + struct.pack(">I", len(o)) + bytes(o)
    if isinstance(o, dict):
        return bytes([0x80 | len(o)]) + b"".join(pack(k) + pack(v) for k, v in o.items())
    raise TypeError(type(o))


def unpack(b, i=0):
    t = b[i]
    if t <= 0x7F:
        return t, i + 1
    if 0x80 <= t <= 0x8F or t in (0xDE, 0xDF):
        if t <= 0x8F:
            n, i = t & 0x0F, i + 1
        elif t == 0xDE:
            n, i = struct.unpack(">H", b[i + 1:i + 3])[0], i + 3
        else:
            n, i = struct.unpack(">I", b[i + 1:i + 5])[0], i + 5
        d = {}
        for _ in range(n):
            k, i = unpack(b, i)
            v, i = unpack(b, i)
            d[k] = v
        return d, i
    if 0x90 <= t <= 0x9F or t in (0xDC, 0xDD):
        if t <= 0x9F:
            n, i = t & 0x0F, i + 1
        elif t == 0xDC:
            n, i = struct.unpack(">H", b[i + 1:i + 3])[0], i + 3
        else:
            n, i = struct.unpack(">I", b[i + 1:i + 5])[0], i + 5
        a = []
        for _ in range(n):
            v, i = unpack(b, i)
            a.append(v)
        return a, i
    if 0xA0 <= t <= 0xBF:
        n = t & 0x1F
        return b[i + 1:i + 1 + n].decode(errors="replace"), i + 1 + n
    if t in (0xD9, 0xDA, 0xDB, 0xC4, 0xC5, 0xC6):
        w = {0xD9: 1, 0xC4: 1, 0xDA: 2, 0xC5: 2, 0xDB: 4, 0xC6: 4}[t]
        n = int.from_bytes(b[i + 1:i + 1 + w], "big")
        raw = b[i + 1 + w:i + 1 + w + n]
        return (raw.decode(errors="replace") if t >= 0xD9 else raw), i + 1 + w + n
    if t == 0xC2:
        return False, i + 1
    if t == 0xC3:
        return True, i + 1
    if t == 0xC0:
        return None, i + 1
    if t >= 0xE0:
        return t - 256, i + 1
    fmt = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"}[t]
    n = struct.calcsize(fmt)
    return struct.unpack(fmt, b[i + 1:i + 1 + n])[0], i + 1 + n


def read_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("connection closed by secretd")
        out += chunk
    return out


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    host, port = argv[1].rsplit(":", 1)
    op = argv[2]
    opts = {}
    i = 3
    while i < len(argv):
        opts[argv[i].lstrip("-")] = argv[i + 1]
        i += 2
    args = {}
    if "args-json" in opts:
        import json
        args = json.loads(opts["args-json"])
    if op == "node.join":
        with open(opts["token-file"], "rb") as f:
            args["token"] = f.read()
        with open(opts["csr-file"], "rb") as f:
            args["csr"] = f.read()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the test checks secretd's side
    if "cert" in opts:
        ctx.load_cert_chain(opts["cert"], opts["key"])
    try:
        session = None
        if "resume-after" in opts:
            # one connection first, keep its session ticket, wait for the
            # test to act (e.g. node rm), then resume with that ticket
            raw = socket.create_connection((host, int(port)), timeout=10)
            s = ctx.wrap_socket(raw)
            body = pack({"v": 1, "id": 1, "op": op, "args": args})
            s.sendall(struct.pack(">I", len(body)) + body)
            ln = struct.unpack(">I", read_exact(s, 4))[0]
            read_exact(s, ln)
            session = s.session
            s.close()
            print("first")
            sys.stdout.flush()
            import os, time
            deadline = time.time() + 30
            while not os.path.exists(opts["resume-after"]) and time.time() < deadline:
                time.sleep(0.05)
        raw = socket.create_connection((host, int(port)), timeout=10)
        s = ctx.wrap_socket(raw, session=session)
        if session is not None:
            print("resumed %s" % ("yes" if s.session_reused else "no"))
        for n in range(int(opts.get("repeat", "1"))):
            body = pack({"v": 1, "id": n + 1, "op": op, "args": args})
            s.sendall(struct.pack(">I", len(body)) + body)
            ln = struct.unpack(">I", read_exact(s, 4))[0]
            rep, _ = unpack(read_exact(s, ln))
            if rep.get("ok"):
                res = rep.get("result", {})
                line = "ok " + " ".join(sorted(res.keys()))
                for e in res.get("secrets", []) if isinstance(res.get("secrets"), list) else []:
                    if "refused" in e:
                        line += " refused:" + e["refused"].replace(" ", "_")
                print(line)
            else:
                print("error %d %s" % (rep.get("code", 0), rep.get("error", "")))
            sys.stdout.flush()
        s.close()
    except (OSError, ssl.SSLError, ConnectionError) as e:
        print("refused %s" % e)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
