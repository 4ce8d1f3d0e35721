// A consumer's test against the public targets.
#include <atomic>
#include <cstdint>
#include <mutex>

#include "gtest/gtest.h"
#include "rcu/containers/hash_map.h"
#include "rcu/cxx26.h"
#include "rcu/domain.h"
#include "rcu/published.h"

TEST(ConsumerTest, PublishedPointerAndRetire) {
  rcu::Published<const int> value(new int(1));
  {
    rcu::ReadGuard guard;
    EXPECT_EQ(*value.Read(guard), 1);
  }
  rcu::Domain::Default().Retire(value.Exchange(new int(2)));
  rcu::Domain::Default().Retire(value.Exchange(nullptr));
  rcu::Domain::Default().Barrier();
}

TEST(ConsumerTest, HashMap) {
  rcu::HashMap<uint64_t, int> map;
  map.Insert(1, 10);
  EXPECT_EQ(map.Get(1), 10);
}

TEST(ConsumerTest, Cxx26Facade) {
  namespace stdrcu = rcu::cxx26;
  std::scoped_lock lock(stdrcu::rcu_default_domain());
  SUCCEED();
}
