// The operations a torture run or a sanitizer self-test performs on a domain, as a table (the
// kernel's rcutorture `struct rcu_torture_ops`): the real entry points, and busted tables whose
// broken entries live here, in the tests, so that production code carries no test-only state.
// A test that cannot fail proves nothing: every harness runs the real table and must pass, and
// runs a busted one and must catch it.

#ifndef RCU_TESTS_TESTING_TORTURE_OPS_H_
#define RCU_TESTS_TESTING_TORTURE_OPS_H_

#include <cstring>

#include "rcu/callback.h"
#include "rcu/domain.h"

namespace rcu::testing_support {

struct TortureOps {
  const char* name;
  void (*sync)(Domain&);
  void (*sync_expedited)(Domain&);
  void (*cond_sync)(Domain&, GracePeriodCookie);
  void (*call)(Domain&, CallbackHead*, void (*)(CallbackHead*));
};

inline constexpr TortureOps kRealOps = {
    "real",
    [](Domain& d) { d.Synchronize(); },
    [](Domain& d) { d.SynchronizeExpedited(); },
    [](Domain& d, GracePeriodCookie c) { d.CondSynchronize(c); },
    [](Domain& d, CallbackHead* head, void (*fn)(CallbackHead*)) { d.Call(head, fn); },
};

// Grace periods that do not wait: every synchronous flavor returns at once.
inline constexpr TortureOps kNoWaitOps = {
    "no_wait", [](Domain&) {}, [](Domain&) {}, [](Domain&, GracePeriodCookie) {}, kRealOps.call,
};

// Callbacks that do not wait for readers: Call() runs the callback at once.
inline constexpr TortureOps kEarlyCallbackOps = {
    "early_callback",
    kRealOps.sync,
    kRealOps.sync_expedited,
    kRealOps.cond_sync,
    [](Domain&, CallbackHead* head, void (*fn)(CallbackHead*)) { fn(head); },
};

// The table named `name`, or null.
inline const TortureOps* FindOps(const char* name) {
  for (const TortureOps* ops : {&kRealOps, &kNoWaitOps, &kEarlyCallbackOps}) {
    if (std::strcmp(ops->name, name) == 0) return ops;
  }
  return nullptr;
}

}  // namespace rcu::testing_support

#endif  // RCU_TESTS_TESTING_TORTURE_OPS_H_
