#!/usr/bin/env bash
# Build secretd and run the whole test suite (unit, integration, bounded fuzzing).
# Usage: scripts/test.sh [--sanitize]
#   default:     release build with hardening in build/, then ctest, then a
#                bounded libFuzzer run of every fuzz target (clang build in build-fuzz/)
#   --sanitize:  the same suite in an AddressSanitizer+UndefinedBehaviorSanitizer build (build-asan/)
# Must run as root: the tests use real namespaces, mounts and cgroups.
# Each suite prints every skip with its reason (tests/allowed_skips lists the skips that
# are allowed, each tied to a host feature this host must lack) and checks that every
# registered test ran; the last line is "N passed, N failed, N skipped" for the run.
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

# Counts of each suite; SECRETD_TALLY (.ci/run) collects several runs in one file.
own_tally=$(mktemp /tmp/secretd-tally.XXXXXX)
trap 'rm -f "$own_tally"' EXIT
tally=$own_tally
status=0
suite() {  # suite BUILD CTEST_ARGS...: run and judge one ctest suite (tests/harness/suite.py)
  local b=$1; shift
  python3 tests/harness/suite.py --build "$b" --tally "$tally" -- --output-on-failure "$@" \
    || status=1
}

cmake --build "$build" -j"$jobs"
suite "$build" --timeout 600 -j"$jobs" --label-exclude fuzz

if [[ "$mode" == default ]]; then
  # Bounded coverage-guided fuzzing of every parser (clang + libFuzzer).
  cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
        -DSECRETD_FUZZ=ON >/dev/null
  # The generator that precompiles the default seccomp filter runs during the
  # build, instrumented too; its one-shot allocations are not leaks worth failing on.
  # Target "fuzzers": every tests/fuzz/fuzz_*.c (tests/CMakeLists.txt).
  ASAN_OPTIONS=detect_leaks=0 cmake --build build-fuzz -j"$jobs" --target fuzzers
  # In parallel: each run is bounded by wall-clock time (-max_total_time).
  suite build-fuzz -j"$jobs" --label-regex fuzz
fi

# The last line: the whole run's counts (skips are listed above with their reasons).
python3 tests/harness/suite.py --total "$tally" || status=1
[[ -z "${SECRETD_TALLY:-}" ]] || cat "$tally" >> "$SECRETD_TALLY"
exit $status
