#!/bin/bash
# --user and --userns.
. "$(dirname "$0")/runtime_lib.sh"

run --rootfs "$ROOTFS" --user 1000:1000 -- /bin/sh -c 'id -u; id -g; id -G; cat /proc/self/status'
expect_eq "uid" "$(echo "$OUT" | sed -n 1p)" 1000
expect_eq "gid" "$(echo "$OUT" | sed -n 2p)" 1000
expect_eq "supplementary groups cleared" "$(echo "$OUT" | sed -n 3p)" 1000
expect_eq "non-root CapEff" "$(status_field CapEff "$OUT")" 0000000000000000
expect_eq "non-root CapPrm" "$(status_field CapPrm "$OUT")" 0000000000000000
expect_eq "non-root CapBnd" "$(status_field CapBnd "$OUT")" "$DOCKER_CAPS"
expect_eq "non-root NoNewPrivs" "$(status_field NoNewPrivs "$OUT")" 1
run --rootfs "$ROOTFS" --user 1000:1000 -- /bin/sh -c 'cat /root/x; touch /etc/x'
[ "$RC" -ne 0 ] && pass "non-root cannot write /etc" || fail "uid 1000 wrote /etc"
run --rootfs "$ROOTFS" --user 1000 -- /bin/sh -c 'id -u; id -g'
expect_eq "--user UID: gid 0 as Docker" "$(echo "$OUT" | tr '\n' ' ')" "1000 0 "

# --userns: root inside is uid 100000 outside.
run --rootfs "$ROOTFS" --userns -- /bin/sh -c 'id -u; cat /proc/self/uid_map /proc/self/gid_map; cat /proc/self/status'
expect_eq "userns: root inside" "$(echo "$OUT" | sed -n 1p)" 0
expect_eq "userns: uid_map" "$(echo "$OUT" | sed -n 2p | tr -s ' ' | sed 's/^ //')" "0 100000 65536"
expect_eq "userns: gid_map" "$(echo "$OUT" | sed -n 3p | tr -s ' ' | sed 's/^ //')" "0 100000 65536"
expect_eq "userns: CapEff" "$(status_field CapEff "$OUT")" "$DOCKER_CAPS"
# The host's view of the container's PID 1.
"$LAUNCH" --rootfs "$ROOTFS" --userns -- /bin/sleep 5 &
lp=$!
BG_PIDS="$BG_PIDS $lp"
child=""
for _ in $(seq 50); do
  child=$(cat /proc/$lp/task/$lp/children 2>/dev/null | tr -d ' ')
  [ -n "$child" ] && [ "$(cat /proc/$child/comm 2>/dev/null)" = sleep ] && break
  sleep 0.05
done
[ -n "$child" ] || fail "container process not found"
expect_eq "host view: uid" "$(status_field Uid "$(cat /proc/$child/status)" | awk '{print $1, $2, $3, $4}')" \
  "100000 100000 100000 100000"
expect_eq "host view: gid" "$(status_field Gid "$(cat /proc/$child/status)" | awk '{print $1}')" 100000
kill -KILL $lp; wait $lp 2>/dev/null
# The container dies with its launcher, even though becoming root of the user
# namespace cleared the parent-death signal once.
for _ in $(seq 40); do kill -0 "$child" 2>/dev/null || break; sleep 0.05; done
kill -0 "$child" 2>/dev/null && fail "container outlived its SIGKILLed launcher"
pass "container dies with its launcher"
# Custom maps, and a --user inside them.
run --rootfs "$ROOTFS" --uidmap 0:200000:2000 --gidmap 0:200000:2000 --user 1000:1000 -- /bin/sh -c 'id -u; cat /proc/self/uid_map'
expect_eq "custom map: uid" "$(echo "$OUT" | sed -n 1p)" 1000
expect_eq "custom map" "$(echo "$OUT" | sed -n 2p | tr -s ' ' | sed 's/^ //')" "0 200000 2000"
run --rootfs "$ROOTFS" --uidmap 0:200000:10 --user 1000 -- /bin/true
expect_eq "unmapped --user refused" "$RC" 125
run --rootfs "$ROOTFS" --uidmap 0:x:1 -- /bin/true
expect_eq "bad --uidmap refused" "$RC" 125
# Files created by container root belong to the mapped host uid (seen on the host
# with --rootfs-writable; by default they stay in the container's own layer).
run --rootfs "$ROOTFS" --userns --rootfs-writable -- /bin/touch /tmp/owned
expect_eq "created file owner on host" "$(stat -c %u "$ROOTFS/tmp/owned")" 100000
# Secrets of a --userns container belong to the mapped ids (container 1000 = host 101000).
printf 'pw' > "$TMP/secret"
run --rootfs "$ROOTFS" --userns --user 1000:1000 --secret db="$TMP/secret" -- /bin/sh -c 'ls -ln /run/secrets/db; cat /run/secrets/db'
[ -n "$OUT" ] || echo "stderr: $ERR"
expect_match "userns secret owner inside" "$OUT" "^-r-------- +1 1000 +1000 "
expect_match "userns secret readable by --user" "$OUT" "pw$"
echo "PASS"
