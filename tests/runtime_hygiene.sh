#!/bin/bash
# The /proc/self/exe class of attacks: the launcher image is unreachable and unwritable.
. "$(dirname "$0")/runtime_lib.sh"

sum_before=$(md5sum < "$LAUNCH")
# A command that is (or links to) /proc/self/exe is refused, never exec'd.
run --rootfs "$ROOTFS" -- /proc/self/exe
expect_eq "/proc/self/exe as command refused" "$RC" 126
ln -s /proc/self/exe "$ROOTFS/bin/evil"
run --rootfs "$ROOTFS" -- evil
expect_eq "symlink to /proc/self/exe refused" "$RC" 126
# A script whose interpreter is /proc/self/exe makes the kernel run the launcher in
# the container; it must still not be able to write the launcher's image.
printf '#!/proc/self/exe\n' > "$ROOTFS/bin/evil.sh"; chmod 755 "$ROOTFS/bin/evil.sh"
run --rootfs "$ROOTFS" -- /bin/evil.sh
# Whatever it did, the host binary is intact.
expect_eq "launcher binary unchanged" "$(md5sum < "$LAUNCH")" "$sum_before"

# The launcher runs from a read-only mount: /proc/PID/exe cannot be opened for writing
# even by host root. A private copy of the binary is used, so that no other process
# (a launcher of a concurrently running test) executes the same inode: the only
# possible refusal is then EROFS, not ETXTBSY (which the kernel checks first).
cp "$LAUNCH" "$TMP/launch-copy"
copy_sum=$(md5sum < "$TMP/launch-copy")
"$TMP/launch-copy" --rootfs "$ROOTFS" -- /bin/sleep 5 &
lp=$!; BG_PIDS="$BG_PIDS $lp"
# Wait until the container runs (the launcher has re-executed from its read-only mount).
for _ in $(seq 100); do pgrep -P $lp >/dev/null && break; sleep 0.05; done
pgrep -P $lp >/dev/null || fail "launcher copy did not start a container"
exec 9</proc/$lp/exe || fail "cannot open launcher exe"
# The mount of that file is read-only (statvfs ST_RDONLY), unlike the copy's own.
ro=$(python3 -c 'import os; print(bool(os.statvfs("/proc/self/fd/9").f_flag & os.ST_RDONLY))')
expect_eq "launcher image on a read-only mount" "$ro" True
rw=$(python3 -c "import os; print(bool(os.statvfs('$TMP/launch-copy').f_flag & os.ST_RDONLY))")
expect_eq "control: the copy's own path is writable" "$rw" False
kill -KILL $lp; wait $lp 2>/dev/null
for _ in $(seq 100); do pgrep -f "$TMP/launch-copy" >/dev/null || break; sleep 0.02; done
if (echo x >> /proc/self/fd/9) 2>"$TMP/werr"; then fail "launcher image writable through /proc/PID/exe"; fi
expect_match "write refused with EROFS" "$(cat "$TMP/werr")" "Read-only file system"
exec 9<&-
expect_eq "launcher copy unchanged" "$(md5sum < "$TMP/launch-copy")" "$copy_sum"
expect_eq "launcher binary still unchanged" "$(md5sum < "$LAUNCH")" "$sum_before"

# The container sees no launcher process and no host pid.
run --rootfs "$ROOTFS" -- /bin/sh -c 'for p in /proc/[0-9]*; do readlink $p/exe; done; true'
expect_nomatch "no launcher process visible" "$OUT" "secret-launch"
echo "PASS"
