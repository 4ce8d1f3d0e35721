// A consumer that uses more of Abseil than the rcu library does (status, btree, str_format, time,
// synchronization), through the same @com_google_absl that rcu_deps() declared: depending on rcu
// must not take the rest of Abseil away from its user.
#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rcu/domain.h"
#include "rcu/published.h"

namespace {

// An ordered snapshot of routes, replaced whole under RCU.
using Routes = absl::btree_map<uint32_t, std::string>;

rcu::Published<const Routes> routes(new Routes{{10, "eth0"}, {20, "eth1"}});
absl::Mutex update_mu;

absl::StatusOr<std::string> NextHop(uint32_t prefix) {
  rcu::ReadGuard guard;
  const Routes& current = *routes.Read(guard);
  auto it = current.find(prefix);
  if (it == current.end()) return absl::NotFoundError(absl::StrFormat("no route for %d", prefix));
  return it->second;
}

TEST(WithAbseilTest, AbseilLibrariesTheLibraryDoesNotUseLinkBesideIt) {
  EXPECT_EQ(*NextHop(10), "eth0");
  EXPECT_EQ(NextHop(30).status().code(), absl::StatusCode::kNotFound);
  {
    absl::MutexLock lock(&update_mu);
    std::unique_ptr<Routes> next;
    {
      rcu::ReadGuard guard;
      next = std::make_unique<Routes>(*routes.Read(guard));
    }
    (*next)[30] = "eth2";
    rcu::Domain::Default().Retire(routes.Exchange(next.release()));
  }
  EXPECT_EQ(*NextHop(30), "eth2");
  rcu::ReadGuard guard;
  std::string joined = absl::StrJoin(*routes.Read(guard), ",", absl::PairFormatter("="));
  EXPECT_EQ(joined, "10=eth0,20=eth1,30=eth2");
  EXPECT_GT(absl::Now(), absl::UnixEpoch());
}

}  // namespace
