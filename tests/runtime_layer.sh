#!/bin/bash
# A layer of its own for every container (issue 7 §3): two containers started on one
# rootfs directory never see each other's writes, and the directory never changes,
# unless --rootfs-writable asks for exactly that.
. "$(dirname "$0")/runtime_lib.sh"

# A fingerprint of the whole directory: names, types, modes, owners, sizes, contents.
tree_sum() {
  (cd "$1" && find . -printf '%p %y %m %U %G %s %l\n' | LC_ALL=C sort &&
     find . -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum) | md5sum
}
before=$(tree_sum "$ROOTFS")
echo secret-of-b > "$TMP/b-secret"
mkdir -p "$TMP/ctl"

# Container A (root) replaces /bin/id with a script that would steal a secret, adds a
# new binary and removes one, then stays alive while B runs.
"$LAUNCH" --rootfs "$ROOTFS" --mount "$TMP/ctl:/ctl" -- /bin/sh -c '
  rm /bin/id && printf "#!/bin/sh\ncat /run/secrets/* > /ctl/stolen 2>/dev/null\necho PWNED\n" > /bin/id &&
  chmod 755 /bin/id && cp /bin/busybox /bin/planted && rm /bin/ls && touch /ctl/ready &&
  while [ ! -e /ctl/done ]; do usleep 20000; done; /bin/id' >"$TMP/a.out" 2>&1 &
apid=$!; BG_PIDS="$BG_PIDS $apid"
for _ in $(seq 200); do [ -e "$TMP/ctl/ready" ] && break; sleep 0.02; done
[ -e "$TMP/ctl/ready" ] || { cat "$TMP/a.out"; fail "container A did not get ready"; }
# A sees its own changes...
# ...and B (uid 1000, with a secret) on the same directory sees none of them.
run --rootfs "$ROOTFS" --user 1000:1000 --secret "b=$TMP/b-secret" -- /bin/sh -c \
  '/bin/id; [ -e /bin/planted ] && echo planted; [ -e /bin/ls ] && echo has-ls'
expect_eq "B runs the original /bin/id" "$OUT" "$(printf 'uid=1000(user) gid=1000(user)\nhas-ls')"
[ ! -e "$TMP/ctl/stolen" ] && pass "B's secret not stolen" || fail "B's secret stolen"
touch "$TMP/ctl/done"
wait "$apid"; arc=$?
expect_eq "A ran its own replaced /bin/id" "$(cat "$TMP/a.out")" PWNED
expect_eq "A exit" "$arc" 0
expect_eq "directory unchanged after A and B" "$(tree_sum "$ROOTFS")" "$before"

# The layer never shows in the host's mount table, also while a container runs.
"$LAUNCH" --rootfs "$ROOTFS" -- /bin/sh -c 'echo x > /ctl-free; sleep 3' &
p=$!; BG_PIDS="$BG_PIDS $p"
for _ in $(seq 100); do pgrep -P $p >/dev/null && break; sleep 0.02; done
sleep 0.1
expect_eq "layer not in the host's mount table" \
  "$(grep -c -e rootfs-layer -e "$ROOTFS" /proc/self/mountinfo)" 0
kill -TERM $p; wait $p 2>/dev/null

# Writes in the layer work for root and for a user; each run starts from the directory.
run --rootfs "$ROOTFS" -- /bin/sh -c 'echo one > /etc/motd && cat /etc/motd'
expect_eq "root writes its layer" "$OUT" one
run --rootfs "$ROOTFS" -- /bin/sh -c 'cat /etc/motd 2>/dev/null || echo none'
expect_eq "next container starts clean" "$OUT" none
run --rootfs "$ROOTFS" --user 1000:1000 -- /bin/sh -c 'echo u > /tmp/u && cat /tmp/u; echo y > /etc/y'
expect_eq "user writes /tmp in its layer" "$OUT" u
expect_match "user still cannot write /etc" "$ERR" "Permission denied"

# /run/secrets, mount points of --mount, /proc /dev /sys: created in the layer only.
run --rootfs "$ROOTFS" --secret "b=$TMP/b-secret" --mount "$TMP/ctl:/new/mnt/point" -- \
  /bin/sh -c 'cat /run/secrets/b; ls -d /new/mnt/point'
expect_eq "secrets and new mount point" "$OUT" "$(printf 'secret-of-b\n/new/mnt/point')"
expect_eq "directory unchanged after runs" "$(tree_sum "$ROOTFS")" "$before"

# --userns: the layer is built by the launcher; container root writes what it owns.
run --rootfs "$ROOTFS" --userns -- /bin/sh -c 'echo n > /tmp/n && cat /tmp/n; stat -c %U /tmp/n; echo z > /bin/z'
expect_eq "userns: writes into its layer" "$OUT" "$(printf 'n\nroot')"
expect_match "userns: unmapped host root's /bin stays closed" "$ERR" "Permission denied"
run --rootfs "$ROOTFS" --userns --mount "$TMP/ctl:/userns/mnt" --secret "b=$TMP/b-secret" -- /bin/cat /run/secrets/b
expect_eq "userns: secrets and mount point in the layer" "$OUT" secret-of-b

# --read-only: nothing writable, and even new mount points never reach the directory.
run --rootfs "$ROOTFS" --read-only --mount "$TMP/ctl:/ro/mnt" --secret "b=$TMP/b-secret" -- \
  /bin/sh -c 'ls -d /ro/mnt; cat /run/secrets/b; touch /x'
expect_eq "read-only: mount point and secret" "$OUT" "$(printf '/ro/mnt\nsecret-of-b')"
expect_match "read-only: / refuses writes" "$ERR" "/x: Read-only file system"
run --rootfs "$ROOTFS" --read-only --userns -- /bin/sh -c 'touch /tmp/x'
expect_match "read-only + userns: refused" "$ERR" "Read-only file system"
expect_eq "directory unchanged after userns and read-only runs" "$(tree_sum "$ROOTFS")" "$before"

# The layer's size is bounded (--rootfs-size).
run --rootfs "$ROOTFS" --rootfs-size 1m -- /bin/sh -c 'dd if=/dev/zero of=/tmp/big bs=64k count=64 2>&1; echo rc=$?'
expect_match "layer full: ENOSPC" "$OUT" "No space left on device"
run --rootfs "$ROOTFS" --rootfs-size 2x -- /bin/true
expect_eq "bad --rootfs-size refused" "$RC" 125
expect_match "bad --rootfs-size message" "$ERR" "rootfs-size"

# --rootfs-writable: the old behaviour on request; the write lands in the directory.
run --rootfs "$ROOTFS" --rootfs-writable -- /bin/sh -c 'echo w > /written'
expect_eq "rootfs-writable: rc" "$RC" 0
expect_eq "rootfs-writable: written into the directory" "$(cat "$ROOTFS/written" 2>/dev/null)" w
expect_eq "no host mounts left" "$(grep -c "$TMP" /proc/self/mountinfo)" 0
echo "PASS"
