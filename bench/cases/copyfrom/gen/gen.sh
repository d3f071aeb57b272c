#!/bin/sh
# gen.sh OUT COUNT: COUNT text files of 20 B to 8 KiB in OUT/d0..d(COUNT/100), from seed.txt.
set -eu
out=$1
count=$2
dirs=$(( (count + 99) / 100 ))
mkdir -p "$out"
i=0
while [ "$i" -lt "$dirs" ]; do mkdir -p "$out/d$i"; i=$((i + 1)); done
awk -v out="$out" -v count="$count" -v seed="$(cat /gen/seed.txt)" 'BEGIN {
  for (n = 0; n < count; n++) {
    f = sprintf("%s/d%d/f%d.txt", out, int(n / 100), n)
    lines = 1 + (n * 7919) % 400
    for (i = 0; i < lines; i++) printf "%s %d %d\n", seed, n, i > f
    close(f)
  }
}'
