// libcds's user-space RCU, general_buffered flavor (the one its documentation recommends by
// default), as a benchmark flavor (read_side_flavors.h). libcds needs cds::Initialize() and a
// per-thread attach, and its RCU singleton is a gc object constructed once.

#include <cds/init.h>
#include <cds/threading/model.h>
#include <cds/urcu/general_buffered.h>

#include "benchmarks/read_side_flavors.h"

namespace {

struct LibcdsGeneralBuffered {
  using Rcu = cds::urcu::gc<cds::urcu::general_buffered<>>;
  static void Init() {
    static const bool initialized = [] {
      cds::Initialize();
      static Rcu rcu;
      return true;
    }();
    (void)initialized;
  }
  static void ThreadOnline() {
    Init();
    cds::threading::Manager::attachThread();
  }
  static void ThreadOffline() { cds::threading::Manager::detachThread(); }
  struct Section {
    Rcu::scoped_lock lock;
  };
  static void Quiescent() {}
  static void Synchronize() { Rcu::synchronize(); }
};

}  // namespace

RCU_BENCH_READ_SIDE(LibcdsGeneralBuffered, "libcds_general_buffered");
