#!/usr/bin/env bash
# secret-image db import of OSV JSON (the schema's real shape, as Debian's OSV
# export publishes it) and scans of this machine's root against it, alone and
# together with Security Tracker data: each OSV verdict lands in the right
# category (fixable, fixed at exactly / below the installed version: absent,
# open, "introduced" above the installed version: absent, epoch, a binary
# whose source differs: gcc of gcc-defaults), severity from OSV's CVSS vector
# or severity fields, other ecosystems and releases and withdrawn records
# skipped; where the tracker and OSV speak of the same issue the tracker
# wins and the report says so; each import replaces its own source only; a
# malformed or truncated OSV file is refused and the old index still answers.
# Also the rest of issue 14's list in OSV's format: a tilde fix below the
# installed version, not affected (fixed "0"), Debian's "unimportant" urgency
# (no-DSA or minor), a binNMU (bash), and last_affected, limit and versions[]
# per the OSV schema; table, JSON and SARIF agree (scan_lib.sh).
# usage: scan_osv.sh SECRET_IMAGE
set -uo pipefail
si=$1
. "$(dirname "$0")/scan_lib.sh"
tmp=$(mktemp -d /tmp/scan-osv.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
store=$tmp/store
srcver() { dpkg-query -W -f='${source:Version}' "$1" 2>/dev/null; }
for b in libc6 bash gcc busybox-static zlib1g coreutils tar; do
  [[ -n "$(srcver $b)" ]] || { echo "scan_osv: $b is not installed (scripts/deps.sh installs it)" >&2; exit 1; }
done
export G=$(srcver libc6) B=$(srcver bash) D=$(srcver gcc) BB=$(srcver busybox-static)
export Z=$(srcver zlib1g) C=$(srcver coreutils) T=$(srcver tar)

python3 - "$tmp" <<'EOP' || exit 1
import json, os, sys
out = sys.argv[1]
E = os.environ
def rec(id, affected, upstream=(), severity=None, **kw):
    r = {"schema_version": "1.6.0", "id": id, "modified": "2026-11-20T08:00:00Z",
         "published": "2026-11-01T00:00:00Z", "summary": id + " test", "details": "test record",
         "upstream": list(upstream), "affected": affected,
         "references": [{"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/" + id}]}
    if severity: r["severity"] = severity
    r.update(kw)
    return r
def aff(name, events, eco="Debian:12", **kw):
    a = {"package": {"ecosystem": eco, "name": name, "purl": "pkg:deb/debian/%s?arch=source" % name},
         "ranges": [{"type": "ECOSYSTEM", "events": events}]}
    a.update(kw)
    return a
def fixed(v, intro="0"): return [{"introduced": intro}, {"fixed": v}]
CRIT = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]
MED = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N"}]
epoch = int(E["BB"].split(":")[0])
osv = [
  rec("DSA-9001-1", [aff("glibc", fixed(E["G"] + "+osv1"))], ["CVE-2099-1001"], CRIT),
  rec("DSA-9002-1", [aff("glibc", fixed(E["G"]))], ["CVE-2099-1002"], CRIT),          # fixed exactly
  rec("DSA-9003-1", [aff("glibc", fixed("2.0-1"))], ["CVE-2099-1003"], CRIT),          # fixed below
  rec("DEBIAN-CVE-2099-1004", [aff("zlib", [{"introduced": "0"}],
      ecosystem_specific={"urgency": "low"})], ["CVE-2099-1004"]),                     # open
  rec("DLA-9005-1", [aff("bash", fixed("99.0-1", intro="98.0-1"))], ["CVE-2099-1005"], CRIT),  # introduced later
  rec("DSA-9006-1", [aff("busybox", fixed("%d:0.1-1" % (epoch + 1)))], ["CVE-2099-1006"],
      database_specific={"severity": "MODERATE"}),                                     # epoch
  rec("DSA-9007-1", [aff("gcc-defaults", fixed(E["D"] + "+osv1"))], ["CVE-2099-1007"], MED),  # gcc binary
  rec("DSA-9008-1", [aff("coreutils", fixed(E["C"] + "+osv1"), eco="Debian:11")], ["CVE-2099-1008"], CRIT),
  rec("GHSA-xxxx-yyyy-zzzz", [aff("coreutils", [{"introduced": "0"}], eco="PyPI")], ["CVE-2099-1009"]),
  rec("DSA-9010-1", [aff("tar", fixed(E["T"] + "+osv1"))], ["CVE-2099-1010"], CRIT,
      withdrawn="2026-11-21T00:00:00Z"),
  # the tracker speaks for these (see tracker.json): it wins
  rec("DSA-9020-1", [aff("coreutils", fixed(E["C"] + "+osv1"))], ["CVE-2099-1020"], CRIT),  # tracker: fixed
  rec("DSA-9021-1", [aff("tar", fixed(E["T"] + "+osv2"))], ["CVE-2099-1021"], CRIT),  # tracker: other fix
  rec("DSA-9022-1", [aff("zlib", fixed(E["Z"] + "+osv1"))], ["CVE-2099-1022"], CRIT),  # tracker agrees
  rec("DSA-9030-1", [aff("busybox", fixed(E["BB"] + "~osv1"))], ["CVE-2099-1030"], CRIT),  # ~ sorts before
  rec("DSA-9031-1", [aff("tar", fixed("0"))], ["CVE-2099-1031"], CRIT),                 # not affected
  rec("DEBIAN-CVE-2099-1032", [aff("coreutils", [{"introduced": "0"}],
      ecosystem_specific={"urgency": "unimportant"})], ["CVE-2099-1032"]),              # minor
  rec("DSA-9033-1", [aff("bash", fixed(E["B"] + "+osv1"))], ["CVE-2099-1033"], MED),     # binNMU bash
  rec("DEBIAN-CVE-2099-1034", [aff("glibc", [{"introduced": "0"}, {"last_affected": E["G"]}])],
      ["CVE-2099-1034"], CRIT),                                                        # last_affected
  rec("DEBIAN-CVE-2099-1035", [aff("glibc", [{"introduced": "0"}, {"limit": E["G"]}])],
      ["CVE-2099-1035"], CRIT),                                                        # limit: exclusive
  rec("DEBIAN-CVE-2099-1036", [{"package": {"ecosystem": "Debian:12", "name": "zlib"},
      "versions": ["0.1-1", E["Z"]]}], ["CVE-2099-1036"], MED),                         # versions[] alone
]
json.dump(osv, open(out + "/osv.json", "w"), indent=1)
json.dump(osv[0], open(out + "/one.json", "w"), indent=1)   # a single record file
def rel(status, fixed=None, urgency="medium"):
    r = {"status": status, "urgency": urgency, "repositories": {"bookworm": "1"}}
    if fixed: r["fixed_version"] = fixed
    return r
