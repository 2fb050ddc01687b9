#!/usr/bin/env bash
# The shipped AppArmor profile compiles with apparmor_parser (-Q: no kernel load, -K: no
# cache, -T: skip reading the cache), and the same check rejects a broken copy of it,
# so this test can fail. usage: apparmor_profile_compiles.sh APPARMOR_PARSER PROFILE
set -euo pipefail
parser=$1 profile=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
T=$(mktemp -d /tmp/apparmor-profile.XXXXXX)
trap 'rm -rf "$T"' EXIT

"$parser" -Q -K -T "$profile" || fail "$profile does not compile"
echo "ok: $profile compiles"

# A rule with an unknown permission letter and a missing closing brace.
sed -e '0,/^[[:space:]]*deny /s//  \/etc\/shadow qz,\n  deny /' "$profile" > "$T/bad1"
cmp -s "$profile" "$T/bad1" && fail "could not corrupt $profile"
if "$parser" -Q -K -T "$T/bad1" 2>"$T/err1"; then fail "a bad permission was accepted"; fi
grep -q "AppArmor parser error" "$T/err1" || fail "apparmor_parser refused without a parser error"
head -c -3 "$profile" | sed '$d' > "$T/bad2"
if "$parser" -Q -K -T "$T/bad2" 2>"$T/err2"; then fail "a truncated profile was accepted"; fi
grep -q "AppArmor parser error" "$T/err2" || fail "apparmor_parser refused without a parser error"
echo "ok: broken copies are refused: $(grep -h "AppArmor parser error" "$T/err1" "$T/err2" | tr '\n' ';')"
