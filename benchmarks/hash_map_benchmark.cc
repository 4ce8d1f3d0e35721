// //benchmarks:hash_map_benchmark: rcu::HashMap beside every map a lookup service would pick
// instead, all in one binary:
//   peers:     xenium's vyukov_hash_map (epoch-based reclamation), libcds's MichaelHashMap (hazard
//              pointers), tbb::concurrent_hash_map, liburcu's rculfhash (memb flavor), libcuckoo's
//              cuckoohash_map (bucket locks; lookups copy the value under the key's two locks);
//   baselines: std::unordered_map under std::shared_mutex and under std::mutex, and
//              absl::flat_hash_map under absl::Mutex;
//   ceiling:   an unsynchronized absl::flat_hash_map (read-only runs only).
// Page policy: like for like, the absl maps get rcu::HashMap's (arrays of 2 MiB or more advised
// for transparent huge pages); rcu_hash_map_presized_no_huge_pages shows the map without it.
//
//   ./bazelw run -c opt //benchmarks:hash_map_benchmark
//   ./bazelw run -c opt //benchmarks:hash_map_benchmark -- --memory=<map>
//
// Throughput: 1M keys; 64-bit integers for every map, and host-name-like strings of 16 to 48
// bytes (looked up through std::string_view, no allocation per lookup) for the maps that take one;
// keys drawn uniformly or Zipf-skewed (s = 0.99); 0%, 1%, 10% or 50% updates (assign a new value
// to an existing key); 1 and 2 threads. Names: <map>/<keys>/<N>%updates/real_time/threads:T, with
// <keys> one of uniform, zipf, string_uniform, string_zipf. items_per_second is the total over all
// threads (wall time). `rcu_hash_map` grows from empty as a user's map does;
// `rcu_hash_map_presized` is built with initial_capacity = 1M. The RCU maps also report
// peak_pending: the most callbacks queued and not yet run.
//
// Memory (--memory=<map>, one map per process): builds the map of 1M integer keys, lets its
// deferred frees run, and prints `<map> <bytes per key>`: the growth of the process's resident
// set (/proc/self/statm) over the same process before the map, divided by the keys. The report
// runs it once per map, each in a child process of its own.

#define _LGPL_SOURCE 1
#include <cds/container/michael_kvlist_hp.h>
#include <cds/container/michael_map.h>
#include <cds/gc/hp.h>
#include <cds/init.h>
#include <sys/mman.h>
#include <urcu/rculfhash.h>
#include <urcu/urcu-memb.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <libcuckoo/cuckoohash_map.hh>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>
#include <xenium/reclamation/generic_epoch_based.hpp>
#include <xenium/vyukov_hash_map.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "benchmarks/build_context.h"
#include "benchmarks/key_streams.h"
#include "benchmarks/resident_bytes.h"
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

// The keys: kKeys distinct values of type K.
template <typename K>
const std::vector<K>& Keys();

template <>
const std::vector<uint64_t>& Keys() {
  static const auto* keys = [] {
    auto* k = new std::vector<uint64_t>(kKeys);
    for (size_t i = 0; i < kKeys; ++i) (*k)[i] = SplitMix(i + 1);
    return k;
  }();
  return *keys;
}

// Host names of 16 to 48 bytes: "<label>-<n>.<label>.example.com" with random lowercase labels.
template <>
const std::vector<std::string>& Keys() {
  static const auto* keys = [] {
    auto* k = new std::vector<std::string>;
    k->reserve(kKeys);
    for (size_t i = 0; i < kKeys; ++i) {
      uint64_t r = SplitMix(i + 1);
      std::string host = std::to_string(i) + ".";
      const size_t length = 16 + r % 33;
      while (host.size() + 12 < length) {
        r = SplitMix(r);
        host += static_cast<char>('a' + r % 26);
      }
      host += ".example.com";
      host.resize(length, 'x');
      k->push_back(std::move(host));
    }
    return k;
  }();
  return *keys;
}

// Key indices in the order the benchmark uses them (rank r is key r: keys are random already).
const std::vector<uint32_t>& Stream(bool zipf) {
  static const auto* uniform =
      new std::vector<uint32_t>(rcu_bench::UniformRanks(kStream, kKeys, 1));
  static const auto* skewed =
      new std::vector<uint32_t>(rcu_bench::ZipfRanks(kStream, kKeys, 0.99, 2));
  return zipf ? *skewed : *uniform;
}

// What a lookup passes: the key itself, or a view of a string key.
template <typename K>
using LookupKey = std::conditional_t<std::is_same_v<K, std::string>, std::string_view, K>;

// ---- the maps -------------------------------------------------------------------------------
// Each adapter: Key, Map() (built on first use, so that a process that runs one map holds only
// that map), Online()/Offline() (per-thread registration), Lookup(key), Update(key, value).

