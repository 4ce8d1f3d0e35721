// Test access to rcu::Domain internals: the epoch (to see that a grace period has begun) and
// the busted mode (grace periods that do not wait), for tests that must show a bug is caught.

#ifndef RCU_TESTS_TESTING_DOMAIN_TEST_PEER_H_
#define RCU_TESTS_TESTING_DOMAIN_TEST_PEER_H_

#include <atomic>
#include <cstdint>

#include "rcu/domain.h"

namespace rcu::internal {

class DomainTestPeer {
 public:
  static uint64_t Epoch(const Domain& d) { return d.epoch_.load(std::memory_order_acquire); }
  static void SetBusted(Domain& d, bool busted) {
    d.busted_.store(busted, std::memory_order_relaxed);
  }
};

}  // namespace rcu::internal

#endif  // RCU_TESTS_TESTING_DOMAIN_TEST_PEER_H_
