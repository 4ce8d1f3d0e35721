// //benchmarks:ordered_map_benchmark: rcu::OrderedMap beside what a user would pick instead.
//
//   ./bazelw run -c opt //benchmarks:ordered_map_benchmark
//
// 1M uint64_t keys (spread over the 64-bit range) to 16-byte values. Find/churn:C: point lookups
// of present keys; Scan/churn:C: LowerBound of a random key and the 16 entries from it (a range
// scan); C% of all operations are updates (two of three assignments of a present key, one of
// three an erase or the re-insertion of the thread's last erased key), at 1 and 2 threads.
// Flavors:
//   Rcu             rcu::OrderedMap, reads in a read-side section;
//   StdMapRwLock    std::map under std::shared_mutex;
//   BtreeRwLock     absl::btree_map under std::shared_mutex;
//   Unsynchronized  rcu::OrderedMap read with no section, no updates (the same structure read
//                   without synchronization);
//   BtreeUnsync     absl::btree_map read with no lock, no updates (the best sorted map's ceiling);
//   LibcdsSkipList  libcds's lock-free SkipListMap with hazard pointers (point lookups only: it
//                   has no lower_bound, so no range scan from a key).
// xenium has no sorted map.

#include <cds/container/skip_list_map_hp.h>
#include <cds/gc/hp.h>
#include <cds/init.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <type_traits>

#include "absl/container/btree_map.h"
#include "benchmark/benchmark.h"
#include "benchmarks/build_context.h"
#include "benchmarks/churn_workload.h"
#include "rcu/containers/ordered_map.h"
#include "rcu/domain.h"

