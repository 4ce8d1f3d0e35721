// rcu::LookupCache (rcu/containers/lookup_cache.h) beside its baselines, in one run:
//
//   hits/<structure>/<keys>/threads:N   every lookup a hit, 1M uint64 keys and values, keys drawn
//       uniformly or Zipf(0.99): the cache's Find against rcu::HashMap::Find on the same keys
//       (the ceiling a cache in front of a map can reach), an LRU under one std::mutex,
//       LevelDB's design (16 such LRUs, sharded by hash), RocksDB's LRUCache and
//       HyperClockCache (lock-free CLOCK) through its Cache interface, and TBB's
//       concurrent_lru_cache. items_per_second is over all threads.
//   hit_ratio/<trace>/<capacity>   one thread replays a trace over 1M keys (Zipf 0.7, 0.9, 1.1,
//       and Zipf 0.9 with a scan of 100K never-repeated keys after every 1M requests; 10M
//       requests, --trace_requests changes it) through the cache (S3-FIFO) and through an exact
//       LRU of the same capacity; the counters are each one's hit ratio, beside Belady's
//       (the offline optimum: evict the key used again furthest in the future; never admit a
//       key that is not used again), the ceiling.
//   miss/rcu_lookup_cache   one thread misses fresh keys (GetOrLoad with a loader that returns
//       at once) in a full cache: each miss loads, publishes and evicts. p50_ns and p99_ns are
//       the time a miss adds to its loader's.
//   miss_wakeup/rcu_lookup_cache   one thread loads a key (its loader takes 200 us) while another
//       waits for it: the waiter's wake-up latency, from the loader's return to the waiter's;
//       miss_wakeup/std_condition_variable is the floor: one thread wakes another waiting on a
//       condition variable, timed the same way.
//
// Memory (--memory=<structure>, one per process): fills it with 1M uint64 keys and values and
// prints the resident bytes per entry beyond the key and value (16 bytes).
//
// Run: ./bazelw run -c opt //benchmarks:lookup_cache_benchmark

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#define TBB_PREVIEW_CONCURRENT_LRU_CACHE 1
#include <oneapi/tbb/concurrent_lru_cache.h>
#include <rocksdb/cache.h>
#include <unistd.h>

#include "absl/container/flat_hash_map.h"
#include "benchmark/benchmark.h"
#include "benchmarks/build_context.h"
#include "benchmarks/key_streams.h"
#include "benchmarks/resident_bytes.h"
#include "rcu/containers/hash_map.h"
#include "rcu/containers/lookup_cache.h"
#include "rcu/domain.h"

namespace {

constexpr size_t kKeys = 1 << 20;
constexpr size_t kStream = 1 << 22;
size_t g_trace_requests = 10'000'000;

uint64_t KeyOf(uint64_t rank) { return rank * 0x9E3779B97F4A7C15 + 1; }  // spread, never 0

using rcu_bench::ZipfRanks;

const std::vector<uint32_t>& Stream(bool zipf) {
  static const auto* uniform =
      new std::vector<uint32_t>(rcu_bench::UniformRanks(kStream, kKeys, 1));
  static const auto* skewed = new std::vector<uint32_t>(ZipfRanks(kStream, kKeys, 0.99, 2));
  return zipf ? *skewed : *uniform;
}

// An exact LRU: a list in recency order and a map into it, under one mutex (what a service
// writes by hand). A hit moves the entry to the front.
class MutexLru {
 public:
  explicit MutexLru(size_t capacity) : capacity_(capacity) { index_.reserve(capacity + 1); }
  bool Get(uint64_t key, uint64_t& value) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    order_.splice(order_.begin(), order_, it->second);
    value = it->second->second;
    return true;
  }
  void Insert(uint64_t key, uint64_t value) {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = index_.find(key); it != index_.end()) {
      it->second->second = value;
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    order_.emplace_front(key, value);
    index_[key] = order_.begin();
    if (order_.size() > capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
  }

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::list<std::pair<uint64_t, uint64_t>> order_;
  absl::flat_hash_map<uint64_t, std::list<std::pair<uint64_t, uint64_t>>::iterator> index_;
};

// LevelDB's ShardedLRUCache: 16 LRUs, picked by the top bits of the key's hash. Each holds an
// eighth more than its share, so that the hit benchmark's keys all fit however they spread.
class ShardedLru {
 public:
  explicit ShardedLru(size_t capacity) {
    for (auto& s : shards_) s = std::make_unique<MutexLru>(capacity / kShards * 9 / 8 + 1);
  }
  bool Get(uint64_t key, uint64_t& value) { return Shard(key).Get(key, value); }
  void Insert(uint64_t key, uint64_t value) { Shard(key).Insert(key, value); }

