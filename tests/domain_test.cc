#include "rcu/domain.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/published.h"
#include "tests/testing/domain_test_peer.h"
#include "tests/testing/threads.h"

namespace rcu {
namespace {

using internal::DomainTestPeer;
using std::chrono::milliseconds;

using testutil::AwaitFlag;
using testutil::Background;
using testutil::ParkedReader;

TEST(DomainTest, ReadGuardNestsAndReportsSection) {
  Domain domain;
  EXPECT_FALSE(domain.InReadSection());
  {
    ReadGuard outer(domain);
    EXPECT_TRUE(domain.InReadSection());
    {
      ReadGuard inner(domain);
      EXPECT_TRUE(domain.InReadSection());
    }
    EXPECT_TRUE(domain.InReadSection());
  }
  EXPECT_FALSE(domain.InReadSection());
}

TEST(DomainTest, ScopedLockIsAReadSection) {
  Domain domain;
  {
    std::scoped_lock lock(domain);
    EXPECT_TRUE(domain.InReadSection());
  }
  EXPECT_FALSE(domain.InReadSection());
}

TEST(DomainTest, SynchronizeWithoutReadersReturns) {
  Domain domain;
  const uint64_t before = domain.GracePeriodsCompleted();
  domain.Synchronize();
  domain.SynchronizeExpedited();
  EXPECT_EQ(domain.GracePeriodsCompleted(), before + 2);
}

class GracePeriodTest : public testing::TestWithParam<bool> {
 protected:
  void Sync(Domain& d) {
    if (GetParam()) {
      d.SynchronizeExpedited();
    } else {
      d.Synchronize();
    }
  }
};

TEST_P(GracePeriodTest, WaitsForPreexistingReader) {
  Domain domain;
  ParkedReader reader(domain);
  Background sync([&] { Sync(domain); });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(sync.done()) << "grace period ended while a reader was inside";
  reader.Release();
  sync.Join();
}

TEST_P(GracePeriodTest, WaitsForNestedReaderUntilOutermostExit) {
  Domain domain;
  std::atomic<bool> inner_left{false}, release{false};
  std::thread reader([&] {
    ReadGuard outer(domain);
    { ReadGuard inner(domain); }
    inner_left.store(true);
    AwaitFlag(release);
  });
  AwaitFlag(inner_left);
  Background sync([&] { Sync(domain); });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(sync.done()) << "grace period ended at an inner section's exit";
  release.store(true);
  sync.Join();
  reader.join();
}

TEST_P(GracePeriodTest, DoesNotWaitForReaderThatBeganLater) {
  Domain domain;
  ParkedReader early(domain);
  const uint64_t epoch = DomainTestPeer::Epoch(domain);
  Background sync([&] { Sync(domain); });
  // The grace period has begun once the epoch moved; a reader entering now is not waited for.
  while (DomainTestPeer::Epoch(domain) == epoch) std::this_thread::yield();
  ParkedReader late(domain);
  early.Release();
  sync.Join();  // Would hang if the grace period waited for `late`.
}

TEST_P(GracePeriodTest, EndsUnderContinuousShortReaders) {
  Domain domain;
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      ReadGuard guard(domain);
    }
  });
  for (int i = 0; i < 200; ++i) Sync(domain);
  stop.store(true);
  reader.join();
}

TEST_P(GracePeriodTest, DomainsAreIndependent) {
  Domain a, b;
  ParkedReader reader(a);
  Sync(b);  // Would hang if b waited for a's reader.
  Background sync_a([&] { Sync(a); });
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_FALSE(sync_a.done());
  reader.Release();
  sync_a.Join();
}

INSTANTIATE_TEST_SUITE_P(Flavors, GracePeriodTest, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& info) {
                           return info.param ? "Expedited" : "Normal";
                         });

