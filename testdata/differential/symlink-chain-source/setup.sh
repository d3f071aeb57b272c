#!/bin/sh
# creates the special files git cannot store; runs inside a copy of context/
set -eu
ln -s real.txt link2
ln -s link2 link1
ln -s realdir dirlink
