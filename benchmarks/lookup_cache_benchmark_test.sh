#!/usr/bin/env bash
# A smoke run of lookup_cache_benchmark, so it cannot rot: the hit benchmarks at two threads,
# every hit-ratio trace (short traces), the miss latencies, and one memory measurement.
# Usage: lookup_cache_benchmark_test.sh <binary>
set -uo pipefail
out="$("$1" --trace_requests=20000 --benchmark_min_time=0.001 \
  --benchmark_filter='uniform.*threads:2|hit_ratio|miss' 2>&1)"
rc=$?
echo "$out"
((rc == 0)) && grep -q 'hits/rcu_lookup_cache/uniform' <<<"$out" &&
  grep -q 'hit_ratio/zipf0.9+scan/1000.*belady=' <<<"$out" &&
  grep -q 'miss_wakeup/rcu_lookup_cache.*p50_ns=' <<<"$out" &&
  "$1" --memory=rcu_lookup_cache | grep -Eq '^rcu_lookup_cache [0-9.]+$'
