#!/usr/bin/env bash
# test.sh -- the README's second command: set up a fresh machine and run every test: the whole
# suite under Node (npm test), then the end-to-end tests again against the compiled executable
# dist/tsbuild (npm run test:exe). Ends with one plain "N passed, N failed, N skipped" line that
# adds up both runs; exits non-zero if either failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
npm test 2>&1 | tee "$logs/node.log"; node_rc=${PIPESTATUS[0]}
npm run --silent test:exe 2>&1 | tee "$logs/exe.log"; exe_rc=${PIPESTATUS[0]}
summary() { grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1; }
total() { # column N of both summary lines, added up (a run that printed none counts as one failure)
  local a b
  a=$(summary "$logs/node.log" | awk -v c="$1" '{print $c}'); b=$(summary "$logs/exe.log" | awk -v c="$1" '{print $c}')
  echo $(( ${a:-$2} + ${b:-$2} ))
}
echo
echo "node: $(summary "$logs/node.log"); executable: $(summary "$logs/exe.log")"
echo "$(total 1 0) passed, $(total 3 1) failed, $(total 5 0) skipped"
[ "$node_rc" -eq 0 ] && [ "$exe_rc" -eq 0 ]
