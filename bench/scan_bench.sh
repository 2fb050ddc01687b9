#!/bin/bash
# scan_bench.sh BUILD_DIR [RUNS]
#
# Prints, in one run (issue 14's benchmark):
#  1. `secret-image db import` of a generated Security Tracker file of about
#     50 MB with the real file's shape (source -> CVE -> description, scope,
#     debianbug, releases -> status, fixed_version, urgency, nodsa,
#     repositories; ~4,500 sources, a few with thousands of issues, this
#     machine's installed source packages among them): elapsed time and peak
#     memory (/usr/bin/time), median of 3; for scale, the same file loaded by a
#     DOM parser (python3's json.load);
#  2. `secret-image scan --rootfs /` (table, --json and --sarif) of this machine's root, and of a
#     100-package rootfs (the first 100 installed entries of this machine's
#     dpkg status), after the import: hyperfine medians (includes loading and
#     checking the index);
#  3. debsecan (Debian's own scanner) on the same two package lists, fed
#     offline: its data format (zlib-compressed "VERSION 1" text, fetched from
#     --source URL + suite, file:// works) is generated from the same tracker
#     data; ratios debsecan / secret-image.
# Goals (issue 14): import < 2 s and < 100 MB; a scan of hundreds of packages
# < 100 ms. Needs hyperfine, python3, debsecan, /usr/bin/time. No root.
set -euo pipefail

