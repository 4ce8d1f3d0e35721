#!/usr/bin/env bash
# Model-checks tests/model/grace_period.pml with spin: the model of the real algorithm must
# verify with no error, and each busted twin must produce a counterexample.
set -uo pipefail

MODEL="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-rcu}/tests/model/grace_period.pml"
WORK="${TEST_TMPDIR:-$(mktemp -d)}"
passes=0
failures=0

verify() {  # name, expected errors ("none" or "some"), spin flags...
  local name="$1" expect="$2"
  shift 2
  local dir="$WORK/$name"
  mkdir -p "$dir" && cd "$dir" || return 1
  if ! spin -a "$@" "$MODEL" >spin.log 2>&1 || ! cc -O2 -DSAFETY -o pan pan.c >cc.log 2>&1; then
    echo "FAIL: $name: could not build the verifier"
    cat spin.log cc.log
    failures=$((failures + 1))
    return
  fi
  ./pan -m100000 >pan.log 2>&1
  local errors
  errors="$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.log | head -1)"
  local states
  states="$(grep -m1 'states, stored' pan.log | awk '{print $1}')"
  if [[ -z "$errors" ]]; then
    echo "FAIL: $name: no verdict from the verifier"
    cat pan.log
    failures=$((failures + 1))
  elif { [[ "$expect" == none && "$errors" -eq 0 ]]; } ||
       { [[ "$expect" == some && "$errors" -gt 0 ]] && grep -q "assertion violated" pan.log; }; then
    echo "ok: $name: errors: $errors ($states states)"
    passes=$((passes + 1))
  else
    echo "FAIL: $name: errors: $errors, expected $expect"
    grep -E "assertion violated|errors" pan.log
    failures=$((failures + 1))
  fi
}

verify real none
verify busted_no_membarrier some -DBUSTED_NO_MEMBARRIER
verify busted_no_wait some -DBUSTED_NO_WAIT

echo "$passes passed, $failures failed"
exit $((failures > 0))
