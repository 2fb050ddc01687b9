#!/usr/bin/env bash
# secret-launch --image: by name, version and digest; Entrypoint, Cmd, Env,
# User, WorkingDir honoured (a command after -- replaces Cmd); the container
# writes into a layer of its own: the stored image never changes and a second
# container does not see the write; gc keeps an image a running container uses.
. "$(dirname "$0")/image_lib.sh"
[ -x "$LAUNCH" ] || fail "secret-launch not given or not executable"
launch() { # ARGS...: OUT, ERR, RC
  OUT=$("$LAUNCH" "$@" 2>"$TMP/err"); RC=$?
  ERR=$(cat "$TMP/err")
  return $RC
}

mkumoci "$TMP/L" v1 || fail "umoci"
umoci config --image "$TMP/L:v1" --config.entrypoint /bin/sh --config.entrypoint -c \
  --config.cmd 'echo "cmd:$FOO:$(id -u):$(id -g):$(pwd)"' --config.env FOO=bar \
  --config.env PATH=/bin:/usr/bin --config.workingdir /home/user --config.user user || fail "umoci config"
img import "$TMP/L" --name app:1.0 || fail "import app:1.0"
HEX=$(echo "$OUT" | awk '{print $2}' | cut -d: -f2)
img import "$TMP/L" --name app || fail "import app (latest)"

want="cmd:bar:1000:1000:/home/user"
launch --image app:1.0 --store "$STORE" || fail "launch by name:version"
[ "$OUT" = "$want" ] || fail "by name:version: got \"$OUT\", want \"$want\""
launch --image app --store "$STORE" && [ "$OUT" = "$want" ] || fail "by name (latest): \"$OUT\""
launch --image "app@sha256:$HEX" --store "$STORE" && [ "$OUT" = "$want" ] || fail "by name@digest: \"$OUT\""
SECRET_IMAGE_STORE=$STORE launch --image "sha256:$HEX" && [ "$OUT" = "$want" ] ||
  fail "by digest with SECRET_IMAGE_STORE: \"$OUT\""
pass "launch by name:version, name, name@sha256 and sha256 (--store and SECRET_IMAGE_STORE): Entrypoint, Cmd, Env, User (name), WorkingDir"

launch --image app:1.0 --store "$STORE" -- 'echo replaced:$FOO' && [ "$OUT" = replaced:bar ] ||
  fail "a command after -- did not replace Cmd: \"$OUT\""
launch --image app:1.0 --store "$STORE" --user 0:0 --env FOO=mine --workdir /tmp &&
  [ "$OUT" = "cmd:mine:0:0:/tmp" ] || fail "the user's --user/--env/--workdir did not win: \"$OUT\""
pass "a command after -- replaces Cmd; --user, --env, --workdir override the image"

# Cmd only, numeric and name:group users
umoci config --image "$TMP/L:v1" --tag v2 --clear config.entrypoint --config.cmd /bin/echo \
  --config.cmd plain --config.user 1000 || fail "umoci config v2"
umoci config --image "$TMP/L:v2" --tag v3 --config.user nobody:nogroup --config.cmd /bin/sh \
  --config.cmd -c --config.cmd 'echo $(id -u):$(id -g)' || fail "umoci config v3"
# import each tag: keep only that tag's manifest in index.json
for tag in v2 v3; do
  rm -rf "$TMP/L-$tag"; cp -a "$TMP/L" "$TMP/L-$tag"
  python3 - "$TMP/L-$tag/index.json" "$tag" <<'PY'
