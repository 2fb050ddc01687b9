#!/usr/bin/env bash
# secret-image db import / scan --rootfs through the real binary: this
# machine's root against tracker data the test writes in the tracker's real
# format, naming real installed source packages (versions from dpkg-query):
# fixable (newer fix), fixed at exactly / below the installed version (absent),
# open, undetermined, no-DSA, not affected ("0"), epoch and tilde, gcc whose
# source is gcc-defaults, a bash binNMU, end-of-life. Also: a busybox rootfs
# without a database (exit 3), a rootfs whose var/lib/dpkg is a symlink to
# the host's /var/lib/dpkg (never read), and a truncated / malformed import
# refused while the old index still answers.
# usage: scan_rootfs.sh SECRET_IMAGE MKROOTFS_SH
set -uo pipefail
si=$1
mkrootfs=$2
. "$(dirname "$0")/scan_lib.sh"
tmp=$(mktemp -d /tmp/scan-rootfs.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
store=$tmp/store

srcver() {  # srcver BINARY -> the installed source version
  dpkg-query -W -f='${source:Version}' "$1" 2>/dev/null
}
for b in libc6 bash gcc busybox-static zlib1g coreutils tar dpkg; do
  [[ -n "$(srcver $b)" ]] || { echo "scan_rootfs: $b is not installed (scripts/deps.sh installs it)" >&2; exit 1; }
done
G=$(srcver libc6) B=$(srcver bash) D=$(srcver gcc) BB=$(srcver busybox-static)
Z=$(srcver zlib1g) C=$(srcver coreutils) T=$(srcver tar)
[[ "$(dpkg-query -W -f='${Version}' bash)" != "$B" ]] || echo "note: bash is no binNMU here"
[[ "$BB" == *:* ]] || { echo "scan_rootfs: busybox's version has no epoch here ($BB)" >&2; exit 1; }

python3 - "$tmp/data.json" "$G" "$B" "$D" "$BB" <<'EOP' || exit 1
import json, sys
out, G, B, D, BB = sys.argv[1:]
def rel(status, fixed=None, urgency="not yet assigned", **kw):
    r = {"status": status, "repositories": {"bookworm": fixed or "1.0"}, "urgency": urgency}
    if fixed is not None:
        r["fixed_version"] = fixed
    r.update(kw)
    return r
def issue(bookworm, bug=None):
    d = {"description": "test issue", "scope": "local",
         "releases": {"bookworm": bookworm, "sid": rel("open", urgency="low")}}
    if bug:
        d["debianbug"] = bug
    return d
epoch = int(BB.split(":")[0])
data = {
  "glibc": {"CVE-2099-0001": issue(rel("resolved", G + "+test1", "high"), 1000001),
            "CVE-2099-0002": issue(rel("resolved", G, "high")),
            "CVE-2099-0003": issue(rel("resolved", "2.0-1", "high"))},
  "bash": {"CVE-2099-0010": issue(rel("resolved", B, "medium")),
           "CVE-2099-0011": issue(rel("resolved", B + "+test1", "low"))},
  "gcc-defaults": {"CVE-2099-0012": issue(rel("resolved", D + "+test1", "medium"))},
  "gcc": {"CVE-2099-0013": issue(rel("open", urgency="high"))},
  "busybox": {"CVE-2099-0020": issue(rel("resolved", BB + "~test1", "high")),
              "CVE-2099-0021": issue(rel("resolved", "%d:0.1-1" % (epoch + 1), "high"))},
  "zlib": {"CVE-2099-0030": issue(rel("open", urgency="medium")),
           "CVE-2099-0031": issue(rel("undetermined"))},
  "coreutils": {"CVE-2099-0040": issue(rel("open", urgency="low", nodsa="Minor issue",
                                           nodsa_reason=""))},
  "tar": {"CVE-2099-0050": issue(rel("resolved", "0", "unimportant"))},
  "dpkg": {"CVE-2099-0060": issue(rel("open", urgency="end-of-life"))},
  "not-installed-src": {"CVE-2099-0070": issue(rel("open", urgency="high"))},
}
json.dump(data, open(out, "w"), indent=1)
EOP

"$si" --store "$store" db import "$tmp/data.json" > "$tmp/import.out" 2>&1 \
  || { cat "$tmp/import.out" >&2; fail "db import of a valid file"; }
grep -q '^imported 30 records' "$tmp/import.out" || fail "import count: $(cat "$tmp/import.out")"

# --- this machine's root: JSON ---
"$si" --store "$store" scan --rootfs / --json > "$tmp/scan.json" 2> "$tmp/scan.err"
rc=$?
[[ $rc -eq 0 ]] || { cat "$tmp/scan.err" >&2; fail "scan --rootfs / exited $rc"; }
python3 - "$tmp/scan.json" <<'EOP' || fail "JSON categories (above)"
import json, sys, subprocess
r = json.load(open(sys.argv[1]))
want_pkgs = int(subprocess.run("dpkg-query -W -f='${Status}\\n' | grep -c ' ok installed$'",
                               shell=True, capture_output=True, text=True).stdout)
bad = []
if r["packages"] != want_pkgs: bad.append("packages %d != dpkg-query %d" % (r["packages"], want_pkgs))
if r["release"] != "bookworm" or not r["release_in_data"]: bad.append("release")
if r["data"]["source"] != "debian-security-tracker" or "age_days" not in r["data"]: bad.append("data age")
cats = {}
for f in r["findings"]:
    cats.setdefault(f["issue"], set()).add((f["category"], f["source"]))
    if f["data_source"] != "debian-security-tracker": bad.append("data_source")
def want(issue, cat, src, binary=None):
    got = cats.get(issue)
    if not got or got != {(cat, src)}:
        bad.append("%s: got %s, want %s of %s" % (issue, got, cat, src))
    if binary and not any(f["issue"] == issue and f["package"] == binary for f in r["findings"]):
        bad.append("%s: %s not named" % (issue, binary))
def absent(issue):
    if issue in cats: bad.append("%s reported: %s" % (issue, cats[issue]))
want("CVE-2099-0001", "fixable", "glibc", "libc6")
absent("CVE-2099-0002"); absent("CVE-2099-0003")
absent("CVE-2099-0010")
want("CVE-2099-0011", "fixable", "bash", "bash")
want("CVE-2099-0012", "fixable", "gcc-defaults", "gcc")   # source version, not 4:12.2.0-3
absent("CVE-2099-0013")                                    # source "gcc" is not installed
absent("CVE-2099-0020")                                    # ~ sorts before
want("CVE-2099-0021", "fixable", "busybox", "busybox-static")  # higher epoch
want("CVE-2099-0030", "no-fix-yet", "zlib", "zlib1g")
want("CVE-2099-0031", "no-fix-yet", "zlib")
want("CVE-2099-0040", "no-dsa-or-minor", "coreutils", "coreutils")
absent("CVE-2099-0050")
want("CVE-2099-0060", "end-of-life", "dpkg", "dpkg")
absent("CVE-2099-0070")
f1 = [f for f in r["findings"] if f["issue"] == "CVE-2099-0001"][0]
if f1.get("debianbug") != 1000001 or f1["urgency"] != "high" or not f1["fixed_version"].endswith("+test1"):
    bad.append("CVE-2099-0001 fields: %s" % f1)
sev = {"high": 4, "medium": 3, "low": 2, "unimportant": 1}
ranks = [sev.get(f["urgency"], 0) for f in r["findings"]]
if ranks != sorted(ranks, reverse=True): bad.append("not ordered by severity")
if bad:
    print("\n".join(bad), file=sys.stderr); sys.exit(1)
EOP

# --- the table and SARIF hold exactly the JSON's verdicts ---
scan_outputs_agree "$si" "$store" / "$tmp/agree" || fail "table, JSON and SARIF disagree (above)"

# --- the table shows the same, the data's age and the source ---
"$si" --store "$store" scan --rootfs / > "$tmp/scan.txt" 2>&1 || fail "table scan"
grep -q '^Fixable now: ' "$tmp/scan.txt" || fail "table: no 'Fixable now'"
grep -Eq '^high +CVE-2099-0001 +libc6 ' "$tmp/scan.txt" || fail "table: CVE-2099-0001 row"
grep -q 'days old' "$tmp/scan.txt" || fail "table: no data age"
grep -q 'CVE-2099-0002\|CVE-2099-0050' "$tmp/scan.txt" && fail "table: a fixed issue is shown"
grep -q '^summary: ' "$tmp/scan.txt" || fail "table: no summary"

# --- SARIF 2.1.0: the fields the schema requires, and the same findings ---
"$si" --store "$store" scan --rootfs / --sarif > "$tmp/scan.sarif" || fail "--sarif"
python3 - "$tmp/scan.sarif" "$tmp/scan.json" <<'EOP' || fail "SARIF (above)"
import json, sys
s = json.load(open(sys.argv[1])); j = json.load(open(sys.argv[2]))
bad = []
if s.get("version") != "2.1.0": bad.append("version")
runs = s.get("runs")
if not isinstance(runs, list) or len(runs) != 1: bad.append("runs")
run = runs[0]
drv = run.get("tool", {}).get("driver", {})
if not isinstance(drv.get("name"), str) or not drv["name"]: bad.append("tool.driver.name")
rules = drv.get("rules", [])
ids = [r.get("id") for r in rules]
if len(ids) != len(set(ids)): bad.append("duplicate rule ids")
for r in rules:
    if not r.get("id") or "text" not in r.get("shortDescription", {"text": 1}): bad.append("rule %s" % r)
res = run.get("results")
if not isinstance(res, list): bad.append("results")
for x in res:
    if not isinstance(x.get("message", {}).get("text"), str): bad.append("result without message.text")
    if x.get("level") not in ("none", "note", "warning", "error"): bad.append("level %s" % x.get("level"))
    ri = x.get("ruleIndex")
    if ri is None or ids[ri] != x.get("ruleId"): bad.append("ruleIndex %s -> %s" % (ri, x.get("ruleId")))
    for l in x.get("locations", []):
        if not l["physicalLocation"]["artifactLocation"]["uri"]: bad.append("location")
got = sorted((x["ruleId"], x["properties"]["package"], x["properties"]["category"]) for x in res)
want = sorted((f["issue"], f["package"], f["category"]) for f in j["findings"])
if got != want: bad.append("SARIF results differ from JSON findings")
lv = {x["ruleId"]: x["level"] for x in res}
if lv.get("CVE-2099-0001") != "error" or lv.get("CVE-2099-0040") != "note": bad.append("levels %s" % lv)
if bad:
    print("\n".join(bad), file=sys.stderr); sys.exit(1)
EOP

# --- --severity, --ignore-unfixed, --exit-code ---
"$si" --store "$store" scan --rootfs / --json --severity high > "$tmp/high.json" || fail "--severity high"
python3 - "$tmp/high.json" <<'EOP' || fail "--severity high kept others"
import json, sys
r = json.load(open(sys.argv[1]))
issues = {f["issue"] for f in r["findings"]}
ok = issues == {"CVE-2099-0001", "CVE-2099-0021"} and all(f["severity"] == "high" for f in r["findings"])
sys.exit(0 if ok else print(issues) or 1)
EOP
"$si" --store "$store" scan --rootfs / --json --ignore-unfixed > "$tmp/fix.json" || fail "--ignore-unfixed"
python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(0 if r["findings"] and all(f["category"] == "fixable" for f in r["findings"])
         and r["counts"]["no-fix-yet"] == 0 else 1)' "$tmp/fix.json" || fail "--ignore-unfixed kept unfixed"
"$si" --store "$store" scan --rootfs / --exit-code 7 > /dev/null 2>&1
rc=$?
[[ $rc -eq 7 ]] || fail "--exit-code 7 with findings: exit $rc"
"$si" --store "$store" scan --rootfs / --exit-code 7 --severity unimportant --ignore-unfixed > /dev/null 2>&1
rc=$?
[[ $rc -eq 0 ]] || fail "--exit-code 7 without findings left: exit $rc"
"$si" --store "$store" scan --rootfs / --severity critical > /dev/null 2> "$tmp/sev.err" && fail "--severity critical accepted"
grep -q 'unknown severity "critical"' "$tmp/sev.err" || fail "--severity message: $(cat "$tmp/sev.err")"

# --- an ignore file hides until its entries expire ---
today=$(date -u +%F)
yesterday=$(date -u -d yesterday +%F)
cat > "$tmp/ignore" <<EOI
# reviewed risks
CVE-2099-0001/libc6 $today not reachable in our images (test)
CVE-2099-0021 $yesterday expired entry (test)
EOI
"$si" --store "$store" scan --rootfs / --json --ignore-file "$tmp/ignore" > "$tmp/ign.json" 2> "$tmp/ign.err" \
  || fail "--ignore-file"
python3 - "$tmp/ign.json" <<'EOP' || fail "ignore file (above)"
import json, sys
r = json.load(open(sys.argv[1]))
hit = {(f["issue"], f["package"]) for f in r["findings"]}
bad = [x for x in hit if x == ("CVE-2099-0001", "libc6")]
if ("CVE-2099-0021", "busybox-static") not in hit: bad.append("expired entry still hides CVE-2099-0021")
if not any(i == "CVE-2099-0001" for i, p in hit): bad.append("/libc6 hid the other glibc packages too")
if bad: print(bad, file=sys.stderr); sys.exit(1)
EOP
grep -q "line 3 (CVE-2099-0021) expired on $yesterday and hides nothing" "$tmp/ign.err" \
  || fail "no expiry warning: $(cat "$tmp/ign.err")"
printf 'CVE-2099-0001 2099-01-01\n' > "$tmp/ignore.bad"
"$si" --store "$store" scan --rootfs / --ignore-file "$tmp/ignore.bad" > /dev/null 2> "$tmp/ignbad.err" \
  && fail "an entry without a reason was accepted"
grep -q 'line 1: an entry needs a reason' "$tmp/ignbad.err" || fail "no-reason message: $(cat "$tmp/ignbad.err")"

# --- stale data warns ---
touch -d '30 days ago' "$tmp/data.json"
"$si" --store "$tmp/store-old" db import "$tmp/data.json" >/dev/null || fail "import old"
"$si" --store "$tmp/store-old" scan --rootfs / --max-age 10 > /dev/null 2> "$tmp/old.err" || fail "scan old"
grep -q 'warning: the vulnerability data is 30 days old' "$tmp/old.err" || fail "no staleness warning: $(cat "$tmp/old.err")"

# --- a busybox rootfs has no database: exit 3, no findings ---
sh "$mkrootfs" "$tmp/bb" >/dev/null || exit 1
"$si" --store "$store" scan --rootfs "$tmp/bb" --json > "$tmp/bb.out" 2> "$tmp/bb.err"
rc=$?
[[ $rc -eq 3 ]] || fail "busybox rootfs: exit $rc, want 3"
grep -q 'no dpkg database' "$tmp/bb.err" || fail "busybox rootfs: message: $(cat "$tmp/bb.err")"
[[ ! -s "$tmp/bb.out" ]] || fail "busybox rootfs: a report was printed"

# --- var/lib/dpkg -> /var/lib/dpkg must not read the host's database ---
sh "$mkrootfs" "$tmp/esc" >/dev/null || exit 1
mkdir -p "$tmp/esc/var/lib"
ln -s /var/lib/dpkg "$tmp/esc/var/lib/dpkg"
"$si" --store "$store" scan --rootfs "$tmp/esc" --release bookworm --json > "$tmp/esc.out" 2> "$tmp/esc.err"
rc=$?
[[ $rc -ne 0 ]] || fail "symlink escape: scan succeeded"
grep -q 'CVE-2099\|libc6' "$tmp/esc.out" && fail "symlink escape: the host's packages were read"
echo "symlink escape refused: $(cat "$tmp/esc.err")"

# --- a truncated or malformed file is refused; the old index still answers ---
cp "$tmp/scan.json" "$tmp/before.json"
head -c 3000 "$tmp/data.json" > "$tmp/trunc.json"
"$si" --store "$store" db import "$tmp/trunc.json" > /dev/null 2> "$tmp/trunc.err" \
  && fail "truncated file accepted"
grep -q 'refused, the previous index stays' "$tmp/trunc.err" || fail "truncated: $(cat "$tmp/trunc.err")"
sed 's/"resolved"/"fixed-ish"/' "$tmp/data.json" > "$tmp/bad.json"
"$si" --store "$store" db import "$tmp/bad.json" > /dev/null 2> "$tmp/bad.err" \
  && fail "malformed file accepted"
grep -q 'unknown "status"' "$tmp/bad.err" || fail "malformed: $(cat "$tmp/bad.err")"
"$si" --store "$store" scan --rootfs / --json > "$tmp/after.json" || fail "scan after refusals"
python3 -c '
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
sys.exit(0 if a["findings"] == b["findings"] and a["data"] == b["data"] else 1)' \
  "$tmp/before.json" "$tmp/after.json" || fail "the old index does not answer as before"
ls -A "$store/vulndb" | grep -v '^tracker.idx$' && fail "temporary files left in the index dir"

# --- no data yet: a clear error ---
"$si" --store "$tmp/empty" db info > /dev/null 2> "$tmp/none.err" && fail "db info without a store"
mkdir -m 0700 "$tmp/empty"
"$si" --store "$tmp/empty" scan --rootfs / > /dev/null 2> "$tmp/none.err" && fail "scan without data"
grep -q 'no vulnerability data' "$tmp/none.err" || fail "no data: $(cat "$tmp/none.err")"

if ((fails)); then
  echo "$fails failure(s)" >&2
  exit 1
fi
echo "scan_rootfs: all checks passed"
