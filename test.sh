#!/usr/bin/env bash
# The project's test command: the whole suite, then the tests again under AddressSanitizer,
# ThreadSanitizer and UndefinedBehaviorSanitizer, then the separate workspace in
# examples/consumer/ that depends on this one (so the public labels and rcu_deps() cannot break).
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

run() {
  echo "==> bazel test $*"
  "$bazelw" test "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  passed=$((passed + $(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")))
  failed=$((failed + $(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD)' "$log")))
  if [[ $rc -ne 0 ]]; then
    status=1
    [[ $rc -ne 3 ]] && failed=$((failed + 1))  # a build error, not a failing test
  fi
}

run //... "$@"
# Benchmark smoke tests run uninstrumented peers (liburcu, TBB): plain build only.
for config in asan tsan ubsan; do
  run --config="$config" --build_tests_only --test_tag_filters=-benchmark //... "$@"
done

pushd examples/consumer >/dev/null
run //... "$@"
popd >/dev/null

echo "tests (plain, asan, tsan, ubsan, consumer workspace): $passed passed, $failed failed"
exit $status
