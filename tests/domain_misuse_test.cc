// The core misuse catalogue (README "Rules", R1 to R13): each checker fires on the broken use,
// with its rule id, and stays quiet on the correct one. Death tests that guard a would-be
// deadlock run under an alarm, so a checker that failed to fire shows as a failure, not a hang.
// Compile-time rules are covered by //tests:compile_fail_test.

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/callback.h"
#include "rcu/diagnostics.h"
#include "rcu/domain.h"
#include "rcu/published.h"
#include "rcu/retirable.h"
#include "rcu/update_mutex.h"

namespace rcu {
namespace {

// A death-test body that would hang if the checker did not fire: the alarm kills it instead
// (SIGALRM, which does not match the expected message, so the test fails).
void WithAlarm(const std::function<void()>& body) {
  alarm(10);
  body();
  alarm(0);
}

struct Obj {
  int value = 1;
};

// R1 -------------------------------------------------------------------------------------------

TEST(DomainMisuseTest, R1DereferenceOutsideSectionAborts) {
  Domain domain;
  Obj obj;
  Published<Obj> p(&obj);
  EXPECT_DEATH(p.Dereference(domain), "R1: suspicious dereference");
  p.Init(nullptr);
}

// R1: a Published belongs to one domain; a guard of another protects nothing it points to.
TEST(DomainMisuseTest, R1ReadWithAGuardOfAnotherDomainAborts) {
  Domain mine, other;
  Obj obj;
  Published<Obj> p(mine, &obj);
  {
    ReadGuard guard(mine);
    EXPECT_EQ(p.Read(guard), &obj);
  }
  EXPECT_DEATH(
      {
        ReadGuard guard(other);
        p.Read(guard);
      },
      "R1: Published<T>::Read\\(\\) with a ReadGuard of another domain.*domain_misuse_test.cc");
  Published<Obj> by_default(&obj);
  EXPECT_DEATH(
      {
        ReadGuard guard(other);
        by_default.Read(guard);
      },
      "R1: Published<T>::Read");
  p.Init(nullptr);
  by_default.Init(nullptr);
}

TEST(DomainMisuseTest, R1DereferenceInsideSectionIsQuiet) {
  Domain domain;
  Obj obj;
  Published<Obj> p(&obj);
  std::scoped_lock lock(domain);
  EXPECT_EQ(p.Dereference(domain)->value, 1);
  p.Init(nullptr);
}

TEST(DomainMisuseTest, R1DereferenceInsideAnotherDomainsSectionAborts) {
  Domain a, b;
  Obj obj;
  Published<Obj> p(&obj);
  EXPECT_DEATH(
      {
        ReadGuard guard(a);
        p.Dereference(b);
      },
      "R1:");
  p.Init(nullptr);
}

// R2 -------------------------------------------------------------------------------------------

// Deliberately hides the lock from -Wthread-safety: this is the run-time half of R2.
void ProtectedWithoutLock(Published<Obj>& p, UpdateMutex& mu) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  p.Protected(mu);
}

TEST(DomainMisuseTest, R2ProtectedWithoutTheLockAborts) {
  UpdateMutex mu;
  Published<Obj> p;
  EXPECT_DEATH(ProtectedWithoutLock(p, mu), "R2: update-side access without holding");
}

TEST(DomainMisuseTest, R2ProtectedWithTheLockHeldByAnotherThreadAborts) {
  UpdateMutex mu;
  Published<Obj> p;
  EXPECT_DEATH(
      {
        std::thread holder([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu.lock(); });
        holder.join();  // mu stays locked by a thread that is gone: not by us
        ProtectedWithoutLock(p, mu);
      },
      "R2:");
}

TEST(DomainMisuseTest, R2ProtectedWithTheLockIsQuiet) {
  UpdateMutex mu;
  Obj obj;
  Published<Obj> p(&obj);
  UpdateLock lock(mu);
  EXPECT_EQ(p.Protected(mu), &obj);
  EXPECT_EQ(p.Replace(nullptr, mu), &obj);
}

// R3, R4 ---------------------------------------------------------------------------------------

TEST(DomainMisuseTest, R3SynchronizeInsideSectionAbortsInsteadOfHanging) {
  Domain domain;
  EXPECT_DEATH(WithAlarm([&] {
                 ReadGuard guard(domain);
                 domain.Synchronize();
               }),
               "R3: Synchronize\\(\\) called inside a read-side critical section");
  EXPECT_DEATH(WithAlarm([&] {
                 ReadGuard guard(domain);
                 domain.SynchronizeExpedited();
               }),
               "R3: SynchronizeExpedited\\(\\)");
  EXPECT_DEATH(WithAlarm([&] {
                 const GracePeriodCookie cookie = domain.GetState();
                 ReadGuard guard(domain);
                 domain.CondSynchronize(cookie);
               }),
               "R3: CondSynchronize\\(\\)");
}

// R3 holds even when the cookie has completed already (the call is wrong, not just unlucky).
TEST(DomainMisuseTest, R3CondSynchronizeWithACompletedCookieAborts) {
  Domain domain;
  EXPECT_DEATH(WithAlarm([&] {
                 const GracePeriodCookie cookie = domain.GetState();
                 domain.Synchronize();
                 ReadGuard guard(domain);
                 domain.CondSynchronize(cookie);
               }),
               "R3: CondSynchronize\\(\\)");
}

TEST(DomainMisuseTest, R3SynchronizeInsideAnotherDomainsSectionIsQuiet) {
  Domain a, b;
  ReadGuard guard(a);
  b.Synchronize();
}

TEST(DomainMisuseTest, R4BarrierInsideSectionAborts) {
  Domain domain;
  EXPECT_DEATH(WithAlarm([&] {
                 domain.Retire(new Obj);
                 ReadGuard guard(domain);
                 domain.Barrier();
               }),
               "R4: Barrier\\(\\) called inside a read-side critical section");
}

// R5 -------------------------------------------------------------------------------------------

TEST(DomainMisuseTest, R5UnlockWithoutLockAborts) {
  Domain domain;
  EXPECT_DEATH(domain.unlock(), "R5: bad unlock balance");
}

TEST(DomainMisuseTest, R5UnlockOnAnotherThreadAborts) {
  Domain domain;
  EXPECT_DEATH(
      {
        domain.lock();
        std::thread([&] { domain.unlock(); }).join();
      },
      "R5: bad unlock balance");
}

TEST(DomainMisuseTest, R5OutermostSectionEndedBeforeInnerAborts) {
  Domain domain;
  EXPECT_DEATH(
      {
        domain.lock();
        ReadGuard inner(domain);
        domain.unlock();  // BUG: the guard's section is still open
      },
      "R5: bad unlock balance: the outermost read-side section ended");
}

// Messages name the caller's line, not a line inside the library.
TEST(DomainMisuseTest, R5MessagesNameTheCaller) {
  Domain domain;
  EXPECT_DEATH(
      {
        auto* outer = new ReadGuard(domain);
        ReadGuard inner(domain);
        delete outer;  // BUG: ends the outermost section first
      },
      "R5: .*\\(at .*domain_misuse_test.cc:[0-9]+");
  EXPECT_DEATH(
      {
        for (;;) domain.lock();  // BUG: never unlocks
      },
      "R5: read-side sections nested more than .*\\(at .*domain_misuse_test.cc:[0-9]+");
}

TEST(DomainMisuseTest, R5NestingOverflowAborts) {
  Domain domain;
  EXPECT_DEATH(
      {
        for (;;) domain.lock();
      },
      "R5: read-side sections nested more than");
}

TEST(DomainMisuseTest, R5BalancedMixedNestingIsQuiet) {
  Domain domain;
  domain.lock();
  {
    ReadGuard guard(domain);
    domain.lock();
    domain.unlock();
  }
  domain.unlock();
  EXPECT_FALSE(domain.InReadSection());
}

// R6, R13: reports -----------------------------------------------------------------------------

std::mutex g_reports_mu;
std::vector<std::string> g_reports;

void Collect(const char* message) {
  std::lock_guard<std::mutex> lock(g_reports_mu);
  g_reports.emplace_back(message);
}

class ReportsTest : public testing::Test {
 protected:
  void SetUp() override {
    std::lock_guard<std::mutex> lock(g_reports_mu);
    g_reports.clear();
    previous_ = SetReportHandler(&Collect);
  }
  void TearDown() override { SetReportHandler(previous_); }
  int CountReports(const char* prefix) {
    std::lock_guard<std::mutex> lock(g_reports_mu);
    int n = 0;
    for (const auto& r : g_reports) n += r.rfind(prefix, 0) == 0;
    return n;
  }

