#!/bin/sh
# creates the special files git cannot store; runs inside a copy of context/
set -eu
ln -s file.txt rel-link
ln -s /etc/passwd abs-link
ln -s does-not-exist dangling
ln -s dir dir-link
ln -s ../file.txt dir/up-link