tracker = {
  "coreutils": {"CVE-2099-1020": {"releases": {"bookworm": rel("resolved", E["C"])}}},
  "tar": {"CVE-2099-1021": {"releases": {"bookworm": rel("resolved", E["T"] + "+tr1", "high")}}},
  "zlib": {"CVE-2099-1022": {"releases": {"bookworm": rel("resolved", E["Z"] + "+osv1", "high")}}},
}
json.dump(tracker, open(out + "/tracker.json", "w"), indent=1)
EOP

# --- OSV alone ---
"$si" --store "$store" db import "$tmp/osv.json" > "$tmp/imp.out" 2>&1 || { cat "$tmp/imp.out" >&2; fail "OSV import"; }
grep -q '^imported 18 OSV records from .*20 records read, 1 withdrawn, 1 entries of other ecosystems' "$tmp/imp.out" \
  || fail "OSV import line: $(cat "$tmp/imp.out")"
grep -q '^index: 18 records (osv)' "$tmp/imp.out" || fail "index line: $(cat "$tmp/imp.out")"
"$si" --store "$store" db info > "$tmp/info" || fail "db info"
grep -q '^source osv$' "$tmp/info" && grep -q '^osv_data_time 2026-11-20T08:00:00Z' "$tmp/info" \
  || fail "db info: $(cat "$tmp/info")"
"$si" --store "$store" scan --rootfs / --json > "$tmp/osv-scan.json" 2>"$tmp/err" || { cat "$tmp/err"; fail "scan (OSV)"; }
python3 - "$tmp/osv-scan.json" <<'EOP' || fail "OSV verdicts (above)"
import json, sys
r = json.load(open(sys.argv[1]))
f = {}
for x in r["findings"]:
    f.setdefault(x["issue"], []).append(x)
