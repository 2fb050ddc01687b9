#!/usr/bin/env bash
# Install the Debian 12 packages secretd needs to build, test and demo, when
# missing, and unpack the peers' seccomp profiles the tests compare against.
# Usage: scripts/deps.sh [--bench]   (--bench adds the peers we measure against)
#
# Peer profiles (tests and bench/launch_bench.sh read them from $SECRETD_PEERS_CACHE,
# default /var/cache/secretd-peers; CMake's SECRETD_DEBIAN_PEERS_DIR):
#   docker-seccomp-default.json, docker-seccomp-fixture-{example,conditional_include,
#   default-old-format}.json   from golang-github-docker-docker-dev (Docker 20.10)
#   podman-seccomp.json       from golang-github-containers-common (/usr/share/containers)
# Installing golang-github-docker-docker-dev would pull in a Go toolchain (~256 packages),
# so both .debs are fetched with `apt-get download` and only these files are unpacked.
# The cache is rebuilt whenever the candidate versions change (VERSIONS file).
set -euo pipefail

pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libsodium-dev libssl-dev libuv1-dev liblmdb-dev libmsgpack-dev
      libcap-dev libseccomp-dev libcmocka-dev libjson-c-dev
      libarchive-dev libzstd-dev libyajl-dev zstd umoci
      busybox-static python3 iproute2 util-linux passwd procps psmisc kmod
      apparmor)   # apparmor: apparmor_parser, for the apparmor_profile_compiles test
pkgs+=(faketime)  # scan_policy: a scan made days ago, for the launch policy's max_scan_age
if [[ "${1:-}" == --bench ]]; then
  pkgs+=(crun runc hyperfine etcd-server etcd-client podman openssl)
  pkgs+=(debsecan)  # bench/scan_bench.sh: Debian's own scanner, fed the same data offline
fi

need_root() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "deps: need root to $*" >&2
    exit 1
  fi
}

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed'; then
    missing+=("$p")
  fi
done
updated=0
if ((${#missing[@]})); then
  need_root "install: ${missing[*]}"
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  updated=1
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- peer seccomp profiles from Debian packages ---
cache=${SECRETD_PEERS_CACHE:-/var/cache/secretd-peers}
docker_pkg=golang-github-docker-docker-dev
podman_pkg=golang-github-containers-common
docker_dir=./usr/share/gocode/src/github.com/docker/docker/profiles/seccomp
declare -A files=(
  [docker-seccomp-default.json]="$docker_pkg $docker_dir/default.json"
  [docker-seccomp-fixture-example.json]="$docker_pkg $docker_dir/fixtures/example.json"
  [docker-seccomp-fixture-conditional_include.json]="$docker_pkg $docker_dir/fixtures/conditional_include.json"
  [docker-seccomp-fixture-default-old-format.json]="$docker_pkg $docker_dir/fixtures/default-old-format.json"
  [podman-seccomp.json]="$podman_pkg ./usr/share/containers/seccomp.json"
)

candidate() { apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" {print $2}'; }
versions() {
  local p v
  for p in $docker_pkg $podman_pkg; do
    v=$(candidate "$p")
    [[ -n "$v" && "$v" != "(none)" ]] || return 1
    echo "$p $v"
  done
}

cache_ok() {
  local f
  for f in "${!files[@]}"; do [[ -s "$cache/$f" ]] || return 1; done
  [[ -f "$cache/VERSIONS" ]] && [[ "$(cat "$cache/VERSIONS")" == "$1" ]]
}

want=$(versions || true)
if [[ -z "$want" && $updated -eq 0 ]]; then
  need_root "refresh the package lists (apt-get update)"
  apt-get update -qq
  want=$(versions || true)
fi
[[ -n "$want" ]] || { echo "deps: $docker_pkg or $podman_pkg unknown to apt" >&2; exit 1; }
if ! cache_ok "$want"; then
  need_root "unpack the peers' seccomp profiles into $cache"
  echo "deps: unpacking Docker 20.10 and Podman seccomp profiles into $cache" >&2
  tmp=$(mktemp -d /tmp/secretd-deps.XXXXXX)
  trap 'rm -rf "$tmp"' EXIT
  chmod 0755 "$tmp"   # apt-get download runs as _apt when it can
  (cd "$tmp" && apt-get download -qq "$docker_pkg=$(candidate $docker_pkg)" \
                                      "$podman_pkg=$(candidate $podman_pkg)" 2>/dev/null) \
    || { echo "deps: apt-get download $docker_pkg $podman_pkg failed" >&2; exit 1; }
  for p in $docker_pkg $podman_pkg; do
    deb=$(ls "$tmp/${p}_"*.deb)
    # only the listed members
    members=()
    for f in "${!files[@]}"; do
      read -r fp fm <<<"${files[$f]}"
      [[ $fp == "$p" ]] && members+=("$fm")
    done
    mkdir -p "$tmp/x"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" "${members[@]}"
  done
  mkdir -p "$cache.new"
  for f in "${!files[@]}"; do
    read -r _ fm <<<"${files[$f]}"
    install -m 0644 "$tmp/x/$fm" "$cache.new/$f"
  done
  printf '%s\n' "$want" > "$cache.new/VERSIONS"
  rm -rf "$cache"
  mv "$cache.new" "$cache"
fi
