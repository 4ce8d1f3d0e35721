#!/usr/bin/env bash
# A smoke run of lookup_cache_benchmark, so it cannot rot: the hit benchmarks at two threads and
# every hit-ratio trace, briefly, on short traces. Usage: lookup_cache_benchmark_test.sh <binary>
set -uo pipefail
out="$("$1" --trace_requests=20000 --benchmark_min_time=0.001 \
  --benchmark_filter='uniform.*threads:2|hit_ratio' 2>&1)"
rc=$?
echo "$out"
((rc == 0)) && grep -q 'hits/rcu_lookup_cache/uniform' <<<"$out" &&
  grep -q 'hit_ratio/zipf0.9+scan/1000' <<<"$out"
