#!/bin/bash
# Sessions over TLS 1.3 between real processes (tests/wire_session_peer.c),
# with a P-256 PKI generated here by the openssl command: requests and pushes
# (in order, resumed after the server drops the session twice), a version-1
# client against the current server and the current client against a
# version-1 server, role refusal, a TLS 1.2-only client refused, a client
# certificate of another CA refused, and a peer that stalls its handshake
# dropped on time while another client is served.
# usage: wire_session_tls.sh PEER SLACK
set -u
PEER=$1
SLACK=${2:-1}
T=$(mktemp -d /tmp/wire_session_tls.XXXXXX)
SRV_PID=
cleanup() {
  [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
  exec 3<&- 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$T/srv.out" ] && sed 's/^/  server: /' "$T/srv.out" >&2; exit 1; }
ok() { echo "ok - $*"; }

# ---- the PKI ----
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/$1.key" 2>/dev/null; }
ca() {
  key "$1"
  openssl req -x509 -new -key "$T/$1.key" -subj "/CN=$1" -days 2 -out "$T/$1.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
leaf() { # leaf CA NAME EXT
  key "$2"
  openssl req -new -key "$T/$2.key" -subj "/CN=$2" -out "$T/$2.csr" 2>/dev/null
  printf '%s\n' "$3" >"$T/$2.ext"
  openssl x509 -req -in "$T/$2.csr" -CA "$T/$1.pem" -CAkey "$T/$1.key" -CAcreateserial -days 1 \
    -extfile "$T/$2.ext" -out "$T/$2.pem" 2>/dev/null
}
ca ca && ca other-ca || fail "cannot make the CAs"
leaf ca server $'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth' &&
  leaf ca worker-1 'extendedKeyUsage=clientAuth' &&
  leaf ca worker-2 'extendedKeyUsage=clientAuth' &&
  leaf other-ca intruder 'extendedKeyUsage=clientAuth' || fail "cannot make the certificates"

start_server() { # extra args
  "$PEER" serve --ca "$T/ca.pem" --cert "$T/server.pem" --key "$T/server.key" "$@" >"$T/srv.out" 2>&1 &
  SRV_PID=$!
  for _ in $(seq 100); do
    PORT=$(sed -n 's/^port //p' "$T/srv.out")
    [ -n "$PORT" ] && return 0
    sleep 0.05
  done
  fail "the session server did not start"
}
stop_server() { kill "$SRV_PID"; wait "$SRV_PID" 2>/dev/null; SRV_PID=; }
client() { # NAME extra args
  local who=$1; shift
  "$PEER" client --ca "$T/ca.pem" --cert "$T/$who.pem" --key "$T/$who.key" --port "$PORT" "$@"
}

# ---- requests and pushes, resumed across dropped sessions ----
start_server --pushes 60 --drop-after 20 --handshake-ms $((1000 * SLACK))
out=$(client worker-1 --echo hello --pushes 60 --wait-ms $((15000 * SLACK))) || fail "client: $out"
grep -qx 'up 2' <<<"$out" || fail "no version-2 session: $out"
grep -qx 'echo hello' <<<"$out" || fail "no echo: $out"
grep -Eq '^pushes 60 in-order 1 sessions ([3-9]|[1-9][0-9])$' <<<"$out" ||
  fail "pushes not all in order across reconnections: $out"
[ "$(grep -c '^end dropped-after' "$T/srv.out")" -ge 2 ] || fail "the server did not drop sessions"
ok "requests and 60 pushes in order, resumed after 2 dropped sessions"

# ---- roles: an admin-only op from a worker ----
out=$(client worker-2 --op secret.ls --echo x) || fail "client: $out"
grep -q "^error -5013 permission denied" <<<"$out" || fail "admin op not refused for a worker: $out"
ok "an admin-only op called by a worker is refused"

# ---- a version-1 client against this server ----
out=$(client worker-2 --versions 1 --echo v1) || fail "v1 client: $out"
grep -qx 'up 1' <<<"$out" && grep -qx 'echo v1' <<<"$out" || fail "v1 client: $out"
ok "a version-1 client is served in version 1"

# ---- TLS 1.2 only: refused ----
before=$(grep -c '^end -93$' "$T/srv.out")
openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 -CAfile "$T/ca.pem" \
  -cert "$T/worker-2.pem" -key "$T/worker-2.key" </dev/null >"$T/s12.out" 2>&1
grep -q '^New, TLSv1' "$T/s12.out" && fail "a TLS 1.2 session was established"
grep -q 'New, (NONE), Cipher is (NONE)' "$T/s12.out" || fail "s_client: $(cat "$T/s12.out")"
for _ in $(seq 40); do
  [ "$(grep -c '^end -93$' "$T/srv.out")" -gt "$before" ] && break
  sleep 0.05
done
[ "$(grep -c '^end -93$' "$T/srv.out")" -gt "$before" ] ||
  fail "the server did not end the TLS 1.2 attempt with -EPROTONOSUPPORT"
ok "a TLS 1.2-only client is refused (-EPROTONOSUPPORT)"

# ---- a client certificate of another CA: no session ----
out=$("$PEER" client --ca "$T/ca.pem" --cert "$T/intruder.pem" --key "$T/intruder.key" \
        --port "$PORT" --echo x --wait-ms 1500) && fail "another CA's client got a session: $out"
grep -q '^up' <<<"$out" && fail "another CA's client got a session: $out"
ok "a client certificate from another CA is refused"

# ---- a peer stalling its handshake is dropped on time; others are served ----
before=$(grep -c '^end -110$' "$T/srv.out")
exec 3<>"/dev/tcp/127.0.0.1/$PORT" || fail "cannot connect"
printf '\x16\x03\x01' >&3   # the first bytes of a ClientHello, then nothing
t0=$(date +%s%N)
out=$(client worker-2 --echo meanwhile) || fail "client while a handshake stalls: $out"
grep -qx 'echo meanwhile' <<<"$out" || fail "not served while a handshake stalls: $out"
for _ in $(seq $((60 * SLACK))); do
  [ "$(grep -c '^end -110$' "$T/srv.out")" -gt "$before" ] && break
  sleep 0.05
done
took=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$(grep -c '^end -110$' "$T/srv.out")" -gt "$before" ] || fail "the stalled handshake was not dropped"
[ "$took" -le $((1000 * SLACK + 1500)) ] || fail "stalled handshake dropped after $took ms"
exec 3<&-
ok "a stalled handshake is dropped after ${took} ms while another client is served"
stop_server

# ---- the current client against a version-1 server ----
start_server --versions 1 --pushes 5
out=$(client worker-1 --echo old) || fail "client vs v1 server: $out"
grep -qx 'up 1' <<<"$out" && grep -qx 'echo old' <<<"$out" || fail "client vs v1 server: $out"
ok "the current client talks to a version-1 server"
stop_server
echo "ok - sessions over TLS between processes"
