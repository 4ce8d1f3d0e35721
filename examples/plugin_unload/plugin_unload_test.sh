#!/usr/bin/env bash
# The right sequence (Barrier, then dlclose) is clean; skipping Barrier() crashes.
set -uo pipefail
host="$1"
plugin="$2"
passes=0
failures=0
if out="$("$host" "$plugin" 2>&1)" && grep -qx OK <<<"$out"; then
  passes=$((passes + 1))
else
  echo "FAIL: the right sequence did not end in OK:"
  echo "$out"
  failures=$((failures + 1))
fi
"$host" "$plugin" --skip-barrier >/dev/null 2>&1
status=$?
# A signal (SIGSEGV, or SIGABRT from a sanitizer's report) or a sanitizer's error exit.
if [[ $status -ge 128 || $status -eq 1 || $status -eq 66 ]] && [[ $status -ne 0 ]]; then
  echo "skipping Barrier() crashed as expected (status $status)"
  passes=$((passes + 1))
else
  echo "FAIL: skipping Barrier() exited with status $status; a crash was expected"
  failures=$((failures + 1))
fi
echo "$passes passed, $failures failed"
exit $((failures > 0))