namespace {

constexpr uint64_t kKeys = 1000000;
constexpr int kScanLength = 16;

struct Value {
  uint64_t a, b;
};

// The i-th key: distinct, spread over the 64-bit range.
uint64_t Key(uint64_t i) { return (i % kKeys) * 0x9E3779B97F4A7C15ull; }

using Pending = rcu_bench::Pending<uint64_t>;

// One update of the churn: an assignment, or an erase / the insertion again of the thread's last
// erased key.
template <typename Assign, typename Erase>
void Churn(uint64_t random, Pending& pending, Assign assign, Erase erase) {
  rcu_bench::Churn(
      random, Key(random), pending,
      [&](uint64_t k, bool reinsert) {
        assign(k, reinsert ? Value{1, 1} : Value{random, random});
      },
      erase);
}

using Ordered = rcu::OrderedMap<uint64_t, Value>;

template <typename Map>
Map* Fill(Map* m) {
  for (uint64_t i = 0; i < kKeys; ++i) {
    if constexpr (std::is_same_v<Map, Ordered>) {
      m->Insert(Key(i), Value{i, i});
    } else {
      (*m)[Key(i)] = Value{i, i};
    }
  }
  return m;
}

template <bool kScan>
struct Rcu {
  using Map = Ordered;
  using ThreadState = ::Pending;
  static constexpr bool kUpdates = true;
  static Map& Shared() {
    static Map* map = [] {
      Map* m = Fill(new Map);
      // Filling retired a copied path per insert: free them all before anything is measured,
      // or the callback thread frees them during the first runs, on the second core.
      m->domain().Barrier();
      return m;
    }();
    return *map;
  }
  static uint64_t Read(Map& m, uint64_t random, Pending&) {
    rcu::ReadGuard guard;
    return ReadIn(m, guard, random);
  }
  static uint64_t ReadIn(Map& m, const rcu::ReadGuard& guard, uint64_t random) {
    if constexpr (kScan) {
      uint64_t sum = 0;
      int n = 0;
      for (auto it = m.LowerBound(guard, random); it != m.end() && n < kScanLength; ++it, ++n) {
        sum += it.value().a;
      }
      return sum;
    } else {
      const Value* v = m.Find(guard, Key(random));
      return v != nullptr ? v->a : 0;
    }
  }
  static void Update(Map& m, uint64_t random, Pending& pending) {
    Churn(
        random, pending, [&](uint64_t k, Value v) { m.InsertOrAssign(k, v); },
        [&](uint64_t k) { return m.Erase(k); });
  }
};

template <bool kScan>
struct Unsynchronized {
  using Map = Ordered;
  // One section per thread, entered once and held for the run (it ends with RunChurn), so no
  // read pays for a section.
  struct ThreadState {
    rcu::ReadGuard guard;
  };
  static constexpr bool kUpdates = false;
  static Map& Shared() { return Rcu<kScan>::Shared(); }
  static uint64_t Read(Map& m, uint64_t random, ThreadState& state) {
    return Rcu<kScan>::ReadIn(m, state.guard, random);
  }
};

template <typename Sorted>
uint64_t ReadSorted(const Sorted& map, uint64_t random, bool scan) {
  if (scan) {
    uint64_t sum = 0;
    int n = 0;
    for (auto it = map.lower_bound(random); it != map.end() && n < kScanLength; ++it, ++n) {
      sum += it->second.a;
    }
    return sum;
  }
  const auto it = map.find(Key(random));
  return it != map.end() ? it->second.a : 0;
}

template <typename Sorted, bool kScan>
struct RwLocked {
  struct Map {
    std::shared_mutex mu;
    Sorted map;
  };
  using ThreadState = ::Pending;
  static constexpr bool kUpdates = true;
  static Map& Shared() {
    static Map* map = [] {
      auto* m = new Map;
      Fill(&m->map);
      return m;
    }();
    return *map;
  }
  static uint64_t Read(Map& m, uint64_t random, Pending&) {
    std::shared_lock lock(m.mu);
    return ReadSorted(m.map, random, kScan);
  }
  static void Update(Map& m, uint64_t random, Pending& pending) {
    Churn(
        random, pending,
        [&](uint64_t k, Value v) {
          std::unique_lock lock(m.mu);
          m.map[k] = v;
        },
        [&](uint64_t k) {
          std::unique_lock lock(m.mu);
          return m.map.erase(k) == 1;
        });
  }
};

template <bool kScan>
struct BtreeUnsync {
  using Map = absl::btree_map<uint64_t, Value>;
  using ThreadState = ::Pending;
  static constexpr bool kUpdates = false;
  static Map& Shared() { return RwLocked<Map, kScan>::Shared().map; }
  static uint64_t Read(Map& m, uint64_t random, Pending&) { return ReadSorted(m, random, kScan); }
};

// libcds's skip list: cds::Initialize() and a hazard-pointer singleton once, each thread attached
// for the run (its ThreadState).
struct LibcdsSkipList {
  using Map = cds::container::SkipListMap<cds::gc::HP, uint64_t, Value>;
  struct ThreadState {
    ThreadState() {
      Shared();
      cds::threading::Manager::attachThread();
    }
    ~ThreadState() { cds::threading::Manager::detachThread(); }
    Pending pending;
  };
  static constexpr bool kUpdates = true;
  static Map& Shared() {
    static Map* map = [] {
      cds::Initialize();
      static cds::gc::HP gc(Map::c_nHazardPtrCount);  // a skip list needs 2 per level
      cds::threading::Manager::attachThread();
      auto* m = new Map;
      for (uint64_t i = 0; i < kKeys; ++i) m->insert(Key(i), Value{i, i});
      cds::threading::Manager::detachThread();
      return m;
    }();
    return *map;
  }
  static uint64_t Read(Map& m, uint64_t random, ThreadState&) {
    uint64_t v = 0;
    m.find(Key(random), [&](std::pair<const uint64_t, Value>& item) { v = item.second.a; });
    return v;
  }
  static void Update(Map& m, uint64_t random, ThreadState& state) {
    Churn(
        random, state.pending,
        [&](uint64_t k, Value v) {
          m.update(
              k, [&](bool, std::pair<const uint64_t, Value>& item) { item.second = v; }, true);
        },
        [&](uint64_t k) { return m.erase(k); });
  }
};

template <typename Flavor>
void BM_Find(benchmark::State& state) {
  rcu_bench::RunChurn<Flavor>(state, static_cast<int>(state.range(0)));
}
template <typename Flavor>
void BM_Scan(benchmark::State& state) {
  rcu_bench::RunChurn<Flavor>(state, static_cast<int>(state.range(0)));
}

void Churns(benchmark::internal::Benchmark* b) {
  b->ArgName("churn")->Arg(0)->Arg(1)->Arg(10)->Threads(1)->Threads(2)->UseRealTime();
}
void Ceiling(benchmark::internal::Benchmark* b) {
  b->ArgName("churn")->Arg(0)->Threads(1)->Threads(2)->UseRealTime();
}

using StdMap = std::map<uint64_t, Value>;
using Btree = absl::btree_map<uint64_t, Value>;

BENCHMARK(BM_Find<Rcu<false>>)->Apply(Churns);
BENCHMARK(BM_Find<RwLocked<StdMap, false>>)->Apply(Churns);
BENCHMARK(BM_Find<RwLocked<Btree, false>>)->Apply(Churns);
BENCHMARK(BM_Find<Unsynchronized<false>>)->Apply(Ceiling);
BENCHMARK(BM_Find<BtreeUnsync<false>>)->Apply(Ceiling);
BENCHMARK(BM_Find<LibcdsSkipList>)->Apply(Churns);
BENCHMARK(BM_Scan<Rcu<true>>)->Apply(Churns);
BENCHMARK(BM_Scan<RwLocked<StdMap, true>>)->Apply(Churns);
BENCHMARK(BM_Scan<RwLocked<Btree, true>>)->Apply(Churns);
BENCHMARK(BM_Scan<Unsynchronized<true>>)->Apply(Ceiling);
BENCHMARK(BM_Scan<BtreeUnsync<true>>)->Apply(Ceiling);

}  // namespace

int main(int argc, char** argv) { return rcu_bench::RunBenchmarks(argc, argv); }
