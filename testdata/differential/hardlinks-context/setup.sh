#!/bin/sh
# creates the special files git cannot store; runs inside a copy of context/
set -eu
ln a b
ln a sub/c
echo other > x
ln x y