 private:
  ReportHandler previous_ = nullptr;
};

TEST_F(ReportsTest, R6ThreadExitingInsideSectionIsReportedAndDoesNotStall) {
  Domain domain;
  std::thread([&] { domain.lock(); }).join();
  EXPECT_EQ(CountReports("R6: thread"), 1);
  domain.Synchronize();
  std::thread([&] { ReadGuard guard(domain); }).join();
  EXPECT_EQ(CountReports("R6:"), 1) << "a balanced thread must not be reported";
}

// Holds a section of `domain` for 300 ms on another thread while `wait` runs on this one.
void StallReaderDuring(Domain& domain, const std::function<void()>& wait) {
  std::atomic<bool> inside{false};
  std::thread reader([&] {
    ReadGuard guard(domain);
    inside.store(true);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  });
  while (!inside.load()) std::this_thread::yield();
  wait();
  reader.join();
}

DomainOptions ShortStallTimeout() {
  DomainOptions options;
  options.stall_timeout = std::chrono::milliseconds(50);
  return options;
}

TEST_F(ReportsTest, R13StalledReaderIsReportedAndTheGracePeriodCompletes) {
  Domain domain(ShortStallTimeout());
  StallReaderDuring(domain, [&] { domain.Synchronize(); });
  EXPECT_GE(CountReports("R13: rcu stall: thread"), 1);
  const int before = CountReports("R13:");
  domain.Synchronize();  // no stall now
  std::thread([&] { ReadGuard guard(domain); }).join();
  domain.SynchronizeExpedited();
  EXPECT_EQ(CountReports("R13:"), before);
}

TEST_F(ReportsTest, R13ExpeditedWaiterReportsToo) {
  Domain domain(ShortStallTimeout());
  StallReaderDuring(domain, [&] { domain.SynchronizeExpedited(); });
  EXPECT_GE(CountReports("R13:"), 1);
}

// R7 -------------------------------------------------------------------------------------------

void Noop(CallbackHead*) {}

TEST(DomainMisuseTest, R7DoubleCallAborts) {
  Domain domain;
  CallbackHead head;
  EXPECT_DEATH(
      {
        ReadGuard guard(domain);  // keeps the first callback from running before the second
        domain.Call(&head, &Noop);
        domain.Call(&head, &Noop);
      },
      "R7: double call_rcu");
}

TEST(DomainMisuseTest, R7DoubleRetireAbortsBeforeAnyDoubleFree) {
  Domain domain;
  EXPECT_DEATH(
      {
        Obj* obj = new Obj;
        ReadGuard guard(domain);
        domain.Retire(obj);
        domain.Retire(obj);
      },
      "R7: double retire");
}

TEST(DomainMisuseTest, R7RequeueAfterTheCallbackRanIsQuiet) {
  Domain domain;
  CallbackHead head;
  for (int i = 0; i < 3; ++i) {
    domain.Call(&head, &Noop);
    domain.Barrier();
  }
  // The same address retired again after its deleter ran (malloc reuses addresses).
  for (int i = 0; i < 100; ++i) {
    domain.Retire(new Obj);
    domain.Barrier();
  }
}

// R8 -------------------------------------------------------------------------------------------

// Queues a callback that calls `blocking` on `domain`, and waits for it.
void CallbackThatBlocks(Domain& domain, void (*blocking)(Domain&)) {
  struct Blocking {
    CallbackHead head;
    Domain* domain;
    void (*blocking)(Domain&);
  };
  static Blocking b;
  b = {{}, &domain, blocking};
  domain.Call(&b.head, [](CallbackHead* h) {
    auto* self = reinterpret_cast<Blocking*>(h);
    self->blocking(*self->domain);
  });
  domain.Barrier();
}

TEST(DomainMisuseTest, R8SynchronizeInCallbackAborts) {
  Domain domain;
  EXPECT_DEATH(WithAlarm([&] { CallbackThatBlocks(domain, [](Domain& d) { d.Synchronize(); }); }),
               "R8: Synchronize\\(\\) called from an RCU callback");
}

TEST(DomainMisuseTest, R8BarrierInCallbackAborts) {
  Domain domain;
  EXPECT_DEATH(WithAlarm([&] { CallbackThatBlocks(domain, [](Domain& d) { d.Barrier(); }); }),
               "R8: Barrier\\(\\) called from an RCU callback");
}

// R9 -------------------------------------------------------------------------------------------

TEST(DomainMisuseTest, R9RetireWhileStillPublishedAborts) {
  Domain domain;
  EXPECT_DEATH(
      {
        Obj* obj = new Obj;
        Published<Obj> p(obj);
        domain.Retire(obj);  // BUG: still published
      },
      "R9: retiring");
}

struct Self : Retirable<Self> {};

TEST(DomainMisuseTest, R9RetirableStillPublishedAborts) {
  Domain domain;
  EXPECT_DEATH(
      {
        Published<Self> p(domain, new Self);
        ReadGuard guard(domain);
        p.Read(guard)->Retire(domain);  // BUG: retire before unpublish
      },
      "R9: retiring");
}

TEST(DomainMisuseTest, R9UnpublishThenRetireIsQuiet) {
  Domain domain;
  Published<Obj> p(new Obj);
  domain.Retire(p.Exchange(new Obj));
  domain.Retire(p.Exchange(nullptr));
  domain.Barrier();
}

// Exchange() is documented for racing updaters: each gets a distinct old pointer to retire. The
// checker must record racing exchanges in the order they took effect, or it believes a pointer
// another thread already replaced is still published and reports a false R9.
TEST(DomainMisuseTest, R9RacingExchangesRetireTheirOldPointersQuietly) {
  Domain domain;
  Published<Obj> p(new Obj);
  std::vector<std::thread> updaters;
  for (int t = 0; t < 2; ++t) {
    updaters.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) domain.Retire(p.Exchange(new Obj));
    });
  }
  for (auto& t : updaters) t.join();
  domain.Retire(p.Exchange(nullptr));
  domain.Barrier();
}

