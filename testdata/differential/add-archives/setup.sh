#!/bin/sh
# creates the special files git cannot store; runs inside a copy of context/
set -eu
tar --owner=1001 --group=1002 --mtime=@1700000000 -cf plain.tar -C src .
gzip -n -c plain.tar > gz.tar.gz
bzip2 -c plain.tar > bz.tar.bz2
xz -c plain.tar > xz.tar.xz
rm -rf src
