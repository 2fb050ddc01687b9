# Sourced by the scan_*.sh tests. scan_outputs_agree SI STORE ROOTFS OUTDIR [ARGS...]
# scans ROOTFS three times (table, --json, --sarif; ARGS added to each), checks
# the SARIF log for the fields SARIF 2.1.0 requires (version, runs[].tool.
# driver.name, each result's message.text, a valid level, ruleIndex naming
# its ruleId, unique rule ids with shortDescription.text) and that the table's
# and the SARIF's (issue, package, category) triples are exactly the JSON's.
# Leaves OUTDIR/scan.txt, scan.json, scan.sarif for the caller's own checks
# (the JSON's verdicts); prints why and returns 1 on any difference.
scan_outputs_agree() {
  local si=$1 store=$2 rootfs=$3 out=$4
  shift 4
  mkdir -p "$out"
  "$si" --store "$store" scan --rootfs "$rootfs" "$@" > "$out/scan.txt" 2> "$out/err" ||
    { echo "table scan failed: $(cat "$out/err")" >&2; return 1; }
  "$si" --store "$store" scan --rootfs "$rootfs" --json "$@" > "$out/scan.json" 2> "$out/err" ||
    { echo "--json scan failed: $(cat "$out/err")" >&2; return 1; }
  "$si" --store "$store" scan --rootfs "$rootfs" --sarif "$@" > "$out/scan.sarif" 2> "$out/err" ||
    { echo "--sarif scan failed: $(cat "$out/err")" >&2; return 1; }
  python3 - "$out" <<'EOP'
import json, re, sys
out = sys.argv[1]
j = json.load(open(out + "/scan.json"))
s = json.load(open(out + "/scan.sarif"))
bad = []
want = sorted((f["issue"], f["package"], f["category"]) for f in j["findings"])
# SARIF 2.1.0's required fields, and its verdicts
if s.get("version") != "2.1.0": bad.append("SARIF version %s" % s.get("version"))
if "$schema" not in s: bad.append("SARIF $schema")
runs = s.get("runs")
if not isinstance(runs, list) or len(runs) != 1:
    bad.append("SARIF runs"); runs = [{}]
run = runs[0]
drv = run.get("tool", {}).get("driver", {})
if not isinstance(drv.get("name"), str) or not drv["name"]: bad.append("tool.driver.name")
ids = [r.get("id") for r in drv.get("rules", [])]
if len(ids) != len(set(ids)): bad.append("duplicate rule ids")
for r in drv.get("rules", []):
    if not isinstance(r.get("id"), str) or not isinstance(r.get("shortDescription", {}).get("text"), str):
        bad.append("rule %s" % r)
res = run.get("results")
if not isinstance(res, list):
    bad.append("results"); res = []
for x in res:
    if not isinstance(x.get("message", {}).get("text"), str): bad.append("result without message.text")
    if x.get("level") not in ("none", "note", "warning", "error"): bad.append("level %s" % x.get("level"))
    ri = x.get("ruleIndex")
    if not isinstance(ri, int) or ri >= len(ids) or ids[ri] != x.get("ruleId"):
        bad.append("ruleIndex %s -> %s" % (ri, x.get("ruleId")))
    for l in x.get("locations", []):
        if not l["physicalLocation"]["artifactLocation"]["uri"]: bad.append("location")
got = sorted((x["ruleId"], x["properties"]["package"], x["properties"]["category"]) for x in res)
if got != want: bad.append("SARIF results %s differ from JSON findings %s" % (got, want))
# the table: a section per category, a row per finding
titles = {"Fixable now": "fixable", "No fix yet": "no-fix-yet", "No DSA or minor": "no-dsa-or-minor",
          "End of life": "end-of-life"}
cat, rows, counts = None, [], {}
for line in open(out + "/scan.txt"):
    m = re.match(r"^(Fixable now|No fix yet|No DSA or minor|End of life)\b.*: (\d+)$", line)
    if m:
        cat = titles[m.group(1)]; counts[cat] = int(m.group(2)); continue
    if not line.strip() or line.startswith("summary:"):
        cat = None; continue
    if line.rstrip().endswith("the Security Tracker says not affected, and it wins"):
        continue  # the overrides' lines follow the last section
    if cat and not line.startswith("SEVERITY"):
        w = line.replace("not yet assigned", "not-yet-assigned", 1).split()  # a spaced urgency
        rows.append((w[1], w[2], cat))
if sorted(rows) != want: bad.append("table rows %s differ from JSON findings %s" % (sorted(rows), want))
for c, n in counts.items():
    if j["counts"][c] != n: bad.append("table count %s %d != JSON %d" % (c, n, j["counts"][c]))
if bad:
    print("\n".join(bad), file=sys.stderr); sys.exit(1)
EOP
}
