// Benchmarks of a read side (enter+exit, a dereference) and of a grace period (with no reader,
// and with one reader looping short sections), written once as templates over a "flavor": this
// library, liburcu's memb and qsbr flavors, and reader-writer locks. Each flavor's translation
// unit registers the templates for itself, so each peer is compiled with its own headers and
// inlined fast paths, and all of them run side by side in one binary.
//
// A flavor provides a `Section` type (a read-side section for its scope), static ThreadOnline()
// and ThreadOffline(), Quiescent() (a reader's quiescent state: needed by QSBR, a no-op
// elsewhere) and Synchronize() (for locks: an exclusive lock and unlock, the writer's cost to
// exclude readers).

#ifndef RCU_BENCHMARKS_READ_SIDE_FLAVORS_H_
#define RCU_BENCHMARKS_READ_SIDE_FLAVORS_H_

#include <atomic>
#include <string>
#include <thread>

#include "benchmark/benchmark.h"

namespace rcu_bench {

struct Payload {
  int value = 42;
};

// Published by every flavor's dereference benchmark; read with acquire as rcu_dereference does.
inline std::atomic<Payload*>& SharedPayload() {
  static Payload payload;
  static std::atomic<Payload*> pointer{&payload};
  return pointer;
}

template <typename Flavor>
void BM_ReadSection(benchmark::State& state) {
  Flavor::ThreadOnline();
  for (auto _ : state) {
    typename Flavor::Section section;
    benchmark::ClobberMemory();
  }
  Flavor::ThreadOffline();
}

template <typename Flavor>
void BM_Dereference(benchmark::State& state) {
  Flavor::ThreadOnline();
  for (auto _ : state) {
    typename Flavor::Section section;
    int v = SharedPayload().load(std::memory_order_acquire)->value;
    benchmark::DoNotOptimize(v);
  }
  Flavor::ThreadOffline();
}

// The updater is itself a registered reader (outside any section), as in most programs.
template <typename Flavor>
void BM_SynchronizeNoReader(benchmark::State& state) {
  Flavor::ThreadOnline();
  {
    typename Flavor::Section section;  // registers implicitly where a flavor does that
  }
  for (auto _ : state) Flavor::Synchronize();
  Flavor::ThreadOffline();
}

// One thread loops short read-side sections while the benchmark thread runs grace periods.
template <typename Flavor>
void BM_SynchronizeOneReader(benchmark::State& state) {
  std::atomic<bool> stop{false}, started{false};
  std::thread reader([&] {
    Flavor::ThreadOnline();
    started.store(true);
    while (!stop.load(std::memory_order_relaxed)) {
      {
        typename Flavor::Section section;
        benchmark::DoNotOptimize(SharedPayload().load(std::memory_order_acquire)->value);
      }
      Flavor::Quiescent();
    }
    Flavor::ThreadOffline();
  });
  while (!started.load()) std::this_thread::yield();
  for (auto _ : state) Flavor::Synchronize();
  stop.store(true);
  reader.join();
}

template <typename Flavor>
bool RegisterReadSide(const std::string& name) {
  benchmark::RegisterBenchmark(("ReadSection/" + name).c_str(), BM_ReadSection<Flavor>)
      ->Threads(1)
      ->Threads(2);
  benchmark::RegisterBenchmark(("Dereference/" + name).c_str(), BM_Dereference<Flavor>)
      ->Threads(1)
      ->Threads(2);
  benchmark::RegisterBenchmark(("SynchronizeNoReader/" + name).c_str(),
                               BM_SynchronizeNoReader<Flavor>)
      ->UseRealTime();
  benchmark::RegisterBenchmark(("SynchronizeOneReader/" + name).c_str(),
                               BM_SynchronizeOneReader<Flavor>)
      ->UseRealTime();
  return true;
}

}  // namespace rcu_bench

// Registers every benchmark of this header for `Flavor`, named "<benchmark>/<name>".
#define RCU_BENCH_READ_SIDE(Flavor, name) \
  static const bool rcu_bench_registered_##Flavor = ::rcu_bench::RegisterReadSide<Flavor>(name)

#endif  // RCU_BENCHMARKS_READ_SIDE_FLAVORS_H_
