// //benchmarks:replace_map_benchmark: rcu::ReplaceMap beside what a user would pick instead.
//
//   ./bazelw run -c opt //benchmarks:replace_map_benchmark
//
// LookupWhileUpdating: lookups of 10K uint64_t keys (a configuration store's size) with 1 and 2
// reader threads while one updater replaces a random value, either once a millisecond
// ("updates_per_second:1000", a store that changes) or as fast as it can ("updates_per_second:max",
// a flooding updater: what it costs the readers), and with no updater ("no_updater": the read
// path alone, without the cache misses of each new version's table). Beside absl::flat_hash_map and
// std::map under std::shared_mutex with the same updater, and an unsynchronized absl::flat_hash_map
// with no updater (the ceiling: what reading a plain table costs).
//
// Update/keys:N: one-key updates, one thread, on maps of N keys: ReplaceMap copies its table per
// update, rcu::HashMap replaces one entry, a locked flat map assigns in place. Where these cross
// is stated in replace_map.h.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "benchmark/benchmark.h"
#include "rcu/containers/hash_map.h"
#include "rcu/containers/replace_map.h"
#include "rcu/domain.h"

namespace {

constexpr uint64_t kKeys = 10000;

struct Value {
  uint64_t a, b;
};

// Each map type is a struct with Make(n), Lookup(map, k) and Update(map, k).
struct Rcu {
  using Map = rcu::ReplaceMap<uint64_t, Value>;
  static Map* Make(uint64_t n) {
    auto* m = new Map;
    m->Edit([n](auto& e) {
      for (uint64_t k = 0; k < n; ++k) e.Set(k, Value{k, k});
    });
    return m;
  }
  static uint64_t Lookup(Map& m, uint64_t k) {
    rcu::ReadGuard guard;
    const Value* v = m.Find(guard, k);
    return v != nullptr ? v->a : 0;
  }
  static void Update(Map& m, uint64_t k) { m.InsertOrAssign(k, Value{k + 1, k + 1}); }
};

struct RcuHashMap {
  using Map = rcu::HashMap<uint64_t, Value>;
  static Map* Make(uint64_t n) {
    auto* m = new Map;
    for (uint64_t k = 0; k < n; ++k) m->InsertOrAssign(k, Value{k, k});
    return m;
  }
  static void Update(Map& m, uint64_t k) { m.InsertOrAssign(k, Value{k + 1, k + 1}); }
};

template <typename MapT>
struct Locked {
  struct Map {
    std::shared_mutex mu;
    MapT map;
  };
  static Map* Make(uint64_t n) {
    auto* m = new Map;
    for (uint64_t k = 0; k < n; ++k) m->map[k] = Value{k, k};
    return m;
  }
  static uint64_t Lookup(Map& m, uint64_t k) {
    std::shared_lock lock(m.mu);
    auto it = m.map.find(k);
    return it != m.map.end() ? it->second.a : 0;
  }
  static void Update(Map& m, uint64_t k) {
    std::unique_lock lock(m.mu);
    m.map[k] = Value{k + 1, k + 1};
  }
};

struct Unsynchronized {
  using Map = absl::flat_hash_map<uint64_t, Value>;
  static Map* Make(uint64_t n) {
    auto* m = new Map;
    for (uint64_t k = 0; k < n; ++k) (*m)[k] = Value{k, k};
    return m;
  }
  static uint64_t Lookup(Map& m, uint64_t k) {
    auto it = m.find(k);
    return it != m.end() ? it->second.a : 0;
  }
};

// One map of kKeys per type, shared by the reader threads of a run.
template <typename M>
typename M::Map& Shared() {
  static auto* map = M::Make(kKeys);
  return *map;
}

template <typename M>
void BM_LookupWhileUpdating(benchmark::State& state, int updates_per_second) {
  auto& map = Shared<M>();
  std::atomic<bool> stop{false};
  std::thread updater;
  if (updates_per_second != 0 && state.thread_index() == 0) {
    if constexpr (!std::is_same_v<M, Unsynchronized>) {
      updater = std::thread([&] {
        const auto period =
            std::chrono::microseconds(updates_per_second > 0 ? 1000000 / updates_per_second : 0);
        auto next = std::chrono::steady_clock::now();
        for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
          M::Update(map, i * 7919 % kKeys);
          if (updates_per_second > 0) std::this_thread::sleep_until(next += period);
        }
      });
    }
  }
  uint64_t i = state.thread_index() * 4999, sum = 0;
  for (auto _ : state) sum += M::Lookup(map, i++ % kKeys);
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
  stop.store(true);
  if (updater.joinable()) updater.join();
}

template <typename M>
void BM_Update(benchmark::State& state) {
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  auto* map = M::Make(n);
  uint64_t i = 0;
  for (auto _ : state) M::Update(*map, i++ * 7919 % n);
  state.SetItemsProcessed(state.iterations());
  rcu::Domain::Default().Barrier();  // the replaced versions are freed outside the timing
  delete map;
  rcu::Domain::Default().Barrier();
}

// Rates: 0 (no updater), 1000 a second, or -1 (as fast as it can).
template <typename M>
void RegisterLookups(const std::string& name, std::initializer_list<int> rates) {
  for (int rate : rates) {
    const std::string suffix = rate == 0  ? "/no_updater"
                               : rate > 0 ? "/updates_per_second:" + std::to_string(rate)
                                          : std::string("/updates_per_second:max");
    benchmark::RegisterBenchmark(("LookupWhileUpdating/" + name + suffix).c_str(),
                                 [=](benchmark::State& s) { BM_LookupWhileUpdating<M>(s, rate); })
        ->Threads(1)
        ->Threads(2)
        ->UseRealTime();
  }
}

template <typename M>
void RegisterUpdates(const std::string& name) {
  benchmark::RegisterBenchmark(("Update/" + name).c_str(), BM_Update<M>)
      ->ArgName("keys")
      ->Arg(100)
      ->Arg(1000)
      ->Arg(10000)
      ->Arg(100000);
}

}  // namespace

int main(int argc, char** argv) {
  RegisterLookups<Rcu>("rcu_replace_map", {1000, -1, 0});
  RegisterLookups<Locked<absl::flat_hash_map<uint64_t, Value>>>("absl_flat_hash_map_shared_mutex",
                                                                {1000, -1});
  RegisterLookups<Locked<std::map<uint64_t, Value>>>("std_map_shared_mutex", {1000, -1});
  RegisterLookups<Unsynchronized>("absl_flat_hash_map_unsynchronized", {0});
  RegisterUpdates<Rcu>("rcu_replace_map");
  RegisterUpdates<RcuHashMap>("rcu_hash_map");
  RegisterUpdates<Locked<absl::flat_hash_map<uint64_t, Value>>>("absl_flat_hash_map_shared_mutex");
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
