#!/usr/bin/env bash
# Import: a umoci-made gzip image equals umoci unpack's tree; zstd and plain tar
# layers by hand; oci-archive; importing twice stores once; digest and size
# mismatches refused; an interrupted import leaves nothing visible.
. "$(dirname "$0")/image_lib.sh"

# --- umoci gzip image, by name; tree equals umoci unpack's ---
mkumoci "$TMP/L" v1 || fail "umoci could not build the image"
img import "$TMP/L" --name bb:1 || fail "import of the umoci image"
HEX=$(echo "$OUT" | sed -n 's/^bb:1 sha256:\([0-9a-f]*\)$/\1/p')
[ ${#HEX} = 64 ] || fail "import printed \"$OUT\""
[ -d "$STORE/images/$HEX/rootfs" ] || fail "images/$HEX/rootfs missing"
[ "$(stat -c %a "$STORE")" = 700 ] || fail "store mode $(stat -c %a "$STORE"), want 700"
umoci unpack --image "$TMP/L:v1" "$TMP/bundle" >/dev/null || fail "umoci unpack"
tree "$TMP/bundle/rootfs" > "$TMP/want"
tree "$STORE/images/$HEX/rootfs" > "$TMP/got"
diff "$TMP/want" "$TMP/got" > "$TMP/diff" || { head -20 "$TMP/diff"; fail "tree differs from umoci unpack"; }
[ "$(wc -l < "$TMP/got")" -gt 250 ] || fail "tree listing too short to be busybox"
pass "umoci gzip image imported; tree equals umoci unpack's (names, types, modes, owners, contents)"

img ls || fail "ls"
echo "$OUT" | grep -q "^bb:1 *sha256:${HEX:0:12}" || fail "ls lacks bb:1: $OUT"
img ls --json || fail "ls --json"
echo "$OUT" | python3 -c 'import json,sys; v=json.load(sys.stdin); assert v[0]["name"]=="bb:1" and v[0]["files"]>100, v' \
  || fail "ls --json: $OUT"
pass "ls and ls --json list the image"

# --- importing twice stores once; a second name for the same digest ---
img import "$TMP/L" --name bb:1 || fail "second import"
echo "$OUT" | grep -q "already stored" || fail "second import did not say already stored: $OUT"
img import "$TMP/L" --name other || fail "import under another name"
[ "$(ls "$STORE/images" | wc -l)" = 1 ] || fail "two imports stored $(ls "$STORE/images" | wc -l) images"
img inspect other:latest || fail "inspect other:latest"
echo "$OUT" | grep -q "\"bb:1\"" || fail "inspect does not list both names: $OUT"
pass "importing the same image twice stores it once"

# --- oci-archive (the layout tarred) ---
tar -C "$TMP/L" -cf "$TMP/bb.tar" . || fail "tar"
img import "$TMP/bb.tar" || fail "import of the oci-archive"
echo "$OUT" | grep -q "^bb:v1 sha256:$HEX (already stored)" || fail "archive import: $OUT"
pass "oci-archive imports to the same digest (default name from file and ref.name)"

# --- zstd and plain tar layers by hand ---
tar -C "$ROOTFS" --numeric-owner -cf "$TMP/layer.tar" . || fail "tar of the rootfs"
zstd -q -o "$TMP/layer.tar.zst" "$TMP/layer.tar" || fail "zstd"
mklayout "$TMP/Z" '{"config":{"Cmd":["/bin/sh"]}}' \
  "$TMP/layer.tar.zst=application/vnd.oci.image.layer.v1.tar+zstd" >/dev/null || fail "mklayout zstd"
img import "$TMP/Z" --name bbz:1 || fail "import zstd layer"
ZHEX=$(echo "$OUT" | awk '{print $2}' | cut -d: -f2)
tree "$ROOTFS" > "$TMP/want"
tree "$STORE/images/$ZHEX/rootfs" > "$TMP/got"
# the store's rootfs dir itself gets the "./" entry's metadata: same as the source
diff "$TMP/want" "$TMP/got" > "$TMP/diff" || { head "$TMP/diff"; fail "zstd tree differs"; }
mklayout "$TMP/P" '{}' "$TMP/layer.tar=application/vnd.oci.image.layer.v1.tar" >/dev/null
img import "$TMP/P" --name bbp:1 || fail "import plain tar layer"
PHEX=$(echo "$OUT" | awk '{print $2}' | cut -d: -f2)
tree "$STORE/images/$PHEX/rootfs" > "$TMP/got"
diff "$TMP/want" "$TMP/got" >/dev/null || fail "plain tar tree differs"
pass "zstd and plain tar layers unpack to the source tree"

# --- a layer whose last entry lacks its padding and the end blocks (umoci 0.4's
# insert writes such layers; Go's tar reader accepts them) imports; a layer cut
# inside an entry's data is refused ---
python3 - "$TMP" <<'PY'
import io, sys, tarfile
b = io.BytesIO(); t = tarfile.open(fileobj=b, mode="w", format=tarfile.USTAR_FORMAT)
i = tarfile.TarInfo("f"); i.size = 100; t.addfile(i, io.BytesIO(b"x" * 100)); t.close()
open(sys.argv[1] + "/nopad.tar", "wb").write(b.getvalue()[:512 + 100])
open(sys.argv[1] + "/cut.tar", "wb").write(b.getvalue()[:512 + 60])
PY
mklayout "$TMP/NP" '{}' "$TMP/nopad.tar=application/vnd.oci.image.layer.v1.tar" >/dev/null
img import "$TMP/NP" --name nopad:1 || fail "a layer without the last padding was refused"
NPHEX=$(echo "$OUT" | awk '{print $2}' | cut -d: -f2)
[ "$(cat "$STORE/images/$NPHEX/rootfs/f")" = "$(printf 'x%.0s' $(seq 100))" ] || fail "nopad content"
mklayout "$TMP/CUT" '{}' "$TMP/cut.tar=application/vnd.oci.image.layer.v1.tar" >/dev/null
img import "$TMP/CUT" --name cut:1 && fail "a layer cut inside a file's data was imported"
pass "missing final padding tolerated (umoci insert); data cut short refused"

# --- digest and size mismatches ---
cp -a "$TMP/Z" "$TMP/Zbad"
LBLOB=$(ls -S "$TMP/Zbad/blobs/sha256" | head -1)
python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(5000); b=f.read(1); f.seek(5000); f.write(bytes([b[0]^1]))' "$TMP/Zbad/blobs/sha256/$LBLOB"
# a fresh store: the intact image is stored already, and an image whose manifest
# is stored is not read again (its digest binds the layers' digests)
MAINSTORE=$STORE; STORE=$TMP/store2
img import "$TMP/Zbad" --name bad:1 && fail "a layer with a wrong digest was imported"
echo "$ERR" | grep -q "hashes to sha256:" || fail "digest mismatch message: $ERR"
pass "layer digest mismatch refused: $ERR"
CFG=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/blobs/sha256/"+json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"][7:]))["config"]["digest"][7:])' "$TMP/Z")
cp -a "$TMP/Z" "$TMP/Zcfg"
sed -i 's/"Cmd"/"Cmx"/' "$TMP/Zcfg/blobs/sha256/$CFG"
img import "$TMP/Zcfg" --name bad:2 && fail "a config with a wrong digest was imported"
pass "config digest mismatch refused"
LIE_SIZE=1 mklayout "$TMP/S" '{}' "$TMP/layer.tar.zst=application/vnd.oci.image.layer.v1.tar+zstd" >/dev/null
img import "$TMP/S" --name bad:3 && fail "a layer with a wrong size was imported"
echo "$ERR" | grep -q "size" || fail "size mismatch message: $ERR"
pass "layer size mismatch refused: $ERR"
[ -z "$(ls -A "$STORE/images")" ] || fail "a refused import left an image"
[ -z "$(ls -A "$STORE/tmp")" ] || fail "a refused import left $(ls "$STORE/tmp")"
img ls; echo "$OUT" | grep -q "^bad" && fail "a refused import left a name"
STORE=$MAINSTORE
pass "refused imports leave nothing in the store"

