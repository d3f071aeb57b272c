#!/usr/bin/env bash
# arm64-busybox.sh -- print the path of a static arm64 busybox: Debian's busybox-static:arm64,
# downloaded once with apt (`dpkg --add-architecture arm64 && apt-get update && apt-get download`)
# and kept in $TSBUILD_FIXTURE_CACHE (default /var/cache/tsbuild-fixtures). The multi-platform
# tests build their linux/arm64 busybox image from it (ARCH=arm64 BUSYBOX=… build.sh). Root.
set -euo pipefail
cache=${TSBUILD_FIXTURE_CACHE:-/var/cache/tsbuild-fixtures}
bin=$cache/busybox-arm64
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$cache"
if ! dpkg --print-foreign-architectures | grep -qx arm64; then dpkg --add-architecture arm64; fi
if ! apt-cache show busybox-static:arm64 >/dev/null 2>&1; then
  for i in 1 2 3; do apt-get update -qq >/dev/null 2>&1 && break; sleep 5; done
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/tsb-arm64.XXXXXX")
trap 'rm -rf "$work"' EXIT
( cd "$work" && apt-get download -o APT::Sandbox::User=root busybox-static:arm64 >/dev/null )
dpkg-deb -x "$work"/busybox-static_*_arm64.deb "$work/x"
install -m 0755 "$work/x/bin/busybox" "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "$bin"
