#!/usr/bin/env bash
# image/dpkg_version against the real dpkg: generate random and near-miss
# version pairs, let our comparison state "a lt|eq|gt b" for each, and have
# `dpkg --compare-versions` confirm every claim (one dpkg process per pair, two
# loops in parallel). Any disagreement fails and is printed.
# usage: scan_dpkg_compare.sh DPKG_VERSION_TOOL [PAIRS]
set -uo pipefail
tool=$1
pairs=${2:-2500}
command -v dpkg >/dev/null || { echo "dpkg missing: this test needs Debian's dpkg" >&2; exit 1; }
tmp=$(mktemp -d /tmp/scan-dpkgcmp.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

# dpkg itself must be able to say no, or the check below proves nothing
if dpkg --compare-versions 2.0 lt 1.0; then
  echo "dpkg --compare-versions accepts a false claim" >&2
  exit 1
fi

seed=${SCAN_SEED:-$(date +%s)}
echo "seed $seed, $pairs pairs"
"$tool" gen "$pairs" "$seed" > "$tmp/pairs" || exit 1
# fixed edge cases on top of the random ones
cat >> "$tmp/pairs" <<'EOP'
1.0~rc1 1.0
1.0 1.0-0
0:1.0 1.0
1.0a 1.0+
1.01 1.1
1:1.0 2.0
1.0~~ 1.0~
1.0-1~bpo12+1 1.0-1
1.0-1 1.0-1+b1
2.30-21~deb12u1 2.30-21
1.99999999999999999999999 1.100000000000000000000000
1.0-1-1 1.0-1-2
EOP
"$tool" cmp < "$tmp/pairs" > "$tmp/claims" || exit 1
[[ $(wc -l < "$tmp/claims") -eq $(wc -l < "$tmp/pairs") ]] || { echo "tool lost pairs" >&2; exit 1; }
split -n l/2 "$tmp/claims" "$tmp/part."
check() {
  local a op b
  while read -r a op b; do
    dpkg --compare-versions "$a" "$op" "$b" 2>>"$tmp/dpkg.err" || echo "$a $op $b"
  done < "$1"
}
check "$tmp/part.aa" > "$tmp/bad.aa" &
check "$tmp/part.ab" > "$tmp/bad.ab"
wait
cat "$tmp/bad.aa" "$tmp/bad.ab" > "$tmp/bad"
if [[ -s "$tmp/dpkg.err" ]]; then
  echo "dpkg complained about generated versions (our parser accepted them):" >&2
  sort -u "$tmp/dpkg.err" | head -20 >&2
  exit 1
fi
n=$(wc -l < "$tmp/claims")
if [[ -s "$tmp/bad" ]]; then
  echo "dpkg disagrees with $(wc -l < "$tmp/bad") of $n claims (ours shown):" >&2
  head -20 "$tmp/bad" >&2
  exit 1
fi
echo "dpkg agrees on all $n pairs ($(grep -c ' lt ' "$tmp/claims") lt, $(grep -c ' eq ' "$tmp/claims") eq, $(grep -c ' gt ' "$tmp/claims") gt)"
