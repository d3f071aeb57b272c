#!/bin/sh
# creates the special files git cannot store; runs inside a copy of context/
set -eu
chmod 4755 suid
chmod 2750 sgid
chmod 0400 ro
chmod 1777 sticky
chmod 0700 private
mkdir -p empty/nested-empty
chmod 0711 empty