build=${1:?usage: $0 BUILD_DIR [RUNS]}
runs=${2:-20}
build=$(cd "$build" && pwd)
si=$build/image/secret-image
[ -x "$si" ] || { echo "$0: $si not built (cmake --build $build)" >&2; exit 1; }
for t in hyperfine python3 debsecan /usr/bin/time dpkg-query; do
  command -v $t >/dev/null || { echo "$0: $t not installed (scripts/deps.sh --bench)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/scan-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
store=$work/store
median() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$1"; }
cpu() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.1f" % ((r["user"]+r["system"])*1000))' "$1"; }
ratio() { python3 -c 'import sys; print("%.1f" % (float(sys.argv[1]) / float(sys.argv[2])))' "$1" "$2"; }
ms() { python3 -c 'import sys; print("%.1f" % (float(sys.argv[1]) * 1000))' "$1"; }

echo "== machine: $(nproc) CPUs, $(uname -r), $(. /etc/os-release; echo "$PRETTY_NAME"), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== generating tracker data (about 50 MB) and debsecan's format of the same data"
dpkg-query -W -f '${source:Package} ${source:Version}\n' | sort -u > "$work/installed"
python3 - "$work" <<'PY'
import json, random, sys, zlib, os
random.seed(14)
work = sys.argv[1]
installed = [l.split() for l in open(work + "/installed")]
names = [n for n, v in installed] + ["src%04d" % i for i in range(4500 - len(installed))]
ver_of = dict((n, v) for n, v in installed)
releases = ["buster", "bullseye", "bookworm", "trixie", "sid"]
urg = ["not yet assigned"] * 5 + ["low", "low*", "medium", "medium**", "high", "unimportant", "unimportant"]
words = "buffer overflow in the parser allows remote attackers to cause a denial of service or possibly execute arbitrary code via crafted input use-after-free heap out-of-bounds read".split()
def version(n):
    v = ver_of.get(n)
    if v and random.random() < 0.5:
        return v + random.choice(["", "+deb12u1", "~deb12u1"])  # at, above or below the installed one
    return "%d.%d.%d-%d" % (random.randint(0, 9), random.randint(0, 30), random.randint(0, 20), random.randint(1, 5))
data, cve = {}, 0
size = 0
for i, n in enumerate(names):
    k = 3000 if n in ("linux", "chromium") else max(1, int(random.lognormvariate(2.2, 1.1)))
    issues = {}
    for j in range(k):
        cve += 1
        rels = {}
        for r in releases:
            if r == "buster" and random.random() < 0.7:
                continue
            x = random.random()
            if r == "buster":
                e = {"status": "open", "repositories": {r: version(n)}, "urgency": "end-of-life"}
            elif x < 0.72:
                fv = "0" if random.random() < 0.08 else version(n)
                e = {"status": "resolved", "repositories": {r: version(n)}, "fixed_version": fv,
                     "urgency": random.choice(urg)}
            elif x < 0.95:
                e = {"status": "open", "repositories": {r: version(n)}, "urgency": random.choice(urg)}
                if random.random() < 0.3:
                    e["nodsa"] = "Minor issue"
                    e["nodsa_reason"] = random.choice(["", "postponed", "ignored"])
            else:
                e = {"status": "undetermined", "repositories": {r: version(n)}, "urgency": "not yet assigned"}
            rels[r] = e
        d = {"description": " ".join(random.choice(words) for _ in range(random.randint(6, 30))),
             "scope": random.choice(["local", "remote"]), "releases": rels}
        if random.random() < 0.3:
            d["debianbug"] = random.randint(900000, 1090000)
        issues["CVE-%d-%05d" % (1999 + cve % 27, cve)] = d
    data[n] = issues
s = json.dumps(data, indent=None, separators=(", ", ": "))
open(work + "/tracker.json", "w").write(s)
# debsecan's VERSION 1 format for bookworm, from the same data
names_l, vulns, index = [], [], {}
U = {"low": "L", "medium": "M", "high": "H"}
for n, issues in data.items():
    for iid, d in issues.items():
        e = d["releases"].get("bookworm")
        if not e or (e["status"] == "resolved" and e["fixed_version"] == "0"):
            continue
        if iid not in index:
            index[iid] = len(names_l)
            names_l.append("%s,,%s" % (iid, d["description"][:60].replace(",", " ")))
        u = U.get(e.get("urgency", "").rstrip("*"), " ")
        fixed = e.get("fixed_version", "") if e["status"] == "resolved" else ""
        flags = "S" + u + ("R" if d["scope"] == "remote" else " ") + ("F" if fixed else " ")
        vulns.append("%s,%d,%s,%s," % (n, index[iid], flags, fixed))
body = "VERSION 1\n" + "\n".join(names_l) + "\n\n" + "\n".join(vulns) + "\n\n\n"
os.makedirs(work + "/debsecan", exist_ok=True)
open(work + "/debsecan/bookworm", "wb").write(zlib.compress(body.encode()))
print("tracker.json: %.1f MB, %d sources, %d issues; debsecan bookworm data: %d issues, %d entries" %
      (len(s) / 1e6, len(data), cve, len(names_l), len(vulns)))
PY

# a 100-package rootfs: the first 100 installed entries of this machine's status
mkdir -p "$work/r100/var/lib/dpkg" "$work/r100/etc"
python3 - /var/lib/dpkg/status "$work/r100/var/lib/dpkg/status" <<'PY'
import sys
paras = open(sys.argv[1]).read().split("\n\n")
keep = [p for p in paras if "\nStatus: install ok installed" in "\n" + p][:100]
open(sys.argv[2], "w").write("\n\n".join(keep) + "\n")
PY
cp /etc/os-release "$work/r100/etc/os-release"
npkg=$(dpkg-query -W -f='${Status}\n' | grep -c ' ok installed$')

echo
echo "== 1. import of the tracker file (median of 3; peak RSS)"
for i in 1 2 3; do
  /usr/bin/time -f "%e %M %U %S" -o "$work/time.$i" "$si" --store "$store" db import "$work/tracker.json" > "$work/imp.$i"
done
cat "$work/imp.1"
read -r imp_s imp_kb imp_u imp_sys < <(sort -n "$work"/time.* | sed -n 2p)
echo "secret-image db import: ${imp_s} s wall ($(python3 -c "print('%.2f' % ($imp_u+$imp_sys))") s CPU), peak ${imp_kb} KiB ($(python3 -c "print('%.1f' % ($imp_kb/1024))") MiB)   goals: < 2 s, < 100 MB"
ls -l "$store/vulndb/tracker.idx" | awk '{printf "index file: %.1f MB\n", $5/1e6}'
/usr/bin/time -f "%e %M" -o "$work/time.dom" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$work/tracker.json"
read -r dom_s dom_kb < "$work/time.dom"
echo "for scale, a DOM parse (python3 json.load) of the same file: ${dom_s} s, peak $((dom_kb / 1024)) MiB"

echo
echo "== 2./3. scans after the import (hyperfine, $runs runs, median; table output unless --json) against debsecan on the same data"
dbs() { # STATUS FORMAT -> a debsecan command line, offline
  echo "debsecan --suite bookworm --source file://$work/debsecan/ --status $1 --config /dev/null --history $work/hist --whitelist $work/wl --format $2"
}
hf() { # OUT CMD
  hyperfine -N --warmup 2 --runs "$3" --export-json "$1" "$2" > /dev/null 2>&1; median "$1"
}
dr=$(( runs < 10 ? runs : 10 ))
s1=$(hf "$work/h1.json" "$si --store $store scan --rootfs /" "$runs")
s1j=$(hf "$work/h1j.json" "$si --store $store scan --rootfs / --json" "$runs")
s1s=$(hf "$work/h1s.json" "$si --store $store scan --rootfs / --sarif" "$runs")
s2=$(hf "$work/h2.json" "$si --store $store scan --rootfs $work/r100" "$runs")
d1=$(hf "$work/h3.json" "$(dbs /var/lib/dpkg/status detail)" "$dr")
d2=$(hf "$work/h4.json" "$(dbs $work/r100/var/lib/dpkg/status detail)" "$dr")
echo "(wall: median; CPU: mean user+system, which a loaded machine inflates less)"
printf "%-40s %22s %22s %8s\n" "" "secret-image wall/CPU" "debsecan wall/CPU" "ratio"
row() { # LABEL SI.json DEBSECAN.json
  local a b
  a=$(median "$2") b=$(median "$3")
  printf "%-40s %10s/%8s ms %10s/%8s ms %7sx\n" "$1" "$(ms "$a")" "$(cpu "$2")" "$(ms "$b")" "$(cpu "$3")" "$(ratio "$b" "$a")"
}
row "this machine's root ($npkg packages)" "$work/h1.json" "$work/h3.json"
row "  the same, --json" "$work/h1j.json" "$work/h3.json"
row "  the same, --sarif" "$work/h1s.json" "$work/h3.json"
row "100-package rootfs" "$work/h2.json" "$work/h4.json"
echo "goal: a scan of hundreds of packages < 100 ms (Trivy announces ~10 s for a first scan, a few s after)"
# the verdicts themselves: (issue, binary package) pairs of both tools
for t in / "$work/r100"; do
  st=/var/lib/dpkg/status; [ "$t" = / ] || st=$t/var/lib/dpkg/status
  "$si" --store "$store" scan --rootfs "$t" --json 2>/dev/null |
    python3 -c 'import json,sys; [print(f["issue"], f["package"]) for f in json.load(sys.stdin)["findings"]]' |
    sort -u > "$work/si.pairs"
  $(dbs "$st" simple) 2>/dev/null | sort -u > "$work/ds.pairs"
  echo "verdicts on $t: $(comm -12 "$work/si.pairs" "$work/ds.pairs" | wc -l) (issue, package) pairs in both," \
       "$(comm -23 "$work/si.pairs" "$work/ds.pairs" | wc -l) only secret-image, $(comm -13 "$work/si.pairs" "$work/ds.pairs" | wc -l) only debsecan"
done
