#!/usr/bin/env python3
"""Run one ctest suite and judge it: counts, skips that show, none that vanish.

usage: suite.py --build DIR [--tally FILE] [--skips FILE] -- CTEST_ARGS...
       suite.py --total FILE

Runs `ctest --test-dir DIR CTEST_ARGS --output-junit ...`, then
- checks that every test registered for these arguments (`ctest -N`) ran and has a
  result: a test that did not run (missing executable, ...) is a failure;
- prints each skip with its reason, and accepts it only if tests/allowed_skips lists it
  (TEST[/CASE] FEATURE REASON) and tests/harness/host_feature.sh says this host lacks
  FEATURE; any other skip counts as a failure;
- prints "N passed, N failed, N skipped" and appends the three numbers (and a
  "FAILED BUILD: test: why" line per failure) to --tally.
--total sums a tally file and prints the one final line of the test command.
Exit status: 0 when nothing failed, 1 otherwise.
"""
import fnmatch
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
SKIPS = os.path.join(TESTS, "allowed_skips")
PROBE = os.path.join(HERE, "host_feature.sh")
MARK = re.compile(r"^SKIP(?:\[([A-Za-z0-9_.-]+)\])?:\s*(.*)$")
CMOCKA_SKIP = re.compile(r"^\[  SKIPPED \] (\S+)\s*$")
RUN = re.compile(r"^\[ RUN      \] (\S+)\s*$")


def line(counts):
    return "%d passed, %d failed, %d skipped" % counts


def total(path):
    """Sum the tally; print every failure recorded in it (a CI log may keep only
    its tail), then the one final line."""
    p = f = s = 0
    with open(path) as fh:
        for row in fh:
            if row.startswith("FAILED "):
                print(row.rstrip("\n"))
                continue
            a, b, c = (int(x) for x in row.split())
            p, f, s = p + a, f + b, s + c
    print(line((p, f, s)))
    return 1 if f else 0


def allowed_skips(path):
    rules = []
    with open(path) as fh:
        for n, row in enumerate(fh, 1):
            row = row.strip()
            if not row or row.startswith("#"):
                continue
            parts = row.split(None, 2)
            if len(parts) < 3:
                sys.exit("%s:%d: want TEST[/CASE] FEATURE REASON" % (path, n))
            rules.append(tuple(parts))
    return rules


def registered(build, args):
    out = subprocess.run(["ctest", "--test-dir", build, "-N"] + args, check=True,
                         capture_output=True, text=True).stdout
    names = re.findall(r"^\s*Test\s+#\d+: (\S+)\s*$", out, re.M)
    m = re.search(r"^Total Tests: (\d+)", out, re.M)
    if not m or int(m.group(1)) != len(names):
        sys.exit("suite.py: cannot read the registered tests from ctest -N")
    return names


def probe(feature, build, cache):
    if feature not in cache:
        r = subprocess.run(["bash", PROBE, feature, build], capture_output=True)
        cache[feature] = {0: "present", 1: "absent"}.get(r.returncode, "unknown")
    return cache[feature]


def judge_skip(test, output, rules, build, cache):
    """Returns (ok, description lines)."""
    marks, cases, current = {}, [], None
    for l in output.splitlines():
        m = RUN.match(l)
        if m:
            current = m.group(1)
            continue
        m = MARK.match(l)
        if m:
            marks.setdefault(current, m)
            continue
        m = CMOCKA_SKIP.match(l)
        if m and m.group(1) not in cases:   # cmocka lists a skipped case twice
            cases.append(m.group(1))
    ok, lines = True, []
    for case in cases or [None]:
        key = test if case is None else "%s/%s" % (test, case)
        mark = marks.get(case)
        feature = mark.group(1) if mark else None
        reason = mark.group(2) if mark else None
        match = [r for r in rules if fnmatch.fnmatchcase(key, r[0]) and
                 (feature is None or r[1] == feature)]
        if not match:
            ok = False
            lines.append("SKIP %s: %s -- NOT ALLOWED: not in tests/allowed_skips%s"
                         % (key, reason or "no reason given",
                            " with feature %s" % feature if feature else ""))
            continue
        rule = match[0]
        state = probe(rule[1], build, cache)
        text = "SKIP %s: %s (needs %s; this host: %s)" % (key, reason or rule[2], rule[1], state)
        if state == "present":
            ok = False
            text += " -- NOT ALLOWED: the host has %s, the test could have run" % rule[1]
        elif state != "absent":
            ok = False
            text += " -- NOT ALLOWED: tests/harness/host_feature.sh cannot probe %s" % rule[1]
        lines.append(text)
    return ok, lines


