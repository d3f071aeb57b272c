#!/usr/bin/env bash
# build.sh OUT_DIR -- build a small, real busybox OCI image layout offline, tag `latest`.
#
# The rootfs is the host's static busybox (Debian busybox-static) plus its applet symlinks and a
# minimal /etc, packed into ONE layer with umoci. Every mtime and every `created` field is fixed
# (SOURCE_DATE_EPOCH, default 2024-01-01T00:00:00Z), so the same host busybox gives the same
# manifest digest on every run. Tests and examples use it as their base image.
#
# Needs: umoci, a statically linked busybox at /bin/busybox (or $BUSYBOX), root (for chown/chroot).
# $ARCH (default amd64) is the config's architecture: a foreign busybox (multiarch.sh) needs its
# qemu binfmt handler registered, since `busybox --install` runs it in a chroot.
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR}
busybox=${BUSYBOX:-/bin/busybox}
epoch=${SOURCE_DATE_EPOCH:-1704067200}
arch=${ARCH:-amd64}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

command -v umoci >/dev/null || { echo "build.sh: umoci not found (apt-get install umoci)" >&2; exit 1; }
[ -x "$busybox" ] || { echo "build.sh: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }
if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked'; then
  # without `file`, trust the caller; a dynamic busybox would not run inside the image
  command -v file >/dev/null && { echo "build.sh: $busybox is not statically linked" >&2; exit 1; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tsb-busybox.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
# --install -s writes into /bin /sbin /usr/bin /usr/sbin and fails per applet if those are missing
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,home,var/spool/mail,var/www,dev,proc,sys}
cp "$busybox" "$rootfs/bin/busybox"
chroot "$rootfs" /bin/busybox --install -s
cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
wheel:x:10:root
www-data:x:33:
users:x:100:www-data
nogroup:x:65534:
GROUP
printf 'root:*:10933:0:99999:7:::\nnobody:*:10933:0:99999:7:::\n' >"$rootfs/etc/shadow"
# a small tree that tests modify, rename and delete
mkdir -p "$rootfs/srv/data/sub"
echo 'hello' >"$rootfs/srv/data/hello.txt"
echo 'nested' >"$rootfs/srv/data/sub/nested.txt"
ln -s hello.txt "$rootfs/srv/data/link"
chown -R root:root "$rootfs"
chmod 755 "$rootfs" "$rootfs"/{bin,sbin,usr,usr/bin,usr/sbin,etc,home,var,var/spool,var/spool/mail,var/www,dev,proc,sys,srv}
chmod 1777 "$rootfs/tmp"; chmod 700 "$rootfs/root"; chmod 640 "$rootfs/etc/shadow"
chmod 644 "$rootfs/etc/passwd" "$rootfs/etc/group"
chown 33:33 "$rootfs/var/www"   # numeric: the host may have no www-data
find "$rootfs" -exec touch -h -d "@$epoch" {} +

layout=$work/oci
umoci init --layout "$layout"
umoci new --image "$layout:latest"
umoci config --image "$layout:latest" --no-history --created "$created" --os linux --architecture "$arch" \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --config.cmd sh
# unpack the empty image to a bundle, copy the rootfs in, repack = one tar+gzip layer
umoci unpack --image "$layout:latest" "$work/bundle"
cp -a "$rootfs/." "$work/bundle/rootfs/"
umoci repack --image "$layout:latest" --history.created "$created" \
  --history.created_by "testdata/busybox/build.sh" "$work/bundle"
umoci gc --layout "$layout"

rm -rf "$out"
mkdir -p "$(dirname "$out")"
cp -a "$layout" "$out"
echo "$out"
