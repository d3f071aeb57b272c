#!/bin/sh
# creates the special files git cannot store; runs inside a copy of context/
set -eu
mkdir src && echo one > src/a && ln src/a src/b && mkdir src/d && ln src/a src/d/c
tar --owner=0 --group=0 -cf links.tar -C src .
rm -rf src
