#!/bin/sh
# creates the special files git cannot store; runs inside a copy of context/
set -eu
printf 'nfc\n' > "$(printf 'caf\303\251')"
printf 'nfd\n' > "$(printf 'cafe\314\201')"
printf 'tab\n' > "$(printf 'with\ttab')"
printf 'nl\n' > "$(printf 'with\nnewline')"
printf 'sp\n' > 'with space'
printf 'emoji\n' > "$(printf '\360\237\220\263')"
