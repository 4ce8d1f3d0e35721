// //benchmarks:hash_map_benchmark: rcu::HashMap (lookup cache on and off) beside
// std::unordered_map under std::shared_mutex, absl::flat_hash_map under absl::Mutex,
// tbb::concurrent_hash_map, liburcu's rculfhash (memb flavor) and, for read-only runs, an
// unsynchronized absl::flat_hash_map (the ceiling), all in one binary.
//
//   ./bazelw run -c opt //benchmarks:hash_map_benchmark
//
// 1M 64-bit keys; keys drawn uniformly or Zipf-skewed (s = 0.99); 0%, 1%, 10% or 50% updates
// (assign a new value to an existing key); 1 and 2 threads. Names:
// <map>/<keys>/<N>%updates/threads:T. items_per_second is the total over all threads (wall time).
// The RCU maps also report peak_pending: the most callbacks queued and not yet run.

#define _LGPL_SOURCE 1
#include <urcu/rculfhash.h>
#include <urcu/urcu-memb.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "rcu/containers/hash_map.h"
#include "rcu/domain.h"
#include "tbb/concurrent_hash_map.h"

namespace {

constexpr size_t kKeys = 1 << 20;
constexpr size_t kStream = 1 << 22;  // pre-drawn key indices per distribution

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

const std::vector<uint64_t>& Keys() {
  static const auto* keys = [] {
    auto* k = new std::vector<uint64_t>(kKeys);
    for (size_t i = 0; i < kKeys; ++i) (*k)[i] = SplitMix(i + 1);
    return k;
  }();
  return *keys;
}

// Key indices in the order the benchmark uses them.
const std::vector<uint32_t>& Stream(bool zipf) {
  static const auto* uniform = [] {
    auto* s = new std::vector<uint32_t>(kStream);
    std::mt19937_64 rng(1);
    for (auto& x : *s) x = static_cast<uint32_t>(rng() % kKeys);
    return s;
  }();
  static const auto* skewed = [] {
    // Inverse-CDF sampling of Zipf(0.99) over ranks; rank r is key r (keys are random already).
    std::vector<double> cdf(kKeys);
    double sum = 0;
    for (size_t r = 0; r < kKeys; ++r) cdf[r] = (sum += 1.0 / std::pow(double(r + 1), 0.99));
    auto* s = new std::vector<uint32_t>(kStream);
    std::mt19937_64 rng(2);
    std::uniform_real_distribution<double> u(0, sum);
    for (auto& x : *s) {
      x = static_cast<uint32_t>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
    }
    return s;
  }();
  return zipf ? *skewed : *uniform;
}

// ---- the maps -------------------------------------------------------------------------------

template <bool kCache>
struct Rcu {
  static rcu::HashMap<uint64_t, uint64_t>& Map() {
    static auto* map = [] {
      rcu::HashMapOptions options;
      options.lookup_cache = kCache;
      // A domain per map, so that its statistics (peak_pending) are its own.
      auto* m = new rcu::HashMap<uint64_t, uint64_t>(*new rcu::Domain, options);
      for (uint64_t k : Keys()) m->Insert(k, k);
      return m;
    }();
    return *map;
  }
  static void Online() {}
  static void Offline() {}
  static uint64_t Lookup(uint64_t key) {
    rcu::ReadGuard guard(Map().domain());
    const uint64_t* v = Map().Find(guard, key);
    return v != nullptr ? *v : 0;
  }
  static void Update(uint64_t key, uint64_t value) { Map().InsertOrAssign(key, value); }
};

// std::unordered_map under a lock: readers take ReadLock (shared_lock for std::shared_mutex,
// unique_lock for std::mutex), updaters an exclusive one.
template <typename Mutex, template <typename> class ReadLock>
struct StdLocked {
  static Mutex mu;
  static std::unordered_map<uint64_t, uint64_t>& Map() {
    static auto* map = [] {
      auto* m = new std::unordered_map<uint64_t, uint64_t>;
      for (uint64_t k : Keys()) (*m)[k] = k;
      return m;
    }();
    return *map;
  }
  static void Online() {}
  static void Offline() {}
  static uint64_t Lookup(uint64_t key) {
    ReadLock<Mutex> lock(mu);
    auto it = Map().find(key);
    return it != Map().end() ? it->second : 0;
  }
  static void Update(uint64_t key, uint64_t value) {
    std::unique_lock<Mutex> lock(mu);
    Map()[key] = value;
  }
};
template <typename Mutex, template <typename> class ReadLock>
Mutex StdLocked<Mutex, ReadLock>::mu;

using StdShared = StdLocked<std::shared_mutex, std::shared_lock>;
using StdMutex = StdLocked<std::mutex, std::unique_lock>;

struct AbslLocked {
  static absl::Mutex mu;
  static absl::flat_hash_map<uint64_t, uint64_t>& Map() {
    static auto* map = [] {
      auto* m = new absl::flat_hash_map<uint64_t, uint64_t>;
      for (uint64_t k : Keys()) (*m)[k] = k;
      return m;
    }();
    return *map;
  }
  static void Online() {}
  static void Offline() {}
  static uint64_t Lookup(uint64_t key) {
    absl::ReaderMutexLock lock(&mu);
    auto it = Map().find(key);
    return it != Map().end() ? it->second : 0;
  }
  static void Update(uint64_t key, uint64_t value) {
    absl::MutexLock lock(&mu);
    Map()[key] = value;
  }
};
absl::Mutex AbslLocked::mu;

// The ceiling: no synchronization at all (read-only runs only).
struct AbslUnsynchronized : AbslLocked {
  static uint64_t Lookup(uint64_t key) {
    auto it = Map().find(key);
    return it != Map().end() ? it->second : 0;
  }
};

struct Tbb {
  using Map_t = tbb::concurrent_hash_map<uint64_t, uint64_t>;
  static Map_t& Map() {
    static auto* map = [] {
      auto* m = new Map_t(kKeys);
      for (uint64_t k : Keys()) m->insert({k, k});
      return m;
    }();
    return *map;
  }
  static void Online() {}
  static void Offline() {}
  static uint64_t Lookup(uint64_t key) {
    Map_t::const_accessor a;
    return Map().find(a, key) ? a->second : 0;
  }
  static void Update(uint64_t key, uint64_t value) {
    Map_t::accessor a;
    Map().insert(a, key);
    a->second = value;
  }
};

struct Lfht {
  struct Node {
    uint64_t key;
    uint64_t value;
    cds_lfht_node node;
    rcu_head head;
  };
  static int Match(cds_lfht_node* node, const void* key) {
    return caa_container_of(node, Node, node)->key == *static_cast<const uint64_t*>(key);
  }
  static cds_lfht* Table() {
    static cds_lfht* table = [] {
      urcu_memb_register_thread();
      cds_lfht* t = cds_lfht_new_flavor(kKeys, kKeys, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
                                        &urcu_memb_flavor, nullptr);
      urcu_memb_read_lock();
      for (uint64_t k : Keys()) cds_lfht_add(t, SplitMix(k), &(new Node{k, k, {}, {}})->node);
      urcu_memb_read_unlock();
      urcu_memb_unregister_thread();
      return t;
    }();
    return table;
  }
  static void Online() {
    Table();
    urcu_memb_register_thread();
  }
  static void Offline() { urcu_memb_unregister_thread(); }
  static uint64_t Lookup(uint64_t key) {
    urcu_memb_read_lock();
    cds_lfht_iter iter;
    cds_lfht_lookup(Table(), SplitMix(key), &Match, &key, &iter);
    cds_lfht_node* n = cds_lfht_iter_get_node(&iter);
    const uint64_t v = n != nullptr ? caa_container_of(n, Node, node)->value : 0;
    urcu_memb_read_unlock();
    return v;
  }
  static void Update(uint64_t key, uint64_t value) {
    Node* fresh = new Node{key, value, {}, {}};
    urcu_memb_read_lock();
    cds_lfht_node* old = cds_lfht_add_replace(Table(), SplitMix(key), &Match, &key, &fresh->node);
    urcu_memb_read_unlock();
    if (old != nullptr) {
      urcu_memb_call_rcu(&caa_container_of(old, Node, node)->head,
                         [](rcu_head* h) { delete caa_container_of(h, Node, head); });
    }
  }
};

// ---- the benchmark --------------------------------------------------------------------------

template <typename M>
void BM_Map(benchmark::State& state, bool zipf, int update_percent) {
  const std::vector<uint64_t>& keys = Keys();
  const std::vector<uint32_t>& stream = Stream(zipf);
  M::Online();
  size_t i = static_cast<size_t>(state.thread_index()) * (kStream / 2);
  uint64_t sink = 0;
  for (auto _ : state) {
    const uint64_t key = keys[stream[i++ & (kStream - 1)]];
    if (update_percent != 0 && i % 100 < static_cast<size_t>(update_percent)) {
      M::Update(key, i);
    } else {
      sink += M::Lookup(key);
    }
  }
  benchmark::DoNotOptimize(sink);
  state.SetItemsProcessed(state.iterations());
  if constexpr (requires { M::Map().domain(); }) {
    state.counters["peak_pending"] = static_cast<double>(M::Map().domain().Stats().peak_pending);
  }
  M::Offline();
}

// Each map is built on first use (by the benchmark's first, untimed, run), so a process that runs
// one map (--benchmark_filter) holds only that map: the report measures peak RSS that way.
template <typename M>
void Register(const std::string& name, bool with_updates = true) {
  for (bool zipf : {false, true}) {
    for (int updates : {0, 1, 10, 50}) {
      if (updates != 0 && !with_updates) continue;
      const std::string full =
          name + (zipf ? "/zipf/" : "/uniform/") + std::to_string(updates) + "%updates";
      benchmark::RegisterBenchmark(full.c_str(),
                                   [=](benchmark::State& s) { BM_Map<M>(s, zipf, updates); })
          ->Threads(1)
          ->Threads(2)
          ->UseRealTime();
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Register<Rcu<true>>("rcu_hash_map_cache");
  Register<Rcu<false>>("rcu_hash_map_nocache");
  Register<Lfht>("liburcu_rculfhash");
  Register<Tbb>("tbb_concurrent_hash_map");
  Register<StdShared>("std_unordered_map_shared_mutex");
  Register<StdMutex>("std_unordered_map_mutex");
  Register<AbslLocked>("absl_flat_hash_map_mutex");
  Register<AbslUnsynchronized>("absl_flat_hash_map_unsynchronized", /*with_updates=*/false);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
