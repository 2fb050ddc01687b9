#!/bin/bash
# launch_bench.sh BUILD_DIR [RUNS]      (LAUNCH=/path/to/secret-launch to time another binary)
#
# Wall time of starting a container that runs /bin/true and exits, in one run, on one
# busybox rootfs (scripts/mkrootfs.sh):
#   floor                     bench/floor.c: clone(namespaces) + tmpfs + one file + exec
#   secret-launch             default security (caps, seccomp, no_new_privs, masked paths, devices cgroup)
#   secret-launch +2 secrets  the same with two --secret files on the /run/secrets tmpfs
#   secret-launch +2 secrets +limits   and --memory 256m --pids-limit 1024 --cpus 1
#   crun                      `crun spec` bundle, args /bin/true (no resource limits)
#   crun equivalent           + a Docker-style seccomp profile (converted to OCI), Docker's caps,
#                             Docker's masked/read-only paths, devices allow-list, and the
#                             same memory, cpu and pids limits as "+limits"
#   runc, runc equivalent     the same two bundles with runc
#   detached: run --detach + delete --force vs crun run -d + delete -f; secret put p50/p99
#   secret-launch +2 secrets, no layer   --rootfs-writable: without the per-container
#                             overlay layer, to print the cost of that layer
# Rows are compared only with rows that set the same limits: "crun/runc equivalent" with
# "secret-launch +2 secrets +limits"; plain crun/runc and the floor with the rows without.
# The seccomp profile of the equivalent bundles is Docker 20.10's default when
# scripts/deps.sh has unpacked it from Debian's golang-github-docker-docker-dev
# ($SECRETD_PEERS_CACHE, default /var/cache/secretd-peers), else Podman's default
# (/usr/share/containers/seccomp.json from golang-github-containers-common, installed with
# podman by scripts/deps.sh --bench), which follows Moby's; DOCKER_SECCOMP=FILE picks
# another profile in the same format. The one used is printed with the figures.
# crun 1.8.1 refuses this host's hybrid cgroup layout unless cgroup2 is unmounted in a
# private mount namespace, so EVERY command runs under the same wrapper:
#   unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec "$@"' sh CMD
# Floor and secret-launch are also timed bare (no wrapper) for reference.
# Prints hyperfine medians and ratios. Needs root, hyperfine, crun, runc, podman's profile,
# python3; a missing peer is an error (scripts/deps.sh --bench installs them).
# Takes about 1 minute with the default 40 runs per command.
set -euo pipefail

