#!/usr/bin/env bash
# Runs an example binary with the given arguments; passes when it exits 0 and prints "OK".
set -euo pipefail
output="$("$@")"
echo "$output"
grep -qx "OK" <<<"$output"
