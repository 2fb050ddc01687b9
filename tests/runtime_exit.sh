#!/bin/bash
# Exit statuses: the command's own, 128+signal, 125 for launcher failures, 126/127.
. "$(dirname "$0")/runtime_lib.sh"

run --rootfs "$ROOTFS" -- /bin/sh -c 'exit 3'
expect_eq "command's exit status" "$RC" 3
run --rootfs "$ROOTFS" -- /bin/true
expect_eq "true" "$RC" 0
# A signal from inside cannot kill PID 1 (the kernel protects a namespace's init), so
# let --init's child die of SIGUSR1 (10) and SIGKILL (9).
run --rootfs "$ROOTFS" --init -- /bin/sh -c 'kill -USR1 $$'
expect_eq "128+SIGUSR1" "$RC" 138
run --rootfs "$ROOTFS" --init -- /bin/sh -c 'kill -KILL $$'
expect_eq "128+SIGKILL" "$RC" 137

run --rootfs "$TMP/no-such-rootfs" -- /bin/true
expect_eq "bad rootfs: 125" "$RC" 125
expect_eq "bad rootfs: one line" "$(echo "$ERR" | wc -l)" 1
expect_match "bad rootfs: says why" "$ERR" "rootfs .*No such file"
run --rootfs /etc/passwd -- /bin/true
expect_eq "rootfs not a directory: 125" "$RC" 125
run -- /bin/true
expect_eq "no --rootfs: 125" "$RC" 125
run --rootfs "$ROOTFS" --memory lots -- /bin/true
expect_eq "bad --memory: 125" "$RC" 125
run --rootfs "$ROOTFS" --user root -- /bin/true
expect_eq "bad --user: 125" "$RC" 125
run --rootfs "$ROOTFS" -- /bin/no-such-command
expect_eq "missing command: 127" "$RC" 127
expect_match "missing command: message" "$ERR" "not found"
run --rootfs "$ROOTFS" -- /etc/passwd
expect_eq "not executable: 126" "$RC" 126
# Nothing left behind in the host's mount table.
expect_eq "no host mounts left" "$(grep -c "$TMP" /proc/self/mountinfo)" 0
echo "PASS"
