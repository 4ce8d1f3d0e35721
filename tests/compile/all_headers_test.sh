#!/usr/bin/env bash
# Compiles tests/compile/all_headers.cc (every public header, every container instantiated) as a
# user's optimized build would: -O2 and -O3, -Wall -Wextra -Wpedantic -Werror, under g++ and
# clang, with the debug checks off and on, C++20 and the next standard. Compiled only, not run.
# Usage: all_headers_test.sh
set -uo pipefail

ROOT="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-rcu}"
SRC="$ROOT/tests/compile/all_headers.cc"
failures=0
passes=0

# compiler, standard, optimization, debug checks
while read -r cxx std opt checks; do
  if ! command -v "$cxx" >/dev/null; then
    echo "FAIL: $cxx is not installed"
    failures=$((failures + 1))
    continue
  fi
  if out="$("$cxx" -std="$std" "$opt" -Wall -Wextra -Wpedantic -Werror \
    -DRCU_DEBUG_CHECKS="$checks" -I"$ROOT" -c "$SRC" -o /dev/null 2>&1)"; then
    echo "ok: $cxx -std=$std $opt RCU_DEBUG_CHECKS=$checks"
    passes=$((passes + 1))
  else
    echo "FAIL: $cxx -std=$std $opt RCU_DEBUG_CHECKS=$checks:"
    echo "$out" | head -40
    failures=$((failures + 1))
  fi
done <<'MATRIX'
g++ c++20 -O2 0
g++ c++23 -O3 1
clang++ c++20 -O3 0
clang++ c++2b -O2 1
MATRIX

echo "$passes passed, $failures failed"
((failures == 0))
