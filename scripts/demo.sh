#!/usr/bin/env bash
# The secretd demo on one machine: build, init a cluster in a temporary
# directory, start secretd, create/grant/rotate/revoke a secret with the
# `secret` CLI, list and verify the audit chain, then start a container with
# secret-launch that reads its secret from the tmpfs at /run/secrets, and stop.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
  echo "demo.sh: run as root (secretd's socket and the container need it)" >&2
  exit 1
fi
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target secretd secret secret-launch >/dev/null

bin=$PWD/build
work=$(mktemp -d /tmp/secretd-demo.XXXXXX)
pid=
cleanup() {
  [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
export SECRETD_SOCKET=$work/admin.sock

step "secretd init --data $work/data"
"$bin/secretd/secretd" init --data "$work/data"

step "secretd serve (background)"
"$bin/secretd/secretd" serve --data "$work/data" --admin-socket "$SECRETD_SOCKET" \
  --audit-file "$work/audit.jsonl" 2>"$work/secretd.log" &
pid=$!
for _ in $(seq 100); do [[ -S "$SECRETD_SOCKET" ]] && break; sleep 0.05; done

secret() { echo "\$ secret $*"; "$bin/cli/secret" "$@"; }

step "create, grant, rotate, revoke"
head -c 24 /dev/urandom | base64 > "$work/pw"           # the value never touches argv
secret create db_password "$work/pw" --label team=payments
secret grant db_password --service web --target db/password --uid 1000 --mode 0400
echo "\$ head -c 24 /dev/urandom | base64 | secret rotate db_password -"
head -c 24 /dev/urandom | base64 | "$bin/cli/secret" rotate db_password -
secret ls
secret inspect db_password
secret revoke db_password --service web
secret audit
secret audit --verify

step "a container reads its secret from /run/secrets (secret-launch)"
scripts/mkrootfs.sh "$work/rootfs" >/dev/null
"$bin/runtime/secret-launch" --rootfs "$work/rootfs" --hostname demo \
  --secret "db_password=$work/pw,target=db/password,uid=1000,mode=0400" -- \
  sh -c 'echo "inside $(hostname): $(grep " /run/secrets " /proc/mounts)"; ls -l /run/secrets/db; echo "db/password has $(wc -c < /run/secrets/db/password) bytes"'

step "stop secretd (SIGTERM)"
kill -TERM "$pid"; wait "$pid"; pid=
echo "secretd stopped cleanly"
