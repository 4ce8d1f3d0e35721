// Test access to rcu::Domain internals: the epoch, to see that a grace period has begun.

#ifndef RCU_TESTS_TESTING_DOMAIN_TEST_PEER_H_
#define RCU_TESTS_TESTING_DOMAIN_TEST_PEER_H_

#include <cstdint>

#include "rcu/domain.h"

namespace rcu::internal {

class DomainTestPeer {
 public:
  static uint64_t Epoch(const Domain& d) { return d.read_side_.epoch(); }
};

}  // namespace rcu::internal

#endif  // RCU_TESTS_TESTING_DOMAIN_TEST_PEER_H_
