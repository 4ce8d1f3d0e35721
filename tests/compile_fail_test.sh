#!/usr/bin/env bash
# Compile-failure tests: each case of tests/compile_fail/domain_misuse.cc must fail to compile
# with the expected error; the control case must compile. Usage: compile_fail_test.sh <c++ compiler>
set -uo pipefail

CXX="$1"
ROOT="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-rcu}"
SRC="$ROOT/tests/compile_fail/domain_misuse.cc"
CLANG="$(command -v clang++ || true)"
failures=0
passes=0

compile() {  # compiler, case, extra flags...
  local cxx="$1" name="$2"
  shift 2
  "$cxx" -x c++ -std=c++20 -fsyntax-only -Werror -I"$ROOT" "$@" "-DCASE_$name" "$SRC" 2>&1
}

expect_ok() {
  local out
  if ! out="$(compile "$@")"; then
    echo "FAIL: $2 should compile with $1:"
    echo "$out"
    failures=$((failures + 1))
  else
    echo "ok: $2 compiles"
    passes=$((passes + 1))
  fi
}

expect_error() {  # compiler, case, pattern, extra flags...
  local cxx="$1" name="$2" pattern="$3" out
  shift 3
  if out="$(compile "$cxx" "$name" "$@")"; then
    echo "FAIL: $name compiled, but it is misuse the API must reject"
    failures=$((failures + 1))
  elif ! grep -qE "$pattern" <<<"$out"; then
    echo "FAIL: $name failed to compile for another reason than /$pattern/:"
    echo "$out"
    failures=$((failures + 1))
  else
    echo "ok: $name is rejected (/$pattern/)"
    passes=$((passes + 1))
  fi
}

# Without C++20, the first error is the library's own (rcu/version.h), not one deep inside.
expect_first_error() {  # compiler, pattern, extra flags...
  local cxx="$1" pattern="$2" out first
  shift 2
  if out="$(compile "$cxx" CONTROL "$@")"; then
    echo "FAIL: the library compiled with $* on $cxx"
    failures=$((failures + 1))
    return
  fi
  first="$(grep -m1 'error' <<<"$out")"
  if grep -qE "$pattern" <<<"$first"; then
    echo "ok: $cxx $* stops at once (/$pattern/)"
    passes=$((passes + 1))
  else
    echo "FAIL: $cxx $* first failed with: $first"
    failures=$((failures + 1))
  fi
}

expect_ok "$CXX" CONTROL
expect_first_error "$CXX" "rcu requires C\+\+20" -std=c++17
# A missing guard argument: g++ says "no matching function", clang "too few arguments".
missing_argument="no matching (member )?function|too few arguments"
expect_error "$CXX" READ_WITHOUT_GUARD "$missing_argument"
expect_error "$CXX" COPY_GUARD "deleted"
expect_error "$CXX" MOVE_GUARD "deleted"
expect_error "$CXX" WRITE_THROUGH_CONST "read-only|const"
expect_error "$CXX" COPY_PUBLISHED "deleted"
expect_error "$CXX" LIST_ITERATE_WITHOUT_GUARD "$missing_argument"
expect_error "$CXX" REPLACE_MAP_WRITE_VALUE "read-only|const"
expect_error "$CXX" COPY_ON_GROW_ARRAY_MOVE_ONLY "T must be copy-constructible"
expect_error "$CXX" SEQ_FIELD_READ_OUTSIDE_A_REGION "private"
if [[ -n "$CLANG" ]]; then
  expect_ok "$CLANG" CONTROL -Wthread-safety
  expect_first_error "$CLANG" "rcu requires C\+\+20" -std=c++17
  expect_error "$CLANG" PROTECTED_WITHOUT_LOCK "requires holding mutex 'mu'" -Wthread-safety
  expect_error "$CLANG" SEQ_WRITE_WITHOUT_LOCK "requires holding mutex" -Wthread-safety
else
  echo "skipped: clang++ not installed, R2's compile-time check not exercised"
fi

echo "$passes passed, $failures failed"
exit $((failures > 0))
