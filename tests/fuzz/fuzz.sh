#!/usr/bin/env bash
# Builds the fuzz targets with clang's libFuzzer (-fsanitize=fuzzer,address,undefined, the debug
# checks on) and runs each from its checked-in seed corpus (tests/fuzz/corpus/<target>/) for a
# few seconds: what ./test.sh runs. Longer runs are opt-in:
#
#   tests/fuzz/fuzz.sh [seconds per target, default 5] [target...]
#
# New inputs a run finds go to a scratch directory, not the checked-in corpus; copy the ones worth
# keeping (a failure's reproducer first: libFuzzer writes it to /tmp/rcu-fuzz-artifacts/). Prints
# "fuzz: N passed, M failed" last.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo="$PWD"
seconds="${1:-5}"
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(address_fuzz hash_map_fuzz lookup_cache_fuzz ordered_map_fuzz prefix_map_fuzz
    replace_map_fuzz)
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
artifacts="${TMPDIR:-/tmp}/rcu-fuzz-artifacts"  # a failing input's reproducer, kept
passed=0
failed=0

flags=(-std=c++20 -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
  -DRCU_DEBUG_CHECKS=1 -I"$repo" -pthread)
absl_libs="$(pkg-config --libs absl_hash absl_flat_hash_map absl_inlined_vector absl_statusor)"

# The library, once.
objects=()
for source in rcu/domain.cc rcu/internal/*.cc; do
  object="$work/$(echo "$source" | tr / _).o"
  clang++ "${flags[@]}" -c "$source" -o "$object" &
  objects+=("$object")
done
if ! wait; then
  echo "FAILED: building the library for fuzzing"
  echo "fuzz: 0 passed, 1 failed"
  exit 1
fi

for target in "${targets[@]}"; do
  echo "==> $target (${seconds}s)"
  binary="$work/$target"
  if ! clang++ "${flags[@]}" -fsanitize=fuzzer "tests/fuzz/$target.cc" "${objects[@]}" \
    $absl_libs -o "$binary"; then
    echo "FAILED: $target does not build"
    failed=$((failed + 1))
    continue
  fi
  mkdir -p "$work/corpus-$target" "$artifacts"
  # -max_total_time bounds the run; -timeout flags an input that hangs (a lost wake-up, a loop).
  if "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" \
    "$work/corpus-$target" "tests/fuzz/corpus/$target" >"$work/$target.log" 2>&1; then
    echo "ok: $target: $(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$work/$target.log" |
      grep -oE '[0-9]+$') inputs run"
    passed=$((passed + 1))
  else
    echo "FAILED: $target"
    tail -40 "$work/$target.log"
    failed=$((failed + 1))
  fi
done

echo "fuzz: $passed passed, $failed failed"
((failed == 0))