// A child still held by a Published inside a parent that is unpublished already: retiring the
// child is correct (no reader can reach it through the parent any more), in either order.
struct Parent {
  Published<Obj> child;
};

TEST(DomainMisuseTest, R9RetiringTheChildOfAnUnpublishedParentIsQuiet) {
  Domain domain;
  UpdateMutex mu;
  Published<Parent> root;
  for (int order = 0; order < 2; ++order) {
    auto* parent = new Parent;
    parent->child.Init(new Obj);
    root.Assign(parent);
    UpdateLock lock(mu);
    Parent* old = root.Replace(nullptr, mu);
    Obj* child = old->child.Protected(mu);
    if (order == 0) {
      domain.Retire(child);
      domain.Retire(old);
    } else {
      domain.Retire(old);
      domain.Retire(child);
    }
  }
  domain.Barrier();
}

// R10 ------------------------------------------------------------------------------------------

TEST(DomainMisuseTest, R10DestroyingADomainWithAReaderInsideAborts) {
  EXPECT_DEATH(
      {
        auto* domain = new Domain;
        domain->lock();
        delete domain;
      },
      "R10: rcu::Domain destroyed while thread [0-9]+ is inside");
}

TEST(DomainMisuseTest, R10MessageNamesWhereTheDomainWasCreated) {
  EXPECT_DEATH(
      {
        auto* domain = new Domain;
        domain->lock();
        delete domain;
      },
      "R10: .*\\(at .*domain_misuse_test.cc:[0-9]+");
}

