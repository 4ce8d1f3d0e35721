#!/usr/bin/env bash
# Runs the report in --quick mode into a temporary directory and checks what it wrote.
set -euo pipefail
report="$1"
shift
out="${TEST_TMPDIR:-$(mktemp -d)}/results"
"$report" --quick --out "$out" "$@"
for f in report.md results.json lockers_record.svg lockers_map.svg read_side.svg synchronize.svg \
         callbacks.svg hash_map_updates.svg hash_map_threads.svg containers_iii_lookup.svg \
         containers_iii_find.svg containers_iii_scan.svg lookup_cache_threads.svg \
         lookup_cache_hit_ratio.svg; do
  test -s "$out/$f" || { echo "missing or empty: $f"; exit 1; }
done
grep -q "## Hash map" "$out/report.md"
grep -q "## Which locker" "$out/report.md"
grep -q "## Routing table and ordered map" "$out/report.md"
grep -q "## Lookup cache" "$out/report.md"
grep -qE "^\| zipf0.9\+scan \| 1000 \| [0-9.]+% \| [0-9.]+% \| [-+][0-9.]+ points \| [0-9.]+% \|" \
  "$out/report.md"
grep -qE "^\| rcu \| [0-9.]+[kMG]?/s" "$out/report.md"
grep -q "<svg" "$out/hash_map_updates.svg"
echo "1 passed, 0 failed"
