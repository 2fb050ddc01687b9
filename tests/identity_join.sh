#!/bin/bash
# Cluster identity through the real binaries (issue 9): secretd serve --listen,
# secret join-token / node / cluster, secret-agent join, over loopback and
# across two network namespaces this test creates and removes.
# Usage: identity_join.sh SECRETD SECRET SECRET-AGENT
source "$(dirname "$0")/daemon_lib.sh" "$@"
AGENT=${3:?usage: $0 SECRETD SECRET SECRET-AGENT}
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENT() { python3 "$HERE/identity_client.py" "$@"; }
FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n1 || true)

if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
  echo "SKIP[root]: network namespaces need root and iproute2"
  exit 77
fi
[ -n "$FAKETIME_LIB" ] || fail "libfaketime not installed (scripts/deps.sh installs faketime)"

free_port() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

# secretd runs under libfaketime with a fixed offset per start (FAKETIME in
# the environment, parsed once: a timestamp file re-read at every clock call
# deadlocks with AddressSanitizer's allocator, which reads the monotonic
# clock under its lock; the monotonic clock is left alone for the same
# reason). Certificates are checked against the wall clock.
CLOCK="+0"
PORT=$(free_port)
init_store
# stop_daemon with a deadline: a secretd that does not stop fails the test
# instead of hanging it
stop_daemon() {
  kill -TERM "$PID"
  local i
  for i in $(seq 1 $((100 * ${SD_TIME_SLACK:-1}))); do
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$PID" 2>/dev/null; then
    [ -z "${SD_DEBUG_HANG:-}" ] || gdb -p "$PID" -batch -ex "thread apply all bt 12" >&2 2>&1
    fail "secretd did not stop within 10 s of SIGTERM"
  fi
  local rc=0
  wait "$PID" || rc=$?
  PID=""
  [ $rc -eq 0 ] || fail "secretd exited with status $rc after SIGTERM"
}
start_daemon_shifted() {
  env LD_PRELOAD="$FAKETIME_LIB" FAKETIME="$CLOCK" FAKETIME_DONT_FAKE_MONOTONIC=1 \
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0:allocator_release_to_os_interval_ms=-1" \
    "$SECRETD" serve --data "$DATA" --admin-socket "$SOCK" --audit-file "$AUDIT" \
    --listen "127.0.0.1:$PORT" >>"$T/out.log" 2>>"$T/err.log" </dev/null &
  PID=$!
  wait_ready "$PID" "$SOCK"
}
start_daemon_shifted
grep -q "listening for nodes on 127.0.0.1:$PORT" "$T/err.log" || fail "no listener: $(cat "$T/err.log")"
ok "secretd serves joins on 127.0.0.1:$PORT with the manager certificate from its store"

# The CA and manager keys are in the store only: no PEM or key file anywhere.
if find "$DATA" -type f | grep -v -e '/data.mdb$' -e '/lock.mdb$' -e '/unlock.key$' \
  -e '/serve.lock$' | grep -q .; then
  fail "unexpected files in the data dir: $(ls -la "$DATA")"
fi
ok "no key or certificate files next to the store"

# ---- a join with the right token, over loopback ----
S join-token worker --quiet >"$T/tok" 2>"$T/jt.err" || fail "join-token: $(cat "$T/jt.err")"
grep -Eq '^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$' "$T/tok" || fail "token shape: $(cat "$T/tok")"
"$AGENT" join --token-file "$T/tok" --manager "127.0.0.1:$PORT" --state "$T/a1" \
  >"$T/a1.out" 2>"$T/a1.err" || fail "join: $(cat "$T/a1.err")"
NODE1=$(cat "$T/a1.out")
[[ "$NODE1" =~ ^[a-z2-7]{26}$ ]] || fail "node id: $NODE1"
[ "$(stat -c %a "$T/a1")" = 700 ] || fail "state dir mode $(stat -c %a "$T/a1")"
[ "$(stat -c %a "$T/a1/node.key")" = 600 ] || fail "key mode $(stat -c %a "$T/a1/node.key")"
S node ls >"$T/ls" || fail "node ls"
awk 'NR>1 {print $1, $3, $4}' "$T/ls" | grep -qx "$NODE1 worker ready" ||
  fail "node ls does not show $NODE1 ready: $(cat "$T/ls")"
