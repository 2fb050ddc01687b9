#!/bin/bash
# Container root cannot create and use a block device (Docker's device allow-list).
. "$(dirname "$0")/runtime_lib.sh"

dev=$(awk '$4 ~ /^(vd|sd|nvme|xvd)[a-z0-9]*$/ {print $1":"$2; exit}' /proc/partitions)
[ -n "$dev" ] || dev="8:0"
maj=${dev%:*}; min=${dev#*:}
run --rootfs "$ROOTFS" -- /bin/sh -c "mknod /tmp/blk b $maj $min && head -c 512 /tmp/blk | wc -c"
rm -f "$ROOTFS/tmp/blk"
# Either mknod fails or the open fails: no byte may be read.
expect_nomatch "block device not readable" "$OUT" "^512"
expect_match "refused with EPERM" "$ERR" "Operation not permitted"
# In /dev (a nosuid tmpfs) as well.
run --rootfs "$ROOTFS" -- /bin/sh -c "mknod /dev/blk b $maj $min && head -c 512 /dev/blk | wc -c"
expect_nomatch "block device in /dev not readable" "$OUT" "^512"
# With --userns, mknod itself is refused.
run --rootfs "$ROOTFS" --userns -- /bin/sh -c "mknod /dev/blk b $maj $min"
[ "$RC" -ne 0 ] && pass "userns: mknod refused" || fail "userns: mknod worked"
# The allowed devices do work.
run --rootfs "$ROOTFS" -- /bin/sh -c 'head -c 8 /dev/urandom | wc -c; head -c 8 /dev/zero | wc -c'
expect_eq "allowed devices usable" "$(echo $OUT)" "8 8"
echo "PASS"
