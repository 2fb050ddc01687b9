#!/usr/bin/env bash
# secret-image scan REF: a stored image (umoci-built busybox rootfs with a
# crafted dpkg status, Debian's os-release symlink and a distroless status.d
# entry) is scanned through the store; an image without a package database
# exits 3; an unknown REF is an error.
# usage: scan_image.sh SECRET_IMAGE MKROOTFS
. "$(dirname "$0")/image_lib.sh"

# the image's own packages and release (never the host's)
mkdir -p "$ROOTFS/var/lib/dpkg/status.d" "$ROOTFS/usr/lib"
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

Package: oldpkg
Status: deinstall ok config-files
Version: 1.0-1
EOS
printf 'Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n' \
  > "$ROOTFS/var/lib/dpkg/status.d/tzdata"
printf 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n' > "$ROOTFS/usr/lib/os-release"
rm -f "$ROOTFS/etc/os-release"
ln -s ../usr/lib/os-release "$ROOTFS/etc/os-release"

cat > "$TMP/data.json" <<'EOJ'
{"openssl": {"CVE-2099-1000": {"description": "d", "releases": {"bookworm": {"status": "resolved",
   "repositories": {"bookworm": "3.0.11-1~deb12u2"}, "fixed_version": "3.0.13-1~deb12u1", "urgency": "high"}}},
             "CVE-2099-1001": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "3.0.11-1~deb12u1",
   "urgency": "high"}}}},
 "zlib": {"CVE-2099-1002": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "1:1.2.13.dfsg-1",
   "urgency": "medium"}}}},
 "tzdata": {"CVE-2099-1003": {"releases": {"bookworm": {"status": "open", "urgency": "low"}}}},
 "oldpkg": {"CVE-2099-1004": {"releases": {"bookworm": {"status": "open", "urgency": "high"}}}}}
EOJ
img db import "$TMP/data.json" || fail "db import: $ERR"

mkumoci "$TMP/L" v1 || fail "umoci could not build the image"
img import "$TMP/L" --name deb:1 || fail "import: $ERR"
img scan deb:1 --json || fail "scan deb:1 exited $RC: $ERR"
echo "$OUT" > "$TMP/scan.json"
python3 - "$TMP/scan.json" <<'EOP' || fail "scan deb:1 findings (above)"
import json, sys
r = json.load(open(sys.argv[1]))
got = sorted((f["issue"], f["package"], f["category"]) for f in r["findings"])
want = [("CVE-2099-1000", "libssl3", "fixable"), ("CVE-2099-1003", "tzdata", "no-fix-yet")]
bad = []
if got != want: bad.append("findings %s, want %s" % (got, want))
if r["packages"] != 3: bad.append("packages %d, want 3" % r["packages"])
if r["os"]["codename"] != "bookworm": bad.append("os %s" % r["os"])
if not r["target"].startswith("deb:1 (sha256:"): bad.append("target %s" % r["target"])
if bad: print("\n".join(bad), file=sys.stderr); sys.exit(1)
EOP
pass "scan deb:1: the image's own packages (status and status.d), os-release via its symlink"

# an image without a package database
rm -rf "$ROOTFS/var/lib/dpkg"
mkumoci "$TMP/L2" v2 || fail "umoci v2"
img import "$TMP/L2" --name bare:1 || fail "import bare: $ERR"
img scan bare:1
[ "$RC" = 3 ] || fail "scan bare:1 exited $RC, want 3 ($ERR)"
echo "$ERR" | grep -q 'no dpkg database' || fail "scan bare:1: $ERR"
[ -z "$OUT" ] || fail "scan bare:1 printed a report"
pass "an image without a package database: exit 3, no report"

img scan nosuch:1 && fail "scan of an unknown image succeeded"
[ "$RC" = 1 ] || fail "scan nosuch:1 exited $RC"
pass "unknown image refused"