bad = []
def want(i, cat, sev, pkg=None):
    if i not in f: bad.append("%s missing" % i); return
    for x in f[i]:
        if (x["category"], x["severity"], x["data_source"]) != (cat, sev, "osv"):
            bad.append("%s: %s %s %s" % (i, x["category"], x["severity"], x["data_source"]))
    if pkg and pkg not in [x["package"] for x in f[i]]: bad.append("%s: %s not named" % (i, pkg))
def absent(i):
    if i in f: bad.append("%s reported" % i)
want("DSA-9001-1", "fixable", "high", "libc6")
absent("DSA-9002-1"); absent("DSA-9003-1")
want("DEBIAN-CVE-2099-1004", "no-fix-yet", "low", "zlib1g")
absent("DLA-9005-1")
want("DSA-9006-1", "fixable", "medium", "busybox-static")
want("DSA-9007-1", "fixable", "medium", "gcc")
absent("DSA-9008-1"); absent("GHSA-xxxx-yyyy-zzzz"); absent("DSA-9010-1")
absent("DSA-9030-1"); absent("DSA-9031-1")
want("DEBIAN-CVE-2099-1032", "no-dsa-or-minor", "unimportant", "coreutils")
want("DSA-9033-1", "fixable", "medium", "bash")
b = f.get("DSA-9033-1", [{}])[0]
if b.get("source") != "bash" or not b.get("fixed_version", "").endswith("+osv1"): bad.append("binNMU %s" % b)
want("DEBIAN-CVE-2099-1034", "no-fix-yet", "high", "libc6")
if any(x["fixed_version"] for x in f.get("DEBIAN-CVE-2099-1034", [])): bad.append("last_affected named a fix")
absent("DEBIAN-CVE-2099-1035")
want("DEBIAN-CVE-2099-1036", "no-fix-yet", "medium", "zlib1g")
if f.get("DSA-9001-1") and "CVE-2099-1001" not in f["DSA-9001-1"][0].get("aliases", ""): bad.append("aliases")
if r["data"]["source"] != "osv": bad.append("data.source %s" % r["data"]["source"])
if bad: print("\n".join(bad), file=sys.stderr); sys.exit(1)
EOP
scan_outputs_agree "$si" "$store" / "$tmp/agree-osv" || fail "OSV: table, JSON and SARIF disagree (above)"
"$si" --store "$store" scan --rootfs / --sarif > "$tmp/osv.sarif" || fail "--sarif (OSV)"
python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
run = s["runs"][0]
rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
ok = s["version"] == "2.1.0" and "DSA-9001-1" in rules and rules["DSA-9001-1"]["helpUri"].startswith("https://osv.dev/") \
     and all(x["properties"]["data_source"] == "osv" for x in run["results"]) \
     and any(x["ruleId"] == "DSA-9001-1" and x["level"] == "error" for x in run["results"])
sys.exit(0 if ok else 1)' "$tmp/osv.sarif" || fail "SARIF of OSV findings"
"$si" --store "$store" scan --rootfs / --exit-code 5 --severity high --ignore-unfixed > "$tmp/t.txt" 2>&1
[[ $? -eq 5 ]] || fail "--exit-code with an OSV high finding"
grep -Eq '^high +DSA-9001-1 +libc6 .* osv$' "$tmp/t.txt" || fail "table row of an OSV finding: $(cat "$tmp/t.txt")"

# --- the tracker too: it wins where both speak ---
"$si" --store "$store" db import "$tmp/tracker.json" > "$tmp/imp2.out" 2>&1 || { cat "$tmp/imp2.out"; fail "tracker import"; }
grep -q '^index: 21 records (debian-security-tracker+osv)' "$tmp/imp2.out" || fail "both kept: $(cat "$tmp/imp2.out")"
"$si" --store "$store" scan --rootfs / --json > "$tmp/both.json" || fail "scan (both)"
python3 - "$tmp/both.json" <<'EOP' || fail "tracker wins (above)"
import json, sys
r = json.load(open(sys.argv[1]))
bad = []
issues = {x["issue"]: x for x in r["findings"]}
for i in ("DSA-9020-1", "DSA-9021-1", "DSA-9022-1", "CVE-2099-1020"):
    if i in issues: bad.append("%s reported" % i)
t = issues.get("CVE-2099-1021")
if not t or not t["fixed_version"].endswith("+tr1") or t["severity"] != "high" \
   or t["data_source"] != "debian-security-tracker (wins over osv DSA-9021-1)" \
   or t.get("osv_disagreed", {}).get("id") != "DSA-9021-1":
    bad.append("CVE-2099-1021: %s" % t)
