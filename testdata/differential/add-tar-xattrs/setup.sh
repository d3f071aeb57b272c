#!/bin/sh
# the same cap.tar as copy-from-xattrs (a file with security.capability)
set -eu
. "$(dirname "$0")/../copy-from-xattrs/setup.sh"
