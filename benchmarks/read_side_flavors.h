// Benchmarks of a read side (enter+exit, a dereference) and of a grace period (with no reader,
// and with one reader looping short sections), written once as templates over a "flavor": this
// library, liburcu's memb and qsbr flavors, libcds's user-space RCU, xenium's epoch-based
// reclamation (sections only: it has no synchronous grace period), and reader-writer locks. Each
// flavor's translation unit registers the templates for itself, so each peer is compiled with its
// own headers and inlined fast paths, and all of them run side by side in one binary.
//
// A flavor provides a `Section` type (a read-side section for its scope), static ThreadOnline()
// and ThreadOffline(), Quiescent() (a reader's quiescent state: needed by QSBR, a no-op
// elsewhere) and Synchronize() (for locks: an exclusive lock and unlock, the writer's cost to
// exclude readers).

#ifndef RCU_BENCHMARKS_READ_SIDE_FLAVORS_H_
#define RCU_BENCHMARKS_READ_SIDE_FLAVORS_H_

#include <pthread.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

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

// Grace periods after a burst: `state.range(0)` threads come (all alive at once, each runs one
// section) and go, then the benchmark times Synchronize() with one idle registered reader, as a
// service whose thread pool grew once for a burst. A grace period should cost what the live
// threads cost, not what the peak did (issue 14: at most 1.2x the fresh cost after 4,096).
template <typename Flavor>
void BM_SynchronizeAfterChurn(benchmark::State& state) {
  const int burst = static_cast<int>(state.range(0));
  std::atomic<int> arrived{0};
  std::atomic<bool> leave{false};
  const auto body = [&] {
    Flavor::ThreadOnline();
    { typename Flavor::Section section; }
    arrived.fetch_add(1);
    while (!leave.load()) std::this_thread::yield();
    Flavor::ThreadOffline();
  };
  std::vector<pthread_t> threads(burst);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 << 10);  // thousands of threads at once
  for (pthread_t& t : threads) {
    pthread_create(
        &t, &attr,
        [](void* fn) -> void* {
          (*static_cast<decltype(body)*>(fn))();
          return nullptr;
        },
        const_cast<void*>(static_cast<const void*>(&body)));
  }
  pthread_attr_destroy(&attr);
  while (arrived.load() < burst) std::this_thread::yield();
  leave.store(true);
  for (pthread_t t : threads) pthread_join(t, nullptr);

  std::atomic<bool> stop{false}, started{false};
  std::thread idle([&] {
    Flavor::ThreadOnline();
    { typename Flavor::Section section; }
    started.store(true);
    while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    Flavor::ThreadOffline();
  });
  while (!started.load()) std::this_thread::yield();
  Flavor::ThreadOnline();
  { typename Flavor::Section section; }
  for (auto _ : state) Flavor::Synchronize();
  Flavor::ThreadOffline();
  stop.store(true);
  idle.join();
}

// The churn rows, for flavors whose peak cost is in question (registered in this order, so the
// fresh row runs before any burst in the process).
template <typename Flavor>
bool RegisterChurn(const std::string& name) {
  benchmark::RegisterBenchmark(("SynchronizeAfterChurn/" + name).c_str(),
                               BM_SynchronizeAfterChurn<Flavor>)
      ->ArgName("threads_came_and_went")
      ->Arg(0)
      ->Arg(512)
      ->Arg(4096)
      ->UseRealTime();
  return true;
}

// The read-side rows alone, for flavors with no synchronous grace period (xenium's reclaimers
// only defer).
template <typename Flavor>
bool RegisterSections(const std::string& name) {
  benchmark::RegisterBenchmark(("ReadSection/" + name).c_str(), BM_ReadSection<Flavor>)
      ->Threads(1)
      ->Threads(2);
  benchmark::RegisterBenchmark(("Dereference/" + name).c_str(), BM_Dereference<Flavor>)
      ->Threads(1)
      ->Threads(2);
  return true;
}

template <typename Flavor>
bool RegisterReadSide(const std::string& name) {
  RegisterSections<Flavor>(name);
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

// Registers the read-side rows only (no Synchronize()).
#define RCU_BENCH_SECTIONS(Flavor, name) \
  static const bool rcu_bench_sections_##Flavor = ::rcu_bench::RegisterSections<Flavor>(name)

// Registers the churn rows (BM_SynchronizeAfterChurn) for `Flavor`.
#define RCU_BENCH_CHURN(Flavor, name) \
  static const bool rcu_bench_churn_##Flavor = ::rcu_bench::RegisterChurn<Flavor>(name)

#endif  // RCU_BENCHMARKS_READ_SIDE_FLAVORS_H_