S node ls --json | grep -q "\"id\":\"$NODE1\"" || fail "node ls --json"
S node inspect "$NODE1" | grep -q "Role: *worker" || fail "node inspect"
if S node rm "$NODE1" 2>"$T/rm.err"; then fail "rm of a ready node without --force"; fi
grep -q "use --force" "$T/rm.err" || fail "rm refusal: $(cat "$T/rm.err")"
ok "join with the right token: node $NODE1 shows ready in secret node ls (rm needs --force)"

# ---- an impostor manager with another CA: refused before the CSR is sent ----
DATA2=$T/data2 SOCK2=$T/admin2.sock PORT2=$(free_port)
"$SECRETD" init --data "$DATA2" >/dev/null 2>&1 || fail "init impostor"
"$SECRETD" serve --data "$DATA2" --admin-socket "$SOCK2" --listen "127.0.0.1:$PORT2" \
  >/dev/null 2>>"$T/err2.log" </dev/null &
EXTRA_PIDS+=($!)
wait_ready "${EXTRA_PIDS[-1]}" "$SOCK2"
SECRETD_SOCKET=$SOCK2 "$SECRET" join-token worker --quiet >"$T/tok2" 2>/dev/null
if "$AGENT" join --token-file "$T/tok" --manager "127.0.0.1:$PORT2" --state "$T/imp" \
  >"$T/imp.out" 2>"$T/imp.err"; then
  fail "the agent joined an impostor manager"
fi
grep -q "nothing was sent" "$T/imp.err" || fail "impostor refusal: $(cat "$T/imp.err")"
[ ! -e "$T/imp" ] || fail "the agent made its state (and key) before accepting the manager"
if SECRETD_SOCKET=$SOCK2 "$SECRET" audit | grep -q "node.join"; then
  fail "the impostor received a join request"
fi
ok "an impostor manager with another CA is refused by the agent before it sends its CSR"

# ---- token refusals ----
refused() { # refused NAME TOKEN-FILE PATTERN
  if "$AGENT" join --token-file "$2" --manager "127.0.0.1:$PORT" --state "$T/r-$1" \
    >"$T/r.out" 2>"$T/r.err"; then
    fail "$1 token was accepted"
  fi
  grep -qi "$3" "$T/r.err" || fail "$1 token: unclear refusal: $(cat "$T/r.err")"
}
TOK=$(cat "$T/tok")
last=${TOK: -1}
[ "$last" = 0 ] && repl=1 || repl=0
printf '%s\n' "${TOK%?}$repl" >"$T/t-wrong"
refused wrong "$T/t-wrong" "wrong secret"
printf '%s\n' "${TOK%?}" >"$T/t-trunc"
refused truncated "$T/t-trunc" "truncated"
printf '%s\n' "${TOK^^}" >"$T/t-case"
refused case-changed "$T/t-case" "case"
printf ' %s\n' "$TOK" >"$T/t-pad1"
refused padded-front "$T/t-pad1" "whitespace"
printf '%s \n' "$TOK" >"$T/t-pad2"
refused padded-back "$T/t-pad2" "whitespace"
ok "wrong, truncated, case-changed and padded tokens are refused with clear messages"

# The manager's own checks, bypassing the agent's: a padded token sent raw.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/" \
  -keyout "$T/raw.key" -outform DER -out "$T/raw.csr" 2>/dev/null || fail "openssl req"
printf ' %s' "$TOK" >"$T/raw-pad"
CLIENT "127.0.0.1:$PORT" node.join --token-file "$T/raw-pad" --csr-file "$T/raw.csr" \
  >"$T/c.out" || true
grep -qi "whitespace" "$T/c.out" || fail "raw padded token: $(cat "$T/c.out")"
ok "secretd refuses a padded token itself"

S join-token worker --rotate --quiet >"$T/tok-r" 2>/dev/null
refused rotated "$T/tok" "wrong secret"
S join-token worker --rotate --uses 1 --quiet >"$T/tok-u" 2>/dev/null
"$AGENT" join --token-file - --manager "127.0.0.1:$PORT" --state "$T/a2" <"$T/tok-u" \
  >"$T/a2.out" 2>"$T/a2.err" || fail "join with a one-use token: $(cat "$T/a2.err")"
NODE2=$(cat "$T/a2.out")
[ "$NODE2" != "$NODE1" ] || fail "two nodes got one id"
refused used-up "$T/tok-u" "no uses left"
S join-token worker --rotate --ttl 1s --quiet >"$T/tok-e" 2>/dev/null
sleep 2
refused expired "$T/tok-e" "expired"
S join-token worker --rotate --ttl 0 --quiet >"$T/tok" 2>/dev/null
S audit | grep "join_token.rotate" | grep -q "no-expiry" || fail "a token without expiry is not audited as such"
ok "rotated, expired and used-up tokens are refused; a no-expiry token is audited as such"
S audit | grep "node.join" | grep -q "error:token_expired" || fail "refused joins are not audited"
ok "refused joins are audited"

