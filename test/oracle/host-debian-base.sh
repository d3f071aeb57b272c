#!/usr/bin/env bash
# host-debian-base.sh OUT_DIR -- a build context whose Dockerfile makes a minimal Debian 12 base
# from this (Debian 12) host's own binaries: what tsbuild's image needs of debian:bookworm-slim
# (glibc, sh, bash, coreutils, setpriv, setsid), for checks that cannot pull from Docker Hub.
# Each binary is copied with the shared libraries ldd names for it.
set -euo pipefail
out=${1:?usage: host-debian-base.sh OUT_DIR}
root=$out/rootfs
mkdir -p "$root"/{bin,usr/bin,etc,tmp,root,proc,sys,dev}
chmod 1777 "$root/tmp"
tools="sh bash cp chroot mknod touch setpriv setsid rm mkdir ls cat env id ln mv chmod chown sleep head wc"
for t in $tools; do
  p=$(command -v "$t")
  cp -L "$p" "$root/usr/bin/$t"
  for lib in $(ldd "$p" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -Ln "$lib" "$root$lib" 2>/dev/null || true
  done
done
# all of glibc (libc6), as every Debian image has it
for lib in $(dpkg -L libc6 | grep -E '\.so(\.[0-9]+)*$'); do
  [ -e "$lib" ] || continue
  mkdir -p "$root$(dirname "$lib")"
  cp -Ln "$lib" "$root$lib" 2>/dev/null || true
done
ln -sf ../usr/bin/sh "$root/bin/sh"
ln -sf ../usr/bin/bash "$root/bin/bash"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\n' > "$root/etc/group"
cp /etc/os-release "$root/etc/os-release"
printf 'FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n' > "$out/Dockerfile"
