#!/bin/bash
# --mount SRC:DST[:ro], resolved inside the rootfs (no escape through symlinks).
. "$(dirname "$0")/runtime_lib.sh"

mkdir -p "$TMP/data" "$TMP/outside"
echo hello > "$TMP/data/in"
echo filedata > "$TMP/afile"

run --rootfs "$ROOTFS" --mount "$TMP/data:/data" -- /bin/sh -c 'cat /data/in; echo out > /data/new'
expect_eq "bind readable" "$OUT" hello
expect_eq "bind writable" "$(cat "$TMP/data/new")" out
run --rootfs "$ROOTFS" --mount "$TMP/data:/deep/er/data:ro" -- /bin/sh -c 'cat /deep/er/data/in; echo x > /deep/er/data/ro'
expect_eq "ro bind readable (target created)" "$OUT" hello
expect_match "ro bind refuses writes" "$ERR" "Read-only file system"
[ ! -e "$TMP/data/ro" ] && pass "nothing written through ro bind" || fail "ro bind written"
run --rootfs "$ROOTFS" --mount "$TMP/afile:/etc/afile:ro" -- /bin/cat /etc/afile
expect_eq "file bind" "$OUT" filedata
run --rootfs "$ROOTFS" --mount "$TMP/nope:/x" -- /bin/true
expect_eq "missing source: 125" "$RC" 125
expect_match "missing source: message" "$ERR" "mount source"
run --rootfs "$ROOTFS" --mount "$TMP/data:relative" -- /bin/true
expect_eq "relative target refused" "$RC" 125

# Symlinks in the rootfs that point outside it must not redirect the bind.
ln -s "$TMP/outside" "$ROOTFS/abs"          # absolute host path
ln -s ../../../../../../../.. "$ROOTFS/up"   # climbs with ..
ln -s /proc/self/root "$ROOTFS/magic"        # magic link
run --rootfs "$ROOTFS" --mount "$TMP/data:/abs/sub" -- /bin/cat /abs/sub/in
# $TMP/outside does not exist inside the rootfs: the dangling link cannot be followed.
[ "$RC" -eq 125 ] && pass "dangling absolute symlink refused" || fail "dangling link: rc $RC"
mkdir -p "$ROOTFS$TMP/outside"
# --rootfs-writable: the created mount point lands in the directory, checked below.
run --rootfs "$ROOTFS" --rootfs-writable --mount "$TMP/data:/abs/sub" -- /bin/cat /abs/sub/in
expect_eq "absolute symlink: bind inside" "$OUT" hello
run --rootfs "$ROOTFS" --mount "$TMP/data:/up/$TMP/outside/sub2" -- /bin/cat "/up/$TMP/outside/sub2/in"
expect_eq "dotdot symlink: bind inside" "$OUT" hello
run --rootfs "$ROOTFS" --mount "$TMP/data:/magic/sub3" -- /bin/true
[ "$RC" -eq 125 ] && pass "magic link target refused" || fail "magic link target: rc $RC"
expect_eq "nothing created outside the rootfs" "$(ls -A "$TMP/outside")" ""
# Where the binds went: inside the rootfs (the symlink resolved against it).
[ -d "$ROOTFS/$TMP/outside/sub" ] && pass "target created inside the rootfs" || fail "target not inside"
expect_eq "no host mounts left" "$(grep -c "$TMP" /proc/self/mountinfo)" 0
echo "PASS"
