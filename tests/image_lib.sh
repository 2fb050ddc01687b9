# Sourced by tests/image_*.sh. Usage: image_X.sh SECRET_IMAGE MKROOTFS [SECRET_LAUNCH]
# Makes a temp dir (removed on exit, even on failure) with a store in it, a
# busybox rootfs, and helpers that build OCI layouts by hand (python3: sha256,
# JSON, tar) or with umoci. Every check can fail; the first failure ends the test.
set -u
IMG=${1:?usage: $0 SECRET_IMAGE MKROOTFS [SECRET_LAUNCH]}
MKROOTFS=${2:?usage: $0 SECRET_IMAGE MKROOTFS [SECRET_LAUNCH]}
LAUNCH=${3:-}
[ -x "$IMG" ] || { echo "FAIL: $IMG is not executable"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
# Debian's python3 (a version manager's shim in PATH can cost ~0.5 s per start)
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3) || { echo "FAIL: python3 missing (scripts/deps.sh)"; exit 1; }
python3() { "$PYTHON" "$@"; }

TMP=$(mktemp -d /tmp/img-test.XXXXXX)
STORE=$TMP/store
ROOTFS=$TMP/rootfs
BG_PIDS=""
cleanup() {
  for p in $BG_PIDS; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  grep -o " $TMP[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
"$MKROOTFS" "$ROOTFS" >/dev/null || { echo "FAIL: mkrootfs"; exit 1; }

fail() {
  echo "FAIL: $*"
  [ -z "${ERR:-}" ] || echo "  (last exit ${RC:-?}, stderr: $ERR)"
  exit 1
}
pass() { echo "ok: $*"; }

# img ARGS...: run secret-image on the test store; OUT, ERR, RC are set.
img() {
  OUT=$("$IMG" --store "$STORE" "$@" 2>"$TMP/err"); RC=$?
  ERR=$(cat "$TMP/err")
  return $RC
}

# mklayout OUT CONFIG_JSON LAYER[=MEDIATYPE]...: an OCI layout by hand; prints
# the manifest digest hex. LIE_SIZE=1 writes the first layer's size one too big.
mklayout() {
  python3 - "$@" <<'PY'
import hashlib, json, os, sys
out, cfg, layers = sys.argv[1], sys.argv[2], sys.argv[3:]
os.makedirs(out + "/blobs/sha256", exist_ok=True)
def blob(data):
    h = hashlib.sha256(data).hexdigest()
    with open(f"{out}/blobs/sha256/{h}", "wb") as f:
        f.write(data)
    return h
descs = []
for i, l in enumerate(layers):
    path, mt = l.split("=", 1) if "=" in l else (l, "application/vnd.oci.image.layer.v1.tar+gzip")
    d = open(path, "rb").read()
    size = len(d) + (1 if i == 0 and os.environ.get("LIE_SIZE") else 0)
    descs.append({"mediaType": mt, "digest": "sha256:" + blob(d), "size": size})
c = json.loads(cfg)
c.update({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
c = json.dumps(c).encode()
ch = blob(c)
m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": "sha256:" + ch, "size": len(c)},
                "layers": descs}).encode()
mh = blob(m)
with open(out + "/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + mh,
         "size": len(m), "platform": {"os": "linux", "architecture": "amd64"}}]}, f)
with open(out + "/oci-layout", "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
print(mh)
PY
}

# mktar OUT PYTHON: a tar whose members the python snippet adds to `t`
# (tarfile.TarFile, PAX format); helpers reg(name, data, mode=0o644, **kw),
# sym(name, target), hard(name, target), node(name, type), d(name).
mktar() {
  python3 - "$1" "$2" <<'PY'
import io, sys, tarfile
out, code = sys.argv[1], sys.argv[2]
t = tarfile.open(out, "w", format=tarfile.PAX_FORMAT)
def ti(name, type, mode=0o644, **kw):
    i = tarfile.TarInfo(name); i.type = type; i.mode = mode; i.mtime = 1700000000
    for k, v in kw.items(): setattr(i, k, v)
    return i
def reg(name, data=b"x", mode=0o644, **kw):
    i = ti(name, tarfile.REGTYPE, mode, **kw); i.size = len(data); t.addfile(i, io.BytesIO(data))
def sym(name, target): i = ti(name, tarfile.SYMTYPE, 0o777); i.linkname = target; t.addfile(i)
def hard(name, target): i = ti(name, tarfile.LNKTYPE); i.linkname = target; t.addfile(i)
def node(name, type, **kw): t.addfile(ti(name, type, 0o666, devmajor=1, devminor=3, **kw))
def d(name, mode=0o755, **kw): t.addfile(ti(name, tarfile.DIRTYPE, mode, **kw))
exec(code)
t.close()
PY
}

# tree DIR: one line per entry (path type mode uid gid size-for-files link) and
# the sha256 of every regular file, sorted: for comparing unpacked trees.
tree() {
  (cd "$1" && find . -printf '%p %y %m %U %G %l\n' | sort &&
     find . -type f -printf '%p %s\n' | sort &&
     find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

# busybox image made with umoci (gzip layer): LAYOUT:TAG
mkumoci() {
  local layout=$1 tag=$2
  [ -d "$layout" ] || umoci init --layout "$layout" || return 1
  umoci new --image "$layout:$tag" && umoci insert --image "$layout:$tag" "$ROOTFS" / >/dev/null
}
