#!/bin/sh
cat /srv/message.txt
echo "running as $(id -un) in $(pwd)"
