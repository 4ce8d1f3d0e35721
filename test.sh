#!/usr/bin/env bash
# The project's test command: formatting and Bazel-file lint (tools/lint.sh), the whole suite
# with g++ (every public header compiled -O2/-O3 under g++ and clang too: all_headers_test), the
# whole tree built and tested optimized (-c opt: the debug checks off, as users' release builds;
# the misuse tests skip themselves there), the tests again under AddressSanitizer,
# ThreadSanitizer and UndefinedBehaviorSanitizer, the whole suite with clang (-Wthread-safety on
# our code; in its own output base, so the two toolchains never evict each other's cache), then
# the separate workspace in examples/consumer/ that depends on this one (so the public labels and
# rcu_deps() cannot break), then the CMake build (Debug: the library; Release: with ctest), an install and
# two consumers of it (tools/cmake_check.sh), then a short run of each libFuzzer target from its
# seed corpus (tests/fuzz/fuzz.sh; pass RCU_FUZZ_SECONDS for longer runs).
# Extra arguments go to every `bazel test` (for example --test_tag_filters=-torture). Installs
# what is missing through ./bazelw.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

bazelw="$PWD/bazelw"
passed=0
failed=0
status=0
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

startup=()  # Bazel startup options for the next run()
run() {
  echo "==> bazel ${startup[*]} test $*"
  "$bazelw" "${startup[@]}" test "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  passed=$((passed + $(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")))
  failed=$((failed + $(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD)' "$log")))
  if [[ $rc -ne 0 ]]; then
    status=1
    [[ $rc -ne 3 ]] && failed=$((failed + 1))  # a build error, not a failing test
  fi
}

# Formatting and Bazel-file lint first: cheap, and it names the files to fix.
"$bazelw" --version >/dev/null  # installs what is missing, the linters included
echo "==> tools/lint.sh"
if tools/lint.sh; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  status=1
fi

run //... "$@"
# Optimized: everything built (the benchmarks included), the tests run but the benchmark smoke
# tests, the model checkers, the torture runs (their busted subjects are tuned to the plain
# build's timing) and the compile-only check (it ran above).
run -c opt --test_tag_filters=-benchmark,-model,-torture,-compile_only //... "$@"
# Benchmark smoke tests run uninstrumented peers (liburcu, TBB), and the model checkers check
# models, not the library: plain build only.
for config in asan tsan ubsan; do
  run --config="$config" --build_tests_only --test_tag_filters=-benchmark,-model,-compile_only \
    //... "$@"
done
# clang: the whole suite but the benchmark smoke tests (peers built once, with g++, are enough).
# Packages are named, not //...: this second server would walk into the first one's bazel-*
# convenience symlinks.
startup=(--output_base="${HOME:-/root}/.cache/bazel-rcu-clang")
run --repo_env=CC=clang --test_tag_filters=-benchmark,-compile_only \
  //rcu/... //tests/... //examples/... //benchmarks/... "$@"
startup=()

pushd examples/consumer >/dev/null
run //... "$@"
popd >/dev/null

# The CMake build: the library and the tests under ctest, installed into a temporary prefix, and
# examples/installed_consumer/ built against it with find_package(rcu) and with pkg-config.
echo "==> tools/cmake_check.sh"
tools/cmake_check.sh 2>&1 | tee "$log"
cmake_rc=${PIPESTATUS[0]}
cmake_counts="$(sed -nE 's/^cmake: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$log" | tail -1)"
cmake_counts="${cmake_counts:-0 1}"  # no summary line: the script itself broke
passed=$((passed + ${cmake_counts%% *}))
failed=$((failed + ${cmake_counts##* }))
if [[ $cmake_rc -ne 0 ]]; then
  status=1
  [[ "${cmake_counts##* }" == 0 ]] && failed=$((failed + 1))
fi

# libFuzzer targets, a few seconds each from their seed corpora.
echo "==> tests/fuzz/fuzz.sh"
tests/fuzz/fuzz.sh "${RCU_FUZZ_SECONDS:-5}" 2>&1 | tee "$log"
fuzz_rc=${PIPESTATUS[0]}
fuzz_counts="$(sed -nE 's/^fuzz: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$log" | tail -1)"
fuzz_counts="${fuzz_counts:-0 1}"
passed=$((passed + ${fuzz_counts%% *}))
failed=$((failed + ${fuzz_counts##* }))
[[ $fuzz_rc -ne 0 ]] && status=1

echo "tests (lint, g++, opt, asan, tsan, ubsan, clang, consumer workspace, cmake, fuzz):" \
  "$passed passed, $failed failed"
exit $status
