#!/bin/sh
# a tar whose hardlink entry names a file that only the image has ($MKTAR: test/differential/mktar.mjs)
set -eu
$MKTAR hl.tar etc/newfile=file:new etc/hostlink=hardlink:etc/passwd
