#!/usr/bin/env bash
# The test harness itself can fail: a small ctest project with a passing test, a cmocka
# test that skips a case, a script that exits 77 and a test whose binary is missing is
# judged by tests/harness/suite.py against allowed-skip lists; and a test source that no
# fragment registers fails the configure step of the real project.
# usage: harness_selftest.sh SOURCE_DIR C_COMPILER
set -euo pipefail
src=$1 cc=$2
T=$(mktemp -d /tmp/harness-selftest.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# --- a small project ---
cat > "$T/skipper.c" <<'C'
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "skip.h"
static void runs(void **state) { assert_int_equal(1 + 1, 2); }
static void skips(void **state) { sd_skip("selftest-absent", "the feature is missing here"); }
int main(void) {
  const struct CMUnitTest t[] = {cmocka_unit_test(runs), cmocka_unit_test(skips)};
  return cmocka_run_group_tests(t, NULL, NULL);
}
C
"$cc" -I"$src/tests" -o "$T/skipper" "$T/skipper.c" -lcmocka
mkdir "$T/p"
cat > "$T/p/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.25)
project(selftest NONE)
enable_testing()
add_test(NAME unit_skip COMMAND bash $src/tests/harness/run_unit.sh $T/skipper)
add_test(NAME script_skip COMMAND sh -c "echo 'SKIP[selftest-absent]: no such thing'; exit 77")
add_test(NAME fine COMMAND true)
set_tests_properties(unit_skip script_skip PROPERTIES SKIP_RETURN_CODE 77)
if(WITH_MISSING)
  add_test(NAME missing COMMAND $T/no-such-binary)
endif()
EOF
cmake -S "$T/p" -B "$T/b" >/dev/null

judge() {  # judge SKIPS_FILE -> output in $T/out, status in $rc
  rc=0
  python3 "$src/tests/harness/suite.py" --build "$T/b" --skips "$1" -- >"$T/out" 2>&1 || rc=$?
}
last() { tail -n1 "$T/out"; }

# 1. both skips listed, feature absent: 1 passed, 0 failed, 2 skipped, exit 0
printf 'unit_skip/skips selftest-absent x\nscript_skip selftest-absent x\n' > "$T/ok"
judge "$T/ok"
[[ $rc -eq 0 ]] || { cat "$T/out"; fail "allowed skips: exit $rc"; }
[[ "$(last)" == "1 passed, 0 failed, 2 skipped" ]] || fail "allowed skips: last line '$(last)'"
grep -qx 'SKIP unit_skip/skips: the feature is missing here (needs selftest-absent; this host: absent)' "$T/out" \
  || { cat "$T/out"; fail "the cmocka skip is not printed with its reason"; }
grep -q '^SKIP script_skip: no such thing' "$T/out" || fail "the script skip is not printed"
grep -q 'unit_skip .*\*\*\*Skipped' "$T/out" || fail "ctest did not see the cmocka skip as a skip"
echo "ok: listed skips of absent features pass and are printed with their reasons"

# 2. a skip that is not listed fails
printf 'script_skip selftest-absent x\n' > "$T/unlisted"
judge "$T/unlisted"
[[ $rc -ne 0 ]] || fail "an unlisted skip passed"
[[ "$(last)" == "1 passed, 1 failed, 1 skipped" ]] || fail "unlisted skip: last line '$(last)'"
grep -q 'SKIP unit_skip/skips: .*NOT ALLOWED' "$T/out" || fail "unlisted skip not named"
echo "ok: an unlisted skip fails"

# 3. a listed skip whose feature the host has fails
printf 'unit_skip/skips selftest-present x\nscript_skip selftest-absent x\n' > "$T/present"
judge "$T/present"
[[ $rc -ne 0 ]] || fail "a skip of a present feature passed"
grep -q 'NOT ALLOWED' "$T/out" || fail "present-feature skip not flagged"
# (the marker names selftest-absent, the list selftest-present: no entry matches)
printf 'script_skip selftest-present x\nunit_skip/skips selftest-absent x\n' > "$T/present2"
sed -i 's/SKIP\[selftest-absent\]/SKIP/' "$T/p/CMakeLists.txt"
cmake -S "$T/p" -B "$T/b" >/dev/null
judge "$T/present2"
[[ $rc -ne 0 ]] || fail "a skip of a present feature passed"
grep -q 'SKIP script_skip: no such thing (needs selftest-present; this host: present) -- NOT ALLOWED' "$T/out" \
  || { cat "$T/out"; fail "present-feature skip not flagged"; }
echo "ok: a skip whose feature the host has fails"

# 4. a feature the probe does not know fails
printf 'script_skip no-such-feature x\n' > "$T/unknown"
judge "$T/unknown"
[[ $rc -ne 0 ]] || fail "an unknown feature passed"
echo "ok: an unknown feature in the list fails"

# 5. a registered test that cannot run fails, and is counted
cmake -S "$T/p" -B "$T/b" -DWITH_MISSING=ON >/dev/null
judge "$T/ok"
[[ $rc -ne 0 ]] || fail "a test whose binary is missing passed"
grep -q '^FAILED missing: did not run' "$T/out" || { cat "$T/out"; fail "missing test not named"; }
[[ "$(last)" == "1 passed, 1 failed, 2 skipped" ]] || fail "missing test: last line '$(last)'"
echo "ok: a registered test that did not run fails"

# 6. the real project: a test source no fragment registers fails the configure step
mkdir "$T/repo"
tar -C "$src" --exclude='./build*' --exclude='./.git' -cf - . | tar -xf - -C "$T/repo"
printf 'int main(void) { return 0; }\n' > "$T/repo/tests/test_selftest_vanished.c"
printf 'exit 0\n' > "$T/repo/tests/selftest_vanished.sh"
rc=0
cmake -S "$T/repo" -B "$T/repo/b" >"$T/out" 2>&1 || rc=$?
[[ $rc -ne 0 ]] || fail "configure passed with an unregistered test source"
grep -q 'test_selftest_vanished' "$T/out" && grep -Eq '(^|[ ,:])selftest_vanished' "$T/out" \
  || { cat "$T/out"; fail "configure did not name the unregistered tests"; }
echo "ok: an unregistered test source fails the configure step"
