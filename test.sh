#!/usr/bin/env bash
# The project's test command: the whole suite, then the tests again under AddressSanitizer,
# ThreadSanitizer and UndefinedBehaviorSanitizer. Extra arguments go to every `bazel test`
# (for example --test_tag_filters=-stress). Installs what is missing through ./bazelw.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

passed=0
failed=0
status=0
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

run() {
  echo "==> bazel test $*"
  ./bazelw test "$@" 2>&1 | tee "$log"
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

echo "tests (plain, asan, tsan, ubsan): $passed passed, $failed failed"
exit $status
