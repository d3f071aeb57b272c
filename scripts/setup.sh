#!/usr/bin/env bash
# setup.sh -- everything a fresh Debian 12 machine needs to build, test and run tsbuild:
# system packages (runc, crun, docker-registry, skopeo, umoci, busybox-static, util-linux for
# setpriv and setsid, apache2-utils for htpasswd, chromium for the HTML report test, gcc +
# libc6-dev for the static seccomp probe, bzip2 + xz-utils for the differential suite's archives, git for git contexts,
# uidmap (newuidmap/newgidmap) for the rootless tests),
# node modules, the compiled CLI, and the busybox base image (testdata/busybox/build.sh) loaded
# into the store as busybox:latest.
# Idempotent. Needs root for apt-get (as CI is).
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(runc crun docker-registry skopeo umoci busybox-static apache2-utils chromium file gcc libc6-dev util-linux bzip2 xz-utils qemu-user-static git uidmap)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# the Debian docker-registry package starts a service on :5000 we do not use; tests start their own
systemctl disable --now docker-registry >/dev/null 2>&1 || true
[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
npm run build --silent