struct NoRegistration {
  static void Online() {}
  static void Offline() {}
};

template <typename K, bool kPresized, bool kHugePages = true>
struct Rcu : NoRegistration {
  using Key = K;
  using Map_t = rcu::HashMap<K, uint64_t>;
  // The map, built once. Kept apart from Map() (a load and a branch), so that the loop's call to
  // it is inlined whatever the update path's size.
  [[gnu::noinline]] static Map_t* Build() {
    rcu::HashMapOptions options;
    if (kPresized) options.initial_capacity = kKeys;
    options.huge_pages = kHugePages;
    // A domain per map, so that its statistics (peak_pending) are its own.
    auto* m = new Map_t(*new rcu::Domain, options);
    uint64_t i = 0;
    for (const K& k : Keys<K>()) m->Insert(k, ++i);
    return m;
  }
  static Map_t& Map() {
    static Map_t* const map = Build();
    return *map;
  }
  static uint64_t Lookup(LookupKey<K> key) {
    rcu::ReadGuard guard(Map().domain());
    const uint64_t* v = Map().Find(guard, key);
    return v != nullptr ? *v : 0;
  }
  static void Update(const K& key, uint64_t value) { Map().InsertOrAssign(key, value); }
};

// std::unordered_map under a lock: readers take ReadLock (shared_lock for std::shared_mutex,
// unique_lock for std::mutex), updaters an exclusive one.
template <typename Mutex, template <typename> class ReadLock>
struct StdLocked : NoRegistration {
  using Key = uint64_t;
  static Mutex mu;
  static std::unordered_map<uint64_t, uint64_t>& Map() {
    static auto* map = [] {
      auto* m = new std::unordered_map<uint64_t, uint64_t>;
      for (uint64_t k : Keys<uint64_t>()) (*m)[k] = k;
      return m;
    }();
    return *map;
  }
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

// Debian's Abseil has its own absl::string_view (not std's): its maps look strings up by that.
inline uint64_t AbslKey(uint64_t key) { return key; }
inline absl::string_view AbslKey(std::string_view key) { return {key.data(), key.size()}; }

// rcu::HashMap's page policy, for the absl maps it is compared with: allocations of 2 MiB or
// more are mapped on their own and advised for transparent huge pages (MADV_HUGEPAGE).
template <typename T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr size_t kMapped = size_t{2} << 20;
  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT(google-explicit-constructor)
  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes < kMapped) return std::allocator<T>().allocate(n);
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    madvise(p, bytes, MADV_HUGEPAGE);
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) {
    if (n * sizeof(T) < kMapped) return std::allocator<T>().deallocate(p, n);
    munmap(p, n * sizeof(T));
  }
  friend bool operator==(const HugePageAllocator&, const HugePageAllocator&) { return true; }
};
template <typename K>
using AbslMap = absl::flat_hash_map<K, uint64_t, typename absl::flat_hash_map<K, uint64_t>::hasher,
                                    typename absl::flat_hash_map<K, uint64_t>::key_equal,
                                    HugePageAllocator<std::pair<const K, uint64_t>>>;

template <typename K>
struct AbslLocked : NoRegistration {
  using Key = K;
  static absl::Mutex mu;
  static AbslMap<K>& Map() {
    static auto* map = [] {
      auto* m = new AbslMap<K>;
      uint64_t i = 0;
      for (const K& k : Keys<K>()) (*m)[k] = ++i;
      return m;
    }();
    return *map;
  }
  static uint64_t Lookup(LookupKey<K> key) {
    absl::ReaderMutexLock lock(&mu);
    auto it = Map().find(AbslKey(key));
    return it != Map().end() ? it->second : 0;
  }
  static void Update(const K& key, uint64_t value) {
    absl::MutexLock lock(&mu);
    Map()[key] = value;
  }
};
template <typename K>
absl::Mutex AbslLocked<K>::mu;

// The ceiling: no synchronization at all (read-only runs only).
template <typename K>
struct AbslUnsynchronized : AbslLocked<K> {
  static uint64_t Lookup(LookupKey<K> key) {
    auto it = AbslLocked<K>::Map().find(AbslKey(key));
    return it != AbslLocked<K>::Map().end() ? it->second : 0;
  }
};

