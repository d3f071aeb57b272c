#!/usr/bin/env bash
# test.sh -- the README's second command: set up a fresh machine and run every test.
# Ends with a plain "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm test
