#!/bin/sh
# creates the special files git cannot store; runs inside a copy of context/
set -eu
ln -s target lnkdir
ln -s datafile datalink
