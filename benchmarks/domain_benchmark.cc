// //benchmarks:domain_benchmark: this library's read side and grace periods, beside liburcu
// (liburcu_flavors.cc) and reader-writer locks (lock_flavors.cc), in one binary.
//
//   ./bazelw run -c opt //benchmarks:domain_benchmark
//
// "rcu" is the primary API: a ReadGuard on a domain the caller holds a reference to.
// "rcu_lock_unlock" is Domain::lock()/unlock() (std::scoped_lock), which keeps a nesting count.

#include <atomic>
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

}  // namespace

RCU_BENCH_READ_SIDE(Rcu, "rcu");
RCU_BENCH_READ_SIDE(RcuExpedited, "rcu_expedited");
RCU_BENCH_READ_SIDE(RcuLockUnlock, "rcu_lock_unlock");
RCU_BENCH_READ_SIDE(RcuDefaultDomain, "rcu_default_domain");
