#!/bin/bash
# The worker ops (node.assignments, node.deliver, task.report) through the real
# secretd: on the admin socket there is no node certificate (and the admin role
# is not the worker role), so each is refused with its reason and audited
# (outcome denied), nothing is delivered, and the
# commit-path change tracking runs after every write that can change a node's
# assignments (rotate, grant, revoke, service create/rm, rm --force) without a
# warning. The delivery itself, with a node id, is tested in test_secretd_dispatch.
source "$(dirname "$0")/daemon_lib.sh" "$@"
gq() { grep "$@" >/dev/null; }

init_store
start_daemon

MARK=MARKER-worker-$(random_hex)
printf %s "$MARK" | S create db - >/dev/null || fail "create"
S service create web --node n1 --rootfs /srv/web -- /app >/dev/null || fail "service create"
S grant db --service web >/dev/null || fail "grant"
printf %s "$MARK-2" | S rotate db - >/dev/null || fail "rotate"
S grant db --service web --version 1 >/dev/null || fail "pin"
ID=$(S inspect db --json | json_get 'd["id"]')
TASK=$(S service inspect web --json | json_get 'd["tasks"][0]["id"]')
[ ${#TASK} -eq 32 ] || fail "task id: '$TASK'"

python3 - "$SOCK" "$ID" "$TASK" <<'PY' || fail "worker ops on the admin socket"
import socket, struct, sys

def enc(v):
    if v is True: return b"\xc3"
    if isinstance(v, int): return bytes([v]) if v < 128 else b"\xce" + struct.pack(">I", v)
    if isinstance(v, str):
        b = v.encode(); return (bytes([0xa0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b
    if isinstance(v, dict): return bytes([0x80 | len(v)]) + b"".join(enc(k) + enc(x) for k, x in v.items())
    raise TypeError(v)

def call(op, args):
    body = enc({"v": 1, "id": 9, "op": op, "args": args})
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(10); s.connect(sys.argv[1])
    s.sendall(struct.pack(">I", len(body)) + body)
    buf = b""
    while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
        c = s.recv(65536)
        if not c: raise SystemExit("FAIL: connection closed")
        buf += c
    s.close()
    return buf[4:]

sid, task = sys.argv[2], sys.argv[3]
for op, args in [("node.deliver", {"service": "web", "task": task, "secrets": {sid: 1}}),
                 ("node.assignments", {}),
                 ("task.report", {"service": "web", "task": task, "state": "running"})]:
    r = call(op, args)
    # refused by the per-op role check (an admin is not a worker), or, without
    # it, by the handler itself (no node certificate): SD_E_DENIED either way
    if b"\xa2ok\xc2" not in r or (b"needs a node's verified certificate" not in r and
                                  b"not for your role" not in r):
        raise SystemExit("FAIL: %s on the admin socket: %r" % (op, r[:300]))
    if b"MARKER" in r:
        raise SystemExit("FAIL: %s leaked a value" % op)
    print("ok - %s refused without a node certificate" % op)
# a malformed deliver (upper-case id, version 0) is refused by the schema
r = call("node.deliver", {"service": "web", "task": task.upper(), "secrets": {sid: 0}})
if b"\xa2ok\xc2" not in r or b"argument" not in r:
    raise SystemExit("FAIL: malformed deliver: %r" % r[:300])
print("ok - a malformed node.deliver is refused naming the argument")
PY

# each refusal is audited, as denied, and no value is anywhere in the audit
for op in node.deliver node.assignments task.report; do
  gq "\"action\":\"$op\".*\"outcome\":\"denied\"" "$AUDIT" || fail "$op refusal not audited"
done
gq "$MARK" "$AUDIT" && fail "a value in the audit file"
ok "refusals audited, no value in the audit"

# more writes through the hook, including a revoke, rm --force and service rm
S revoke db --service web >/dev/null || fail "revoke"
S grant db --service web >/dev/null || fail "grant again"
S rm db --force >/dev/null || fail "rm --force"
S service rm web >/dev/null || fail "service rm"
S ls >/dev/null || fail "secretd stopped answering"
gq "cannot work out which nodes" "$T/err.log" && fail "change tracking failed: $(cat "$T/err.log")"
ok "change tracking ran after each write without a warning"
stop_daemon
ok "clean stop"