# Repeated failures from one address are slowed down.
printf '%s' "$(cat "$T/t-wrong")" >"$T/t-wrong-raw"
CLIENT "127.0.0.1:$PORT" node.join --token-file "$T/t-wrong-raw" --csr-file "$T/raw.csr" \
  --repeat 8 >"$T/flood.out" || true
grep -q "slowed down" "$T/flood.out" || fail "no slow-down after 8 failures: $(cat "$T/flood.out")"
ok "repeated failed joins from one address are slowed down"

# ---- a worker calling an admin operation ----
openssl x509 -inform DER -in "$T/a1/node.crt" -out "$T/n1.pem"
openssl pkey -inform DER -in "$T/a1/node.key" -out "$T/n1.key" 2>/dev/null
CLIENT "127.0.0.1:$PORT" secret.ls --cert "$T/n1.pem" --key "$T/n1.key" >"$T/w.out" || true
grep -q "permission denied: worker may not call secret.ls" "$T/w.out" ||
  fail "worker calling secret.ls: $(cat "$T/w.out")"
CLIENT "127.0.0.1:$PORT" node.ls --cert "$T/n1.pem" --key "$T/n1.key" >"$T/w.out" || true
grep -q "permission denied: worker may not call node.ls" "$T/w.out" ||
  fail "worker calling node.ls: $(cat "$T/w.out")"
ok "a worker calling admin operations is refused"

# ---- certificates refused at the handshake ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/O=foreign/CN=foreign CA" -keyout "$T/fca.key" -out "$T/fca.pem" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/O=x/OU=worker/CN=$NODE1" -keyout "$T/f.key" -out "$T/f.csr" 2>/dev/null
openssl x509 -req -in "$T/f.csr" -CA "$T/fca.pem" -CAkey "$T/fca.key" -CAcreateserial -days 1 \
  -out "$T/f.pem" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj "/O=x/OU=manager/CN=$NODE1" -keyout "$T/ss.key" -out "$T/ss.pem" 2>/dev/null
for c in f ss; do
  if CLIENT "127.0.0.1:$PORT" secret.ls --cert "$T/$c.pem" --key "$T/$c.key" >"$T/h.out"; then
    fail "certificate $c was accepted: $(cat "$T/h.out")"
  fi
done
# refused peers are counted and audited once a second (one record per
# second, whatever the flood): wait for the record while this secretd runs
for i in $(seq 1 100); do
  S audit | grep "tls.refused" | grep -q "certificate_rejected" && break
  sleep 0.1
done
S audit | grep "tls.refused" | grep -q "certificate_rejected" || fail "refused handshakes are not audited"
ok "foreign-CA and self-signed client certificates are refused at the handshake (and audited)"

# A flood of refused handshakes adds about one audit record per second, not
# one per connection, and the records still count every refusal.
sleep 1.1 # let the counter of the refusals above flush
before=$(S audit | grep -c "tls.refused" || true)
start=$(date +%s)
python3 - "127.0.0.1:$PORT" "$T/f.pem" "$T/f.key" <<'PYEOF'
import socket, ssl, sys
host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
for _ in range(200):
    try:
        s = ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=10))
        s.sendall(b"\0\0\0\1\x80")
        s.recv(1)
    except (OSError, ssl.SSLError):
        pass
PYEOF
sleep 1.2
elapsed=$(($(date +%s) - start))
after=$(S audit | grep -c "tls.refused" || true)
records=$((after - before))
counted=$(S audit | grep "tls.refused" | tail -n "$records" | grep -o "refused:[0-9]*" | cut -d: -f2 | awk '{s += $1} END {print s + 0}')
[ "$records" -le $((elapsed + 2)) ] || fail "$records audit records for a $elapsed s flood"
[ "$counted" -ge 200 ] || fail "the flood's records count $counted refusals, not 200"
ok "200 refused handshakes in ${elapsed}s: $records audit records counting $counted refusals"

# The node's real certificate under a shifted clock: not yet valid, then expired.
stop_daemon
CLOCK="-2h"
start_daemon_shifted
if CLIENT "127.0.0.1:$PORT" node.ls --cert "$T/n1.pem" --key "$T/n1.key" >"$T/h.out"; then
  grep -q "^error" "$T/h.out" || fail "a not-yet-valid certificate was accepted: $(cat "$T/h.out")"
