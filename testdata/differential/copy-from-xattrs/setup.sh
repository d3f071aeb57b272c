#!/bin/sh
# creates the special files git cannot store; runs inside a copy of context/
set -eu
$SETXATTR x.txt user.diff.test value1
$SETXATTR x.txt user.other second
