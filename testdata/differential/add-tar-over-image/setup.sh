#!/bin/sh
# creates the special files git cannot store; runs inside a copy of context/
set -eu
mkdir -p src/over/keepdir
echo file-now > src/over/dir-to-file
ln -s /etc src/over/dir-to-link
chmod 755 src/over/keepdir
echo added > src/over/keepdir/new
mkfifo src/over/fifo
ln -s ../etc/passwd src/over/pw
tar --owner=0 --group=0 --mtime=@1700000000 -cf over.tar -C src over
rm -rf src
