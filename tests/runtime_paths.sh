#!/bin/bash
# /proc, /dev, /sys, Docker's masked and read-only paths, --read-only.
. "$(dirname "$0")/runtime_lib.sh"

# Masked paths: files read empty, directories list empty (those the host has). Each
# checked path must have content on the host, so that "empty" means masked.
masked="/proc/acpi /proc/asound /proc/interrupts /proc/kcore /proc/keys /proc/latency_stats
/proc/timer_list /proc/timer_stats /proc/sched_debug /proc/scsi /sys/firmware
/sys/devices/virtual/powercap"
checked=0
for p in $masked; do
  [ -e "$p" ] || continue
  if [ -d "$p" ]; then
    [ -n "$(ls -A "$p")" ] || continue          # empty on the host: proves nothing
    run --rootfs "$ROOTFS" -- /bin/ls -A "$p"
  else
    [ -n "$(head -c 1 "$p" 2>/dev/null)" ] || continue
    run --rootfs "$ROOTFS" -- /bin/cat "$p"
  fi
  checked=$((checked + 1))
  expect_eq "masked $p readable" "$RC" 0
  expect_eq "masked $p empty" "$OUT" ""
done
[ "$checked" -ge 3 ] || fail "only $checked masked paths have content on this host"
# /proc/interrupts (masked by a current Docker) always has content on Linux.
[ -n "$(head -c 1 /proc/interrupts)" ] || fail "host /proc/interrupts empty"
run --rootfs "$ROOTFS" -- /bin/sh -c 'grep -c . /proc/interrupts; grep " /proc/interrupts " /proc/self/mountinfo'
expect_match "/proc/interrupts masked with /dev/null" "$OUT" "^0"
expect_match "/proc/interrupts is a mount" "$OUT" " /proc/interrupts "

# Read-only paths refuse writes even for container root.
run --rootfs "$ROOTFS" -- /bin/sh -c 'echo x > /proc/sys/kernel/domainname'
[ "$RC" -ne 0 ] && pass "/proc/sys refuses writes" || fail "/proc/sys writable"
expect_match "/proc/sys: read-only" "$ERR" "Read-only file system"
for p in /proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger; do
  [ -e "$p" ] || continue
  run --rootfs "$ROOTFS" -- /bin/sh -c "grep -E ' $p ' /proc/self/mountinfo"
  expect_match "$p mounted ro" "$OUT" " $p ro,"
done
run --rootfs "$ROOTFS" -- /bin/sh -c 'echo x > /proc/sysrq-trigger'
[ "$RC" -ne 0 ] && pass "/proc/sysrq-trigger refuses writes" || fail "sysrq-trigger writable"

# /sys is read-only; /proc is a fresh procfs.
run --rootfs "$ROOTFS" -- /bin/sh -c 'grep -E " /sys " /proc/self/mountinfo; touch /sys/x'
expect_match "/sys ro" "$OUT" " /sys ro,"
expect_match "/sys write refused" "$ERR" "Read-only file system"
run --rootfs "$ROOTFS" -- /bin/sh -c 'grep -E " /proc " /proc/self/mountinfo'
expect_match "/proc nosuid,nodev,noexec" "$OUT" " /proc rw,nosuid,nodev,noexec"

# /dev: the minimal set.
run --rootfs "$ROOTFS" -- /bin/sh -c 'cd /dev && ls -A | tr "\n" " "; echo; ls -l full null random tty urandom zero | awk "{print \$1, \$5, \$6}" | tr "\n" " "; echo; for l in ptmx fd stdin stdout stderr core; do printf "%s " $(readlink $l); done'
expect_eq "/dev entries" "$(echo "$OUT" | sed -n 1p)" \
  "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero "
expect_eq "/dev nodes" "$(echo "$OUT" | sed -n 2p)" \
  "crw-rw-rw- 1, 7 crw-rw-rw- 1, 3 crw-rw-rw- 1, 8 crw-rw-rw- 5, 0 crw-rw-rw- 1, 9 crw-rw-rw- 1, 5 "
expect_eq "/dev links" "$(echo "$OUT" | sed -n 3p)" \
  "pts/ptmx /proc/self/fd /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2 /proc/kcore "
run --rootfs "$ROOTFS" -- /bin/sh -c 'grep -E " /dev/pts " /proc/self/mountinfo; head -c 4 /dev/zero | wc -c; echo hi > /dev/null && echo null-ok; echo x > /dev/shm/f && cat /dev/shm/f'
expect_match "devpts newinstance ptmxmode=0666" "$OUT" "ptmxmode=666"
expect_match "/dev/zero reads" "$OUT" "^4"
expect_match "/dev/null writes" "$OUT" "null-ok"
expect_match "/dev/shm writable" "$OUT" "x$"

# --read-only: / refuses writes (also /tmp, which is part of the rootfs); /dev/shm works.
run --rootfs "$ROOTFS" --read-only -- /bin/sh -c 'touch /x; touch /tmp/x; echo y > /dev/shm/y && echo shm-ok'
expect_match "read-only /" "$ERR" "/x: Read-only file system"
expect_match "read-only /tmp" "$ERR" "/tmp/x: Read-only file system"
expect_eq "read-only: /dev/shm still writable" "$OUT" shm-ok
[ ! -e "$ROOTFS/x" ] && pass "nothing written to the rootfs" || fail "rootfs written"
# Without --read-only the rootfs is writable, in the container's own layer only
# (tests/runtime_layer.sh); --rootfs-writable writes into the directory itself.
run --rootfs "$ROOTFS" -- /bin/sh -c 'touch /x && ls /x'
expect_eq "rw rootfs" "$OUT" /x
[ ! -e "$ROOTFS/x" ] && pass "rw rootfs write stays in the layer" || fail "layer write reached the directory"
run --rootfs "$ROOTFS" --rootfs-writable -- /bin/touch /x
expect_eq "rootfs-writable" "$RC" 0
[ -e "$ROOTFS/x" ] && pass "rootfs-writable write visible on the host" || fail "rw write lost"
expect_eq "no host mounts left" "$(grep -c "$TMP" /proc/self/mountinfo)" 0
echo "PASS"