 private:
  static constexpr size_t kShards = 16;
  MutexLru& Shard(uint64_t key) {
    return *shards_[((key ^ (key >> 33)) * 0xFF51AFD7ED558CCD) >> 60];  // a murmur3 mix, top 4 bits
  }
  std::unique_ptr<MutexLru> shards_[kShards];
};

struct RcuCache {
  rcu::LookupCache<uint64_t, uint64_t> cache{{.capacity = kKeys}};
  void Insert(uint64_t key, uint64_t value) { cache.Insert(key, value); }
  bool Get(uint64_t key, uint64_t& value) {
    rcu::ReadGuard guard;
    const uint64_t* v = cache.Find(guard, key);
    if (v == nullptr) return false;
    value = *v;
    return true;
  }
};
struct RcuHashMap {
  rcu::HashMap<uint64_t, uint64_t> map{rcu::Domain::Default(), {.initial_capacity = kKeys}};
  void Insert(uint64_t key, uint64_t value) { map.InsertOrAssign(key, value); }
  bool Get(uint64_t key, uint64_t& value) {
    rcu::ReadGuard guard;
    const uint64_t* v = map.Find(guard, key);
    if (v == nullptr) return false;
    value = *v;
    return true;
  }
};
// RocksDB's block caches through their `Cache` interface, as RocksDB uses them: a lookup takes a
// handle (a reference) and releases it. Keys are 16 bytes (HyperClockCache's only key size: the
// uint64 key and 8 zero bytes); the value is stored in the value pointer itself; the metadata is
// not charged, so that the capacity counts entries as ours does. LRUCache gets 64 shards (what
// RocksDB picks for a block cache of 32 MiB or more).
template <bool kHyperClock>
class RocksDbCache {
 public:
  explicit RocksDbCache(size_t capacity)
      : cache_(kHyperClock ? HyperClock(capacity) : Lru(capacity)) {}
  bool Get(uint64_t key, uint64_t& value) {
    Key k(key);
    rocksdb::Cache::Handle* h = cache_->Lookup(k.slice());
    if (h == nullptr) return false;
    value = reinterpret_cast<uintptr_t>(cache_->Value(h));
    cache_->Release(h);
    return true;
  }
  void Insert(uint64_t key, uint64_t value) {
    Key k(key);
    rocksdb::Status s =
        cache_->Insert(k.slice(), reinterpret_cast<void*>(static_cast<uintptr_t>(value)), 1,
                       [](const rocksdb::Slice&, void*) {});
    if (!s.ok()) std::abort();
  }

 private:
  struct Key {
    explicit Key(uint64_t key) { std::memcpy(bytes, &key, sizeof(key)); }
    rocksdb::Slice slice() const { return rocksdb::Slice(bytes, sizeof(bytes)); }
    char bytes[16] = {};
  };
  static std::shared_ptr<rocksdb::Cache> Lru(size_t capacity) {
    return rocksdb::NewLRUCache(capacity, /*num_shard_bits=*/6, /*strict_capacity_limit=*/false,
                                /*high_pri_pool_ratio=*/0.0, nullptr,
                                rocksdb::kDefaultToAdaptiveMutex,
                                rocksdb::kDontChargeCacheMetadata);
  }
  static std::shared_ptr<rocksdb::Cache> HyperClock(size_t capacity) {
    rocksdb::HyperClockCacheOptions options(capacity, /*estimated_entry_charge=*/1);
    options.metadata_charge_policy = rocksdb::kDontChargeCacheMetadata;
    return options.MakeSharedCache();
  }