# --- an interrupted import leaves nothing visible; gc removes its remains ---
mkdir "$TMP/bigsrc" && truncate -s 384M "$TMP/bigsrc/big"
tar -C "$TMP/bigsrc" -cf - big | gzip -1 > "$TMP/big.tar.gz" && rm -rf "$TMP/bigsrc"
mklayout "$TMP/B" '{}' "$TMP/big.tar.gz" >/dev/null
"$IMG" --store "$STORE" import "$TMP/B" --name big:1 >/dev/null 2>&1 &
NIMG=$(ls "$STORE/images" | wc -l)
IPID=$!; BG_PIDS="$BG_PIDS $IPID"
for _ in $(seq 500); do ls "$STORE"/tmp/import.*/rootfs/big >/dev/null 2>&1 && break; sleep 0.01; done
kill -KILL $IPID; wait $IPID 2>/dev/null
[ "$(ls "$STORE/images" | wc -l)" = "$NIMG" ] || fail "the killed import is visible in images/"
img ls; echo "$OUT" | grep -q "^big" && fail "the killed import is listed"
[ -n "$(ls -A "$STORE/tmp")" ] || fail "the import finished before it was killed (test too slow to interrupt)"
img gc || fail "gc"
[ -z "$(ls -A "$STORE/tmp")" ] || fail "gc left the killed import's directory"
pass "an import killed mid-layer leaves nothing visible; gc removes its temp dir"

# --- bad input gets a clear error ---
img import "$TMP/nonexistent" && fail "import of a missing path"
mkdir "$TMP/empty"; img import "$TMP/empty" && fail "import of an empty dir"
echo "$ERR" | grep -q "oci-layout" || fail "empty dir message: $ERR"
img import "$TMP/L" --name 'Bad Name!' && fail "a bad name was accepted"
img inspect nosuch:1 && fail "inspect of a missing image"
echo "$ERR" | grep -q "no image nosuch:1" || fail "missing image message: $ERR"
chmod 755 "$STORE"; img ls && fail "a store open to others was used"
echo "$ERR" | grep -q "chmod 0700" || fail "store mode message: $ERR"
chmod 700 "$STORE"
pass "clear errors for missing paths, bad names, missing images and an open store"
echo "PASS image_import"
