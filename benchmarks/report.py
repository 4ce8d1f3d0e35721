#!/usr/bin/env python3
"""Runs the benchmark suite and writes a Markdown report with SVG charts.

    ./bazelw run -c opt //benchmarks:report            # full run, about 40 minutes
    ./bazelw run -c opt //benchmarks:report -- --quick # smoke run, about a minute

Writes benchmarks/results/ in the source tree (report.md and *.svg), or --out DIR. Every result is
stated as a ratio to the baselines measured in the same run: the machines are shared and absolute
numbers move by up to 2x between runs. Uses only Python's standard library.
"""

import argparse
import datetime
import html
import json
import os
import platform
import re
import subprocess
import sys
import tempfile

# The benchmark binaries, as passed by the Bazel target (runfiles paths), by name.
BENCHMARKS = ("lockers_benchmark", "domain_benchmark", "reclamation_benchmark",
              "hash_map_benchmark", "list_benchmark", "copy_on_grow_array_benchmark",
              "replace_map_benchmark", "prefix_map_benchmark", "ordered_map_benchmark",
              "lookup_cache_benchmark")

LOCKERS = ("std_mutex", "spinlock", "std_shared_mutex", "absl_mutex_reader", "seqlock",
           "shared_ptr_refcount", "rcu")

HASH_MAPS = ("rcu_hash_map", "rcu_hash_map_presized", "xenium_vyukov_hash_map",
             "libcds_michael_hash_map", "tbb_concurrent_hash_map", "liburcu_rculfhash",
             "libcuckoo_cuckoohash_map",
             "std_unordered_map_shared_mutex", "std_unordered_map_mutex",
             "absl_flat_hash_map_mutex", "absl_flat_hash_map_unsynchronized")
HASH_MAP_PEERS = ("xenium_vyukov_hash_map", "libcds_michael_hash_map", "tbb_concurrent_hash_map",
                  "liburcu_rculfhash", "libcuckoo_cuckoohash_map")
HASH_MAP_BASELINES = ("std_unordered_map_shared_mutex", "std_unordered_map_mutex",
                      "absl_flat_hash_map_mutex")
CACHES = ("rcu_lookup_cache", "rcu_hash_map_find", "rocksdb_hyper_clock_cache",
          "rocksdb_lru_cache", "tbb_concurrent_lru_cache", "sharded_mutex_lru_16", "mutex_lru")
CACHE_PEERS = ("rocksdb_hyper_clock_cache", "rocksdb_lru_cache", "tbb_concurrent_lru_cache")
CACHE_BASELINES = ("sharded_mutex_lru_16", "mutex_lru")
CACHE_TRACES = ("zipf0.7", "zipf0.9", "zipf1.1", "zipf0.9+scan")
CACHE_CAPACITIES = (1000, 10000, 100000)
# Repetitions of every benchmark: the report gives their median and spread.
REPETITIONS = 3


def progress(message):
    print(message, file=sys.stderr, flush=True)


def run_benchmark(binary, args, quick, context=None):
    """Runs one binary; returns the benchmarks from its JSON output. Fills `context` with the
    binary's JSON context (the build's compiler, from the binary itself)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = out.name
    cmd = [binary, "--benchmark_format=json", "--benchmark_out=" + path,
           "--benchmark_out_format=json"] + args
    if quick:
        cmd.append("--benchmark_min_time=0.01")
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise SystemExit("benchmark failed: %s\n%s"
                         % (" ".join(cmd), proc.stderr.decode(errors="replace")))
    with open(path) as f:
        data = json.load(f)
    os.unlink(path)
    if context is not None:
        context.update(data.get("context", {}))
    return data["benchmarks"]


def memory_per_key(binary, name):
    """Bytes of resident memory per key that map `name` adds, measured in a child process."""
    out = subprocess.run([binary, "--memory=" + name], capture_output=True, text=True, check=True)
    words = out.stdout.split()
    if len(words) != 2 or words[0] != name:
        raise SystemExit("unexpected --memory output: %r" % out.stdout)
    return float(words[1])


def rate(b):
    """Operations per second of one benchmark result."""
    if "items_per_second" in b:
        return b["items_per_second"]
    seconds = b["real_time"] * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
    return 1.0 / seconds


def rate_cell(b):
    """A result's rate with its spread (the coefficient of variation of its repetitions)."""
    if not b:
        return ""
    spread = " ±%.0f%%" % (100 * b["spread"]) if "spread" in b else ""
    return "%s/s%s" % (fmt(rate(b)), spread)


