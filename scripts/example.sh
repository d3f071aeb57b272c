#!/usr/bin/env bash
# example.sh -- the README's first command: set up, install the executable (dist/tsbuild) as
# /usr/local/bin/tsbuild (PREFIX=... to put it elsewhere), build testdata/example with it
# (two stages, COPY --from, RUN steps in real runc containers), export it as an OCI archive,
# check it with skopeo, unpack it with umoci and run it with runc. Prints what the image says.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TSBUILD_ROOT=${TSBUILD_ROOT:-/var/lib/tsbuild-example}
# setup.sh's `npm run build` compiled dist/tsbuild: one file, no Node or node_modules needed
tsbuild=${PREFIX:-/usr/local}/bin/tsbuild
install -D -m 0755 dist/tsbuild "$tsbuild"
echo "installed $tsbuild ($("$tsbuild" --version))"
tsb() { "$tsbuild" "$@"; }
work=$(mktemp -d /tmp/tsbuild-example.XXXXXX)
trap 'rm -rf "$work"' EXIT
bash testdata/busybox/build.sh "$work/busybox" >/dev/null
tsb load -i "$work/busybox" -t busybox:latest >/dev/null
tsb build -t tsbuild-example:latest --progress=plain \
  --output type=oci,dest="$work/example.tar" testdata/example
skopeo inspect oci-archive:"$work/example.tar" | head -20
mkdir -p "$work/example.oci" && tar -xf "$work/example.tar" -C "$work/example.oci"
umoci unpack --image "$work/example.oci:latest" "$work/bundle" >/dev/null
# umoci's spec asks for a terminal; run detached from one, as a build would
sed -i 's/"terminal": true/"terminal": false/' "$work/bundle/config.json"
echo "--- running the image with runc ---"
runc run --bundle "$work/bundle" "tsbuild-example-$$"
