#!/bin/bash
# image_bench.sh BUILD_DIR [RUNS]
#
# Prints, in one run:
#  1. import time and store size of secret-image against `umoci unpack` of the same
#     image, for the busybox image (scripts/mkrootfs.sh) and a generated Debian-sized
#     image (about 100 MB in 5,000 files, one gzip layer made with umoci);
#  2. `secret-image verify --deep` of the Debian-sized image (re-hashes every file),
#     warm page cache;
#  3. launch time of `secret-launch --image` against `secret-launch --rootfs` on the same
#     tree (the stored rootfs; both get the launcher's per-container layer), command
#     /bin/true: hyperfine medians, and medians of the two run alternately.
# Medians from hyperfine, with ratios. Needs root, umoci, hyperfine, python3.
# Takes about 2 minutes with the default runs.
set -euo pipefail

build=${1:?usage: $0 BUILD_DIR [RUNS]}
runs=${2:-10}
build=$(cd "$build" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
img=$build/image/secret-image
launch=$build/runtime/secret-launch
[ "$(id -u)" = 0 ] || { echo "$0: run as root" >&2; exit 1; }
for f in "$img" "$launch"; do
  [ -x "$f" ] || { echo "$0: $f not built (cmake --build $build)" >&2; exit 1; }
done
for t in umoci hyperfine python3; do
  command -v $t >/dev/null || { echo "$0: $t not installed (peer or tool missing)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/image-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

median() { # hyperfine JSON -> median seconds of result N
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["median"])' "$1" "$2"
}
ratio() { python3 -c 'import sys; print("%.2f" % (float(sys.argv[1]) / float(sys.argv[2])))' "$1" "$2"; }
ms() { python3 -c 'import sys; print("%.1f" % (float(sys.argv[1]) * 1000))' "$1"; }

echo "== making images"
sh "$src/scripts/mkrootfs.sh" "$work/bb" >/dev/null
python3 - "$work/deb" <<'PY'
# A Debian-sized tree: 5,000 files, ~100 MB, in 250 directories; sizes skewed like a
# distribution (many small files, a few large ones); contents half compressible text,
# half random bytes.
import os, random, sys
random.seed(12)
root = sys.argv[1]
total, n = 0, 5000
sizes = [int(random.lognormvariate(8.6, 1.6)) for _ in range(n)]
scale = 100e6 / sum(sizes)
for i in range(n):
    d = os.path.join(root, "usr", "lib", "pkg%03d" % (i % 250))
    os.makedirs(d, exist_ok=True)
    size = max(1, int(sizes[i] * scale))
    if i % 2:
        data = os.urandom(size)
    else:
        line = b"lorem ipsum dolor sit amet %d consectetur adipiscing elit\n" % i
        data = (line * (size // len(line) + 1))[:size]
    with open(os.path.join(d, "file%04d" % i), "wb") as f:
        f.write(data)
    total += size
os.makedirs(os.path.join(root, "etc"), exist_ok=True)
print("generated %d files, %.1f MB" % (n, total / 1e6))
PY
for name in bb deb; do
  umoci init --layout "$work/L-$name" >/dev/null
  umoci new --image "$work/L-$name:1" >/dev/null
  umoci insert --image "$work/L-$name:1" "$work/$name" / >/dev/null
  echo "$name: layer $(du -sb "$work/L-$name/blobs" | cut -f1) bytes compressed, tree $(du -sb "$work/$name" | cut -f1) bytes"
done

echo
echo "== 1. import (fresh store each run) vs umoci unpack"
for name in bb deb; do
  r=$runs; [ $name = deb ] && r=$(( runs < 5 ? runs : 5 ))
  hyperfine -N -r "$r" -w 1 --export-json "$work/h-$name.json" \
    --prepare "rm -rf $work/store-$name" \
    -n "secret-image import ($name)" "$img --store $work/store-$name import $work/L-$name --name $name:1" >/dev/null
  hyperfine -N -r "$r" -w 1 --export-json "$work/u-$name.json" \
    --prepare "rm -rf $work/bundle-$name" \
    -n "umoci unpack ($name)" "umoci unpack --image $work/L-$name:1 $work/bundle-$name" >/dev/null
  a=$(median "$work/h-$name.json" 0); b=$(median "$work/u-$name.json" 0)
  hex=$(ls "$work/store-$name/images")
  sa=$(du -sb "$work/store-$name/images/$hex" | cut -f1)
  sb=$(du -sb "$work/bundle-$name" | cut -f1)
  ra=$(du -sb "$work/store-$name/images/$hex/rootfs" | cut -f1)
  printf '%-4s import: secret-image %8s ms  umoci unpack %8s ms  ratio %s\n' "$name" "$(ms "$a")" "$(ms "$b")" "$(ratio "$a" "$b")"
  printf '%-4s size:   secret-image %10d B (rootfs %d + record/metadata %d)  umoci bundle %10d B  ratio %s\n' \
    "$name" "$sa" "$ra" $((sa - ra)) "$sb" "$(ratio "$sa" "$sb")"
done

echo
echo "== 2. verify --deep (warm cache)"
hyperfine -N -r "$runs" -w 1 --export-json "$work/v.json" \
  -n "verify --deep (deb)" "$img --store $work/store-deb verify deb:1 --deep" >/dev/null
printf 'deb  verify --deep: %s ms for %s files\n' "$(ms "$(median "$work/v.json" 0)")" \
  "$(wc -l < "$work/store-deb/images/$(ls "$work/store-deb/images")/files.rec")"

echo
echo "== 3. launch: --image vs --rootfs on the same tree (/bin/true)"
hex=$(ls "$work/store-bb/images")
lr=$(( runs * 4 ))
hyperfine -N -r "$lr" -w 3 --export-json "$work/l.json" \
  -n "secret-launch --image" "$launch --image bb:1 --store $work/store-bb -- /bin/true" \
  -n "secret-launch --rootfs" "$launch --rootfs $work/store-bb/images/$hex/rootfs -- /bin/true" >/dev/null
a=$(median "$work/l.json" 0); b=$(median "$work/l.json" 1)
printf 'launch (hyperfine medians):   --image %s ms  --rootfs %s ms  ratio %s (target <= 1.10)\n' "$(ms "$a")" "$(ms "$b")" "$(ratio "$a" "$b")"
# The same pair run alternately, so that load from elsewhere on a shared machine hits
# both sides alike.
python3 - "$launch" "$work/store-bb" "$hex" "$lr" <<'PY'
import statistics, subprocess, sys, time
launch, store, hexd, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
img = [launch, "--image", "bb:1", "--store", store, "--", "/bin/true"]
root = [launch, "--rootfs", f"{store}/images/{hexd}/rootfs", "--", "/bin/true"]
t = {0: [], 1: []}
for i in range(n):
    for k in ((0, 1) if i % 2 else (1, 0)):
        s = time.perf_counter()
        subprocess.run(img if k == 0 else root, check=True)
        t[k].append(time.perf_counter() - s)
a, b = statistics.median(t[0]), statistics.median(t[1])
print("launch (alternating medians): --image %.1f ms  --rootfs %.1f ms  ratio %.2f (target <= 1.10)"
      % (a * 1e3, b * 1e3, a / b))
PY
