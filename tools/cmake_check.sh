#!/usr/bin/env bash
# The CMake half of the test command (test.sh runs it): configure and build the library and its
# tests with CMake (the library in Debug; the library and the tests in Release, with ctest;
# warnings as errors), install the Release build into a temporary prefix, then build and run
# examples/installed_consumer/ against that prefix twice: a CMake project with find_package(rcu)
# (g++) and a Makefile with pkg-config (clang++). Prints "cmake: N passed, M failed" last.
# Extra arguments go to the library's cmake configure step.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$PWD"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
jobs="$(nproc)"
passed=0
failed=0

step() {  # description, command...
  local what="$1"
  shift
  echo "==> $what"
  if "$@"; then
    return 0
  fi
  echo "FAILED: $what"
  failed=$((failed + 1))
  echo "cmake: $passed passed, $failed failed"
  exit 1
}

# Debug builds the library alone (the debug checks on; Bazel runs the tests that need them), and
# Release (-O3, what the README's build line makes) builds the library and the tests and runs
# ctest; both with warnings as errors. The Release build is the one installed.
step "cmake configure (Debug)" cmake -S "$repo" -B "$work/build-Debug" -DCMAKE_BUILD_TYPE=Debug \
  -DRCU_WERROR=ON "$@"
step "cmake build (Debug, the library)" cmake --build "$work/build-Debug" -j "$jobs" --target rcu
build="$work/build-Release"
step "cmake configure (Release)" cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DRCU_WERROR=ON "$@"
step "cmake build (Release)" cmake --build "$build" -j "$jobs"
echo "==> ctest (Release)"
(cd "$build" && ctest -j "$jobs" --output-on-failure) | tee "$work/ctest.log"
ctest_rc=${PIPESTATUS[0]}
passed=$((passed + $(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed' "$work/ctest.log")))
failed=$((failed + $(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*(Failed|Timeout|Not Run|Exception)' "$work/ctest.log")))
[[ -f "$build/compile_commands.json" ]] || step "compile_commands.json written" false
step "cmake install" cmake --install "$work/build-Release" --prefix "$work/prefix"

consumer() {  # name, build command...
  local name="$1"
  shift
  echo "==> installed consumer: $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    echo "FAILED: installed consumer: $name"
    failed=$((failed + 1))
  fi
}
consumer "find_package(rcu), g++" bash -c "
  cmake -S '$repo/examples/installed_consumer' -B '$work/find_package' \
    -DCMAKE_CXX_COMPILER=g++ -DCMAKE_PREFIX_PATH='$work/prefix' &&
  cmake --build '$work/find_package' && '$work/find_package/installed_consumer'"
pc_dir="$(dirname "$(find "$work/prefix" -name rcu.pc | head -1)")"
mkdir -p "$work/pkg_config"
consumer "pkg-config rcu, clang++" bash -c "
  PKG_CONFIG_PATH='$pc_dir' make -C '$work/pkg_config' \
    -f '$repo/examples/installed_consumer/Makefile' CXX=clang++ &&
  '$work/pkg_config/installed_consumer'"

echo "cmake: $passed passed, $failed failed"
((ctest_rc == 0 && failed == 0))