import json, sys
x = json.load(open(sys.argv[1]))
x["manifests"] = [m for m in x["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == sys.argv[2]]
json.dump(x, open(sys.argv[1], "w"))
PY
  img import "$TMP/L-$tag" --name "t:$tag" || fail "import $tag"
done
launch --image t:v2 --store "$STORE" && [ "$OUT" = plain ] || fail "Cmd-only image: \"$OUT\""
launch --image t:v2 --store "$STORE" -- /bin/echo other && [ "$OUT" = other ] || fail "Cmd replaced: \"$OUT\""
launch --image t:v2 --store "$STORE" -- /bin/sh -c 'echo $(id -u):$(id -g)' && [ "$OUT" = 1000:1000 ] ||
  fail "numeric User 1000 should take gid 1000 from the image's passwd: \"$OUT\""
launch --image t:v3 --store "$STORE" && [ "$OUT" = 65534:65534 ] || fail "User nobody:nogroup: \"$OUT\""
pass "Cmd-only image; numeric User takes the passwd gid; name:group User resolved in the image"

# the container's writes go to its own layer
launch --image app:1.0 --store "$STORE" --user 0 -- \
  'echo w > /written && echo evil >> /bin/busybox && rm /etc/passwd && echo done' &&
  [ "$OUT" = done ] || fail "the container could not write to /: \"$OUT\""
R=$STORE/images/$HEX/rootfs
[ ! -e "$R/written" ] && [ -f "$R/etc/passwd" ] || fail "the container's write reached the stored image"
img verify app:1.0 --deep || fail "the stored image changed: $OUT $ERR"
launch --image app:1.0 --store "$STORE" --user 0 -- \
  'test ! -e /written && test -f /etc/passwd && echo clean' && [ "$OUT" = clean ] ||
  fail "a second container saw the first one's writes: \"$OUT\""
launch --image app:1.0 --store "$STORE" --user 0 --rootfs-size 1m -- \
  'dd if=/dev/zero of=/big bs=1M count=4 2>/dev/null || echo full' && [ "$OUT" = full ] ||
  fail "the writable layer is not size-limited: \"$OUT\""
pass "writes go to a size-limited layer of the container's own; the stored image verifies unchanged"
# --userns: the image's root-owned files belong to the container's root (an
# idmapped lower layer), its writes go to its own layer, the store stays as is
launch --image app:1.0 --store "$STORE" --userns --user 0 -- \
  'stat -c "%u:%g" /usr/bin/busybox /etc/passwd | tr "\n" " "; echo w > /written && echo evil >> /etc/passwd && echo $(head -1 /proc/self/uid_map)' &&
  [ "$OUT" = "0:0 0:0 0 100000 65536" ] || fail "--userns: \"$OUT\""
launch --image app:1.0 --store "$STORE" --uidmap 0:200000:65536 --gidmap 0:200000:65536 -- \
  'echo $(id -u):$(stat -c %u /home/user) && echo x > /home/user/f && echo ok' &&
  [ "$OUT" = "1000:1000
ok" ] || fail "--uidmap: the image's user could not write its home: \"$OUT\""
[ "$(stat -c %u "$R/etc/passwd")" = 0 ] && [ ! -e "$R/written" ] && [ ! -e "$R/home/user/f" ] ||
  fail "a --userns container changed the store"
img verify app:1.0 --deep || fail "the stored image changed under --userns: $OUT"
pass "--userns and --uidmap: image files owned by the container's ids, writes stay in the layer"
grep -q "$STORE" /proc/self/mountinfo && fail "a layer mount leaked into the host's namespace"
[ -z "$(ls -A "$STORE/tmp")" ] || fail "layer directories left: $(ls "$STORE/tmp")"
[ -z "$(ls -A "$STORE/inuse")" ] || fail "use markers left: $(ls "$STORE/inuse")"
pass "no mount or use marker left behind"

# gc keeps an image a running container uses
# images of their own (no other name may refer to them): by hand, plain tar layer
tar -C "$ROOTFS" --numeric-owner -cf "$TMP/layer.tar" . || fail "tar"
mklayout "$TMP/G1" '{"config":{"Env":["X=gc1"]}}' "$TMP/layer.tar=application/vnd.oci.image.layer.v1.tar" >/dev/null
mklayout "$TMP/G2" '{"config":{"Env":["X=gc2"]}}' "$TMP/layer.tar=application/vnd.oci.image.layer.v1.tar" >/dev/null
img import "$TMP/G1" --name gcme:1 || fail "import gcme"
GHEX=$(echo "$OUT" | awk '{print $2}' | cut -d: -f2)
"$LAUNCH" --image gcme:1 --store "$STORE" --stop-timeout 0 -- /bin/sleep 30 &
LPID=$!; BG_PIDS="$BG_PIDS $LPID"
for _ in $(seq 100); do [ -n "$(ls "$STORE/inuse")" ] && break; sleep 0.05; done
img rm gcme:1 || fail "rm gcme:1"
echo "$OUT" | grep -q "image kept" || fail "rm of an image in use did not keep it: $OUT"
img gc || fail "gc"
[ -d "$STORE/images/$GHEX" ] || fail "gc removed an image in use"
img ls --json; echo "$OUT" | grep -q "\"digest\":\"sha256:$GHEX\".*\"in_use\":true" || fail "ls does not show it in use: $OUT"
pass "gc keeps an unnamed image a running container uses"
kill -TERM $LPID; wait $LPID 2>/dev/null
img gc --json || fail "gc after the container ended"
[ ! -d "$STORE/images/$GHEX" ] || { ls -la $STORE/inuse $STORE/names; fail "gc kept the image after its container ended: $OUT"; }
echo "$OUT" | grep -q "$GHEX" || fail "gc --json did not report the removal: $OUT"
# a launcher killed with SIGKILL leaves a stale marker that gc ignores and removes
img import "$TMP/G2" --name gcme:2 || fail "import gcme:2"
GHEX=$(echo "$OUT" | awk '{print $2}' | cut -d: -f2)
"$LAUNCH" --image gcme:2 --store "$STORE" -- /bin/sleep 30 &
LPID=$!; BG_PIDS="$BG_PIDS $LPID"
for _ in $(seq 100); do [ -n "$(ls "$STORE/inuse")" ] && break; sleep 0.05; done
kill -KILL $LPID; wait $LPID 2>/dev/null
for _ in $(seq 100); do pgrep -f "sleep 30" >/dev/null || break; sleep 0.05; done
img rm gcme:2 >/dev/null; img gc || fail "gc after SIGKILL"
[ ! -d "$STORE/images/$GHEX" ] && [ -z "$(ls -A "$STORE/inuse")" ] && [ -z "$(ls -A "$STORE/tmp")" ] ||
  fail "gc kept a SIGKILLed launcher's image, marker or layer dir"
pass "gc removes an image once its container is gone, also after a SIGKILLed launcher"

# a detached container (run --detach) keeps its image marked while it runs
img import "$TMP/G1" --name det:1 || fail "import det:1"
DHEX=$(echo "$OUT" | awk '{print $2}' | cut -d: -f2)
SR=$TMP/state; mkdir -m 700 "$SR"
launch run --detach --name imgdet --state-root "$SR" --image det:1 --store "$STORE" -- /bin/sleep 30 ||
  fail "run --detach --image"
img rm det:1 >/dev/null; img gc || fail "gc"
[ -n "$(ls "$STORE/inuse")" ] && [ -d "$STORE/images/$DHEX" ] || fail "gc removed a detached container's image"
"$LAUNCH" kill imgdet KILL --state-root "$SR" >/dev/null 2>&1
for _ in $(seq 100); do "$LAUNCH" delete imgdet --state-root "$SR" >/dev/null 2>&1 && break; sleep 0.05; done
img gc || fail "gc after the detached container"
[ ! -d "$STORE/images/$DHEX" ] && [ -z "$(ls -A "$STORE/inuse")" ] || fail "gc kept the detached container's image after it ended"
pass "run --detach --image: the image stays in use while the detached container runs"

launch --image nosuch:1 --store "$STORE" && fail "launched a missing image"
[ "$RC" = 125 ] && echo "$ERR" | grep -q "no image nosuch:1" || fail "missing image: rc $RC, $ERR"
launch --image app:1.0 --rootfs "$ROOTFS" --store "$STORE" -- /bin/true && fail "--image with --rootfs accepted"
launch --image app:1.0 --store "$STORE" --rootfs-writable -- /bin/true && fail "--image with --rootfs-writable accepted"
echo "$ERR" | grep -q "never written" || fail "--rootfs-writable message: $ERR"
pass "clear errors: missing image, --image with --rootfs or --rootfs-writable"
echo "PASS image_launch"