def main(argv):
    if len(argv) == 3 and argv[1] == "--total":
        return total(argv[2])
    build, tally, skips, rest = None, None, SKIPS, []
    i = 1
    while i < len(argv):
        if argv[i] == "--build":
            build, i = argv[i + 1], i + 2
        elif argv[i] == "--tally":
            tally, i = argv[i + 1], i + 2
        elif argv[i] == "--skips":
            skips, i = argv[i + 1], i + 2
        elif argv[i] == "--":
            rest, i = argv[i + 1:], len(argv)
        else:
            sys.exit(__doc__)
    if not build:
        sys.exit(__doc__)
    build = os.path.abspath(build)
    select = [a for a in rest if a not in ("--output-on-failure",)]
    # ctest -N only takes selection options (labels, -R, -E), not -j/--timeout
    sel, j = [], 0
    while j < len(select):
        a = select[j]
        if a in ("-L", "-LE", "-R", "-E", "--label-regex", "--label-exclude",
                 "--tests-regex", "--exclude-regex"):
            sel += select[j:j + 2]
            j += 2
        else:
            j += 1
    names = registered(build, sel)

    with tempfile.TemporaryDirectory(prefix="suite-") as tmp:
        junit = os.path.join(tmp, "junit.xml")
        rc = subprocess.run(["ctest", "--test-dir", build, "--output-junit", junit] + rest).returncode
        results = {}
        if os.path.exists(junit):
            for tc in ET.parse(junit).getroot().iter("testcase"):
                out = tc.findtext("system-out") or ""
                results[tc.get("name")] = (tc.get("status"), tc, out)

    rules, cache = allowed_skips(skips), {}
    for r in rules:   # every listed feature must be one the probe knows
        if probe(r[1], build, cache) == "unknown":
            print("FAILED %s: feature %s unknown to tests/harness/host_feature.sh" % (skips, r[1]))
            return 1
    passed = failed = skipped = 0
    problems = []
    print()
    for name in names:
        if name not in results:
            failed += 1
            problems.append("%s: registered but has no result" % name)
            continue
        status, tc, out = results[name]
        skip_el = tc.find("skipped")
        msg = skip_el.get("message", "") if skip_el is not None else ""
        if status == "run":
            passed += 1
        elif status == "notrun" and msg == "SKIP_RETURN_CODE=77":
            ok, lines = judge_skip(name, out, rules, build, cache)
            for l in lines:
                print(l)
            if ok:
                skipped += 1
            else:
                failed += 1
                problems.append("%s: skip not allowed" % name)
        else:
            failed += 1
            problems.append("%s: %s%s" % (name, "did not run" if status == "notrun" else status,
                                          " (%s)" % msg if msg else ""))
    extra = sorted(set(results) - set(names))
    if extra:
        problems.append("ran but not registered: " + ", ".join(extra))
        failed += len(extra)
    ran = len([n for n in names if n in results])
    print("%s: %d of %d registered tests ran" % (os.path.basename(build), ran, len(names)))
    if rc != 0 and failed == 0:
        failed += 1
        problems.append("ctest exited %d" % rc)
    for p in problems:
        print("FAILED " + p)
    counts = (passed, failed, skipped)
    print(line(counts))
    if tally:
        with open(tally, "a") as fh:
            for p in problems:
                fh.write("FAILED %s: %s\n" % (os.path.basename(build), p))
            fh.write("%d %d %d\n" % counts)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
