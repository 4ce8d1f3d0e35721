#!/usr/bin/env bash
# Short rcutorture runs: every subject must end in SUCCESS, every busted subject or operations
# table in FAILURE.
set -uo pipefail
TORTURE="$1"
passes=0
failures=0

run() {  # expected (SUCCESS|FAILURE), flags...
  local expect="$1"
  shift
  local out rc
  out="$("$TORTURE" "$@" 2>&1)"
  rc=$?
  local verdict
  verdict="$(grep -oE '^(SUCCESS|FAILURE)' <<<"$out" | tail -1)"
  # A busted run may die before its verdict: with a sanitizer's report, or with the checker's
  # (a rule id: "S2: ...").
  if [[ -z "$verdict" ]] && grep -qE "(Thread|Address)Sanitizer: |^[A-Z][0-9]+: " <<<"$out"; then
    verdict=FAILURE
  fi
  if [[ "$verdict" == "$expect" ]] && { [[ "$expect" == SUCCESS && $rc -eq 0 ]] || [[ "$expect" == FAILURE && $rc -ne 0 ]]; }; then
    echo "ok: $* -> $verdict"
    passes=$((passes + 1))
  else
    echo "FAIL: $* -> ${verdict:-no verdict} (exit $rc), expected $expect"
    echo "$out" | tail -20
    failures=$((failures + 1))
  fi
  grep -E "^(Reader Pipe|grace periods|reads)" <<<"$out" | sed 's/^/    /'
}

run SUCCESS --subject=pipe --duration=3 --long_delay_every=2000 --stutter=0.5 --flood
run SUCCESS --subject=list --duration=2
run SUCCESS --subject=hash_map --duration=2 --updaters=2
run SUCCESS --subject=copy_on_grow_array --duration=2
run SUCCESS --subject=replace_map --duration=2 --updaters=2
run SUCCESS --subject=prefix_map --duration=2 --updaters=2
run SUCCESS --subject=ordered_map --duration=2 --updaters=2
run SUCCESS --subject=lookup_cache --duration=2 --updaters=2
run SUCCESS --subject=seqlock --duration=2 --updaters=2
run SUCCESS --subject=refcount --duration=2 --updaters=2
run FAILURE --subject=pipe --duration=10 --ops=no_wait
run FAILURE --subject=pipe --duration=10 --ops=early_callback
run FAILURE --subject=seed_cache --duration=20 --readers=2 --long_delay_every=0
run FAILURE --subject=seqlock_no_validate --duration=10 --updaters=2
run FAILURE --subject=refcount_no_zero_check --duration=10 --updaters=2

echo "$passes passed, $failures failed"
exit $((failures > 0))
