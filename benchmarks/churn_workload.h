// The read/update mix of the prefix-map and ordered-map benchmarks: every thread of a run
// performs operations on one shared structure, `churn` percent of them updates, the rest reads;
// the figure is reads per second (items). A flavor is a struct with a static `Map& Shared()`, a
// `Read(Map&, uint64_t random, ThreadState&)` returning something to keep, and (for churn) an
// `Update(Map&, uint64_t random, ThreadState&)`. `ThreadState` is the thread's own, alive for
// the run and no longer (a withdrawn route it announces again next time; the section an
// unsynchronized flavor holds for the whole run, which must end with the run, or the next run's
// updaters would wait for it forever).

#ifndef RCU_BENCHMARKS_CHURN_WORKLOAD_H_
#define RCU_BENCHMARKS_CHURN_WORKLOAD_H_

#include <cstdint>
#include <random>

#include "benchmark/benchmark.h"

namespace rcu_bench {

// The key a thread erased last, inserted again by its next erase-or-insert.
template <typename Key>
struct Pending {
  bool erased = false;
  Key key{};
};

// One update of the churn on `key`: two times of three `assign(key, /*reinsert=*/false)`, a new
// value; otherwise `assign(pending key, /*reinsert=*/true)` if the thread has an erased key, else
// `erase(key)`, which returns whether it erased. The table's size stays about constant.
template <typename Key, typename Assign, typename Erase>
void Churn(uint64_t random, const Key& key, Pending<Key>& pending, Assign assign, Erase erase) {
  if (random % 3 != 0) {
    assign(key, false);
  } else if (pending.erased) {
    assign(pending.key, true);
    pending.erased = false;
  } else if (erase(key)) {
    pending = {true, key};
  }
}

template <typename Flavor>
void RunChurn(benchmark::State& state, int churn_percent) {
  auto& map = Flavor::Shared();
  std::mt19937_64 rng(state.thread_index() + 1);
  typename Flavor::ThreadState thread_state;
  uint64_t sum = 0, reads = 0;
  for (auto _ : state) {
    const uint64_t r = rng();
    if (churn_percent != 0 && r % 100 < static_cast<uint64_t>(churn_percent)) {
      if constexpr (Flavor::kUpdates) Flavor::Update(map, rng(), thread_state);
    } else {
      sum += Flavor::Read(map, r, thread_state);
      ++reads;
    }
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(static_cast<int64_t>(reads));
}

}  // namespace rcu_bench

#endif  // RCU_BENCHMARKS_CHURN_WORKLOAD_H_