// R11: the library is immune; see DomainTest.ThreadsThatExitedNeverStallGracePeriods and
// ReclamationTest.BarrierReturnsAfterManyThreadsUsedTheDomainAndExited. One more: a thread that
// registered and is still alive but never reads again does not delay anything.
TEST(DomainMisuseTest, R11IdleRegisteredThreadNeverDelaysGracePeriodsOrBarrier) {
  Domain domain;
  std::atomic<bool> stop{false};
  std::thread idle([&] {
    { ReadGuard guard(domain); }
    domain.Retire(new Obj);
    while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  domain.Synchronize();
  domain.Barrier();
  EXPECT_EQ(domain.Stats().callbacks_pending, 0u);
  stop.store(true);
  idle.join();
}

// R14 ------------------------------------------------------------------------------------------

TEST(DomainMisuseTest, R14InvalidOptionsAreRejected) {
  EXPECT_DEATH(
      {
        DomainOptions options;
        options.callback_threads = 0;
        Domain domain(options);
      },
      "R14: DomainOptions::callback_threads");
  EXPECT_DEATH(
      {
        DomainOptions options;
        options.stall_timeout = std::chrono::milliseconds(0);
        Domain domain(options);
      },
      "R14: DomainOptions::stall_timeout");
  EXPECT_DEATH(
      {
        DomainOptions options;
        options.max_pending_callbacks = 0;
        Domain domain(options);
      },
      "R14: DomainOptions::max_pending_callbacks");
}

TEST(DomainMisuseTest, R14NaturalExtremesAreAccepted) {
  DomainOptions options;
  options.max_pending_callbacks = UINT64_MAX;                // no bound
  options.stall_timeout = std::chrono::milliseconds::max();  // never report
  Domain domain(options);
  for (int i = 0; i < 1000; ++i) domain.Retire(new Obj);
  domain.Barrier();
  EXPECT_EQ(domain.Stats().throttled, 0u);
}

// R15 ------------------------------------------------------------------------------------------

// fork() inside a section is not misuse: the child's thread stays inside it, and fork() never
// waits for a reader (see DomainLifecycleTest for fork() while grace periods wait).
TEST(DomainMisuseTest, R15ForkInsideASectionIsQuiet) {
  Domain domain;
  ReadGuard guard(domain);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(domain.InReadSection() ? 0 : 1);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(DomainMisuseTest, R15ForkFromACallbackAborts) {
  Domain domain;
  EXPECT_DEATH(WithAlarm([&] {
                 static CallbackHead head;
                 domain.Call(&head, [](CallbackHead*) {
                   if (fork() == 0) _exit(0);
                 });
                 domain.Barrier();
               }),
               "R15: fork\\(\\) called from an RCU callback");
}

}  // namespace
}  // namespace rcu