TEST(DomainTest, ConcurrentSynchronizeCallersShareGracePeriods) {
  Domain domain;
  ParkedReader reader(domain);
  const uint64_t before = domain.GracePeriodsCompleted();
  std::vector<std::unique_ptr<Background>> callers;
  for (int i = 0; i < 8; ++i) {
    callers.push_back(std::make_unique<Background>([&] { domain.Synchronize(); }));
  }
  std::this_thread::sleep_for(milliseconds(50));
  reader.Release();
  for (auto& c : callers) c->Join();
  // One grace period for the caller that got in first, at most one more for all the others.
  EXPECT_LE(domain.GracePeriodsCompleted() - before, 2u);
}

TEST(DomainTest, CookieIncompleteWhileOlderReaderInside) {
  Domain domain;
  ParkedReader reader(domain);
  const GracePeriodCookie cookie = domain.GetState();
  EXPECT_FALSE(domain.PollState(cookie));
  Background sync([&] { domain.Synchronize(); });
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(domain.PollState(cookie)) << "cookie complete while an older reader is inside";
    std::this_thread::sleep_for(milliseconds(2));
  }
  reader.Release();
  sync.Join();
  EXPECT_TRUE(domain.PollState(cookie));
}

// StartPoll() (the kernel's start_poll_synchronize_rcu()) makes its cookie complete with nobody
// else running a grace period; GetState() alone starts nothing.
TEST(DomainTest, StartPollCompletesWithoutAnotherCaller) {
  Domain domain;
  std::thread([&] { ReadGuard guard(domain); }).join();  // another registered thread
  const GracePeriodCookie cookie = domain.StartPoll();
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!domain.PollState(cookie) && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_TRUE(domain.PollState(cookie));
}

TEST(DomainTest, StartPollWaitsForPreexistingReader) {
  Domain domain;
  GracePeriodCookie cookie;
  {
    ParkedReader reader(domain);
    cookie = domain.StartPoll();
    std::this_thread::sleep_for(milliseconds(20));
    EXPECT_FALSE(domain.PollState(cookie));
  }
  domain.CondSynchronize(cookie);
  EXPECT_TRUE(domain.PollState(cookie));
}

TEST(DomainTest, CookieCompleteAfterFullSynchronize) {
  Domain domain;
  const GracePeriodCookie cookie = domain.GetState();
  EXPECT_FALSE(domain.PollState(cookie));
  domain.Synchronize();
  EXPECT_TRUE(domain.PollState(cookie));
  domain.CondSynchronize(cookie);  // Already complete: returns at once.
  const GracePeriodCookie second = domain.GetState();
  domain.CondSynchronize(second);
  EXPECT_TRUE(domain.PollState(second));
  EXPECT_TRUE(domain.PollState(GracePeriodCookie()));
}

TEST(DomainTest, ThreadsThatExitedNeverStallGracePeriods) {
  Domain domain;
  std::vector<std::thread> threads;
  for (int i = 0; i < 100; ++i) {
    threads.emplace_back([&] { ReadGuard guard(domain); });
  }
  for (auto& t : threads) t.join();
  domain.Synchronize();
  domain.SynchronizeExpedited();
}

TEST(DomainTest, ThreadExitingInsideSectionIsReportedAndEnded) {
  Domain domain;
  testing::internal::CaptureStderr();
  std::thread([&] { domain.lock(); }).join();  // R6: never unlocks.
  const std::string report = testing::internal::GetCapturedStderr();
  EXPECT_NE(report.find("R6:"), std::string::npos) << report;
  domain.Synchronize();  // The exited thread's section was ended for it.
}

TEST(DomainTest, DefaultDomainIsShared) {
  EXPECT_EQ(&Domain::Default(), &Domain::Default());
  ReadGuard guard;
  EXPECT_EQ(&guard.domain(), &Domain::Default());
  EXPECT_TRUE(Domain::Default().InReadSection());
}

TEST(DomainTest, ChildOfForkCanSynchronize) {
  Domain domain;
  ParkedReader reader(domain);  // Inside a section when fork() copies the registry.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    domain.Synchronize();  // Would hang waiting for the parent's reader thread.
    { ReadGuard guard(domain); }
    domain.SynchronizeExpedited();
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace rcu
