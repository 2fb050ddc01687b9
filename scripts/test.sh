#!/usr/bin/env bash
# Build secretd and run the whole test suite (unit, integration, bounded fuzzing).
# Usage: scripts/test.sh [--sanitize]
#   default:     release build with hardening in build/, then ctest, then a
#                bounded libFuzzer run of every fuzz target (clang build in build-fuzz/)
#   --sanitize:  the same suite in an AddressSanitizer+UndefinedBehaviorSanitizer build (build-asan/)
# Must run as root: the tests use real namespaces, mounts and cgroups.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [[ $(id -u) -ne 0 ]]; then
  echo "test.sh: run as root (the tests create namespaces, mounts and cgroups)" >&2
  exit 1
fi
scripts/deps.sh

mode=${1:-default}
jobs=$(nproc)
case "$mode" in
  default)
    build=build
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    ;;
  --sanitize)
    build=build-asan
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
          -DSECRETD_SANITIZE=address,undefined >/dev/null
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    ;;
  *) echo "usage: scripts/test.sh [--sanitize]" >&2; exit 2 ;;
esac

cmake --build "$build" -j"$jobs"
ctest --test-dir "$build" --output-on-failure --timeout 600 -j"$jobs" --label-exclude fuzz

if [[ "$mode" == default ]]; then
  # Bounded coverage-guided fuzzing of every parser (clang + libFuzzer).
  cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
        -DSECRETD_FUZZ=ON >/dev/null
  # The generator that precompiles the default seccomp filter runs during the
  # build, instrumented too; its one-shot allocations are not leaks worth failing on.
  ASAN_OPTIONS=detect_leaks=0 cmake --build build-fuzz -j"$jobs" --target fuzz_wire fuzz_seccomp_profile fuzz_tls_server
  ctest --test-dir build-fuzz --output-on-failure --label-regex fuzz
fi
