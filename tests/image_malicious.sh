#!/usr/bin/env bash
# Hostile layers: each is refused or neutralised, and nothing is written outside
# the store: "..", absolute names, symlinked parents (absolute and relative),
# hard links out of the rootfs, whiteouts aimed outside, device nodes,
# trusted.*/security.* xattrs, setuid bits, decompression and entry-count bombs.
. "$(dirname "$0")/image_lib.sh"

OUTSIDE=$TMP/outside
mkdir -p "$OUTSIDE"; echo victim > "$OUTSIDE/victim"
snapshot() { (cd "$TMP" && find outside rootfs -printf '%p %y %m %s %n\n' | sort; sha256sum outside/victim); }
snapshot > "$TMP/before"
N=0
# layer_image NAME PYTHON...: one image per argument, each a gzip layer from mktar
layer_image() {
  local name=$1; shift
  local layers=() i=0
  for code in "$@"; do
    i=$((i + 1))
    mktar "$TMP/$name.$i.tar" "$code" || fail "mktar $name"
    gzip -n -f "$TMP/$name.$i.tar"
    layers+=("$TMP/$name.$i.tar.gz")
  done
  mklayout "$TMP/lay-$name" '{}' "${layers[@]}" >/dev/null || fail "mklayout $name"
}
refused() { # NAME EXPECTED-MESSAGE-REGEX
  img import "$TMP/lay-$1" --name "$1" && fail "$1: imported, expected a refusal"
  echo "$ERR" | grep -Eq "$2" || fail "$1: message \"$ERR\" lacks /$2/"
  pass "$1 refused: ${ERR#*: }"
}
imported() { # NAME: import must succeed; sets R to its rootfs
  img import "$TMP/lay-$1" --name "$1" || fail "$1: not imported"
  R=$STORE/images/$(echo "$OUT" | awk '{print $2}' | cut -d: -f2)/rootfs
}

layer_image dotdot "reg('../../../../../../..$OUTSIDE/dotdot')"
refused dotdot 'escapes the root'
layer_image dotdot2 "d('a'); reg('a/../../x')"
refused dotdot2 'escapes the root'

layer_image abs "reg('$OUTSIDE/abs', b'neutral')"
imported abs
[ "$(cat "$R$OUTSIDE/abs")" = neutral ] || fail "absolute name not placed inside the rootfs"
pass "an absolute name is taken relative to the rootfs"

layer_image symabs "sym('evil', '$OUTSIDE'); reg('evil/pwned')"
img import "$TMP/lay-symabs" --name symabs && fail "symabs: a dangling in-root parent was followed"
pass "symlinked parent (absolute target) refused: ${ERR#*: }"
layer_image symrel "sym('rel', '../../../../../../../..$OUTSIDE'); reg('rel/pwned')"
img import "$TMP/lay-symrel" --name symrel && fail "symrel imported"
pass "symlinked parent (relative target climbing out) refused"
layer_image sym2 "d('etc'); sym('etcl', '/etc')" "reg('etcl/planted', b'in')"
imported sym2
[ "$(cat "$R/etc/planted")" = in ] || fail "symlinked parent to /etc not resolved inside the rootfs"
[ ! -e /etc/planted ] || fail "/etc/planted written on the host"
pass "a symlinked parent pointing at /etc resolves inside the rootfs (two layers)"

layer_image hlabs "hard('hl', '$OUTSIDE/victim')"
refused hlabs 'hard link'
layer_image hlrel "hard('hl', '../../../../../..$OUTSIDE/victim')"
refused hlrel 'escapes the root'
layer_image hlsym "sym('s', '$OUTSIDE')" "hard('hl', 's/victim')"
refused hlsym 'hard link'
[ "$(stat -c %h "$OUTSIDE/victim")" = 1 ] || fail "the victim gained a hard link"

layer_image whsym "sym('w', '$OUTSIDE')" "reg('w/.wh.victim', b'')"
imported whsym
[ -e "$OUTSIDE/victim" ] || fail "a whiteout through a symlink removed the host's victim"
pass "a whiteout behind a symlinked parent stays inside the rootfs"
layer_image whdot "reg('a/../../.wh.victim', b'')"
refused whdot 'escapes the root'
layer_image whdd "d('a'); reg('a/.wh..', b'')"
refused whdd 'names no file'

layer_image nodes "import tarfile; d('dev'); node('dev/mem', tarfile.CHRTYPE); node('dev/sda', tarfile.BLKTYPE); node('fifo', tarfile.FIFOTYPE); reg('ok')"
imported nodes
[ -z "$(find "$R" -type c -o -type b)" ] || fail "a device node was created: $(find "$R" -type c -o -type b)"
[ -p "$R/fifo" ] && [ -f "$R/ok" ] || fail "fifo or file missing next to the skipped devices"
echo "$ERR" | grep -q "2 device nodes" || fail "no note about skipped devices: $ERR"
pass "device nodes are not created (and said so)"

