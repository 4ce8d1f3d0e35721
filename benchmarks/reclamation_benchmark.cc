// //benchmarks:reclamation_benchmark: deferred reclamation, this library beside liburcu's
// call_rcu() / rcu_barrier() (memb flavor, fast paths inlined), in one binary.
//
//   ./bazelw run -c opt //benchmarks:reclamation_benchmark
//
// Enqueue/...       cost of one call on the queueing thread (the callback threads run meanwhile).
// EndToEnd/...      1M callbacks queued and run (through Barrier): callbacks per second.
// BarrierAfter1M/.. latency of Barrier() right after 1M callbacks were queued.

#define _LGPL_SOURCE 1
// liburcu's call-rcu.h needs the flavor's header first.
// clang-format off
#include <urcu/urcu-memb.h>
#include <urcu/call-rcu.h>
// clang-format on

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "benchmark/benchmark.h"
#include "rcu/domain.h"

namespace {

constexpr int kBatch = 1 << 20;

alignas(64) std::atomic<uint64_t> g_invoked{0};  // own line: the callback threads write it

struct NoopDelete {
  void operator()(int*) const { g_invoked.fetch_add(1, std::memory_order_relaxed); }
};

// Heads for the intrusive APIs, reused once their callbacks have run.
template <typename Head>
std::vector<Head>& Heads() {
  static auto* heads = new std::vector<Head>(kBatch);
  return *heads;
}

alignas(64) rcu::Domain* const domain = new rcu::Domain;
// One distinct address per retire of a batch (each batch ends with a Barrier): retiring an
// address again before its deleter ran is rule R7, which debug builds check. Retire only stores
// the pointer, so this memory is never touched.
int* const g_dummies = new int[kBatch];

struct Rcu {
  static void Online() {}
  static void Offline() {}
  static void Retire(int i) { domain->Retire<int, NoopDelete>(&g_dummies[i]); }
  static void Call(int i) {
    domain->Call(&Heads<rcu::CallbackHead>()[i],
                 [](rcu::CallbackHead*) { g_invoked.fetch_add(1, std::memory_order_relaxed); });
  }
  static void Barrier() { domain->Barrier(); }
};

struct Liburcu {
  static void Online() { urcu_memb_register_thread(); }
  static void Offline() { urcu_memb_unregister_thread(); }
  static void Call(int i) {
    urcu_memb_call_rcu(&Heads<rcu_head>()[i],
                       [](rcu_head*) { g_invoked.fetch_add(1, std::memory_order_relaxed); });
  }
  static void Barrier() { urcu_memb_barrier(); }
};

template <typename Flavor, bool kRetire>
void QueueBatch() {
  for (int i = 0; i < kBatch; ++i) {
    if constexpr (kRetire) {
      Flavor::Retire(i);
    } else {
      Flavor::Call(i);
    }
  }
}

// One batch of kBatch calls per iteration; the reported time is per call.
template <typename Flavor, bool kRetire>
void BM_Enqueue(benchmark::State& state) {
  Flavor::Online();
  for (auto _ : state) {
    QueueBatch<Flavor, kRetire>();
    state.PauseTiming();
    Flavor::Barrier();  // the heads are reusable again
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  Flavor::Offline();
}

template <typename Flavor, bool kRetire>
void BM_EndToEnd(benchmark::State& state) {
  Flavor::Online();
  for (auto _ : state) {
    QueueBatch<Flavor, kRetire>();
    Flavor::Barrier();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  Flavor::Offline();
}

template <typename Flavor>
void BM_BarrierAfter1M(benchmark::State& state) {
  Flavor::Online();
  for (auto _ : state) {
    QueueBatch<Flavor, false>();
    const auto start = std::chrono::steady_clock::now();
    Flavor::Barrier();
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  Flavor::Offline();
}

BENCHMARK_TEMPLATE(BM_Enqueue, Rcu, true)
    ->Name("Enqueue/rcu_retire")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_Enqueue, Rcu, false)->Name("Enqueue/rcu_call")->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_Enqueue, Liburcu, false)
    ->Name("Enqueue/liburcu_call_rcu")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_EndToEnd, Rcu, true)
    ->Name("EndToEnd/rcu_retire")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_EndToEnd, Rcu, false)
    ->Name("EndToEnd/rcu_call")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_EndToEnd, Liburcu, false)
    ->Name("EndToEnd/liburcu_call_rcu")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_BarrierAfter1M, Rcu)
    ->Name("BarrierAfter1M/rcu")
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_BarrierAfter1M, Liburcu)
    ->Name("BarrierAfter1M/liburcu")
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
