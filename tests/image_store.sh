#!/usr/bin/env bash
# The store: verify (the record's MAC, manifest and config digests) and verify
# --deep (names every file changed, added or removed); rm and gc; the host key.
. "$(dirname "$0")/image_lib.sh"

tar -C "$ROOTFS" --numeric-owner -cf "$TMP/layer.tar" . || fail "tar"
gzip -n -k "$TMP/layer.tar"
mklayout "$TMP/A" '{"config":{"Cmd":["/bin/sh"]}}' "$TMP/layer.tar.gz" >/dev/null
mklayout "$TMP/B" '{"config":{"Cmd":["/bin/true"]}}' "$TMP/layer.tar.gz" >/dev/null
img import "$TMP/A" --name a:1 || fail "import a:1"
AHEX=$(echo "$OUT" | awk '{print $2}' | cut -d: -f2)
R=$STORE/images/$AHEX/rootfs
[ "$(stat -c '%a %s' "$STORE/hostkey")" = "600 55" ] || fail "hostkey: $(stat -c '%a %s' "$STORE/hostkey")"
img verify a:1 --deep || fail "verify --deep of an intact image"
echo "$OUT" | grep -q "^ok a:1 sha256:$AHEX (deep)" || fail "verify output: $OUT"
pass "verify --deep passes on an intact image; host key is 0600"

echo tampered >> "$R/etc/hostname"
touch "$R/usr/bin/added"
rm "$R/etc/hosts"
chmod 4755 "$R/bin/busybox"  # a hard link of usr/bin/busybox: both change
ln -sf /evil "$R/bin/ls"
img verify a:1 || fail "a plain verify checks the record only, and the record is intact: $ERR"
img verify a:1 --deep && fail "verify --deep passed on a changed tree"
[ "$RC" = 1 ] || fail "verify --deep exit $RC"
expect="changed ./bin/busybox
changed ./bin/ls
removed ./etc/hosts
changed ./etc/hostname
added ./usr/bin/added
changed ./usr/bin/busybox"
[ "$(echo "$OUT" | sort)" = "$(echo "$expect" | sort)" ] || fail "verify --deep named: $OUT"
echo "$ERR" | grep -q "6 paths differ" || fail "verify --deep summary: $ERR"
pass "verify --deep names every file changed, added or removed (content, mode, symlink target)"

# the record and documents are authenticated
img import "$TMP/B" --name b:1 || fail "import b:1"
BHEX=$(echo "$OUT" | awk '{print $2}' | cut -d: -f2)
BD=$STORE/images/$BHEX
cp "$BD/files.rec" "$TMP/rec"
sed -i 's|^\./etc/hostname f 0644 0 0 [0-9]* [0-9a-f]*|./etc/hostname f 0644 0 0 5 0000000000000000000000000000000000000000000000000000000000000000|' "$BD/files.rec"
cmp -s "$BD/files.rec" "$TMP/rec" && fail "test did not edit the record"
img verify b:1 && fail "an edited record passed verify"
echo "$ERR" | grep -q "fails authentication" || fail "edited record message: $ERR"
cp "$TMP/rec" "$BD/files.rec"
img verify b:1 || fail "restored record: $ERR"
sed -i 's|/bin/true|/bin/evil|' "$BD/config.json"
img verify b:1 && fail "an edited config passed verify"
echo "$ERR" | grep -q "config.json was changed" || fail "edited config message: $ERR"
img inspect b:1 && fail "inspect used an edited config"
pass "an edited record (MAC) or config (digest) is detected"

# another host key cannot vouch for the record
cp "$STORE/hostkey" "$TMP/hostkey"
rm "$STORE/hostkey"
img verify a:1 && fail "verify passed without the host key"
[ ! -e "$STORE/hostkey" ] || fail "verify made a new host key"
mklayout "$TMP/C" '{"config":{"Cmd":["/bin/false"]}}' "$TMP/layer.tar.gz" >/dev/null
img import "$TMP/C" --name other:1 >/dev/null || fail "import makes a new host key"
[ -e "$STORE/hostkey" ] || fail "import made no host key"
img verify a:1 && fail "verify passed with another host key"
echo "$ERR" | grep -q "fails authentication" || fail "other host key message: $ERR"
img rm other:1 >/dev/null
cp "$TMP/hostkey" "$STORE/hostkey"
chmod 644 "$STORE/hostkey"
img verify a:1 && fail "a host key readable by others was used"
chmod 600 "$STORE/hostkey"
pass "the record verifies only with the host key that made it (0600 enforced)"

# rm and gc
img import "$TMP/A" --name a:2 || fail "second name"
img rm a:1 || fail "rm a:1"
[ -d "$STORE/images/$AHEX" ] || fail "rm removed an image that has another name"
img rm a:2 || fail "rm a:2"
[ ! -d "$STORE/images/$AHEX" ] || fail "rm of the last name kept the image"
img rm a:2 && fail "rm of a missing name succeeded"
img rm "sha256:$BHEX" || fail "rm by digest"
[ ! -d "$BD" ] || fail "rm by digest kept the image"
img ls --json; [ "$OUT" = "[]" ] || fail "store not empty: $OUT"
# an image whose name was removed while in use is left for gc; a stale marker is ignored
img import "$TMP/A" --name a:3 >/dev/null || fail "import a:3"
touch "$STORE/inuse/$AHEX.99999.00000000"
img rm a:3 >/dev/null; echo "$OUT" | grep -q "removed a:3$" || fail "a stale marker kept the image: $OUT"
[ ! -e "$STORE/inuse/$AHEX.99999.00000000" ] || img gc
[ -z "$(ls -A "$STORE/inuse")" ] || fail "gc left a stale marker"
pass "rm removes a name and the image with its last name; stale markers do not keep images"
echo "PASS image_store"