  std::shared_ptr<rocksdb::Cache> cache_;
};

// TBB's concurrent_lru_cache: a loading cache (operator[] calls the value function on a miss)
// whose handles pin their entry; `capacity` counts the entries no handle holds.
class TbbLru {
 public:
  explicit TbbLru(size_t capacity) : cache_(&Load, capacity) {}
  bool Get(uint64_t key, uint64_t& value) {
    value = cache_[key].value();
    return true;
  }
  void Insert(uint64_t key, uint64_t) { cache_[key]; }

 private:
  static uint64_t Load(uint64_t key) { return key; }
  tbb::concurrent_lru_cache<uint64_t, uint64_t, uint64_t (*)(uint64_t)> cache_;
};

// A structure of `capacity`, default-constructible for Filled().
template <typename T, size_t kCapacity = kKeys>
struct Sized : T {
  Sized() : T(kCapacity) {}
};

template <typename T>
T& Filled() {
  static T* t = [] {
    auto* x = new T;
    for (uint64_t r = 0; r < kKeys; ++r) x->Insert(KeyOf(r), r);
    return x;
  }();
  return *t;
}

template <typename T>
void BM_Hits(benchmark::State& state, bool zipf) {
  T& t = Filled<T>();
  const std::vector<uint32_t>& stream = Stream(zipf);
  size_t i = static_cast<size_t>(state.thread_index()) * 7919 % kStream;
  uint64_t sum = 0, misses = 0;
  for (auto _ : state) {
    uint64_t v;
    if (t.Get(KeyOf(stream[i]), v)) {
      sum += v;
    } else {
      ++misses;
    }
    if (++i == kStream) i = 0;
  }
  benchmark::DoNotOptimize(sum);
  if (misses != 0) state.SkipWithError("a lookup missed");
  state.SetItemsProcessed(state.iterations());
}

template <typename T>
void RegisterHits(const char* name) {
  for (bool zipf : {false, true}) {
    benchmark::RegisterBenchmark(
        (std::string("hits/") + name + (zipf ? "/zipf" : "/uniform")).c_str(),
        [zipf](benchmark::State& s) { BM_Hits<T>(s, zipf); })
        ->Threads(1)
        ->Threads(2)
        ->Threads(16)
        ->UseRealTime();
  }
}

// A trace of ranks: Zipf(s) over 1M keys, or (scan) Zipf(0.9) with 100K new keys after every 1M.
std::vector<uint64_t> Trace(double s, bool scan) {
  std::vector<uint32_t> ranks = ZipfRanks(g_trace_requests, kKeys, s, 3);
  std::vector<uint64_t> trace;
  trace.reserve(g_trace_requests + g_trace_requests / 10);
  uint64_t fresh = kKeys;
  for (size_t i = 0; i < ranks.size(); ++i) {
    trace.push_back(ranks[i]);
    if (scan && (i + 1) % 1'000'000 == 0) {
      for (int j = 0; j < 100'000; ++j) trace.push_back(fresh++);
    }
  }
  return trace;
}

// Belady's MIN with bypass: the hits of the offline optimum of `capacity` entries on `trace`.
uint64_t BeladyHits(const std::vector<uint64_t>& trace, size_t capacity) {
  constexpr uint64_t kNever = UINT64_MAX;
  std::vector<uint64_t> next(trace.size());  // where trace[i]'s key is requested again
  absl::flat_hash_map<uint64_t, uint64_t> seen;
  for (size_t i = trace.size(); i-- > 0;) {
    auto [it, fresh] = seen.try_emplace(trace[i], kNever);
    next[i] = it->second;
    it->second = i;
  }
  absl::flat_hash_map<uint64_t, uint64_t> cached;               // key -> its next request
  std::priority_queue<std::pair<uint64_t, uint64_t>> furthest;  // (next request, key), lazily
  uint64_t hits = 0;
  for (size_t i = 0; i < trace.size(); ++i) {
    const uint64_t key = trace[i];
    if (auto it = cached.find(key); it != cached.end()) {
      ++hits;
      if (next[i] == kNever) {
        cached.erase(it);  // not requested again: its room is free
        continue;
      }
      it->second = next[i];
    } else if (next[i] == kNever) {
      continue;  // never requested again: not admitted
    } else if (cached.size() == capacity) {
      for (;;) {  // drop stale pairs: keys evicted, or requested since
        auto top = cached.find(furthest.top().second);
        if (top != cached.end() && top->second == furthest.top().first) break;
        furthest.pop();
      }
      if (furthest.top().first < next[i]) continue;  // every cached key is needed sooner
      cached.erase(furthest.top().second);
      furthest.pop();
      cached.emplace(key, next[i]);
    } else {
      cached.emplace(key, next[i]);
    }
    if (next[i] != kNever) furthest.emplace(next[i], key);
  }
  return hits;
}

void BM_HitRatio(benchmark::State& state, double s, bool scan, size_t capacity) {
  const std::vector<uint64_t> trace = Trace(s, scan);
  double cache_ratio = 0, lru_ratio = 0;
  for (auto _ : state) {
    rcu::Domain domain;
    rcu::LookupCache<uint64_t, uint64_t> cache(domain, {.capacity = capacity});
    MutexLru lru(capacity);
    uint64_t cache_hits = 0, lru_hits = 0;
    for (uint64_t key : trace) {
      if (cache.Get(key)) {
        ++cache_hits;
      } else {
        cache.Insert(key, key);
      }
      uint64_t v;
      if (lru.Get(key, v)) {
        ++lru_hits;
      } else {
        lru.Insert(key, key);
      }
    }
    cache_ratio = double(cache_hits) / double(trace.size());
    lru_ratio = double(lru_hits) / double(trace.size());
  }
  state.counters["s3fifo"] = cache_ratio;
  state.counters["lru"] = lru_ratio;
  state.counters["belady"] = double(BeladyHits(trace, capacity)) / double(trace.size());
}

// The nanoseconds each call of `op` took, as the median and 99th percentile.
template <typename Op>
void Percentiles(benchmark::State& state, size_t calls, Op op) {
  std::vector<double> ns(calls);
  for (auto _ : state) {
    for (double& t : ns) t = op();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(calls));
  std::sort(ns.begin(), ns.end());
  state.counters["p50_ns"] = ns[ns.size() / 2];
  state.counters["p99_ns"] = ns[ns.size() * 99 / 100];
}

double NanosSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
}

void BM_Miss(benchmark::State& state) {
  rcu::LookupCache<uint64_t, uint64_t> cache({.capacity = 1 << 16});
  uint64_t fresh = 0;
  for (; fresh < cache.capacity(); ++fresh) cache.Insert(KeyOf(fresh), fresh);
  Percentiles(state, 100'000, [&] {
    const auto start = std::chrono::steady_clock::now();
    cache.GetOrLoad(KeyOf(fresh++), [](uint64_t key) { return key; });
    return NanosSince(start);
  });
}

