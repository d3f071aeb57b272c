#!/bin/sh
# creates the special files git cannot store; runs inside a copy of context/
set -eu
$MKTAR wh.tar srv/data/plain=file:x srv/data/.wh.hello.txt=file:
