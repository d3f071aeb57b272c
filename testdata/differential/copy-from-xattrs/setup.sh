#!/bin/sh
# a tar whose file carries security.capability (cap_net_bind_service, vfs_cap_data v2): docker's
# layer export keeps only that xattr, so it is the one BuildKit 20.10 can witness. Needs root.
set -eu
mkdir src
mv c.txt src/
$SETXATTR src/c.txt security.capability hex:0100000200040000000000000000000000000000
tar --xattrs --xattrs-include='security.capability' --owner=0 --group=0 --mtime=@1700000000 -cf cap.tar -C src c.txt
rm -rf src
