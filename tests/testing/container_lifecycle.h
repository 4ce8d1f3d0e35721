// Test classes every container runs, written once: updates queued from callbacks while
// back-pressure is on, and "every retired value is destroyed exactly once" at Barrier(), at
// domain destruction and at exit().
//
// A container type C is driven through two functions the test supplies:
//   make(Domain&) -> std::unique_ptr<C>     a container on that domain (default options or not);
//   update(C&, uint64_t i, Tracker&)        the i-th update: inserts, replaces or erases values
//                                           (testutil::Counted of `tracker`), retiring some.
// C::size() must count the values the container holds.

#ifndef RCU_TESTS_TESTING_CONTAINER_LIFECYCLE_H_
#define RCU_TESTS_TESTING_CONTAINER_LIFECYCLE_H_

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "gtest/gtest.h"
#include "rcu/callback.h"
#include "rcu/domain.h"
#include "tests/testing/threads.h"
#include "tests/testing/values.h"

namespace rcu::testutil {

// Updates from the program and from callbacks, on a domain whose back-pressure bound is low
// (512): no update may sleep for back-pressure while it holds a lock that a callback's update
// needs. A hang aborts (Watchdog).
template <typename Make, typename Update>
void UpdatesFromCallbacksUnderBackPressure(Make make, Update update, uint64_t updates = 6000) {
  Watchdog watchdog("container updates from callbacks under back-pressure");
  Tracker tracker;
  {
    DomainOptions options;
    options.max_pending_callbacks = 512;
    Domain domain(options);
    auto container = make(domain);
    using Container = std::remove_reference_t<decltype(*container)>;
    struct Deferred {
      CallbackHead head;
      Container* container;
      uint64_t i;
      Update* update;
      Tracker* tracker;
    };
    for (uint64_t i = 0; i < updates; ++i) {
      update(*container, i, tracker);
      // 0 to 2 deferred updates: the back-pressure checks (every 256 queued callbacks) land
      // inside updates as well as between them.
      for (uint64_t j = 0; j < i % 3; ++j) {
        auto* deferred = new Deferred{{}, container.get(), i + j, &update, &tracker};
        domain.Call(&deferred->head, [](CallbackHead* head) {
          std::unique_ptr<Deferred> d(ContainerOf(head, &Deferred::head));
          (*d->update)(*d->container, d->i, *d->tracker);
        });
      }
    }
    // Twice: the first runs the deferred updates, which retire values of their own (a barrier
    // waits for the callbacks queued before it, as rcu_barrier() does, not for those they queue).
    domain.Barrier();
    domain.Barrier();
    EXPECT_EQ(tracker.live.load(), static_cast<int64_t>(container->size()));
  }
  EXPECT_EQ(tracker.live.load(), 0);
}

// After the updates and Barrier(), the only live values are those the container holds; after
// the container and then its domain are destroyed, none.
template <typename Make, typename Update>
void BarrierAndDomainDestructionDestroyEveryValue(Make make, Update update,
                                                  uint64_t updates = 3000) {
  Tracker tracker;
  {
    Domain domain;
    auto container = make(domain);
    for (uint64_t i = 0; i < updates; ++i) update(*container, i, tracker);
    domain.Barrier();
    EXPECT_EQ(tracker.live.load(), static_cast<int64_t>(container->size()));
    for (uint64_t i = updates; i < 2 * updates; ++i) update(*container, i, tracker);
  }  // the container, then the domain with callbacks still queued
  EXPECT_EQ(tracker.live.load(), 0);
}

// Where ExitDestroysEveryRetiredValue's child keeps the container it leaks on purpose.
inline void* kept_at_exit = nullptr;

// In a child process, on the default domain: updates, then exit() with the container leaked on
// purpose. The default domain's exit barrier destroys every retired value, so the values alive
// after exit are exactly those the container held.
template <typename Make, typename Update>
void ExitDestroysEveryRetiredValue(Make make, Update update, uint64_t updates = 2000) {
  Tracker* tracker = Tracker::Shared();
  const ChildResult result = RunChild([&]() -> int {
    auto container = make(Domain::Default());
    for (uint64_t i = 0; i < updates; ++i) update(*container, i, *tracker);
    tracker->held.store(static_cast<int64_t>(container->size()));
    kept_at_exit = container.release();  // leaked on purpose, reachable: LSan stays quiet
    std::exit(0);
  });
  ASSERT_EQ(result, ChildResult::kExitedZero);
  EXPECT_EQ(tracker->live.load(), tracker->held.load());
}

}  // namespace rcu::testutil

#endif  // RCU_TESTS_TESTING_CONTAINER_LIFECYCLE_H_
