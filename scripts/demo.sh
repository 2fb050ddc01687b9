#!/usr/bin/env bash
# The secretd demo on one machine: build, init a cluster in a temporary
# directory, start secretd, create/grant/rotate/revoke a secret with the
# `secret` CLI, list and verify the audit chain, then start a container with
# secret-launch that reads its secret from the tmpfs at /run/secrets; then the
# whole delivery story: a node agent joins, a service from a busybox rootfs is
# granted a secret and prints it from /run/secrets, a rotation is seen live, a
# revoke removes it, and `secret audit` shows each step; then stop.
# No plaintext secret file on disk: values go through pipes, and the only files
# holding one are on a tmpfs (memory) the demo mounts and removes.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
  echo "demo.sh: run as root (secretd's socket and the container need it)" >&2
  exit 1
fi
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target secretd secret secret-launch secret-agent >/dev/null

bin=$PWD/build
work=$(mktemp -d /tmp/secretd-demo.XXXXXX)
pid='' agent_pid='' node=''
mkdir -m 0700 "$work/mem"
mount -t tmpfs -o size=4m,mode=0700 demo-mem "$work/mem" # values live in memory only
cleanup() {
  if [[ -n "$agent_pid" ]]; then # a removed node's agent stops all its containers
    "$bin/cli/secret" node rm --force "$node" >/dev/null 2>&1 || true
    for _ in $(seq 100); do grep -q "removed from the cluster" "$work/agent.log" && break; sleep 0.1; done
    for _ in $(seq 100); do [[ -z "$(ls -A "$work/agent/delivery/run" 2>/dev/null)" ]] && break; sleep 0.1; done
    kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  fi
  [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  umount "$work/mem" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
export SECRETD_SOCKET=$work/admin.sock

step "secretd init --data $work/data"
"$bin/secretd/secretd" init --data "$work/data"

port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
step "secretd serve --listen 127.0.0.1:$port (background)"
"$bin/secretd/secretd" serve --data "$work/data" --admin-socket "$SECRETD_SOCKET" \
  --audit-file "$work/audit.jsonl" --listen "127.0.0.1:$port" 2>"$work/secretd.log" &
pid=$!
for _ in $(seq 100); do [[ -S "$SECRETD_SOCKET" ]] && break; sleep 0.05; done

secret() { echo "\$ secret $*"; "$bin/cli/secret" "$@"; }

step "create, grant, rotate, revoke"
head -c 24 /dev/urandom | base64 > "$work/mem/pw"       # the value never touches argv (nor a disk)
secret create db_password "$work/mem/pw" --label team=payments
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
  --secret "db_password=$work/mem/pw,target=db/password,uid=1000,mode=0400" -- \
  sh -c 'echo "inside $(hostname): $(grep " /run/secrets " /proc/mounts)"; ls -l /run/secrets/db; echo "db/password has $(wc -c < /run/secrets/db/password) bytes"'

step "a node joins: secret join-token, secret-agent join, secret-agent run"
"$bin/cli/secret" join-token worker --quiet > "$work/mem/token"
echo "\$ secret-agent join --token-file TOKEN --manager 127.0.0.1:$port --state $work/agent"
node=$("$bin/agent/secret-agent" join --token-file "$work/mem/token" --manager "127.0.0.1:$port" \
  --state "$work/agent")
"$bin/agent/secret-agent" run --state "$work/agent" 2>"$work/agent.log" &
agent_pid=$!
for _ in $(seq 100); do grep -q "connected to" "$work/agent.log" && break; sleep 0.05; done
secret node ls

step "a service on that node is granted a secret and prints it from /run/secrets"
mkdir -m 0777 "$work/mem/out" # the service's output (it prints the value): memory only
echo "\$ head -c 12 /dev/urandom | base64 | secret create api_key -"
head -c 12 /dev/urandom | base64 | "$bin/cli/secret" create api_key -
secret grant api_key --service hello
secret service create hello --node "$node" --rootfs "$work/rootfs" --user 1000:1000 \
  --stop-timeout 1 --mount "$work/mem/out:/out" -- sh -c \
  'last=; while :; do v=$(cat /run/secrets/api_key 2>/dev/null || echo "(no file)")
   [ "$v" != "$last" ] && echo "$(date +%T) api_key=$v" >> /out/hello.log; last=$v; sleep 0.05; done'
for _ in $(seq 100); do [[ -s "$work/mem/out/hello.log" ]] && break; sleep 0.05; done
sleep 0.3
secret service ps hello
echo "-- inside the container (non-root, no owner flags):"; cat "$work/mem/out/hello.log"

step "rotation, seen live by the running container"
echo "\$ head -c 12 /dev/urandom | base64 | secret rotate api_key -"
head -c 12 /dev/urandom | base64 | "$bin/cli/secret" rotate api_key - >/dev/null
sleep 0.5
echo "-- inside the container:"; cat "$work/mem/out/hello.log"

step "revoke: the file is gone from the running container"
secret revoke api_key --service hello
sleep 0.5
echo "-- inside the container:"; cat "$work/mem/out/hello.log"

step "the audit shows each step (deliveries name node, task, secret, version: never the value)"
echo "\$ secret audit | grep -E 'api_key|hello|node'"
"$bin/cli/secret" audit | grep -E 'api_key|hello|node\.' | grep -v node.assignments

step "stop: the service, the agent (SIGTERM)"
secret service rm hello
for _ in $(seq 40); do [[ -z "$(ls -A "$work/agent/delivery/run" 2>/dev/null)" ]] && break; sleep 0.1; done
[[ -z "$(ls -A "$work/agent/delivery/run")" ]] || { echo "demo.sh: the task did not stop" >&2; exit 1; }
kill -TERM "$agent_pid"; wait "$agent_pid"; agent_pid=
echo "the task stopped (service rm) and the agent exited"

step "stop secretd (SIGTERM)"
kill -TERM "$pid"; wait "$pid"; pid=
echo "secretd stopped cleanly"
