#!/usr/bin/env bash
# secret-image scan --rootfs of a busybox rootfs (scripts/mkrootfs.sh) given a
# dpkg status whose chosen packages are each case of issue 14's list, against
# data the test writes in BOTH real formats, the Security Tracker's JSON and
# OSV JSON (each alone in its own store): vulnerable with a newer fix; fixed
# at exactly the installed version; fixed in a lower version; open with no
# fix; undetermined (tracker only: OSV has no such state); no-DSA (OSV:
# Debian's urgency "unimportant"); not affected ("0"); epochs and tildes
# either way; a binNMU (bash 5.2.15-2+b2 of source bash 5.2.15-2); and, OSV
# only, last_affected, limit and versions[] per the OSV schema. Each lands in
# its category, or in none, identically in the table, JSON and SARIF outputs
# (scan_lib.sh), SARIF checked for the fields 2.1.0 requires.
# usage: scan_busybox.sh SECRET_IMAGE MKROOTFS_SH
set -uo pipefail
si=$1
mkrootfs=$2
. "$(dirname "$0")/scan_lib.sh"
tmp=$(mktemp -d /tmp/scan-busybox.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

root=$tmp/rootfs
sh "$mkrootfs" "$root" > /dev/null || exit 1
mkdir -p "$root/var/lib/dpkg" "$root/usr/lib"
printf 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n' > "$root/usr/lib/os-release"
rm -f "$root/etc/os-release"
ln -s ../usr/lib/os-release "$root/etc/os-release"   # as Debian has it
pkg() { # NAME VERSION [SOURCE-FIELD]
  printf 'Package: %s\nStatus: install ok installed\nArchitecture: amd64\nVersion: %s\n' "$1" "$2"
  [[ -z "${3:-}" ]] || printf 'Source: %s\n' "$3"
  echo
}
{
  pkg newer 1.0-1
  pkg exact 2.0-3+deb12u1
  pkg lower 3.0-5
  pkg openpkg 1.0-1
  pkg undet 1.0-1
  pkg nodsa 1.0-1
  pkg notaff 1.0-1
  pkg epoch 1:2.0~rc1-1
  pkg epoch2 2:1.0-1
  pkg tilde 3.0.11-1~deb12u2
  pkg tilde2 3.0.11-1~deb12u1
  pkg bash 5.2.15-2+b2 'bash (5.2.15-2)'
  pkg libfoo1 1.4-1 'foo'
  printf 'Package: removed\nStatus: deinstall ok config-files\nVersion: 0.1-1\n'
} > "$root/var/lib/dpkg/status"

python3 - "$tmp" <<'EOP' || exit 1
import json, sys
out = sys.argv[1]
# issue -> (source, tracker release entry or None, OSV affected entry or None, want)
def tr(status, fixed=None, urgency="medium", **kw):
    r = {"status": status, "urgency": urgency, "repositories": {"bookworm": "1"}}
    if fixed is not None: r["fixed_version"] = fixed
    r.update(kw); return r
def ev(*events): return {"ranges": [{"type": "ECOSYSTEM", "events": [dict([e]) for e in events]}]}
I, F, L, X = "introduced", "fixed", "last_affected", "limit"
cases = [
  ("CVE-2099-2001", "newer",   tr("resolved", "1.0-2", "high"),  ev((I, "0"), (F, "1.0-2")), ("newer", "fixable")),
  ("CVE-2099-2002", "exact",   tr("resolved", "2.0-3+deb12u1"),  ev((I, "0"), (F, "2.0-3+deb12u1")), None),
  ("CVE-2099-2003", "lower",   tr("resolved", "3.0-4"),          ev((I, "0"), (F, "3.0-4")), None),
  ("CVE-2099-2004", "openpkg", tr("open", urgency="high"),       ev((I, "0")), ("openpkg", "no-fix-yet")),
  ("CVE-2099-2005", "undet",   tr("undetermined", urgency="not yet assigned"), None, ("undet", "no-fix-yet")),
  ("CVE-2099-2006", "nodsa",   tr("open", urgency="low", nodsa="Minor issue", nodsa_reason=""),
                               dict(ev((I, "0")), ecosystem_specific={"urgency": "unimportant"}),
                               ("nodsa", "no-dsa-or-minor")),
  ("CVE-2099-2007", "notaff",  tr("resolved", "0", "high"),      ev((I, "0"), (F, "0")), None),
  ("CVE-2099-2008", "epoch",   tr("resolved", "1:2.0-1"),        ev((I, "0"), (F, "1:2.0-1")), ("epoch", "fixable")),
  ("CVE-2099-2009", "epoch2",  tr("resolved", "1:9.9-1"),        ev((I, "0"), (F, "1:9.9-1")), None),
  ("CVE-2099-2010", "tilde",   tr("resolved", "3.0.11-1~deb12u1"), ev((I, "0"), (F, "3.0.11-1~deb12u1")), None),
  ("CVE-2099-2011", "tilde2",  tr("resolved", "3.0.11-1~deb12u2", "low"),
                               ev((I, "0"), (F, "3.0.11-1~deb12u2")), ("tilde2", "fixable")),
  ("CVE-2099-2012", "bash",    tr("resolved", "5.2.15-3", "low"), ev((I, "0"), (F, "5.2.15-3")), ("bash", "fixable")),
  ("CVE-2099-2013", "bash",    tr("resolved", "5.2.15-2", "low"), ev((I, "0"), (F, "5.2.15-2")), None),  # binNMU: source is fixed
  ("CVE-2099-2014", "foo",     tr("resolved", "1.5-1"),          ev((I, "0"), (F, "1.5-1")), ("libfoo1", "fixable")),
  ("CVE-2099-2015", "removed", tr("open", urgency="high"),       ev((I, "0")), None),  # not installed
]
osv_only = [  # OSV's other events, judged per its schema
  ("OSV-LA-AT", "foo", ev((I, "0"), (L, "1.4-1")), ("libfoo1", "no-fix-yet")),   # last_affected: inclusive, no fix
  ("OSV-LA-BELOW", "foo", ev((I, "0"), (L, "1.4~rc1-1")), None),
  ("OSV-LIMIT-AT", "foo", ev((I, "0"), (X, "1.4-1")), None),                    # limit: exclusive
  ("OSV-LIMIT-ABOVE", "foo", ev((I, "0"), (X, "1.5-1")), ("libfoo1", "no-fix-yet")),
  ("OSV-VERSIONS", "foo", {"versions": ["1.3-1", "0:1.4-1"]}, ("libfoo1", "no-fix-yet")),
  ("OSV-VERSIONS-NOT", "foo", {"versions": ["1.3-1", "1.4-2"]}, None),
  ("OSV-GAP", "foo", {"ranges": [{"type": "ECOSYSTEM", "events": [{I: "0"}, {F: "1.2-1"}]},
                                 {"type": "ECOSYSTEM", "events": [{I: "1.5-1"}, {F: "1.6-1"}]}]}, None),
]
tracker = {}
for iss, src, t, o, w in cases:
    tracker.setdefault(src, {})[iss] = {"description": "test", "scope": "local", "releases": {"bookworm": t}}
json.dump(tracker, open(out + "/tracker.json", "w"), indent=1)
def rec(iss, src, a):
    a = dict(a); a["package"] = {"ecosystem": "Debian:12", "name": src, "purl": "pkg:deb/debian/%s?arch=source" % src}
    return {"schema_version": "1.6.0", "id": iss, "modified": "2026-11-20T08:00:00Z", "aliases": [],
            "summary": "test", "affected": [a]}
osv = [rec(i, s, o) for i, s, t, o, w in cases if o] + [rec(i, s, o) for i, s, o, w in osv_only]
json.dump(osv, open(out + "/osv.json", "w"), indent=1)
want_t = sorted((i, w[0], w[1]) for i, s, t, o, w in cases if w)
want_o = sorted([(i, w[0], w[1]) for i, s, t, o, w in cases if o and w] +
                [(i, w[0], w[1]) for i, s, o, w in osv_only if w])
json.dump({"tracker": want_t, "osv": want_o}, open(out + "/want.json", "w"))
EOP

for fmt in tracker osv; do
  store=$tmp/store-$fmt
  "$si" --store "$store" db import "$tmp/$fmt.json" > "$tmp/imp-$fmt" 2>&1 ||
    { fail "$fmt import: $(cat "$tmp/imp-$fmt")"; continue; }
  scan_outputs_agree "$si" "$store" "$root" "$tmp/out-$fmt" || fail "$fmt: table, JSON and SARIF disagree (above)"
  python3 - "$tmp/out-$fmt/scan.json" "$tmp/want.json" "$fmt" <<'EOP' || fail "$fmt: verdicts (above)"
import json, sys
r = json.load(open(sys.argv[1])); fmt = sys.argv[3]
want = [tuple(x) for x in json.load(open(sys.argv[2]))[fmt]]
got = sorted((f["issue"], f["package"], f["category"]) for f in r["findings"])
bad = []
if got != want:
    bad.append("got  %s\nwant %s" % (sorted(set(got) - set(want)), sorted(set(want) - set(got))))
if r["packages"] != 13: bad.append("packages %d, want 13" % r["packages"])
if r["release"] != "bookworm": bad.append("release %s" % r["release"])
src = "osv" if fmt == "osv" else "debian-security-tracker"
if any(f["data_source"] != src for f in r["findings"]): bad.append("data_source")
fx = {f["issue"]: f for f in r["findings"]}
b = fx.get("CVE-2099-2012")
if not b or (b["version"], b["source"], b["source_version"], b["fixed_version"]) != \
        ("5.2.15-2+b2", "bash", "5.2.15-2", "5.2.15-3"):
    bad.append("binNMU finding %s" % b)
if fmt == "osv" and fx.get("OSV-LA-AT", {}).get("fixed_version", 1) is not None:
    bad.append("last_affected named a fix: %s" % fx.get("OSV-LA-AT"))
if bad: print("\n".join(bad), file=sys.stderr); sys.exit(1)
EOP
done

if ((fails)); then
  echo "$fails failure(s)" >&2
  exit 1
fi
echo "scan_busybox: all checks passed"
