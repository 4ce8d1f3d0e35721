// //benchmarks:domain_benchmark: this library's read side and grace periods, beside liburcu
// (liburcu_flavors.cc) and reader-writer locks (lock_flavors.cc), in one binary.
//
//   ./bazelw run -c opt //benchmarks:domain_benchmark
//
// "rcu" is the primary API: a ReadGuard on a domain the caller holds a reference to.
// "rcu_lock_unlock" is Domain::lock()/unlock() (std::scoped_lock), which keeps a nesting count.

#include <atomic>
#include <chrono>
#include <thread>

#include "benchmarks/read_side_flavors.h"
#include "rcu/domain.h"

namespace {

rcu::Domain* const domain = new rcu::Domain;

struct Rcu {
  struct Section {
    rcu::ReadGuard guard{*domain};
  };
  static void ThreadOnline() {}
  static void ThreadOffline() {}
  static void Quiescent() {}
  static void Synchronize() { domain->Synchronize(); }
};

struct RcuExpedited : Rcu {
  static void Synchronize() { domain->SynchronizeExpedited(); }
};

struct RcuLockUnlock : Rcu {
  struct Section {
    Section() { domain->lock(); }
    ~Section() { domain->unlock(); }
  };
};

struct RcuDefaultDomain : Rcu {
  struct Section {
    rcu::ReadGuard guard;
  };
  static void Synchronize() { rcu::Domain::Default().Synchronize(); }
};

// Effect on bystanders: short sections on one thread while another thread's Synchronize() sleeps
// on a slow reader (the reader parked inside a section, the waiter asleep in the futex), against
// the same sections with no grace period pending. Target: sleeping / idle >= 0.9 (issue 12: before,
// every reader's exit paid a shared atomic and a FUTEX_WAKE while any grace period slept).
void BM_BystanderSections(benchmark::State& state) {
  const bool sleeping_grace_period = state.range(0) != 0;
  std::atomic<bool> inside{false}, release{false};
  std::thread slow_reader, waiter;
  if (sleeping_grace_period) {
    slow_reader = std::thread([&] {
      rcu::ReadGuard guard(*domain);
      inside.store(true);
      while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    while (!inside.load()) std::this_thread::yield();
    waiter = std::thread([&] { domain->Synchronize(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past spinning: asleep
  }
  for (auto _ : state) {
    rcu::ReadGuard guard(*domain);
    benchmark::DoNotOptimize(&guard);
  }
  state.SetItemsProcessed(state.iterations());
  if (sleeping_grace_period) {
    release.store(true);
    slow_reader.join();
    waiter.join();
  }
}
BENCHMARK(BM_BystanderSections)->ArgName("sleeping_grace_period")->Arg(0)->Arg(1);

}  // namespace

RCU_BENCH_READ_SIDE(Rcu, "rcu");
RCU_BENCH_READ_SIDE(RcuExpedited, "rcu_expedited");
RCU_BENCH_READ_SIDE(RcuLockUnlock, "rcu_lock_unlock");
RCU_BENCH_READ_SIDE(RcuDefaultDomain, "rcu_default_domain");
RCU_BENCH_CHURN(Rcu, "rcu");
