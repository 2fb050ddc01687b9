#!/usr/bin/env bash
# Install the Debian 12 packages secretd needs to build, test and demo, when
# missing. Usage: scripts/deps.sh [--bench]   (--bench adds the peers we measure against)
set -euo pipefail

pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libsodium-dev libssl-dev libuv1-dev liblmdb-dev libmsgpack-dev
      libcap-dev libseccomp-dev libcmocka-dev libjson-c-dev
      busybox-static python3 iproute2 util-linux passwd procps psmisc kmod)
if [[ "${1:-}" == --bench ]]; then
  pkgs+=(crun runc hyperfine etcd-server etcd-client openssl)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
