#!/bin/bash
# Services through the real `secretd` and `secret`: service create (the launcher's
# rules and messages, equal to secret-launch's), ls with paging, inspect, ps, rm,
# each audited; grants with unset owners and pinned versions (the pin survives
# rotations and moves with a new grant).
source "$(dirname "$0")/daemon_lib.sh" "$@"
LAUNCH=${3:?usage: $0 SECRETD SECRET SECRET-LAUNCH}
# grep -q at the end of a pipe may exit before the writer is done: with pipefail
# the writer's SIGPIPE would fail the test. gq reads all its input.
gq() { grep "$@" >/dev/null; }

init_store
start_daemon

# ---- create: refused forms carry secret-launch's own message ----
# refused_like ARGS...: `secret service create` and `secret-launch` both refuse the
# launcher options in ARGS with the same message.
refused_like() {
  local want got
  want=$({ "$LAUNCH" --rootfs /nonexistent "$@" -- /bin/true 2>&1 >/dev/null || true; } |
         head -n1 | sed 's/^secret-launch: //')
  [ -n "$want" ] || fail "secret-launch accepted $*"
  S service create bad --node n1 --rootfs /srv/x "$@" -- /bin/true >/dev/null 2>"$T/bad.err" &&
    fail "service create accepted $*"
  grep -qF -- "$want" "$T/bad.err" || fail "for $*: expected '$want', got '$(cat "$T/bad.err")'"
}
refused_like --memory 12x
refused_like --cpus 0.001
refused_like --pids-limit 0
refused_like --mount /a:relative
refused_like --env =x
refused_like --user root
refused_like --cap-add SUPERPOWER
refused_like --cap-drop NOPE
refused_like --stop-timeout 86401
refused_like --workdir relative
refused_like --uidmap 0:1
refused_like --gidmap 0:1:0
refused_like --uidmap 1:100000:10
refused_like --userns --user 70000
refused_like --uidmap 0:100000:10 --uidmap 5:200000:10
refused_like --uidmap 0:1:1 --uidmap 1:2:1 --uidmap 2:3:1 --uidmap 3:4:1 --uidmap 4:5:1 --uidmap 5:6:1
S service create bad --node n1 --rootfs /srv/x --restart sometimes -- /bin/true 2>"$T/bad.err" &&
  fail "a bad --restart was accepted"
grep -q -- '--restart: expected no, on-failure or always, got "sometimes"' "$T/bad.err" ||
  fail "bad --restart message: $(cat "$T/bad.err")"
S service create bad --node n1 --rootfs /srv/x >/dev/null 2>"$T/bad.err" && fail "no command accepted"
grep -q "no command given" "$T/bad.err" || fail "no-command message: $(cat "$T/bad.err")"
S service create bad --rootfs /srv/x -- /bin/true 2>"$T/bad.err" && fail "no --node accepted"
grep -q -- "--node NODE is required" "$T/bad.err" || fail "no-node message: $(cat "$T/bad.err")"
S service create bad --node 'a b' --rootfs /srv/x -- /bin/true 2>"$T/bad.err" &&
  fail "a node with a space was accepted"
grep -q "invalid node" "$T/bad.err" || fail "bad node refused without the server's reason"
echo '{"defaultAction":"SCMP_ACT_NOPE"}' >"$T/bad-seccomp.json"
S service create bad --node n1 --rootfs /srv/x --seccomp-profile "$T/bad-seccomp.json" -- /bin/true \
  2>"$T/bad.err" && fail "a bad seccomp profile was accepted"
grep -q "seccomp: " "$T/bad.err" || fail "bad seccomp message: $(cat "$T/bad.err")"
S service ls --json | json_get 'len(d)' | gq -x 0 || fail "a refused create left a service"
ok "refused launcher options: secret-launch's messages, nothing stored"

# ---- secretd itself validates a spec (a client other than `secret` may send any) ----
python3 - "$SOCK" <<'PY' || fail "secretd's own checks of raw specs failed"
import socket, struct, sys

