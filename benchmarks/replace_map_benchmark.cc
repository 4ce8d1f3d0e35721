// //benchmarks:replace_map_benchmark: lookups in rcu::ReplaceMap while an updater replaces values,
// beside std::map and absl::flat_hash_map under std::shared_mutex with the same updater.
//
//   ./bazelw run -c opt //benchmarks:replace_map_benchmark
//
// 10K keys (a configuration store's size: every ReplaceMap update copies the table of pointers,
// see replace_map.h). The updater replaces one random value after another, without pause.

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "benchmark/benchmark.h"
#include "rcu/containers/replace_map.h"
#include "rcu/domain.h"

namespace {

constexpr uint64_t kKeys = 10000;

struct Value {
  uint64_t a, b;
};

struct Rcu {
  static rcu::ReplaceMap<uint64_t, Value>& M() {
    static auto* map = [] {
      auto* m = new rcu::ReplaceMap<uint64_t, Value>;
      m->Edit([](auto& e) {
        for (uint64_t k = 0; k < kKeys; ++k) e.Set(k, Value{k, k});
      });
      return m;
    }();
    return *map;
  }
  static uint64_t Lookup(uint64_t k) {
    rcu::ReadGuard guard;
    const Value* v = M().Find(guard, k);
    return v != nullptr ? v->a : 0;
  }
  static void Update(uint64_t k) { M().InsertOrAssign(k, Value{k + 1, k + 1}); }
};

template <typename MapT>
struct Locked {
  static std::shared_mutex mu;
  static MapT& M() {
    static auto* map = [] {
      auto* m = new MapT;
      for (uint64_t k = 0; k < kKeys; ++k) (*m)[k] = Value{k, k};
      return m;
    }();
    return *map;
  }
  static uint64_t Lookup(uint64_t k) {
    std::shared_lock lock(mu);
    auto it = M().find(k);
    return it != M().end() ? it->second.a : 0;
  }
  static void Update(uint64_t k) {
    std::unique_lock lock(mu);
    M()[k] = Value{k + 1, k + 1};
  }
};
template <typename MapT>
std::shared_mutex Locked<MapT>::mu;

template <typename M>
void BM_LookupWhileUpdating(benchmark::State& state) {
  M::Lookup(0);
  std::atomic<bool> stop{false};
  std::thread updater;
  if (state.thread_index() == 0) {
    updater = std::thread([&] {
      for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) M::Update(i * 7919 % kKeys);
    });
  }
  uint64_t i = state.thread_index() * 4999, sum = 0;
  for (auto _ : state) sum += M::Lookup(i++ % kKeys);
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
  stop.store(true);
  if (updater.joinable()) updater.join();
}

}  // namespace

BENCHMARK_TEMPLATE(BM_LookupWhileUpdating, Rcu)
    ->Name("LookupWhileUpdating/rcu_replace_map")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_TEMPLATE(BM_LookupWhileUpdating, Locked<std::map<uint64_t, Value>>)
    ->Name("LookupWhileUpdating/std_map_shared_mutex")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_TEMPLATE(BM_LookupWhileUpdating, Locked<absl::flat_hash_map<uint64_t, Value>>)
    ->Name("LookupWhileUpdating/absl_flat_hash_map_shared_mutex")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

BENCHMARK_MAIN();