def ns(b):
    """Time per operation in nanoseconds (CPU time: per thread when several run)."""
    return b["cpu_time"] * {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[b["time_unit"]]


def by_name(results):
    """Results by benchmark name: plain runs, or for repeated runs the median with its
    coefficient of variation as `spread`."""
    named = {b["name"]: b for b in results if b.get("run_type", "iteration") == "iteration"}
    cv = {b["run_name"]: b for b in results if b.get("aggregate_name") == "cv"}
    for b in results:
        if b.get("aggregate_name") == "median":
            median = dict(b)
            if b["run_name"] in cv:
                spread = cv[b["run_name"]]
                median["spread"] = spread.get("items_per_second", spread.get("real_time", 0))
            named[b["run_name"]] = median
    return named


# ---- SVG ------------------------------------------------------------------------------------

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f")


def bar_chart(path, title, unit, groups, series, values, highlight="rcu"):
    """Grouped horizontal bars: for each group, one bar per series. values[(group, series)]."""
    bar_h, gap, left, width = 14, 10, 300, 420
    rows = [(g, s) for g in groups for s in series if (g, s) in values]
    height = 60 + len(rows) * bar_h + len(groups) * gap
    top = max([values[r] for r in rows] or [1.0])
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="11">' % (left + width + 120, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="10" y="20" font-size="14" font-weight="bold">%s</text>' % html.escape(title),
           '<text x="10" y="36" fill="#555">%s</text>' % html.escape(unit)]
    y = 50
    for g in groups:
        present = [s for s in series if (g, s) in values]
        if not present:
            continue
        out.append('<text x="10" y="%d" font-weight="bold">%s</text>' % (y + 10, html.escape(g)))
        for s in present:
            v = values[(g, s)]
            w = max(1.0, width * v / top)
            color = PALETTE[series.index(s) % len(PALETTE)]
            weight = "bold" if s.startswith(highlight) else "normal"
            out.append('<text x="%d" y="%d" text-anchor="end" font-weight="%s">%s</text>'
                       % (left - 6, y + 11, weight, html.escape(s)))
            out.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>'
                       % (left, y + 1, w, bar_h - 2, color))
            out.append('<text x="%.1f" y="%d">%s</text>' % (left + w + 4, y + 11, fmt(v)))
            y += bar_h
        y += gap
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def fmt(v):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return "%.3g%s" % (v / scale, unit)
    return "%.3g" % v


# ---- the report -----------------------------------------------------------------------------

def read_match(path, pattern):
    """The first group of `pattern` in the file at `path`, or "unknown"."""
    try:
        with open(path) as f:
            m = re.search(pattern, f.read())
            return m.group(1) if m else "unknown"
    except OSError:
        return "unknown"