struct Tbb : NoRegistration {
  using Key = uint64_t;
  using Map_t = tbb::concurrent_hash_map<uint64_t, uint64_t>;
  static Map_t& Map() {
    static auto* map = [] {
      auto* m = new Map_t(kKeys);
      for (uint64_t k : Keys<uint64_t>()) m->insert({k, k});
      return m;
    }();
    return *map;
  }
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
  using Key = uint64_t;
  struct Node {
    uint64_t key;
    uint64_t value;
    cds_lfht_node node;
    rcu_head head;
  };
  static int Match(cds_lfht_node* node, const void* key) {
    return caa_container_of(node, Node, node)->key == *static_cast<const uint64_t*>(key);
  }
  static cds_lfht* Map() {
    static cds_lfht* table = [] {
      urcu_memb_register_thread();
      cds_lfht* t = cds_lfht_new_flavor(kKeys, kKeys, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
                                        &urcu_memb_flavor, nullptr);
      urcu_memb_read_lock();
      for (uint64_t k : Keys<uint64_t>()) {
        cds_lfht_add(t, SplitMix(k), &(new Node{k, k, {}, {}})->node);
      }
      urcu_memb_read_unlock();
      urcu_memb_unregister_thread();
      return t;
    }();
    return table;
  }
  static void Online() {
    Map();
    urcu_memb_register_thread();
  }
  static void Offline() { urcu_memb_unregister_thread(); }
  static uint64_t Lookup(uint64_t key) {
    urcu_memb_read_lock();
    cds_lfht_iter iter;
    cds_lfht_lookup(Map(), SplitMix(key), &Match, &key, &iter);
    cds_lfht_node* n = cds_lfht_iter_get_node(&iter);
    const uint64_t v = n != nullptr ? caa_container_of(n, Node, node)->value : 0;
    urcu_memb_read_unlock();
    return v;
  }
  static void Update(uint64_t key, uint64_t value) {
    Node* fresh = new Node{key, value, {}, {}};
    urcu_memb_read_lock();
    cds_lfht_node* old = cds_lfht_add_replace(Map(), SplitMix(key), &Match, &key, &fresh->node);
    urcu_memb_read_unlock();
    if (old != nullptr) {
      urcu_memb_call_rcu(&caa_container_of(old, Node, node)->head,
                         [](rcu_head* h) { delete caa_container_of(h, Node, head); });
    }
  }
};

// xenium's open-addressing map; keys and values inline in atomics. It has no assign: an update
// erases the key and emplaces it again.
struct Xenium : NoRegistration {
  using Key = uint64_t;
  using Map_t = xenium::vyukov_hash_map<
      uint64_t, uint64_t, xenium::policy::reclaimer<xenium::reclamation::generic_epoch_based<>>>;
  static Map_t& Map() {
    static auto* map = [] {
      auto* m = new Map_t(kKeys);
      for (uint64_t k : Keys<uint64_t>()) m->emplace(k, k);
      return m;
    }();
    return *map;
  }
  static uint64_t Lookup(uint64_t key) {
    Map_t::accessor a;
    return Map().try_get_value(key, a) ? *a : 0;
  }
  static void Update(uint64_t key, uint64_t value) {
    Map().erase(key);
    Map().emplace(key, value);
  }
};

// libcuckoo's cuckoohash_map, with absl's hash as ours: lookups and assignments lock the key's two
// buckets (striped spin locks) and assign in place (insert_or_assign).
struct Cuckoo : NoRegistration {
  using Key = uint64_t;
  using Map_t = libcuckoo::cuckoohash_map<uint64_t, uint64_t, absl::Hash<uint64_t>>;
  static Map_t& Map() {
    static auto* map = [] {
      auto* m = new Map_t(kKeys);
      for (uint64_t k : Keys<uint64_t>()) m->insert(k, k);
      return m;
    }();
    return *map;
  }
  static uint64_t Lookup(uint64_t key) {
    uint64_t v = 0;
    return Map().find(key, v) ? v : 0;
  }
  static void Update(uint64_t key, uint64_t value) { Map().insert_or_assign(key, value); }
};

// libcds's Michael hash map (a fixed array of lock-free lists) with hazard pointers; update()
// assigns in place, as its documentation shows.
struct Libcds {
  using Key = uint64_t;
  struct Traits : cds::container::michael_list::traits {
    using less = std::less<uint64_t>;
  };
  using List = cds::container::MichaelKVList<cds::gc::HP, uint64_t, uint64_t, Traits>;
  struct MapTraits : cds::container::michael_map::traits {
    using hash = std::hash<uint64_t>;
  };
  using Map_t = cds::container::MichaelHashMap<cds::gc::HP, List, MapTraits>;
  static Map_t& Map() {
    static auto* map = [] {
      cds::Initialize();
      static cds::gc::HP gc;
      cds::threading::Manager::attachThread();
      auto* m = new Map_t(kKeys, 1);
      for (uint64_t k : Keys<uint64_t>()) m->insert(k, k);
      cds::threading::Manager::detachThread();
      return m;
    }();
    return *map;
  }
  static void Online() {
    Map();
    cds::threading::Manager::attachThread();
  }
  static void Offline() { cds::threading::Manager::detachThread(); }
  static uint64_t Lookup(uint64_t key) {
    uint64_t v = 0;
    Map().find(key, [&](std::pair<const uint64_t, uint64_t>& item) { v = item.second; });
    return v;
  }
  static void Update(uint64_t key, uint64_t value) {
    Map().update(
        key, [&](bool, std::pair<const uint64_t, uint64_t>& item) { item.second = value; }, false);
  }
};