void BM_MissWakeup(benchmark::State& state) {
  rcu::LookupCache<uint64_t, uint64_t> cache({.capacity = 1024});
  uint64_t key = 0;
  Percentiles(state, 200, [&] {
    ++key;
    std::atomic<bool> loading{false};
    std::chrono::steady_clock::time_point returned, woke;
    std::thread waiter([&] {
      while (!loading.load()) std::this_thread::yield();
      cache.GetOrLoad(key, [](uint64_t) -> uint64_t { std::abort(); });  // waits: never loads
      woke = std::chrono::steady_clock::now();
    });
    cache.GetOrLoad(key, [&](uint64_t k) {
      loading = true;
      std::this_thread::sleep_for(std::chrono::microseconds(200));  // the waiter starts waiting
      returned = std::chrono::steady_clock::now();
      return k;
    });
    waiter.join();
    return std::chrono::duration<double, std::nano>(woke - returned).count();
  });
}

void BM_ConditionVariableWakeup(benchmark::State& state) {
  Percentiles(state, 200, [&] {
    std::mutex mu;
    std::condition_variable cv;
    bool waiting = false, done = false;
    std::chrono::steady_clock::time_point notified, woke;
    std::thread waiter([&] {
      std::unique_lock<std::mutex> lock(mu);
      waiting = true;
      cv.wait(lock, [&] { return done; });
      woke = std::chrono::steady_clock::now();
    });
    for (;;) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      std::lock_guard<std::mutex> lock(mu);
      if (waiting) {
        done = true;
        notified = std::chrono::steady_clock::now();
        break;
      }
    }
    cv.notify_all();
    waiter.join();
    return std::chrono::duration<double, std::nano>(woke - notified).count();
  });
}

