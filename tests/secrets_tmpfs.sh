#!/bin/bash
# secrets_tmpfs.sh LAUNCH HELPER MKROOTFS
# /run/secrets through the real secret-launch: mount flags seen from inside, owner, mode
# and content of each file, no exec from it, writes refused, live atomic replacement from
# outside (HELPER uses the library API), isolation between two containers, and symlinked
# /run or /run/secrets in the rootfs never make the launcher write outside the rootfs.
set -euo pipefail
launch=$1 helper=$2 mkrootfs=$3
tmp=$(mktemp -d /tmp/secrets_tmpfs.XXXXXX)
bgpid=
cleanup() {
  [ -n "$bgpid" ] && kill -9 "$bgpid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

sh "$mkrootfs" "$tmp/rootfs" >/dev/null
R=$tmp/rootfs
printf 'alpha-secret-value' >"$tmp/s1"
printf 'beta' >"$tmp/s2"
printf '#!/bin/sh\necho executed\n' >"$tmp/script"

# 1. Flags, owner, mode, content; no exec; no writes.
out=$("$launch" --rootfs "$R" \
  --secret a="$tmp/s1",uid=1000,gid=2000,mode=0440 \
  --secret b="$tmp/s2",target=dir/b \
  --secret x="$tmp/script",target=run.sh,mode=0755 -- sh -c '
    grep " /run/secrets " /proc/mounts
    stat -c "a %u %g %a" /run/secrets/a
    stat -c "b %u %g %a" /run/secrets/dir/b
    stat -c "dir %a" /run/secrets/dir
    echo "content-a $(cat /run/secrets/a)"
    echo "content-b $(cat /run/secrets/dir/b)"
    /run/secrets/run.sh && echo EXEC-WORKED
    echo x 2>/dev/null >/run/secrets/a && echo WRITE-WORKED
    touch /run/secrets/new 2>/dev/null && echo CREATE-WORKED
    true') || fail "launch 1 exited $?: $out"
echo "$out"
mnt=$(grep " /run/secrets " <<<"$out") || fail "no /run/secrets mount inside"
read -r _ _ fstype opts _ <<<"$mnt"
[ "$fstype" = tmpfs ] || fail "fstype $fstype"
for o in ro nosuid nodev noexec; do
  tr , '\n' <<<"$opts" | grep -qx "$o" || fail "option $o missing in $opts"
done
grep -qx "a 1000 2000 440" <<<"$out" || fail "owner/mode of a"
grep -qx "b 0 0 400" <<<"$out" || fail "owner/mode of dir/b (default root, 0400)"
grep -qx "dir 755" <<<"$out" || fail "mode of dir"
grep -qx "content-a alpha-secret-value" <<<"$out" || fail "content of a"
grep -qx "content-b beta" <<<"$out" || fail "content of b"
grep -q EXEC-WORKED <<<"$out" && fail "exec from /run/secrets worked"
grep -q executed <<<"$out" && fail "script ran"
grep -q WRITE-WORKED <<<"$out" && fail "write to /run/secrets worked"
grep -q CREATE-WORKED <<<"$out" && fail "create in /run/secrets worked"
[ -z "$(ls -A "$R/run/secrets" 2>/dev/null)" ] || fail "secrets visible in the host's rootfs dir"

# 2. Live replacement from outside is atomic: every read is one whole version.
head -c 200000 /dev/zero | tr '\0' a >"$tmp/va"
head -c 150000 /dev/zero | tr '\0' b >"$tmp/vb"
ma=$(md5sum <"$tmp/va" | cut -d' ' -f1)
mb=$(md5sum <"$tmp/vb" | cut -d' ' -f1)
out=$("$helper" "$R" "$tmp/va" "$tmp/vb" "$ma" "$mb" 2>"$tmp/helper.err") ||
  fail "live replacement: $out $(cat "$tmp/helper.err")"
echo "live: $out; $(cat "$tmp/helper.err")"
read -r _ na nb <<<"$out"
[ "${na:-0}" -gt 0 ] && [ "${nb:-0}" -gt 0 ] || fail "reader did not see both versions: $out"
n=$(sed -n 's/^replacements //p' "$tmp/helper.err")
[ "${n:-0}" -ge 10 ] || fail "too few replacements ($n)"

# 3. Two containers cannot see each other's secrets (same rootfs, at the same time).
printf 'container-one-only' >"$tmp/one"
printf 'container-two-only' >"$tmp/two"
# Readiness: the first container writes a fifo (bind-mounted from the host) once its
# secret is readable; it then holds until the second one is done.
mkdir "$tmp/ctl" && mkfifo "$tmp/ctl/ready" "$tmp/ctl/done"
"$launch" --rootfs "$R" --secret one="$tmp/one" --mount "$tmp/ctl:/ctl" -- sh -c \
  'cat /run/secrets/one > /ctl/ready; read x < /ctl/done' &
bgpid=$!
first=$(timeout 20 cat "$tmp/ctl/ready") || fail "first container never became ready"
[ "$first" = container-one-only ] || fail "first container reads: $first"
out=$("$launch" --rootfs "$R" --secret two="$tmp/two" -- sh -c \
  'ls -A /run/secrets; cat /run/secrets/* ; grep -rl container-one-only /run /tmp 2>/dev/null; true') ||
  fail "second container: $out"
kill -0 "$bgpid" 2>/dev/null || fail "first container ended before the second one ran"
echo done > "$tmp/ctl/done"
wait "$bgpid" || fail "first container exited $?"
bgpid=
[ "$(echo "$out" | head -1)" = two ] || fail "second container lists: $out"
grep -q container-one-only <<<"$out" && fail "second container sees the first one's secret"
grep -q container-two-only <<<"$out" || fail "second container misses its own secret"

# 4. Symlinks in the rootfs never redirect the mount outside.
host=$tmp/hostdir
mkdir "$host"
for variant in secrets-abs secrets-rel run-abs run-abs-present; do
  rm -rf "$tmp/r2" && sh "$mkrootfs" "$tmp/r2" >/dev/null
  case $variant in
    secrets-abs) ln -s "$host" "$tmp/r2/run/secrets" ;;
    secrets-rel) ln -s "../../../../../../../..$host" "$tmp/r2/run/secrets" ;;
    run-abs) rmdir "$tmp/r2/run" && ln -s "$host" "$tmp/r2/run" ;;
    run-abs-present) rmdir "$tmp/r2/run" && ln -s "$host" "$tmp/r2/run" && mkdir -p "$tmp/r2$host" ;;
  esac
  set +e
  out=$("$launch" --rootfs "$tmp/r2" --secret a="$tmp/s1" -- cat /run/secrets/a 2>&1)
  rc=$?
  set -e
  echo "symlink $variant: rc=$rc $out"
  [ -z "$(ls -A "$host")" ] || fail "$variant: launcher wrote into the host dir: $(ls -A "$host")"
  # Either a clear refusal (125) or the secret mounted inside the rootfs.
  if [ $rc -eq 0 ]; then
    [ "$out" = alpha-secret-value ] || fail "$variant: unexpected output $out"
  else
    [ $rc -eq 125 ] || fail "$variant: exit $rc (expected 0 or 125)"
  fi
done
[ "$variant" = run-abs-present ] && [ $rc -eq 0 ] || fail "run -> dir present in rootfs should work"

# 5. --read-only rootfs without /run/secrets: the launcher still provides it.
rm -rf "$tmp/r3" && sh "$mkrootfs" "$tmp/r3" >/dev/null
out=$("$launch" --rootfs "$tmp/r3" --read-only --secret a="$tmp/s1" -- sh -c \
  'cat /run/secrets/a; touch /x 2>/dev/null && echo ROOT-WRITABLE; true') || fail "read-only: $out"
[ "$out" = alpha-secret-value ] || fail "read-only rootfs: $out"
# With --read-only the launcher never modifies the image.
[ ! -e "$tmp/r3/run/secrets" ] || fail "--read-only created run/secrets in the rootfs image"
echo PASS
