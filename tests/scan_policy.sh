#!/usr/bin/env bash
# The launch policy's "scan" section: a scan of a stored image keeps its
# result in the store (digest, time, the data's age); `secret-image policy
# scan` edits the trust policy file keeping every other key; secret-launch
# --image refuses an image with a fixable finding at or above the chosen
# severity and names it, an image never scanned, and one whose last scan is
# older than the limit (the scan made under faketime); a fresh scan or a
# lower bar lets it launch; a malformed scan section refuses rather than
# allows.
# usage: scan_policy.sh SECRET_IMAGE MKROOTFS SECRET_LAUNCH
. "$(dirname "$0")/image_lib.sh"
[ -x "$LAUNCH" ] || fail "secret-launch not given or not executable"
command -v faketime >/dev/null || fail "faketime missing (scripts/deps.sh installs it)"
launch() { # ARGS...: OUT, ERR, RC
  OUT=$("$LAUNCH" "$@" 2>"$TMP/err"); RC=$?
  ERR=$(cat "$TMP/err")
  return $RC
}

mkdir -p "$ROOTFS/var/lib/dpkg" "$ROOTFS/etc"
cat > "$ROOTFS/var/lib/dpkg/status" <<'EOS'
Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl (3.0.11-1~deb12u2)
Version: 3.0.11-1~deb12u2+b1

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1
EOS
printf 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n' > "$ROOTFS/etc/os-release"
cat > "$TMP/data.json" <<'EOJ'
{"openssl": {"CVE-2099-2000": {"releases": {"bookworm": {"status": "resolved",
   "fixed_version": "3.0.13-1~deb12u1", "urgency": "high"}}}},
 "zlib": {"CVE-2099-2001": {"releases": {"bookworm": {"status": "resolved",
   "fixed_version": "1:1.2.13.dfsg-1+deb12u1", "urgency": "medium"}}}}}