fi
stop_daemon
CLOCK="+8d"
start_daemon_shifted
S node ls >/dev/null
S audit --json | tail -n 1 | grep -q "\"$(date -u -d '+8 days' +%F)T" ||
  fail "the clock shift did not reach secretd: $(S audit --json | tail -n 1)"
if CLIENT "127.0.0.1:$PORT" node.ls --cert "$T/n1.pem" --key "$T/n1.key" >"$T/h.out"; then
  grep -q "^error" "$T/h.out" || fail "an expired certificate was accepted: $(cat "$T/h.out")"
fi
stop_daemon
CLOCK="+0"
start_daemon_shifted
ok "expired and not-yet-valid node certificates are refused at the handshake"

# ---- node rm: deny list ----
# a connection of node 1 whose session ticket outlives its removal
CLIENT "127.0.0.1:$PORT" node.ls --cert "$T/n1.pem" --key "$T/n1.key" \
  --resume-after "$T/removed" >"$T/res.out" 2>&1 &
RES=$!
for i in $(seq 1 100); do grep -q "^first" "$T/res.out" && break; sleep 0.1; done
grep -q "^first" "$T/res.out" || fail "resumption client: $(cat "$T/res.out")"
S node rm "$NODE1" --force >/dev/null 2>&1 || fail "node rm --force"
if S node ls | grep -q "^$NODE1 "; then fail "removed node still listed"; fi
CLIENT "127.0.0.1:$PORT" node.ls --cert "$T/n1.pem" --key "$T/n1.key" >"$T/d.out" || true
grep -q "deny list" "$T/d.out" || fail "removed node not refused: $(cat "$T/d.out")"
touch "$T/removed"
wait "$RES" || true
grep -q "deny list" "$T/res.out" || fail "a resumed session of a removed node: $(cat "$T/res.out")"
grep -q "^ok" "$T/res.out" && fail "a resumed session of a removed node was served"
S audit | grep "node.rm" | grep -q "denied-until" || fail "node rm not audited"
# the same with a node that is still a member: its ticket is honoured
openssl x509 -inform DER -in "$T/a2/node.crt" -out "$T/n2.pem"
openssl pkey -inform DER -in "$T/a2/node.key" -out "$T/n2.key" 2>/dev/null
CLIENT "127.0.0.1:$PORT" node.ls --cert "$T/n2.pem" --key "$T/n2.key" \
  --resume-after "$T/removed" >"$T/res2.out" 2>&1 || true
grep -q "resumed yes" "$T/res2.out" || fail "a member's session is not resumed: $(cat "$T/res2.out")"
grep -q "worker may not call node.ls" "$T/res2.out" || fail "resumed member: $(cat "$T/res2.out")"
ok "node rm puts the node on the deny list; its later requests are refused, also with a session ticket ($(grep -m1 resumed "$T/res.out"))"

# ---- renewal: the new serial becomes the only accepted one ----
"$AGENT" renew --state "$T/a2" >"$T/rn.out" 2>"$T/rn.err" || fail "renew: $(cat "$T/rn.err")"
cmp -s "$T/a2/node.crt" <(openssl x509 -in "$T/n2.pem" -outform DER) && fail "renew kept the certificate"
CLIENT "127.0.0.1:$PORT" node.ls --cert "$T/n2.pem" --key "$T/n2.key" >"$T/old.out" || true
grep -q "renewed since" "$T/old.out" || fail "the previous certificate after a renewal: $(cat "$T/old.out")"
openssl x509 -inform DER -in "$T/a2/node.crt" -out "$T/n2new.pem"
openssl pkey -inform DER -in "$T/a2/node.key" -out "$T/n2new.key" 2>/dev/null
CLIENT "127.0.0.1:$PORT" node.ls --cert "$T/n2new.pem" --key "$T/n2new.key" >"$T/new.out" || true
grep -q "worker may not call node.ls" "$T/new.out" || fail "the renewed certificate: $(cat "$T/new.out")"
S audit | grep "node.renew" | grep -q "$NODE2" || fail "renewal not audited"
ok "after a renewal (new key) the previous certificate is refused and the new one accepted"

# ---- cluster update ----
if S cluster update --cert-expiry 30m 2>/dev/null; then fail "30m accepted"; fi
if S cluster update --cert-expiry 91d 2>/dev/null; then fail "91d accepted"; fi
S cluster update --cert-expiry 2h 2>/dev/null || fail "2h refused"
"$AGENT" join --token-file "$T/tok" --manager "127.0.0.1:$PORT" --state "$T/a3" \
  >"$T/a3.out" 2>"$T/a3.err" || fail "join after update: $(cat "$T/a3.err")"
