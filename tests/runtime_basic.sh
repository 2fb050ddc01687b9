#!/bin/bash
# PID 1, pid isolation, hostname, capabilities, no_new_privs, seccomp, env, fds.
. "$(dirname "$0")/runtime_lib.sh"

# PID 1 is the command itself; only its own processes are visible.
run --rootfs "$ROOTFS" -- /bin/sh -c 'echo $$; cat /proc/1/comm; ls -d /proc/[0-9]* | wc -l; true'
expect_eq "exit status" "$RC" 0
expect_eq "command is PID 1" "$(echo "$OUT" | sed -n 1p)" 1
expect_eq "PID 1 comm" "$(echo "$OUT" | sed -n 2p)" sh
# sh (1), ls (N) and wc/subshell at most: a host pid namespace would show dozens.
n=$(echo "$OUT" | sed -n 3p)
[ "$n" -le 3 ] && pass "no host process visible ($n pids)" || fail "$n processes visible"
# The host's own PID (this script) must not appear inside.
run --rootfs "$ROOTFS" -- /bin/sh -c "test -e /proc/$$/status && echo visible || echo hidden"
[ "$$" -gt 3 ] && expect_eq "host pid $$ hidden" "$OUT" hidden

# A session of its own and no controlling terminal, even when the launcher has
# one (script(1) gives it a pty): nothing inside can inject keystrokes (TIOCSTI)
# into the operator's terminal. /proc/1/stat fields 6 and 7: session, tty_nr.
if command -v script >/dev/null; then
  OUT=$(script -qec "$LAUNCH --rootfs $ROOTFS -- /bin/sh -c 'cut -d\" \" -f6,7 /proc/1/stat'" /dev/null | tr -d '\r')
  expect_eq "own session, no controlling tty" "$OUT" "1 0"
fi

# Hostname.
run --rootfs "$ROOTFS" --hostname box42 -- /bin/hostname
expect_eq "hostname" "$OUT" box42
expect_nomatch "host hostname not leaked" "$(timeout 20 "$LAUNCH" --rootfs "$ROOTFS" -- /bin/hostname)" "^$(hostname)\$"

# --print-default-caps: Docker's 14 default capabilities, one "NUMBER<TAB>CAP_NAME" line
# each (the value itself is pinned by test_runtime_launch_parse).
expect_eq "print-default-caps: 14 lines" "$(printf '%s\n' "$DEFAULT_CAPS_LIST" | wc -l)" 14
expect_eq "print-default-caps: format" \
  "$(printf '%s\n' "$DEFAULT_CAPS_LIST" | grep -Evc "^[0-9]+$(printf '\t')CAP_[A-Z_]+\$")" 0

# Capabilities, no_new_privs, seccomp as seen by the container.
run --rootfs "$ROOTFS" -- /bin/cat /proc/self/status
expect_eq "CapEff" "$(status_field CapEff "$OUT")" "$DOCKER_CAPS"
expect_eq "CapPrm" "$(status_field CapPrm "$OUT")" "$DOCKER_CAPS"
expect_eq "CapBnd" "$(status_field CapBnd "$OUT")" "$DOCKER_CAPS"
expect_eq "CapInh" "$(status_field CapInh "$OUT")" 0000000000000000
expect_eq "CapAmb" "$(status_field CapAmb "$OUT")" 0000000000000000
expect_eq "NoNewPrivs" "$(status_field NoNewPrivs "$OUT")" 1
expect_eq "Seccomp (filter mode)" "$(status_field Seccomp "$OUT")" 2

# --cap-add / --cap-drop (names with or without CAP_, any case).
run --rootfs "$ROOTFS" --cap-add NET_ADMIN --cap-drop cap_chown --cap-drop MKNOD -- /bin/cat /proc/self/status
want=$(printf '%016x' $(( (0x$DOCKER_CAPS | (1 << 12)) & ~(1 << 0) & ~(1 << 27) )))
expect_eq "cap-add/drop CapEff" "$(status_field CapEff "$OUT")" "$want"
expect_eq "cap-add/drop CapBnd" "$(status_field CapBnd "$OUT")" "$want"
run --rootfs "$ROOTFS" --cap-drop ALL -- /bin/cat /proc/self/status
expect_eq "cap-drop ALL CapBnd" "$(status_field CapBnd "$OUT")" 0000000000000000
run --rootfs "$ROOTFS" --cap-add ALL -- /bin/cat /proc/self/status
expect_eq "cap-add ALL = host bounding set" "$(status_field CapBnd "$OUT")" \
  "$(status_field CapBnd "$(cat /proc/self/status)")"
run --rootfs "$ROOTFS" --cap-add NOT_A_CAP -- /bin/true
expect_eq "unknown capability refused" "$RC" 125
expect_match "unknown capability message" "$ERR" "unknown capability"

# Environment: only --env, plus Docker's default PATH.
run --rootfs "$ROOTFS" --env A=1 --env B=x=y -- /bin/env
expect_eq "environment" "$(echo "$OUT" | sort | tr '\n' ' ')" \
  "A=1 B=x=y PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "
run --rootfs "$ROOTFS" --env PATH=/bin -- /bin/env
expect_eq "PATH can be overridden" "$OUT" "PATH=/bin"

# No fd but 0, 1, 2 reaches the container, even when the launcher inherits others.
exec 7</etc/passwd 8>"$TMP/leak"
# (No pipeline inside: sh's own pipe fds would show up while ls runs.)
run --rootfs "$ROOTFS" -- /bin/sh -c 'ls /proc/1/fd; true'
exec 7<&- 8>&-
expect_eq "only fds 0 1 2" "$(echo $OUT)" "0 1 2"
run --rootfs "$ROOTFS" --init -- /bin/sh -c 'ls /proc/1/fd /proc/2/fd; true' 
expect_eq "init: only fds 0 1 2 in PID 1 and the command" "$(echo $OUT)" "/proc/1/fd: 0 1 2 /proc/2/fd: 0 1 2"

# Working directory.
run --rootfs "$ROOTFS" --workdir /etc -- /bin/pwd
expect_eq "workdir" "$OUT" /etc
run --rootfs "$ROOTFS" --workdir /nonexistent -- /bin/pwd
expect_eq "missing workdir is a launcher error" "$RC" 125
expect_match "workdir message" "$ERR" "working directory"

# lo is up in the new network namespace; no other interface.
run --rootfs "$ROOTFS" -- /bin/cat /sys/class/net/lo/operstate /proc/net/dev
expect_match "lo up" "$OUT" "^(unknown|up)"
expect_eq "only lo" "$(echo "$OUT" | grep -c ':')" 1
# --cgroupns: the container's cgroups look like roots; without it the host path shows.
run --rootfs "$ROOTFS" --cgroupns -- /bin/cat /proc/self/cgroup
expect_eq "cgroupns: every cgroup is /" "$(echo "$OUT" | grep -vc ':/$')" 0
run --rootfs "$ROOTFS" --name "rt-basic-$$" -- /bin/cat /proc/self/cgroup
expect_match "no cgroupns: host path visible" "$OUT" "secretd/rt-basic-$$"
echo "PASS"