EOJ
img db import "$TMP/data.json" || fail "db import: $ERR"
mkumoci "$TMP/L" v1 || fail "umoci"
img import "$TMP/L" --name deb:1 || fail "import deb:1"
HEX=$(echo "$OUT" | awk '{print $2}' | cut -d: -f2)
[ ${#HEX} = 64 ] || fail "import output: $OUT"
rm -rf "$ROOTFS/var/lib/dpkg"
mkumoci "$TMP/L2" v2 || fail "umoci v2"
img import "$TMP/L2" --name never:1 || fail "import never:1"

# --- the stored scan result ---
img scan deb:1 --severity high --ignore-unfixed > /dev/null || fail "scan deb:1: $ERR"
python3 - "$STORE/scans/$HEX.json" "$HEX" <<'EOP' || fail "stored scan (above)"
import json, sys, time
s = json.load(open(sys.argv[1]))
bad = []
if s["digest"] != "sha256:" + sys.argv[2]: bad.append("digest %s" % s["digest"])
if abs(s["scanned_at"] - time.time()) > 60: bad.append("scanned_at %s" % s["scanned_at"])
if "age_days" not in s["data"] or "data_time" not in s["data"]: bad.append("data age %s" % s["data"])
got = sorted((f["issue"], f["category"], f["severity"]) for f in s["findings"])
# the whole result: display filters (--severity, --ignore-unfixed) do not apply
if got != [("CVE-2099-2000", "fixable", "high"), ("CVE-2099-2001", "fixable", "medium")]: bad.append("findings %s" % got)
if bad: print("\n".join(bad), file=sys.stderr); sys.exit(1)
EOP
[ "$(stat -c %a "$STORE/scans/$HEX.json")" = 600 ] || fail "stored scan mode"
ghost=$(printf '%064d' 0)
echo '{}' > "$STORE/scans/$ghost.json"
img scan deb:1 > /dev/null || fail "second scan: $ERR"
[ ! -e "$STORE/scans/$ghost.json" ] || fail "the scan of an image no longer stored was kept"
[ -s "$STORE/scans/$HEX.json" ] || fail "the image's own scan went"
pass "a scan of a stored image keeps its whole result with the digest, the time and the data's age; scans of removed images go"

# --- the editor keeps the rest of the policy file ---
# (top-level keys that no module owns: content trust checks its own "keys",
# "rules", "revoked", ... when secret-launch loads the file: docs/trust.md)
POL=$TMP/trust.json
cat > "$POL" <<'EOJ'
{"signers": {"ops": {"algorithm": "ed25519", "public": "AAAA"}},
 "images": [{"name": "deb", "require": ["ops"]}], "default": "refuse"}
EOJ
chmod 0640 "$POL"
img policy scan --policy "$POL" --refuse-fixable high --max-age 7d || fail "policy scan: $ERR"
python3 - "$POL" <<'EOP' || fail "policy file after the edit (above)"
import json, sys
p = json.load(open(sys.argv[1]))
ok = p["scan"] == {"refuse_fixable_at": "high", "max_scan_age": "7d"} and p["default"] == "refuse" \
     and p["signers"]["ops"]["public"] == "AAAA" and p["images"][0]["require"] == ["ops"]
sys.exit(0 if ok else print(p) or 1)
EOP
[ "$(stat -c %a "$POL")" = 640 ] || fail "the policy file's mode changed"
cp "$POL" "$TMP/before"
img policy scan --policy "$POL" --refuse-fixable critical && fail "severity critical accepted"
img policy scan --policy "$POL" --max-age soon && fail "duration soon accepted"
cmp -s "$POL" "$TMP/before" || fail "a refused edit changed the file"
ls -A "$TMP" | grep -q '\.tmp$' && fail "temporary file left"
SECRET_TRUST_POLICY=$POL img policy scan || fail "show"
echo "$OUT" | grep -q '"refuse_fixable_at":"high"\|"refuse_fixable_at": "high"' || fail "show: $OUT"
img --policy "$POL" policy scan || fail "show with --policy before the verb: $ERR"
echo "$OUT" | grep -q '"max_scan_age": *"7d"' || fail "show (--policy first): $OUT"
pass "secret-image policy scan edits only the scan section, atomically, refusing bad values"

# --- launch refusals name the findings ---
launch --image deb:1 --store "$STORE" --policy "$POL" -- /bin/echo ran && fail "launched with a fixable high finding"
echo "$ERR" | grep -q 'refused by the scan policy: .* 1 fixable finding(s) at or above high: high CVE-2099-2000 in libssl3 (fixed in 3.0.13-1~deb12u1)' \
  || fail "refusal message: $ERR"
echo "$OUT" | grep -q ran && fail "the container ran"
SECRET_TRUST_POLICY=$POL launch --image deb:1 --store "$STORE" -- /bin/echo ran && fail "SECRET_TRUST_POLICY not read"
pass "an image with a fixable high finding is refused, the finding named"

img policy scan --policy "$POL" --refuse-fixable medium || fail "medium"
launch --image deb:1 --store "$STORE" --policy "$POL" -- /bin/echo ran && fail "medium: launched"
echo "$ERR" | grep -q '2 fixable finding(s) at or above medium: .*CVE-2099-2000.*CVE-2099-2001 in zlib1g' || fail "medium: $ERR"
img policy scan --policy "$POL" --refuse-fixable none || fail "none"
launch --image deb:1 --store "$STORE" --policy "$POL" -- /bin/echo ran || fail "no severity rule: refused: $ERR"
[ "$OUT" = ran ] || fail "no severity rule: output $OUT"
pass "the bar moves with refuse_fixable_at; none lets it launch"

launch --image never:1 --store "$STORE" --policy "$POL" -- /bin/echo ran && fail "launched an image never scanned"
echo "$ERR" | grep -q 'has never been scanned' || fail "never scanned: $ERR"
pass "an image never scanned is refused while a rule is set"

# --- a stale scan ---
# In the ASan build, libfaketime's set-up can run inside ASan's allocator (its
# clock_gettime for the release-to-OS timer) and deadlock; without that timer
# it cannot. No effect on other builds.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_release_to_os_interval_ms=-1" \
  faketime -f '-8d' "$IMG" --store "$STORE" scan deb:1 > /dev/null 2>&1 || fail "scan under faketime"
launch --image deb:1 --store "$STORE" --policy "$POL" -- /bin/echo ran && fail "launched with an 8-day-old scan"
echo "$ERR" | grep -q 'the last scan of image sha256:.* is 8 days old (limit 7 days)' || fail "stale: $ERR"
img scan deb:1 > /dev/null || fail "fresh scan"
launch --image deb:1 --store "$STORE" --policy "$POL" -- /bin/echo ran || fail "fresh scan refused: $ERR"
pass "a scan older than max_scan_age is refused; a fresh one launches"

# --- a broken policy refuses rather than allows ---
printf '{"scan": {"refuse_fixable": "high"}}' > "$TMP/typo.json"
launch --image deb:1 --store "$STORE" --policy "$TMP/typo.json" -- /bin/echo ran && fail "a typo allowed"
echo "$ERR" | grep -q 'unknown key scan.refuse_fixable' || fail "typo: $ERR"
printf '{"scan": ' > "$TMP/trunc.json"
launch --image deb:1 --store "$STORE" --policy "$TMP/trunc.json" -- /bin/echo ran && fail "a truncated policy allowed"
launch --image deb:1 --store "$STORE" --policy "$TMP/absent.json" -- /bin/echo ran && fail "a missing named policy allowed"
echo '{"scan": {"refuse_fixable_at": "high"}}' > "$TMP/p2.json"
echo 'not json' > "$STORE/scans/$HEX.json"
launch --image deb:1 --store "$STORE" --policy "$TMP/p2.json" -- /bin/echo ran && fail "a damaged stored scan allowed"
echo "$ERR" | grep -q 'stored scan' || fail "damaged stored scan: $ERR"
cp "$TMP/p2.json" "$TMP/loose.json"; chmod 0666 "$TMP/loose.json"
launch --image deb:1 --store "$STORE" --policy "$TMP/loose.json" -- /bin/echo ran && fail "a world-writable policy read"
echo "$ERR" | grep -q 'not be writable by group or others' || fail "loose policy: $ERR"
chmod 0644 "$TMP/loose.json"; chown 65534 "$TMP/loose.json"
launch --image deb:1 --store "$STORE" --policy "$TMP/loose.json" -- /bin/echo ran && fail "a policy of another user read"
pass "a malformed policy, a missing named policy, a damaged stored scan or a policy others may write refuse"
echo "scan_policy: all checks passed"
