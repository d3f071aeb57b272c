#!/bin/sh
# Writes the message the final image prints.
echo "$1 from a tsbuild-built image (built in $(uname -s) by uid $(id -u))"