build=${1:?usage: $0 BUILD_DIR [RUNS]}
runs=${2:-40}
build=$(cd "$build" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
launch=${LAUNCH:-$build/runtime/secret-launch}   # LAUNCH=path to time another build
floor=$build/bench/launch_floor
profile=${DOCKER_SECCOMP:-${SECRETD_PEERS_CACHE:-/var/cache/secretd-peers}/docker-seccomp-default.json}
[ -n "${DOCKER_SECCOMP:-}" ] || [ -r "$profile" ] || profile=/usr/share/containers/seccomp.json
for f in "$launch" "$floor"; do
  [ -x "$f" ] || { echo "$0: $f not built (cmake --build $build --target secret-launch launch_floor)" >&2; exit 1; }
done
for t in hyperfine crun runc python3; do
  command -v $t >/dev/null || { echo "$0: $t (a peer) is not installed: run scripts/deps.sh --bench" >&2; exit 1; }
done
[ -r "$profile" ] || {
  echo "$0: seccomp profile $profile missing: run scripts/deps.sh --bench or set DOCKER_SECCOMP" >&2
  exit 1
}

work=$(mktemp -d /tmp/launch-bench.XXXXXX)
cleanup() {
  for id in "${ids[@]:-}"; do
    [ -n "$id" ] && { crun delete -f "$id" 2>/dev/null; runc delete -f "$id" 2>/dev/null; } || true
  done
  [ -d "$work/state" ] && for n in $(ls "$work/state"); do
    "$launch" delete --force "$n" --state-root "$work/state" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
ids=()
trap cleanup EXIT

sh "$src/scripts/mkrootfs.sh" "$work/rootfs" >/dev/null
printf 'db-password-value' >"$work/s1"
printf 'api-token-value' >"$work/s2"

# OCI bundles: plain (crun spec, args /bin/true) and Docker-equivalent security.
mkbundle() { # DIR MODE
  mkdir -p "$1"
  (cd "$1" && crun spec)
  python3 - "$1/config.json" "$2" "$profile" "$work/rootfs" <<'PY'
import json, sys
path, mode, profile, rootfs = sys.argv[1:5]
c = json.load(open(path))
c["root"]["path"] = rootfs             # the same rootfs for every runtime
p = c["process"]
p["args"] = ["/bin/true"]
p["terminal"] = False
c["root"]["readonly"] = False          # secret-launch's default rootfs is writable too
if mode == "equiv":
    caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
            "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
            "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
    p["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps,
                         "inheritable": [], "ambient": []}
    p["noNewPrivileges"] = True
    p.pop("rlimits", None)
    lx = c["linux"]
    lx["maskedPaths"] = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
                         "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                         "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                         "/sys/devices/virtual/powercap", "/proc/interrupts"]
    lx["readonlyPaths"] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                           "/proc/sysrq-trigger"]
    dev = lambda t, ma, mi: {"allow": True, "type": t, "major": ma, "minor": mi, "access": "rwm"}
    lx["resources"] = {
        "memory": {"limit": 256 << 20, "swap": 256 << 20},
        "cpu": {"quota": 100000, "period": 100000},
        "pids": {"limit": 1024},
        "devices": [{"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "access": "m"},
                    {"allow": True, "type": "b", "access": "m"},
                    dev("c", 1, 3), dev("c", 1, 5), dev("c", 1, 7), dev("c", 1, 8), dev("c", 1, 9),
                    dev("c", 5, 0), dev("c", 5, 1), dev("c", 5, 2),
                    {"allow": True, "type": "c", "major": 136, "access": "rwm"}]}
    # Docker's seccomp profile, converted the way Docker does (includes/excludes by
    # capability and architecture resolved for this container, amd64).
    d = json.load(open(profile))
    arches = []
    for m in d.get("archMap", []):
        if m["architecture"] == "SCMP_ARCH_X86_64":
            arches = [m["architecture"]] + m.get("subArchitectures", [])
    capset = set(caps)
    out = []
    for s in d["syscalls"]:
        inc, exc = s.get("includes", {}), s.get("excludes", {})
        if inc.get("arches") and "amd64" not in inc["arches"]: continue
        if inc.get("caps") and not set(inc["caps"]) <= capset: continue
        if exc.get("arches") and "amd64" in exc["arches"]: continue
        if exc.get("caps") and set(exc["caps"]) & capset: continue
        r = {"names": s.get("names") or [s["name"]], "action": s["action"]}
        if s.get("args"): r["args"] = s["args"]
        if "errnoRet" in s: r["errnoRet"] = s["errnoRet"]
        out.append(r)
    sc = {"defaultAction": d["defaultAction"], "architectures": arches, "syscalls": out}
    if "defaultErrnoRet" in d: sc["defaultErrnoRet"] = d["defaultErrnoRet"]
    lx["seccomp"] = sc
json.dump(c, open(path, "w"), indent=1)
PY
}
mkbundle "$work/plain" plain
mkbundle "$work/equiv" equiv

wrap="unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec \"\$@\"' sh"
sl="$launch --rootfs $work/rootfs"
secrets="--secret s1=$work/s1 --secret s2=$work/s2"
limits="--memory 256m --pids-limit 1024 --cpus 1"
ids=(bench-crun-plain-$$ bench-crun-equiv-$$ bench-runc-plain-$$ bench-runc-equiv-$$)

names=(floor secret-launch "secret-launch +2 secrets" "secret-launch +2 secrets +limits"
       crun "crun equivalent" runc "runc equivalent"
       "floor (bare)" "secret-launch +2 secrets (bare)"
       "secret-launch +2 secrets, no layer (bare)")
cmds=("$wrap $floor $work/rootfs"
      "$wrap $sl -- /bin/true"
      "$wrap $sl $secrets -- /bin/true"
      "$wrap $sl $secrets $limits -- /bin/true"
      "$wrap crun run --bundle $work/plain ${ids[0]}"
      "$wrap crun run --bundle $work/equiv ${ids[1]}"
      "$wrap runc run --bundle $work/plain ${ids[2]}"
      "$wrap runc run --bundle $work/equiv ${ids[3]}"
      "$floor $work/rootfs"
      "$sl $secrets -- /bin/true"
      "$sl --rootfs-writable $secrets -- /bin/true")

# Every command must work before it is timed.
for i in "${!cmds[@]}"; do
  if ! out=$(eval "${cmds[$i]}" 2>&1 </dev/null); then
    echo "$0: '${names[$i]}' fails: $out" >&2
    exit 1
  fi
done

load0=$(cut -d' ' -f1-3 /proc/loadavg)
args=()
for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
hyperfine -N --style none --warmup 3 --runs "$runs" --export-json "$work/out.json" "${args[@]}" \
  >/dev/null 2>"$work/hyperfine.err" || { cat "$work/hyperfine.err" >&2; exit 1; }

# Cold starts: 50 ms of idle before each run. Moving a process into a cgroup v1 group
# takes cgroup_threadgroup_rwsem for writing, which waits for an RCU grace period unless
# another migration happened moments before; back-to-back runs hide that cost.
cold_runs=$(( runs / 4 > 5 ? runs / 4 : 5 ))
hyperfine -N --style none --prepare 'sleep 0.05' --runs "$cold_runs" --export-json "$work/cold.json" \
  -n "floor" "${cmds[0]}" -n "secret-launch +2 secrets" "${cmds[2]}" \
  -n "secret-launch +2 secrets +limits" "${cmds[3]}" \
  -n "crun" "${cmds[4]}" -n "crun equivalent" "${cmds[5]}" \
  >/dev/null 2>"$work/hyperfine.err" || { cat "$work/hyperfine.err" >&2; exit 1; }

# Detached containers (issue 10): start detached + delete against crun run -d + delete
# (both: Docker-equivalent security, limits, /bin/sleep killed by delete --force), and
# the latency of one live secret put into a running container.
cp -r "$work/equiv" "$work/detach"
sed -i 's|"/bin/true"|"/bin/sleep", "100"|' "$work/detach/config.json"
st="--state-root $work/state"
sld="$launch run --detach --rootfs $work/rootfs"
dcmds=("$wrap sh -c '$sld --name bd $secrets $limits $st -- /bin/sleep 100 && $launch delete --force bd $st'"
       "$wrap sh -c 'crun run -d --bundle $work/detach bd-crun-$$ && crun delete -f bd-crun-$$'")
ids+=(bd-crun-$$)
for c in "${dcmds[@]}"; do
  out=$(eval "$c" 2>&1 </dev/null) || { echo "$0: '$c' fails: $out" >&2; exit 1; }
done
hyperfine -N --style none --warmup 2 --runs "$runs" --export-json "$work/detach.json" \
  -n "secret-launch run --detach + delete --force" "${dcmds[0]}" \
  -n "crun run -d + crun delete -f (equivalent)" "${dcmds[1]}" \
  >/dev/null 2>"$work/hyperfine.err" || { cat "$work/hyperfine.err" >&2; exit 1; }
$sld --name putbench $st -- /bin/sleep 600
put_lib=$("$build/bench/secret_put_bench" "$work/state" putbench 1000)
hyperfine -N --style none --warmup 5 --runs 300 --export-json "$work/put.json" \
  -n "secret-launch secret put (CLI process)" "$launch secret put putbench cli-value $work/s1 $st" \
  >/dev/null 2>"$work/hyperfine.err" || { cat "$work/hyperfine.err" >&2; exit 1; }
$launch delete --force putbench $st

echo "# command: $0 $*"
echo "# machine: $(nproc) cores, $(uname -r), load before the runs: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $(crun --version | head -n1), $(runc --version | head -n1), $(hyperfine --version)"
echo "# seccomp profile of the equivalent bundles: $profile${DOCKER_SECCOMP:+ (DOCKER_SECCOMP)}"
python3 - "$work/out.json" "$work/cold.json" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
med = {k: r["median"] * 1000 for k, r in res.items()}
floor = med["floor"]
# Which row each row is compared with: the peer that sets the same limits.
peer = {"secret-launch": "crun", "secret-launch +2 secrets": "crun",
        "secret-launch +2 secrets +limits": "crun equivalent",
        "runc": "crun", "runc equivalent": "crun equivalent"}
print(f"{'command (under the wrapper unless bare)':<44} {'median ms':>9} {'min':>6} "
      f"{'/floor':>6}  {'ratio to the crun row with the same limits':<}")
for k, r in res.items():
    cmp = f"{med[k]/med[peer[k]]:5.2f} x {peer[k]}" if k in peer else ""
    print(f"{k:<44} {med[k]:9.2f} {r['min']*1000:6.2f} {med[k]/floor:6.2f}  {cmp}")
s2 = med["secret-launch +2 secrets"]
s2l = med["secret-launch +2 secrets +limits"]
crun_eq = med["crun equivalent"]
print()
print(f"goal 1: secret-launch +2 secrets <= 1.5 x floor:        {s2/floor:.2f} x "
      f"({'met' if s2 <= 1.5 * floor else 'NOT met'})")
print(f"goal 2: secret-launch +2 secrets +limits >= 2 x faster than crun equivalent (same limits): "
      f"{crun_eq/s2l:.2f} x ({'met' if crun_eq >= 2 * s2l else 'NOT met'})")
b = med["secret-launch +2 secrets (bare)"] / med["floor (bare)"]
print(f"bare (no wrapper): secret-launch +2 secrets / floor = {b:.2f} x")
s2b, nl = med["secret-launch +2 secrets (bare)"], med["secret-launch +2 secrets, no layer (bare)"]
print(f"per-container rootfs layer (overlay + tmpfs): {s2b - nl:+.2f} ms per start, bare "
      f"({s2b:.2f} with, {nl:.2f} without = --rootfs-writable)")
cold = {r["command"]: r["median"] * 1000 for r in json.load(open(sys.argv[2]))["results"]}
print()
print("cold starts (50 ms idle before each run; includes the cgroup v1 migration's RCU wait):")
for k, v in cold.items():
    print(f"  {k:<42} {v:9.2f} ms  /floor {v/cold['floor']:5.2f}")
print(f"  crun equivalent / secret-launch +2 secrets +limits (same limits): "
      f"{cold['crun equivalent']/cold['secret-launch +2 secrets +limits']:.2f} x")
print(f"  crun / secret-launch +2 secrets (neither sets limits):            "
      f"{cold['crun']/cold['secret-launch +2 secrets']:.2f} x")
PY

python3 - "$work/detach.json" "$work/put.json" <<'PY'
import json, sys
d = {r["command"]: r["median"] * 1000 for r in json.load(open(sys.argv[1]))["results"]}
print()
print("detached containers (start + delete, median ms):")
crun = d["crun run -d + crun delete -f (equivalent)"]
for k, v in d.items():
    print(f"  {k:<46} {v:8.2f} ms  /crun {v/crun:5.2f}")
t = sorted(json.load(open(sys.argv[2]))["results"][0]["times"])
print(f"  {'secret put through the CLI (a new process)':<46} p50 {t[len(t)//2]*1e3:.2f} ms  "
      f"p99 {t[int(len(t)*0.99)]*1e3:.2f} ms  ({len(t)} puts)")
PY
echo "$put_lib" | sed 's/^/  library: /'
echo "  goal: p99 of one put under 1 ms (the agent holds the handle: library row)"
