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
# even by host root once the process is gone from the text-busy window.
"$LAUNCH" --rootfs "$ROOTFS" -- /bin/sleep 5 &
lp=$!; BG_PIDS="$BG_PIDS $lp"
# Wait until the container runs (the launcher has re-executed from its read-only mount).
for _ in $(seq 100); do pgrep -P $lp >/dev/null && break; sleep 0.05; done
exec 9</proc/$lp/exe || fail "cannot open launcher exe"
kill -KILL $lp; wait $lp 2>/dev/null
# fd 9 now refers to the launcher's image on its read-only mount.
if (echo x >> /proc/self/fd/9) 2>"$TMP/werr"; then fail "launcher image writable through /proc/PID/exe"; fi
# EROFS proves the read-only mount; ETXTBSY (the same inode is being executed by a
# launcher of a concurrently running test) is checked first by the kernel and
# refuses the write as well.
expect_match "write refused" "$(cat "$TMP/werr")" "Read-only file system|Text file busy"
exec 9<&-
expect_eq "launcher binary still unchanged" "$(md5sum < "$LAUNCH")" "$sum_before"

# The container sees no launcher process and no host pid.
run --rootfs "$ROOTFS" -- /bin/sh -c 'for p in /proc/[0-9]*; do readlink $p/exe; done; true'
expect_nomatch "no launcher process visible" "$OUT" "secret-launch"
echo "PASS"