// Prints the resident bytes per entry, beyond its key and value, that T adds full of 1M.
template <typename T>
void Memory(const char* name) {
  const size_t before = rcu_bench::ResidentBytes();
  T& t = Filled<T>();
  if constexpr (requires { t.cache.domain(); }) t.cache.domain().Barrier();
  const size_t after = rcu_bench::ResidentBytes();
  std::printf("%s %.1f\n", name, double(after - before) / double(kKeys) - 2 * sizeof(uint64_t));
}

void RegisterHitRatios() {
  struct TraceKind {
    const char* name;
    double s;
    bool scan;
  };
  for (const TraceKind& t :
       {TraceKind{"zipf0.7", 0.7, false}, TraceKind{"zipf0.9", 0.9, false},
        TraceKind{"zipf1.1", 1.1, false}, TraceKind{"zipf0.9+scan", 0.9, true}}) {
    for (size_t capacity : {size_t{1000}, size_t{10000}, size_t{100000}}) {
      benchmark::RegisterBenchmark(
          (std::string("hit_ratio/") + t.name + "/" + std::to_string(capacity)).c_str(),
          [t, capacity](benchmark::State& st) { BM_HitRatio(st, t.s, t.scan, capacity); })
          ->Iterations(1)
          ->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--trace_requests=", 17) == 0) {
      g_trace_requests = std::strtoull(argv[i] + 17, nullptr, 10);
      argv[i--] = argv[--argc];  // not benchmark's flag
    }
  }
  struct Structure {
    const char* name;
    void (*hits)(const char*);
    void (*memory)(const char*);
  };
  // A quarter more room for RocksDB's caches: their shards fill unevenly.
  using RocksLru = Sized<RocksDbCache<false>, kKeys * 5 / 4>;
  using RocksHyperClock = Sized<RocksDbCache<true>, kKeys * 5 / 4>;
  const Structure structures[] = {
      {"rcu_lookup_cache", &RegisterHits<RcuCache>, &Memory<RcuCache>},
      {"rcu_hash_map_find", &RegisterHits<RcuHashMap>, &Memory<RcuHashMap>},
      {"mutex_lru", &RegisterHits<Sized<MutexLru>>, &Memory<Sized<MutexLru>>},
      {"sharded_mutex_lru_16", &RegisterHits<Sized<ShardedLru>>, &Memory<Sized<ShardedLru>>},
      {"rocksdb_lru_cache", &RegisterHits<RocksLru>, &Memory<RocksLru>},
      {"rocksdb_hyper_clock_cache", &RegisterHits<RocksHyperClock>, &Memory<RocksHyperClock>},
      {"tbb_concurrent_lru_cache", &RegisterHits<Sized<TbbLru>>, &Memory<Sized<TbbLru>>},
  };
  if (const std::optional<int> rc = rcu_bench::RunMemoryFlag(argc, argv, structures)) return *rc;
  rcu_bench::AddBuildContext();
  for (const Structure& s : structures) s.hits(s.name);
  RegisterHitRatios();
  benchmark::RegisterBenchmark("miss/rcu_lookup_cache", BM_Miss)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("miss_wakeup/rcu_lookup_cache", BM_MissWakeup)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("miss_wakeup/std_condition_variable", BM_ConditionVariableWakeup)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