z = issues.get("CVE-2099-1022")
if not z or z["data_source"] != "debian-security-tracker" or "osv_disagreed" in z: bad.append("CVE-2099-1022: %s" % z)
ov = [(o["osv_id"], o["issue"], o["package"]) for o in r["overridden_by_tracker"]]
if ov != [("DSA-9020-1", "CVE-2099-1020", "coreutils")]: bad.append("overridden %s" % ov)
if "DSA-9001-1" not in issues: bad.append("OSV-only finding lost")
if r["data"]["source"] != "debian-security-tracker+osv" or "tracker wins" not in r["data"]["rule"]: bad.append("data %s" % r["data"])
if bad: print("\n".join(bad), file=sys.stderr); sys.exit(1)
EOP
scan_outputs_agree "$si" "$store" / "$tmp/agree-both" || fail "both: table, JSON and SARIF disagree (above)"
"$si" --store "$store" scan --rootfs / > "$tmp/both.txt" || fail "table (both)"
grep -q 'CVE-2099-1020 coreutils: osv DSA-9020-1 says fixable.*the Security Tracker says not affected, and it wins' "$tmp/both.txt" \
  || fail "table: override line: $(grep -i osv "$tmp/both.txt")"
grep -Eq '^high +CVE-2099-1021 .*tracker \(wins over osv\)' "$tmp/both.txt" || fail "table: wins column"

# --- each import replaces its own source; one record alone is a file too ---
"$si" --store "$store" db import "$tmp/one.json" > "$tmp/imp3.out" 2>&1 || { cat "$tmp/imp3.out"; fail "single-object import"; }
grep -q '^index: 4 records (debian-security-tracker+osv)' "$tmp/imp3.out" || fail "OSV replaced: $(cat "$tmp/imp3.out")"
"$si" --store "$store" db import "$tmp/osv.json" > /dev/null 2>&1 || fail "re-import"
"$si" --store "$store" scan --rootfs / --json > "$tmp/before.json" || fail "scan before refusals"

# --- malformed and truncated OSV refused; the old index still answers ---
head -c 2000 "$tmp/osv.json" > "$tmp/trunc.json"
"$si" --store "$store" db import "$tmp/trunc.json" > /dev/null 2> "$tmp/e1" && fail "truncated OSV accepted"
grep -q 'refused, the previous index stays: truncated or incomplete OSV JSON' "$tmp/e1" || fail "truncated: $(cat "$tmp/e1")"
sed '0,/"fixed": "[^"]*"/s//"fixed": "not a version!"/' "$tmp/osv.json" > "$tmp/bad.json"
"$si" --store "$store" db import "$tmp/bad.json" > /dev/null 2> "$tmp/e2" && fail "malformed OSV accepted"
grep -q 'OSV record 1 DSA-9001-1: fixed' "$tmp/e2" || fail "malformed: $(cat "$tmp/e2")"
sed 's/"modified": "2026-11-20T08:00:00Z"/"modified": 5/' "$tmp/osv.json" > "$tmp/bad2.json"
"$si" --store "$store" db import "$tmp/bad2.json" > /dev/null 2> "$tmp/e3" && fail "a numeric modified accepted"
printf '[' > "$tmp/trunc2.json"; cat "$tmp/one.json" >> "$tmp/trunc2.json"; printf ',' >> "$tmp/trunc2.json"
"$si" --store "$store" db import "$tmp/trunc2.json" > /dev/null 2>&1 && fail "array cut after a comma accepted"
"$si" --store "$store" db import "$tmp/osv.json" "$tmp/bad.json" > /dev/null 2>&1 && fail "a set with one bad file accepted"
"$si" --store "$store" scan --rootfs / --json > "$tmp/after.json" || fail "scan after refusals"
python3 -c '
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
sys.exit(0 if a["findings"] == b["findings"] and a["data"] == b["data"] else 1)' \
  "$tmp/before.json" "$tmp/after.json" || fail "the old index does not answer as before"
ls -A "$store/vulndb" | grep -v '^tracker.idx$' && fail "temporary files left in the index dir"

if ((fails)); then
  echo "$fails failure(s)" >&2
  exit 1
fi
echo "scan_osv: all checks passed"
