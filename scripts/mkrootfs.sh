#!/bin/sh
# mkrootfs.sh DIR: build a minimal busybox root filesystem for secret-launch tests,
# the demo and benchmarks, from Debian's busybox-static (/usr/bin/busybox).
# DIR is created if missing; it must be empty otherwise. Takes ~0.05 s.
set -eu

usage() { echo "usage: $0 DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
dir=$1
bb=${BUSYBOX:-/usr/bin/busybox}
[ -x "$bb" ] || { echo "$0: $bb not found (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$dir"
if [ -n "$(ls -A "$dir")" ]; then echo "$0: $dir is not empty" >&2; exit 1; fi

cd "$dir"
mkdir -p bin sbin usr/bin usr/sbin etc proc sys dev tmp run root home/user var/tmp
chmod 1777 tmp var/tmp
chmod 0700 root
cp "$bb" usr/bin/busybox
chmod 0755 usr/bin/busybox
ln usr/bin/busybox bin/busybox
# Applet links (ls, sh, cat, ...) in /bin. busybox links them to its own resolved
# path, which is /usr/bin/busybox for Debian's package: the same path in the rootfs.
"$bb" --install -s "$PWD/bin"
[ "$(readlink bin/sh)" = /usr/bin/busybox ] || {
  echo "$0: $bb links applets to $(readlink bin/sh), expected /usr/bin/busybox" >&2; exit 1; }

cat > etc/passwd <<'P'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > etc/group <<'G'
root:x:0:
tty:x:5:
user:x:1000:
nogroup:x:65534:
G
chown 1000:1000 home/user
echo container > etc/hostname
: > etc/hosts