// ---- the benchmark --------------------------------------------------------------------------

template <typename M>
void BM_Map(benchmark::State& state, bool zipf, int update_percent) {
  using K = typename M::Key;
  const std::vector<K>& keys = Keys<K>();
  const std::vector<uint32_t>& stream = Stream(zipf);
  M::Online();
  M::Map();  // built before the clock starts
  size_t i = static_cast<size_t>(state.thread_index()) * (kStream / 2);
  uint64_t sink = 0;
  for (auto _ : state) {
    const K& key = keys[stream[i++ & (kStream - 1)]];
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

template <typename M>
void Register(const std::string& name, bool with_updates = true) {
  const bool strings = std::is_same_v<typename M::Key, std::string>;
  for (bool zipf : {false, true}) {
    for (int updates : {0, 1, 10, 50}) {
      if (updates != 0 && !with_updates) continue;
      const std::string full = name + "/" + (strings ? "string_" : "") +
                               (zipf ? "zipf/" : "uniform/") + std::to_string(updates) + "%updates";
      benchmark::RegisterBenchmark(full.c_str(),
                                   [=](benchmark::State& s) { BM_Map<M>(s, zipf, updates); })
          ->Threads(1)
          ->Threads(2)
          ->UseRealTime();
    }
  }
}

// Prints the resident bytes per key that building map M of 1M integer keys adds.
template <typename M>
void Memory(const std::string& name) {
  Keys<uint64_t>();  // the keys are the benchmark's, not the map's
  const size_t before = rcu_bench::ResidentBytes();
  M::Online();
  M::Map();
  M::Offline();
  if constexpr (requires { M::Map().domain(); }) M::Map().domain().Barrier();
  const size_t after = rcu_bench::ResidentBytes();
  std::printf("%s %.1f\n", name.c_str(), double(after - before) / double(kKeys));
}

}  // namespace

int main(int argc, char** argv) {
  struct Map {
    const char* name;
    void (*registrar)(const std::string&, bool);
    void (*memory)(const std::string&);
    bool with_updates;
  };
  const Map maps[] = {
      {"rcu_hash_map", &Register<Rcu<uint64_t, false>>, &Memory<Rcu<uint64_t, false>>, true},
      {"rcu_hash_map_presized", &Register<Rcu<uint64_t, true>>, &Memory<Rcu<uint64_t, true>>, true},
      // The same without huge pages: what the page policy is worth.
      {"rcu_hash_map_presized_no_huge_pages", &Register<Rcu<uint64_t, true, false>>,
       &Memory<Rcu<uint64_t, true, false>>, false},
      {"xenium_vyukov_hash_map", &Register<Xenium>, &Memory<Xenium>, true},
      {"libcds_michael_hash_map", &Register<Libcds>, &Memory<Libcds>, true},
      {"tbb_concurrent_hash_map", &Register<Tbb>, &Memory<Tbb>, true},
      {"libcuckoo_cuckoohash_map", &Register<Cuckoo>, &Memory<Cuckoo>, true},
      {"liburcu_rculfhash", &Register<Lfht>, &Memory<Lfht>, true},
      {"std_unordered_map_shared_mutex", &Register<StdShared>, &Memory<StdShared>, true},
      {"std_unordered_map_mutex", &Register<StdMutex>, &Memory<StdMutex>, true},
      {"absl_flat_hash_map_mutex", &Register<AbslLocked<uint64_t>>, &Memory<AbslLocked<uint64_t>>,
       true},
      {"absl_flat_hash_map_unsynchronized", &Register<AbslUnsynchronized<uint64_t>>,
       &Memory<AbslUnsynchronized<uint64_t>>, false},
  };
  if (const std::optional<int> rc = rcu_bench::RunMemoryFlag(argc, argv, maps)) return *rc;
  rcu_bench::AddBuildContext();
  for (const Map& m : maps) m.registrar(m.name, m.with_updates);
  Register<Rcu<std::string, false>>("rcu_hash_map");
  Register<AbslLocked<std::string>>("absl_flat_hash_map_mutex");
  Register<AbslUnsynchronized<std::string>>("absl_flat_hash_map_unsynchronized",
                                            /*with_updates=*/false);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