exp=$(openssl x509 -inform DER -in "$T/a3/node.crt" -noout -enddate | cut -d= -f2)
left=$(($(date -d "$exp" +%s) - $(date +%s)))
[ "$left" -gt 7000 ] && [ "$left" -le 7200 ] || fail "new certificate lasts $left s, not 2h"
ok "cluster update --cert-expiry: out-of-range refused, new certificates use the new lifetime"

# ---- the agent's private key is nowhere in secretd ----
for st in a1 a2 a3; do
  openssl pkey -inform DER -in "$T/$st/node.key" -text -noout 2>/dev/null |
    awk '/^priv:/{p=1;next} /^pub:/{p=0} p' | tr -d ' :\n' >"$T/$st.priv"
  [ -s "$T/$st.priv" ] || fail "cannot read the private scalar of $st"
done
python3 - "$PID" "$T" "$DATA" "$AUDIT" <<'EOF' || fail "an agent's private key found in secretd"
import glob, re, sys
pid, t, data, audit = sys.argv[1:5]
keys = [bytes.fromhex(open(f"{t}/{s}.priv").read()) for s in ("a1", "a2", "a3")]
hexes = [k.hex().encode() for k in keys]
def scan(name, blob):
    for k, h in zip(keys, hexes):
        if k in blob or h in blob:
            print(f"private key bytes found in {name}", file=sys.stderr)
            sys.exit(1)
for f in glob.glob(f"{data}/*") + [audit, f"{t}/err.log", f"{t}/out.log"]:
    scan(f, open(f, "rb").read())
n = 0
with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for line in maps:
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
        lo, hi, perm = int(m[1], 16), int(m[2], 16), m[3]
        # skip AddressSanitizer's shadow (terabytes reserved) and the LMDB
        # map (the store file itself is scanned above)
        if "r" not in perm or "[vvar" in line or "[vsyscall" in line or hi - lo > (256 << 20):
            continue
        try:
            mem.seek(lo)
            chunk = mem.read(hi - lo)
        except (OSError, ValueError, OverflowError):
            continue
        n += len(chunk)
        scan(f"/proc/{pid}/mem {line.strip()}", chunk)
if n < 1 << 20:
    print(f"only {n} bytes of secretd's memory were readable", file=sys.stderr)
    sys.exit(1)
EOF
ok "the agents' private key bytes appear nowhere in secretd's memory, store, logs or audit"

# ---- across two network namespaces (10.x addresses exist only inside them) ----
NSM=sdid-m-$$ NSN=sdid-n-$$
CLEANUP_HOOKS+=("ip netns del $NSM 2>/dev/null; ip netns del $NSN 2>/dev/null")
ip netns add "$NSM"
ip netns add "$NSN"
ip link add "sdm$$" type veth peer name "sdn$$"
ip link set "sdm$$" netns "$NSM"
ip link set "sdn$$" netns "$NSN"
ip -n "$NSM" addr add 10.231.0.1/24 dev "sdm$$"
ip -n "$NSN" addr add 10.231.0.2/24 dev "sdn$$"
ip -n "$NSM" link set "sdm$$" up
ip -n "$NSN" link set "sdn$$" up
ip -n "$NSM" link set lo up
stop_daemon
ip netns exec "$NSM" "$SECRETD" serve --data "$DATA" --admin-socket "$SOCK" \
  --audit-file "$AUDIT" --listen "10.231.0.1:$PORT" >>"$T/out.log" 2>>"$T/err.log" </dev/null &
PID=$!
wait_ready "$PID" "$SOCK"
S join-token worker --rotate --quiet >"$T/tok-n" 2>/dev/null
ip netns exec "$NSN" "$AGENT" join --token-file "$T/tok-n" --manager "10.231.0.1:$PORT" \
  --state "$T/an" >"$T/an.out" 2>"$T/an.err" || fail "join across namespaces: $(cat "$T/an.err")"
NODEN=$(cat "$T/an.out")
S node ls | awk -v id="$NODEN" '$1 == id {print $3, $4, $5}' | grep -qx "worker ready 10.231.0.2" ||
  fail "node from the other namespace: $(S node ls)"
ok "a node in another network namespace joins over 10.231.0.0/24 and shows ready with its address"
stop_daemon
ip netns del "$NSM"
ip netns del "$NSN"
if ip netns list | grep -q "sdid-.-$$"; then fail "namespaces left behind"; fi
ok "namespaces removed"