def enc(v):
    if v is True: return b"\xc3"
    if isinstance(v, int): return bytes([v]) if v < 128 else b"\xce" + struct.pack(">I", v)
    if isinstance(v, str):
        b = v.encode(); return (bytes([0xa0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b
    if isinstance(v, bytes): return b"\xc5" + struct.pack(">H", len(v)) + v
    if isinstance(v, list): return bytes([0x90 | len(v)]) + b"".join(enc(x) for x in v)
    if isinstance(v, dict): return bytes([0x80 | len(v)]) + b"".join(enc(k) + enc(x) for k, x in v.items())
    raise TypeError(v)

def call(args):
    body = enc({"v": 1, "id": 7, "op": "service.create", "args": args})
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(10); s.connect(sys.argv[1])
    s.sendall(struct.pack(">I", len(body)) + body)
    buf = b""
    while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
        c = s.recv(65536)
        if not c: raise SystemExit("FAIL: connection closed")
        buf += c
    s.close()
    return buf[4:]

def refused(spec_bytes, want):
    r = call({"name": "raw", "node": "n1", "spec": spec_bytes})
    if b"\xa2ok\xc2" not in r or want.encode() not in r:
        raise SystemExit("FAIL: expected a refusal with %r, got %r" % (want, r[:300]))
    print("ok - secretd refuses a raw spec: %s" % want)

base = {"v": 1, "rootfs": "/srv/x", "argv": ["/app"]}
refused(enc(dict(base, mounts=[["/a", "relative", True]])), "--mount: expected SRC:/DST[:ro]")
refused(enc(dict(base, cap_add=["SUPERPOWER"])), '--cap-add: unknown capability "SUPERPOWER"')
refused(enc(dict(base, env=["=x"])), "--env: expected K=V")
refused(enc(dict(base, privileged=True)), 'launch spec: unknown field')
refused(enc(dict(base, seccomp=b'{"defaultAction":"NOPE"}')), "seccomp: ")
refused(enc({"v": 1, "rootfs": "/srv/x"}), "launch spec: v, rootfs and argv are required")
refused(b"\xdf\xff\xff\xff\xff\xa1v\x01", "launch spec: not one well-formed msgpack value")
PY
# a spec that fits a frame but would not leave room for the rest of inspect's reply
mapfile -t BIG < <(python3 -c 'print("\n".join(["a" * 4096] * 256))')
S service create big --node n1 --rootfs /srv/x -- "${BIG[@]}" >/dev/null 2>"$T/big.err" &&
  fail "a spec over 1 MiB was stored"
grep -q "larger than 1 MiB" "$T/big.err" || fail "big spec: $(cat "$T/big.err")"
S service ls --json | json_get 'len(d)' | gq -x 0 || fail "a refused raw create left a service"
ok "secretd validates specs itself, with the launcher's messages"

# ---- create, ls, inspect, ps ----
cat >"$T/seccomp.json" <<'EOF'
{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}
EOF
S service create web --node node-1 --rootfs /srv/web --restart on-failure --memory 64m \
  --cpus 0.5 --pids-limit 64 --mount /srv/data:/data:ro --cap-drop ALL --cap-add NET_BIND_SERVICE \
  --user 1000:1000 --read-only --env MODE=prod --hostname web --init --stop-timeout 3 \
  --seccomp-profile "$T/seccomp.json" -- /bin/sh -c 'echo hi' >/dev/null || fail "create failed"
S service create web --node node-1 --rootfs /srv/web -- /app 2>"$T/dup.err" &&
  fail "a duplicate service was accepted"
grep -q "already exists" "$T/dup.err" || fail "duplicate refused without reason: $(cat "$T/dup.err")"
S service inspect web --json >"$T/web.json" || fail "inspect failed"
g() { json_get "$1" <"$T/web.json"; }
[ "$(g 'd["node"]')" = node-1 ] || fail "node: $(g 'd["node"]')"
[ "$(g 'd["spec"]["rootfs"]')" = /srv/web ] || fail "rootfs"
[ "$(g '" ".join(d["spec"]["argv"])')" = "/bin/sh -c echo hi" ] || fail "argv"
[ "$(g 'd["spec"]["restart"]')" = on-failure ] || fail "restart"
[ "$(g 'd["spec"]["memory"]')" = 67108864 ] || fail "memory"
[ "$(g 'd["spec"]["cpu_quota"]')" = 50000 ] || fail "cpus"
[ "$(g 'd["spec"]["mounts"]')" = "[['/srv/data', '/data', True]]" ] || fail "mounts"
[ "$(g 'd["spec"]["uid"]'):$(g 'd["spec"]["gid"]')" = 1000:1000 ] || fail "user"
[ "$(g 'd["spec"]["stop_timeout"]')" = 3 ] || fail "stop timeout"
[[ "$(g 'd["spec"]["seccomp"]')" == *SCMP_ACT_ERRNO* ]] || fail "the seccomp profile's content is not in the spec"
[[ "$(g 'd["spec"]')" == *"$T"* ]] && fail "the local seccomp path travelled"
[ "$(g 'd["tasks"][0]["state"]')" = pending ] || fail "task state: $(g 'd["tasks"][0]["state"]')"
[ "$(g 'd["tasks"][0]["desired"]')" = running ] || fail "task desired state"
[ "$(g 'd["tasks"][0]["node"]')" = node-1 ] || fail "task node"
[ "$(g 'd["tasks"][0]["exit_code"]')" = None ] || fail "exit code before any run"
S service inspect web | gq "rootfs:" || fail "text inspect lacks the spec"
S service ps web >"$T/ps.txt" || fail "ps failed"
head -n1 "$T/ps.txt" | gq "NODE.*STATE.*SINCE.*EXIT.*RESTARTS" || fail "ps header: $(head -n1 "$T/ps.txt")"
grep -q "node-1.*running.*pending.*-.*0" "$T/ps.txt" || fail "ps row: $(cat "$T/ps.txt")"
S service ps nosuch >/dev/null 2>"$T/ps.err" && fail "ps of a missing service succeeded"
grep -q "no such service" "$T/ps.err" || fail "ps of a missing service: $(cat "$T/ps.err")"
ok "create, inspect, ps (task pending until an agent reports)"

for n in $(seq 1 7); do
  S service create "svc$n" --node n2 --rootfs /srv/x -- /app >/dev/null || fail "create svc$n"
done
S service ls --json | json_names | tr '\n' ' ' | gq -x "svc1 svc2 svc3 svc4 svc5 svc6 svc7 web " ||
  fail "ls --json: $(S service ls --json)"
S service ls | gq "^web  *node-1  *pending" || fail "text ls: $(S service ls)"
ok "ls"

# ---- rm, audit ----
S service rm svc3 >/dev/null || fail "rm failed"
S service rm svc3 >/dev/null 2>"$T/rm.err" && fail "second rm succeeded"
grep -q "no such service" "$T/rm.err" || fail "rm of a missing service: $(cat "$T/rm.err")"
S service inspect svc3 >/dev/null 2>&1 && fail "inspect after rm succeeded"
S audit --json >"$T/audit.jsonl"
grep '"action":"service.create"' "$T/audit.jsonl" | gq '"object":"service:web node:node-1"' ||
  fail "service.create not audited"
grep '"action":"service.create"' "$T/audit.jsonl" | grep '"object":"service:web' |
  grep -q '"outcome":"error:exists' || fail "the refused duplicate is not audited"
grep '"action":"service.create"' "$T/audit.jsonl" | gq '"outcome":"error:bad_argument' ||
  fail "the refused bad node is not audited"
grep '"action":"service.rm"' "$T/audit.jsonl" | gq '"object":"service:svc3"' ||
  fail "service.rm not audited"
grep -q '"action":"service.inspect"' "$T/audit.jsonl" || fail "service.inspect not audited"
grep -q '"action":"service.ls"' "$T/audit.jsonl" || fail "service.ls not audited"
ok "rm, and every action audited"

# ---- grants: unset owners, pins ----
printf 'v1' | S create db - >/dev/null || fail "create secret"
S grant db --service web >/dev/null || fail "grant without owners"
S inspect db --json >"$T/db.json"
[ "$(json_get 'd["grants"][0]["uid"]' <"$T/db.json")" = None ] || fail "uid is not unset"
[ "$(json_get 'd["grants"][0]["gid"]' <"$T/db.json")" = None ] || fail "gid is not unset"
[ "$(json_get 'd["grants"][0]["mode"]' <"$T/db.json")" = 256 ] || fail "mode is not 0400"
[ "$(json_get 'd["grants"][0]["version"]' <"$T/db.json")" = None ] || fail "not following the latest"
S inspect db | gq "web .*service  *service  *0400  *latest" || fail "text grant row: $(S inspect db)"
S grant db --service api --uid 33 --gid 44 >/dev/null || fail "grant with owners"
S inspect db --json | json_get '[g["uid"] for g in d["grants"] if g["service"]=="api"][0]' |
  grep -qx 33 || fail "explicit uid lost"
S grant db --service web --version 2 >/dev/null 2>"$T/pin.err" && fail "pin to a missing version"
printf 'v2' | S rotate db - >/dev/null
S grant db --service web --version 1 >/dev/null || fail "pin to version 1"
for i in 3 4 5 6 7 8; do printf "v$i" | S rotate db - >/dev/null || fail "rotate $i"; done
S inspect db --json >"$T/db.json"
[ "$(json_get '[g["version"] for g in d["grants"] if g["service"]=="web"][0]' <"$T/db.json")" = 1 ] ||
  fail "the pin moved on rotation"
json_get '[v["version"] for v in d["versions"]]' <"$T/db.json" | gq '^\[1, ' ||
  fail "the pinned version was pruned: $(json_get 'd["versions"]' <"$T/db.json")"
S grant db --service web --version 8 >/dev/null || fail "re-grant with a new pin"
[ "$(S inspect db --json | json_get '[g["version"] for g in d["grants"] if g["service"]=="web"][0]')" = 8 ] ||
  fail "the pin did not move with grant --version"
S grant db --service web >/dev/null || fail "re-grant following the latest"
S inspect db --json | json_get '[g["version"] for g in d["grants"] if g["service"]=="web"][0]' |
  grep -qx None || fail "grant without --version does not follow the latest again"
grep -q 'uid:service gid:service mode:0400 version:1' <(S audit --json) ||
  fail "the pinned grant's audit record lacks its owner and version"
ok "grants: unset owners (the service's user), mode 0400, pins"

stop_daemon
start_daemon
S service ps web | gq pending || fail "the service did not survive a restart"
S audit --verify >/dev/null || fail "the audit chain does not verify"
ok "restart keeps services; the chain verifies"
