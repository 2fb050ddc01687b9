#!/usr/bin/env bash
# Run one cmocka test binary for ctest: its output passes through unchanged; the exit
# status is the binary's, except that a run which failed nothing but skipped a case
# (cmocka prints "[  SKIPPED ] name") exits 77, ctest's SKIP_RETURN_CODE, so a skip
# is reported as a skip and never as a pass. usage: run_unit.sh BINARY [ARGS...]
set -uo pipefail
out=$(mktemp /tmp/run-unit.XXXXXX) || exit 1
trap 'rm -f "$out"' EXIT
"$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
if [[ $rc -eq 0 ]] && grep -q '^\[  SKIPPED \] ' "$out"; then
  exit 77
fi
exit "$rc"
