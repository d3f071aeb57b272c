#!/bin/sh
# creates the special files git cannot store; runs inside a copy of context/
set -eu
n100=$(printf 'n%.0s' $(seq 1 110))
n255=$(printf 'x%.0s' $(seq 1 250))
echo hundred > "$n100.txt"
mkdir -p "deep/$n100/$n100/$n100"
echo deep > "deep/$n100/$n100/$n100/$n255"
ln -s "$n255" "linkto-long"