def machine(build):
    """The machine, and the build as the benchmark binary itself reports it."""
    model = read_match("/proc/cpuinfo", r"model name\s*:\s*(.*)")
    thp = read_match("/sys/kernel/mm/transparent_hugepage/enabled", r"\[(\w+)\]")
    return {
        "cpu": "%s, %d cores" % (model, os.cpu_count()),
        "kernel": platform.release(),
        # rcu::HashMap and the absl maps beside it ask for huge pages with madvise: they get
        # them under "always" or "madvise", not under "never".
        "transparent huge pages": thp,
        "compiler": build.get("compiler", "unknown"),
        "flags": build.get("flags", "unknown"),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def ratio(a, b):
    return "%.2fx" % (a / b) if b else "n/a"


def versus(ours, get, names):
    """Two table cells: the fastest of `names` (get(name) is its result, or None) with its name,
    and `ours`'s ratio to it; both empty if none of them ran."""
    found = max([(rate(get(n)), n) for n in names if get(n)] or [(None, None)])
    if found[1] is None:
        return ["", ""]
    return ["%s (%s)" % (rate_cell(get(found[1])), found[1]), ratio(rate(ours), found[0])]


# ---- the routing table and the ordered map ----------------------------------------------------

CONTAINERS_III = ("prefix_map_benchmark", "ordered_map_benchmark")
# (title, binary, rcu flavor, locked baselines, ceiling), benchmark names before "/churn:".
CONTAINERS_III_ROWS = (
    ("Prefix map: longest-prefix match, 300K Internet-shaped IPv4 prefixes", "prefix_map_benchmark",
     "BM_Lookup<Rcu>", ("BM_Lookup<TrieRwLock>", "BM_Lookup<LengthMapsRwLock>"),
     "BM_Lookup<Unsynchronized>"),
    ("Ordered map: point lookups, 1M keys", "ordered_map_benchmark", "BM_Find<Rcu<false>>",
     ("BM_Find<RwLocked<StdMap, false>>", "BM_Find<RwLocked<Btree, false>>"),
     "BM_Find<Unsynchronized<false>>"),
    ("Ordered map: range scans of 16 keys, 1M keys", "ordered_map_benchmark", "BM_Scan<Rcu<true>>",
     ("BM_Scan<RwLocked<StdMap, true>>", "BM_Scan<RwLocked<Btree, true>>"),
     "BM_Scan<Unsynchronized<true>>"),
)
CONTAINERS_III_CEILINGS = {"BM_Find<Unsynchronized<false>>": "BM_Find<BtreeUnsync<false>>",
                           "BM_Scan<Unsynchronized<true>>": "BM_Scan<BtreeUnsync<true>>"}
# Concurrent peers with the same workload (libcds's skip list has no lower_bound: no scans).
# rcu flavor -> (the deployed peer's benchmark, its name in the table and chart).
CONTAINERS_III_PEERS = {"BM_Find<Rcu<false>>": ("BM_Find<LibcdsSkipList>", "libcds SkipListMap"),
                        "BM_Lookup<Rcu>": ("BM_Lookup<RteLpm>", "DPDK rte_lpm")}
CHURNS = (0, 1, 10)
PREFIX_MAP_MEMORY = ("RcuLoaded", "TrieRwLock", "LengthMapsRwLock", "RteLpm")


def churn_name(flavor, churn, threads):
    return "%s/churn:%d/real_time/threads:%d" % (flavor, churn, threads)


def containers_iii_expected(binaries):
    names = []
    for _, binary, ours, baselines, ceiling in CONTAINERS_III_ROWS:
        if binary not in binaries:
            continue
        for t in (1, 2):
            names += [churn_name(f, c, t) for f in (ours,) + baselines for c in CHURNS]
            names.append(churn_name(ceiling, 0, t))
            if ceiling in CONTAINERS_III_CEILINGS:
                names.append(churn_name(CONTAINERS_III_CEILINGS[ceiling], 0, t))
            if ours in CONTAINERS_III_PEERS:
                names += [churn_name(CONTAINERS_III_PEERS[ours][0], c, t) for c in CHURNS]
    if "prefix_map_benchmark" in binaries:
        names += ["BM_Memory<%s>/iterations:1" % f for f in PREFIX_MAP_MEMORY]
    return names


def containers_iii_section(results, out, quick):
    """The routing table (rcu::PrefixMap) and the ordered map (rcu::OrderedMap) against the
    locked structures a user would pick instead and against the same structure unsynchronized."""
    if not any(results.get(churn_name(row[2], 0, 1)) for row in CONTAINERS_III_ROWS):
        return []
    md = ["## Routing table and ordered map", "",
          "Reads per second (each thread: `churn`%% of its operations are updates, the rest "
          "reads; medians of %d repetitions). \"vs locked\" divides by the better locked baseline "
          "of the row, \"vs unsync\" by the same structure read with no synchronization and no "
          "updates (the target: at least 5x and at least 0.67x)." % (1 if quick else REPETITIONS),
          ""]
    for title, binary, ours, baselines, ceiling in CONTAINERS_III_ROWS:
        if not results.get(churn_name(ours, 0, 1)):
            continue
        md += ["### " + title, "", "| churn | threads | rcu | best locked | vs locked | unsync "
               "(same structure) | vs unsync |", "|---|---|---|---|---|---|---|"]
        values = {}
        for churn in CHURNS:
            for t in (1, 2):
                mine = results[churn_name(ours, churn, t)]
                best = max((rate(results[churn_name(b, churn, t)]), b) for b in baselines)
                top = results[churn_name(ceiling, 0, t)]
                md.append("| %d%% | %d | %s | %s/s (%s) | %s | %s | %s |" % (
                    churn, t, rate_cell(mine), fmt(best[0]), best[1].split("<", 1)[1][:-1],
                    ratio(rate(mine), best[0]), rate_cell(top), ratio(rate(mine), rate(top))))
                group = "%d%% churn, %d thread%s" % (churn, t, "s" if t > 1 else "")
                values[(group, "rcu")] = rate(mine)
                for b in baselines:
                    values[(group, b.split("<", 1)[1][:-1])] = rate(results[churn_name(b, churn, t)])
        if ours in CONTAINERS_III_PEERS:
            peer, peer_name = CONTAINERS_III_PEERS[ours]
            for churn in CHURNS:
                for t in (1, 2):
                    theirs = results[churn_name(peer, churn, t)]
                    md.append("| %d%% (peer: %s) | %d | | %s | %s | | |" % (
                        churn, peer_name, t, rate_cell(theirs),
                        ratio(rate(results[churn_name(ours, churn, t)]), rate(theirs))))
                    group = "%d%% churn, %d thread%s" % (churn, t, "s" if t > 1 else "")
                    values[(group, peer_name)] = rate(theirs)
        if ceiling in CONTAINERS_III_CEILINGS:
            for t in (1, 2):
                other = results[churn_name(CONTAINERS_III_CEILINGS[ceiling], 0, t)]
                md.append("| (absl::btree_map, unsynchronized) | %d | | | | %s | %s |" % (
                    t, rate_cell(other), ratio(rate(results[churn_name(ours, 0, t)]), rate(other))))
        chart = "containers_iii_%s.svg" % ours.split("<")[0][3:].lower()
        series = ["rcu"] + [b.split("<", 1)[1][:-1] for b in baselines] + \
            ([CONTAINERS_III_PEERS[ours][1]] if ours in CONTAINERS_III_PEERS else [])
        bar_chart(os.path.join(out, chart), title, "reads per second (longer is better)",
                  ["%d%% churn, %d thread%s" % (c, t, "s" if t > 1 else "")
                   for c in CHURNS for t in (1, 2)], series, values)
        md += ["", "![%s](%s)" % (title, chart), ""]
    batch = [(t, results.get("BM_LookupBatch<Rcu>/real_time/threads:%d" % t),
              results.get("BM_LookupBatch<RteLpm>/real_time/threads:%d" % t)) for t in (1, 2)]
    if all(ours and theirs for _, ours, theirs in batch):
        md += ["Batch lookups (64 destinations a batch, no churn): PrefixMap's batch `Lookup` "
               "against `rte_lpm_lookup_bulk`: " + "; ".join(
                   "%d thread%s %s against %s (%s)" % (
                       t, "s" if t > 1 else "", rate_cell(ours), rate_cell(theirs),
                       ratio(rate(ours), rate(theirs))) for t, ours, theirs in batch) + ".", ""]
    memory = [(f, results.get("BM_Memory<%s>/iterations:1" % f)) for f in PREFIX_MAP_MEMORY]
    if all(m for _, m in memory):
        md += ["Heap bytes per prefix after loading the table (`mallinfo2`; DPDK's heap for "
               "RteLpm): " + ", ".join(
            "%s %.0f" % (f, m["bytes_per_prefix"]) for f, m in memory) + ".", ""]
    return md


def lookup_cache_section(results, bytes_per_entry, out):
    """rcu::LookupCache: hits against the hash map and the deployed caches; hit ratios against
    exact LRU and Belady's optimum; miss latencies; memory."""
    hits, ratios = {}, {}
    for keys in ("uniform", "zipf"):
        for t in (1, 2, 16):
            for c in CACHES:
                b = results.get("hits/%s/%s/real_time/threads:%d" % (c, keys, t))
                if b:
                    hits[("%s, %d thread%s" % (keys, t, "s" if t > 1 else ""), c)] = rate(b)
    for trace in CACHE_TRACES:
        for cap in CACHE_CAPACITIES:
            b = results.get("hit_ratio/%s/%d/iterations:1" % (trace, cap))
            if b:
                for policy in ("s3fifo", "lru", "belady"):
                    ratios[("%s, %d entries" % (trace, cap), policy)] = b.get(policy, 0)
    if not hits and not ratios:
        return []
    bar_chart(os.path.join(out, "lookup_cache_threads.svg"),
              "Lookup cache, 1M uint64 entries, every lookup a hit: throughput against threads",
              "hits per second, all threads (longer is better)",
              sorted({g for g, _ in hits}, key=lambda g: (g.split(",")[0], int(g.split()[1]))),
              list(CACHES), hits)
    bar_chart(os.path.join(out, "lookup_cache_hit_ratio.svg"),
              "Lookup cache: hit ratio against capacity (1M keys)",
              "share of requests that hit (longer is better); belady: the offline optimum",
              ["%s, %d entries" % (t, c) for t in CACHE_TRACES for c in CACHE_CAPACITIES],
              ["s3fifo", "lru", "belady"], ratios, highlight="s3fifo")
    md = ["## Lookup cache", "", "![lookup cache threads](lookup_cache_threads.svg)", "",
          "![lookup cache hit ratio](lookup_cache_hit_ratio.svg)", "",
          "`rcu::LookupCache<uint64_t, uint64_t>` full of 1M entries, every lookup a hit, beside "
          "`rcu::HashMap::Find` on the same keys (what a cache in front of a map can reach), the "
          "deployed caches (RocksDB's LRUCache and HyperClockCache through their `Cache` API, "
          "TBB's `concurrent_lru_cache`) and the locked baselines (an LRU under one `std::mutex`, "
          "LevelDB's 16 sharded ones). 16 threads run on the machine's cores.", "",
          "| keys | threads | rcu cache | vs HashMap::Find | best peer | vs peer | "
          "best baseline | vs baseline |", "|---|---|---|---|---|---|---|---|"]

    def hit(c, keys, t):
        return results.get("hits/%s/%s/real_time/threads:%d" % (c, keys, t))

    for keys in ("uniform", "zipf"):
        for t in (1, 2, 16):
            ours = hit("rcu_lookup_cache", keys, t)
            if not ours:
                continue
            def get(name):
                return hit(name, keys, t)
            ceiling = get("rcu_hash_map_find")
            md.append("| %s | %d | %s | %s | %s |" % (
                keys, t, rate_cell(ours), ratio(rate(ours), rate(ceiling)) if ceiling else "",
                " | ".join(versus(ours, get, CACHE_PEERS) + versus(ours, get, CACHE_BASELINES))))
    md += ["", "Hit ratio: one thread replays 10M requests over 1M keys through the cache "
           "(S3-FIFO), an exact LRU of the same capacity, and Belady's offline optimum (the "
           "ceiling); `+scan`: 100K never-repeated keys after every 1M requests.", "",
           "| trace | capacity | S3-FIFO | LRU | S3-FIFO - LRU | Belady |", "|---|---|---|---|---|---|"]
    for trace in CACHE_TRACES:
        for cap in CACHE_CAPACITIES:
            b = results.get("hit_ratio/%s/%d/iterations:1" % (trace, cap))
            if b:
                md.append("| %s | %d | %.1f%% | %.1f%% | %+.1f points | %.1f%% |" % (
                    trace, cap, 100 * b.get("s3fifo", 0), 100 * b.get("lru", 0),
                    100 * (b.get("s3fifo", 0) - b.get("lru", 0)), 100 * b.get("belady", 0)))
    miss = results.get("miss/rcu_lookup_cache/iterations:1")
    wake = results.get("miss_wakeup/rcu_lookup_cache/iterations:1")
    floor = results.get("miss_wakeup/std_condition_variable/iterations:1")
    if miss and wake and floor:
        md += ["", "Misses: one thread missing alone (a loader that returns at once, a full "
               "cache: load, publish, evict) adds p50 %.0f ns, p99 %.0f ns to its loader's time. "
               "A thread waiting for another's load wakes p50 %.1f us, p99 %.1f us after the "
               "loader returns (a condition variable's wake-up, timed alike: p50 %.1f us, p99 "
               "%.1f us)." % (miss["p50_ns"], miss["p99_ns"], wake["p50_ns"] / 1e3,
                              wake["p99_ns"] / 1e3, floor["p50_ns"] / 1e3, floor["p99_ns"] / 1e3)]
    memory = [(c, bytes_per_entry["cache:" + c]) for c in CACHES if "cache:" + c in bytes_per_entry]
    if memory:
        md += ["", "Resident memory per entry beyond its key and value (16 bytes), each full of "
               "1M entries alone in a child process (`lookup_cache_benchmark --memory=<name>`):",
               "", "| structure | bytes per entry |", "|---|---|"]
        md += ["| %s | %.1f |" % (c, v) for c, v in memory]
    return md


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny iteration times")
    parser.add_argument("--out", help="output directory (default: benchmarks/results/)")
    parser.add_argument("--only", help="comma-separated binaries: run these alone and write "
                        "only the sections they feed (report_<first>.md)")
    parser.add_argument("binaries", nargs="*", help="the benchmark binaries (set by Bazel)")
    args = parser.parse_args()

    binaries = {os.path.basename(b): b for b in args.binaries}
    missing = [b for b in BENCHMARKS if b not in binaries]
    if missing:
        raise SystemExit("missing benchmark binaries: %s" % ", ".join(missing))
    out = args.out or os.path.join(os.environ.get("BUILD_WORKSPACE_DIRECTORY", "."),
                                   "benchmarks", "results")
    os.makedirs(out, exist_ok=True)

    steps = ["lockers_benchmark:Lockers/record", "lockers_benchmark:Lockers/map",
             "domain_benchmark", "reclamation_benchmark"] + \
            ["hash_map_benchmark:" + m for m in HASH_MAPS] + \
            ["list_benchmark", "copy_on_grow_array_benchmark", "replace_map_benchmark"] + \
            list(CONTAINERS_III) + \
            ["lookup_cache_benchmark:hits", "lookup_cache_benchmark:(hit_ratio|miss|miss_wakeup)"]
    if args.only:
        steps = [s for s in steps if s.partition(":")[0] in args.only.split(",")]
    results, bytes_per_key, build = {}, {}, {}
    for i, step in enumerate(steps, 1):
        name, _, only = step.partition(":")
        progress("[%d/%d] %s%s" % (i, len(steps), name, (" " + only) if only else ""))
        bench_args = ["--benchmark_filter=^%s/" % only] if only else []
        if args.quick and name == "domain_benchmark":
            bench_args.append("--benchmark_filter=ReadSection|SynchronizeNoReader")
        # The hit ratios and latency percentiles are one run each (a replayed trace, and
        # percentiles over many calls).
        once = args.quick or only.startswith("(hit_ratio")
        bench_args += ["--benchmark_repetitions=%d" % (1 if once else REPETITIONS),
                       "--benchmark_report_aggregates_only=true"]
        if args.quick and name == "lookup_cache_benchmark":
            bench_args.append("--trace_requests=20000")
        results.update(by_name(run_benchmark(binaries[name], bench_args, args.quick, build)))
        if name == "hash_map_benchmark":
            bytes_per_key[only] = memory_per_key(binaries[name], only)
        if step == "lookup_cache_benchmark:hits":
            for c in CACHES:
                bytes_per_key["cache:" + c] = memory_per_key(binaries[name], c)
    expected = ["%s/uniform/%supdates/real_time/threads:%d" % (m, mix, t)
                for m in HASH_MAPS for mix in ("0%", "1%", "10%", "50%") for t in (1, 2)
                if mix == "0%" or m != "absl_flat_hash_map_unsynchronized"]
    expected += ["%s/string_%s/0%%updates/real_time/threads:%d" % (m, keys, t)
                 for m in ("rcu_hash_map", "absl_flat_hash_map_unsynchronized")
                 for keys in ("uniform", "zipf") for t in (1, 2)]
    if args.only:
        expected = []
    expected += containers_iii_expected([s.partition(":")[0] for s in steps])
    absent = [e for e in expected if e not in results]
    if absent:
        raise SystemExit("benchmarks the report expects and did not find: %s" % ", ".join(absent))

    info = machine(build)
    if args.only:
        md = ["# Benchmark report: %s" % ", ".join(args.only.split(",")), "",
              "Produced by `./bazelw run -c opt //benchmarks:report -- --only=%s`; the full "
              "report (`report.md`) has every other section." % args.only, "",
              "| machine | |", "|---|---|"]
        md += ["| %s | %s |" % (k, v) for k, v in info.items()] + [""]
        md += containers_iii_section(results, out, args.quick)
        md += lookup_cache_section(results, bytes_per_key, out)
        path = os.path.join(out, "report_%s.md" % args.only.split(",")[0])
        with open(path, "w") as f:
            f.write("\n".join(md) + "\n")
        progress("wrote %s" % path)
        return
    md = ["# Benchmark report", "",
          "Produced by `./bazelw run -c opt //benchmarks:report%s`." % (" -- --quick" if args.quick else ""),
          "", "| machine | |", "|---|---|"]
    md += ["| %s | %s |" % (k, v) for k, v in info.items()]
    md += ["", "All figures come from this one run; ratios compare results measured side by side.",
           "Every figure is the median of %d repetitions (± their coefficient of variation where "
           "a table shows it). A ratio above 1 means this library is faster."
           % (1 if args.quick else REPETITIONS), ""]

    # Which locker: the seed's family on the same data.
    mixes = ["0%", "1%", "10%", "50%"]
    md += ["## Which locker", "",
           "The lockers of \"Meet the Lockers\" on the same data (`lockers_benchmark.cc`): a mutex, "
           "a spinlock, a reader-writer lock (`std::shared_mutex`, `absl::Mutex` in reader mode), "
           "a seqlock (`rcu::SeqLock`, fields updated in place), a reference count taken per read "
           "(`std::atomic<std::shared_ptr>`) and RCU. Throughput counts reads and updates of all "
           "threads; latencies are per operation of each kind.", ""]
    for workload, title in (("record", "one 64-byte record"), ("map", "1M-key lookup")):
        values = {}
        for mix in mixes:
            for locker in LOCKERS:
                b = results.get("Lockers/%s/%s/%supdates/real_time/threads:2" % (workload, locker, mix))
                if b:
                    values[("%s updates" % mix, locker)] = rate(b)
        chart = "lockers_%s.svg" % workload
        bar_chart(os.path.join(out, chart), "Which locker: %s, 2 threads" % title,
                  "operations per second (longer is better)", ["%s updates" % m for m in mixes],
                  list(LOCKERS), values)
        md += ["### %s" % title[0].upper() + title[1:], "", "![%s](%s)" % (workload, chart), "",
               "2 threads; each cell: operations/s, read ns / update ns. Last column: 8 threads "
               "on this machine's cores (oversubscribed), 10% updates.", "",
               "| locker | " + " | ".join("%s updates" % m for m in mixes) + " | 8 threads, 10% |",
               "|---|" + "---|" * (len(mixes) + 1)]
        for locker in LOCKERS:
            cells = []
            for mix, threads in [(m, 2) for m in mixes] + [("10%", 8)]:
                b = results.get("Lockers/%s/%s/%supdates/real_time/threads:%d"
                                % (workload, locker, mix, threads))
                if not b:
                    cells.append("")
                    continue
                update = ("%.0f" % b["update_ns"]) if b.get("update_ns") else "-"
                cells.append("%s/s, %.1f / %s" % (fmt(rate(b)), b.get("read_ns", 0), update))
            md.append("| %s | %s |" % (locker, " | ".join(cells)))
        md.append("")

    # Read side.
    flavors = ["rcu", "rcu_default_domain", "rcu_lock_unlock", "liburcu_memb", "liburcu_qsbr",
               "libcds_general_buffered", "xenium_generic_epoch_based", "std_shared_mutex",
               "std_mutex", "absl_mutex_reader"]
    values = {}
    for t in (1, 2):
        for f in flavors:
            b = results.get("ReadSection/%s/threads:%d" % (f, t))
            if b:
                values[("%d thread%s" % (t, "s" if t > 1 else ""), f)] = ns(b)
    bar_chart(os.path.join(out, "read_side.svg"), "Read-side section: enter + exit",
              "nanoseconds per section per thread (shorter is better)",
              ["1 thread", "2 threads"], flavors, values)
    md += ["## Read side", "", "![read side](read_side.svg)", "",
           "| flavor | 1 thread (ns) | 2 threads (ns) | rcu is faster by |", "|---|---|---|---|"]
    for f in flavors:
        one, two = values.get(("1 thread", f)), values.get(("2 threads", f))
        if one is None:
            continue
        rcu = values.get(("1 thread", "rcu"))
        md.append("| %s | %.2f | %s | %s |" % (f, one, "%.2f" % two if two else "",
                                              ratio(one, rcu) if rcu else ""))

    # Grace periods.
    gp_flavors = ["rcu", "rcu_expedited", "liburcu_memb", "liburcu_qsbr", "libcds_general_buffered"]
    gp = {}
    for kind in ("SynchronizeNoReader", "SynchronizeOneReader"):
        for f in gp_flavors:
            b = results.get("%s/%s/real_time" % (kind, f))
            if b:
                gp[(kind, f)] = b["real_time"] * {"ns": 1e-3, "us": 1.0, "ms": 1e3}[b["time_unit"]]
    if gp:
        bar_chart(os.path.join(out, "synchronize.svg"), "Synchronize() latency",
                  "microseconds (shorter is better)",
                  ["SynchronizeNoReader", "SynchronizeOneReader"], gp_flavors, gp)
        md += ["", "## Grace periods", "", "![synchronize](synchronize.svg)", "",
               "liburcu's qsbr flavor and libcds's general_buffered flavor make their readers pay "
               "(qsbr: quiescent states the program reports; libcds: a full fence in every "
               "read-side section, see Read side), so their grace periods are cheaper.", "",
               "| case | rcu (us) | liburcu memb (us) | libcds general_buffered (us) | "
               "rcu vs liburcu memb |", "|---|---|---|---|---|"]
        for kind in ("SynchronizeNoReader", "SynchronizeOneReader"):
            a, b, c = (gp.get((kind, f))
                       for f in ("rcu", "liburcu_memb", "libcds_general_buffered"))
            if a and b:
                md.append("| %s | %.3f | %.3f | %s | %s |" % (
                    kind, a, b, "%.3f" % c if c else "", ratio(b, a)))

    # Callbacks.
    cb = {}
    for name in ("Enqueue", "EndToEnd"):
        for f in ("rcu_retire", "rcu_call", "liburcu_call_rcu"):
            b = results.get("%s/%s" % (name, f))
            if b:
                cb[(name, f)] = rate(b)
    if cb:
        bar_chart(os.path.join(out, "callbacks.svg"), "Deferred reclamation throughput",
                  "callbacks per second (longer is better)", ["Enqueue", "EndToEnd"],
                  ["rcu_retire", "rcu_call", "liburcu_call_rcu"], cb)
        md += ["", "## Deferred reclamation", "", "![callbacks](callbacks.svg)", "",
               "| | rcu Retire | rcu Call | liburcu call_rcu | Retire vs liburcu |",
               "|---|---|---|---|---|"]
        for name in ("Enqueue", "EndToEnd"):
            r = [cb.get((name, f)) for f in ("rcu_retire", "rcu_call", "liburcu_call_rcu")]
            if all(r):
                md.append("| %s (/s) | %s | %s | %s | %s |" % (name, fmt(r[0]), fmt(r[1]),
                                                              fmt(r[2]), ratio(r[0], r[2])))

    # Hash map: throughput against update ratio and against threads (the same mixes).
    hm_mix, hm_threads = {}, {}
    for m in HASH_MAPS:
        for mix in mixes:
            b = results.get("%s/uniform/%supdates/real_time/threads:2" % (m, mix))
            if b:
                hm_mix[("%s updates" % mix, m)] = rate(b)
        for t in (1, 2):
            b = results.get("%s/uniform/0%%updates/real_time/threads:%d" % (m, t))
            if b:
                hm_threads[("%d thread%s" % (t, "s" if t > 1 else ""), m)] = rate(b)
    bar_chart(os.path.join(out, "hash_map_updates.svg"),
              "Hash map, 1M keys, 2 threads: throughput against update ratio",
              "operations per second (longer is better)",
              ["%s updates" % x for x in mixes], list(HASH_MAPS), hm_mix)
    bar_chart(os.path.join(out, "hash_map_threads.svg"),
              "Hash map, 1M keys, read-only: throughput against threads",
              "lookups per second (longer is better)", ["1 thread", "2 threads"],
              list(HASH_MAPS), hm_threads)

    def hm(m, keys, mix, t):
        return results.get("%s/%s/%supdates/real_time/threads:%d" % (m, keys, mix, t))

    md += ["", "## Hash map", "", "![hash map updates](hash_map_updates.svg)", "",
           "![hash map threads](hash_map_threads.svg)", "",
           "1M keys, medians of %d repetitions (± the coefficient of variation). For every row: "
           "rcu::HashMap (grown from empty, as a user's map is), the best concurrent peer "
           "(xenium, libcds, TBB, libcuckoo, liburcu's rculfhash), the best locked baseline, and for "
           "read-only rows the unsynchronized absl::flat_hash_map (the ceiling). Ratios above 1: "
           "rcu is faster." % (1 if args.quick else REPETITIONS), "",
           "| keys | updates | threads | rcu | best peer | rcu vs peer | best baseline | "
           "rcu vs baseline | unsynchronized | rcu vs unsynchronized |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for keys in ("uniform", "zipf", "string_uniform", "string_zipf"):
        for mix in mixes:
            for t in (1, 2):
                ours = hm("rcu_hash_map", keys, mix, t)
                if not ours:
                    continue
                def get(name):
                    return hm(name, keys, mix, t)
                ceiling = get("absl_flat_hash_map_unsynchronized")
                md.append("| %s | %s | %d | %s | %s | %s | %s |" % (
                    keys, mix, t, rate_cell(ours),
                    " | ".join(versus(ours, get, HASH_MAP_PEERS) +
                               versus(ours, get, HASH_MAP_BASELINES)),
                    rate_cell(ceiling), ratio(rate(ours), rate(ceiling)) if ceiling else ""))
    md += ["", "Resident memory per key: each map built alone in a child process "
           "(`hash_map_benchmark --memory=<map>`), 1M uint64 keys and values, after its deferred "
           "frees ran; the growth of the process's resident set divided by the keys.", "",
           "| map | bytes per key |", "|---|---|"]
    for m in HASH_MAPS:
        if m in bytes_per_key:
            md.append("| %s | %.1f |" % (m, bytes_per_key[m]))
    pending = [results.get("%s/uniform/50%%updates/real_time/threads:2" % m, {})
               for m in ("rcu_hash_map", "rcu_hash_map_presized")]
    md += ["", "Peak pending reclamation in the 50%%-update runs (callbacks queued, not yet run): "
           "%s (grown), %s (presized)." % tuple(fmt(p.get("peak_pending", 0)) for p in pending)]

    # The other containers: each row against its best locked baseline and, where one exists, the
    # unsynchronized ceiling, at 1 and 2 threads.
    md += ["", "## Other containers", "",
           "A ratio above 1 means the rcu container is faster. The ceiling runs the same reads "
           "on a plain container with no writer and no synchronization.", "",
           "| benchmark | threads | rcu | best locked baseline | vs baseline | ceiling | "
           "vs ceiling |", "|---|---|---|---|---|---|---|"]
    # (label, rcu benchmark, locked baselines, ceiling or None), names without the thread suffix.
    rows = [("List traversal (1,000 nodes), updater running", "Traverse1000/rcu_list/with_updater",
             ["Traverse1000/std_list_shared_mutex/with_updater"], None)]
    for mode in ("read_only", "with_updater"):
        rows.append(("List lookup, %s" % mode.replace("_", " "), "Lookup/rcu_list/" + mode,
                     ["Lookup/std_list_shared_mutex/" + mode], None))
    for per in (1, 16):
        suffix = "/reads_per_section:%d" % per
        rows.append(("Array indexed reads, appender running, %d per section" % per,
                     "IndexedRead/rcu_copy_on_grow_array/with_appender" + suffix,
                     ["IndexedRead/std_vector_shared_mutex/with_appender" + suffix],
                     "IndexedRead/std_vector_unsynchronized/no_appender" + suffix))
    for updater, said in (("updates_per_second:1000", "1,000 updates/s"),
                          ("updates_per_second:max", "a flooding updater"),
                          ("no_updater", "no updater")):
        rows.append(("Replace map lookups (10K keys), %s" % said,
                     "LookupWhileUpdating/rcu_replace_map/" + updater,
                     ["LookupWhileUpdating/%s/%s" % (m, updater)
                      for m in ("absl_flat_hash_map_shared_mutex", "std_map_shared_mutex")],
                     "LookupWhileUpdating/absl_flat_hash_map_unsynchronized/no_updater"))
    for label, ours, baselines, ceiling in rows:
        for t in (1, 2):
            def get(name):
                return results.get("%s/real_time/threads:%d" % (name, t)) if name else None
            mine = get(ours)
            if not mine:
                continue
            best = max([(rate(get(b)), b.split("/")[1]) for b in baselines if get(b)] or [None],
                       key=lambda x: x[0] if x else 0)
            top = get(ceiling)
            md.append("| %s | %d | %s | %s | %s | %s | %s |" % (
                label, t, rate_cell(mine),
                "%s/s (%s)" % (fmt(best[0]), best[1]) if best else "",
                ratio(rate(mine), best[0]) if best else "", rate_cell(top),
                ratio(rate(mine), rate(top)) if top else ""))
    update_maps = ("rcu_replace_map", "rcu_hash_map", "absl_flat_hash_map_shared_mutex")
    md += ["", "One-key updates, one thread (where ReplaceMap's copy per update crosses over; "
           "see replace_map.h):", "", "| keys | %s |" % " | ".join(update_maps), "|---|---|---|---|"]
    for n in (100, 1000, 10000, 100000):
        cells = [results.get("Update/%s/keys:%d" % (m, n)) for m in update_maps]
        md.append("| %d | %s |" % (n, " | ".join("%s/s" % fmt(rate(b)) if b else ""
                                                 for b in cells)))

    md += [""] + containers_iii_section(results, out, args.quick)
    md += [""] + lookup_cache_section(results, bytes_per_key, out)

    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"machine": info, "quick": args.quick, "results": results}, f, indent=1)
    progress("wrote %s" % os.path.join(out, "report.md"))


if __name__ == "__main__":
    main()
