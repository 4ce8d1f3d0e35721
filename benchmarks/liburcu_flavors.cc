// liburcu's memb and qsbr flavors as benchmark flavors (read_side_flavors.h), with _LGPL_SOURCE
// so their read-side fast paths are inlined as in a real liburcu user. Each flavor's header maps
// the generic rcu_* names to itself, so the two flavors use their prefixed names here.

#define _LGPL_SOURCE 1
#include <urcu/urcu-memb.h>
#include <urcu/urcu-qsbr.h>

#include "benchmarks/read_side_flavors.h"

namespace {

struct LiburcuMemb {
  static void ThreadOnline() { urcu_memb_register_thread(); }
  static void ThreadOffline() { urcu_memb_unregister_thread(); }
  struct Section {
    Section() { urcu_memb_read_lock(); }
    ~Section() { urcu_memb_read_unlock(); }
  };
  static void Quiescent() {}
  static void Synchronize() { urcu_memb_synchronize_rcu(); }
};

struct LiburcuQsbr {
  static void ThreadOnline() { urcu_qsbr_register_thread(); }
  static void ThreadOffline() { urcu_qsbr_unregister_thread(); }
  struct Section {
    Section() { urcu_qsbr_read_lock(); }
    ~Section() { urcu_qsbr_read_unlock(); }
  };
  static void Quiescent() { urcu_qsbr_quiescent_state(); }
  static void Synchronize() { urcu_qsbr_synchronize_rcu(); }
};

}  // namespace

RCU_BENCH_READ_SIDE(LiburcuMemb, "liburcu_memb");
RCU_BENCH_READ_SIDE(LiburcuQsbr, "liburcu_qsbr");
RCU_BENCH_CHURN(LiburcuMemb, "liburcu_memb");
