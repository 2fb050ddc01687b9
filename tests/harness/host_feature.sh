#!/usr/bin/env bash
# Probe one host feature a test may depend on: exit 0 when this host (and build) has
# it, 1 when it lacks it, 2 for a feature name this script does not know.
# usage: host_feature.sh FEATURE [BUILD_DIR]
# scripts/test.sh accepts a skip listed in tests/allowed_skips only when the probe of
# its feature exits 1. Add a probe here with every new feature name.
set -uo pipefail
feature=${1:?usage: host_feature.sh FEATURE [BUILD_DIR]}
build=${2:-}

cgroup2_root() {
  local d
  for d in /sys/fs/cgroup /sys/fs/cgroup/unified; do
    [[ "$(stat -f -c %T "$d" 2>/dev/null)" == cgroup2fs ]] && { echo "$d"; return 0; }
  done
  return 1
}

case "$feature" in
  root)            # uid 0 with CAP_SYS_ADMIN (mounts, namespaces)
    [[ $(id -u) -eq 0 ]] && unshare -m true 2>/dev/null ;;
  cgroup2)         # a cgroup v2 hierarchy is mounted
    cgroup2_root >/dev/null ;;
  cgroup2-controller-*)   # e.g. cgroup2-controller-memory: enabled at the v2 root
    root=$(cgroup2_root) || exit 1
    grep -qw -- "${feature#cgroup2-controller-}" "$root/cgroup.controllers" 2>/dev/null ;;
  landlock)        # landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) >= 1
    python3 - <<'PY'
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
sys.exit(0 if libc.syscall(444, None, 0, 1) >= 1 else 1)
PY
    ;;
  tmpfs-noswap)    # tmpfs accepts the noswap option (Linux >= 6.4)
    [[ $(id -u) -eq 0 ]] || exit 1
    unshare -m sh -c 'mount -t tmpfs -o noswap,size=1m none /mnt' 2>/dev/null ;;
  apparmor)        # AppArmor enabled in the running kernel
    [[ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" == Y ]] ;;
  apparmor-parser) # apparmor_parser installed (package apparmor)
    command -v apparmor_parser >/dev/null || [[ -x /usr/sbin/apparmor_parser ]] || [[ -x /sbin/apparmor_parser ]] ;;
  mlock)           # mlock really locks pages: not an AddressSanitizer build, where the
                   # shadow memory makes secret-memory locking a no-op
    [[ -n "$build" && -f "$build/CMakeCache.txt" ]] || exit 1
    ! grep -Eq '^SECRETD_(SANITIZE:STRING=.*address|FUZZ:BOOL=ON)' "$build/CMakeCache.txt" ;;
  selftest-absent) exit 1 ;;   # for tests/harness_selftest.sh only
  selftest-present) exit 0 ;;
  *)
    echo "host_feature.sh: unknown feature '$feature'" >&2
    exit 2 ;;
esac