layer_image xattrs "d('dir', pax_headers={'SCHILY.xattr.trusted.overlay.opaque': 'y'}); reg('f', pax_headers={'SCHILY.xattr.security.capability': 'xx', 'SCHILY.xattr.trusted.overlay.redirect': '/etc', 'SCHILY.xattr.user.keep': 'yes'})"
imported xattrs
python3 - "$R" <<'PY' || fail "xattrs: trusted.* or security.* kept, or user.* lost"
import os, sys
r = sys.argv[1]
assert os.listxattr(r + "/dir") == [], os.listxattr(r + "/dir")
assert os.listxattr(r + "/f") == ["user.keep"], os.listxattr(r + "/f")
PY
pass "trusted.* and security.* xattrs dropped, user.* kept"

layer_image modes "reg('suid', mode=0o4755); reg('sgid', mode=0o2750, gid=50); reg('plain', mode=0o755, uid=1000, gid=1000); d('sticky', mode=0o1777)"
imported modes
[ "$(stat -c '%a %u %g' "$R/suid" "$R/sgid" "$R/plain" "$R/sticky" | tr '\n' ' ')" = "4755 0 0 2750 0 50 755 1000 1000 1777 0 0 " ] ||
  fail "modes/owners: $(stat -c '%n %a %u %g' "$R/suid" "$R/sgid" "$R/plain" "$R/sticky")"
pass "setuid/setgid/sticky bits and owners exactly as the image says"

layer_image wh "d('a'); reg('a/x'); reg('a/y'); d('b'); reg('b/z'); reg('keep')" \
  "d('a'); reg('a/.wh..wh..opq', b''); reg('a/new'); reg('.wh.b', b''); reg('.wh.keep2', b'')"
imported wh
[ "$(cd "$R" && find . | sort | tr '\n' ' ')" = ". ./a ./a/new ./keep " ] || fail "whiteouts: $(cd "$R" && find . | sort | tr '\n' ' ')"
layer_image wh2 "d('a'); reg('a/new'); reg('a/.wh..wh..opq', b'')"
imported wh2
[ -f "$R/a/new" ] || fail "an opaque marker hid a file of its own layer"
pass "whiteouts and opaque directories apply to lower layers only"

# directory nesting: by name, and through a symlinked parent into a deep directory
layer_image deepname "reg('/'.join(['d'] * 250) + '/f')"
refused deepname 'deeper than 200'
layer_image deepsym "p = '/'.join(['a'] * 150); reg(p + '/x'); sym('s', '/' + p); reg('s/' + '/'.join(['b'] * 100) + '/f')"
refused deepsym 'deeper than 200'

# decompression bomb: 256 MiB of zeros in a ~256 KiB gzip layer, store capped at 64 MiB
mkdir "$TMP/bomb" && truncate -s 256M "$TMP/bomb/zeros"
tar -C "$TMP/bomb" -cf - zeros | gzip -1 > "$TMP/bomb.tar.gz"; rm -rf "$TMP/bomb"
mklayout "$TMP/lay-bomb" '{}' "$TMP/bomb.tar.gz" >/dev/null
T0=$(date +%s%N)
img import "$TMP/lay-bomb" --name bomb --max-size 64m && fail "bomb imported"
T1=$(date +%s%N)
echo "$ERR" | grep -q "expands beyond" || fail "bomb message: $ERR"
[ $(((T1 - T0) / 1000000)) -lt 5000 ] || fail "refusing the bomb took $(((T1 - T0) / 1000000)) ms"
pass "decompression bomb refused in $(((T1 - T0) / 1000000)) ms: ${ERR#*: }"
layer_image many "[reg('f%d' % i) for i in range(3000)]"
img import "$TMP/lay-many" --name many --max-entries 1000 && fail "entry bomb imported"
echo "$ERR" | grep -q "more than 1000 entries" || fail "entry cap message: $ERR"
pass "entry-count cap enforced"

# nothing outside changed; refused imports left nothing in the store
snapshot > "$TMP/after"
diff "$TMP/before" "$TMP/after" || fail "something outside the store changed"
[ -z "$(ls -A "$STORE/tmp")" ] || fail "refused imports left $(ls "$STORE/tmp")"
for n in dotdot dotdot2 symabs symrel hlabs hlrel hlsym whdot whdd deepname deepsym bomb many; do
  img inspect "$n" && fail "refused image $n is in the store"
done
[ ! -e /dotdot ] && [ ! -e /x ] && [ ! -e /planted ] || fail "a file appeared in /"
pass "nothing written outside the store; refused images left nothing in it"
echo "PASS image_malicious"
