// Lifecycle events while the library is busy: fork() while grace periods and callback batches
// are in flight, thread exit, domain destruction and process exit. A core that forgets one of
// these events hangs or loses work; every wait here is bounded (a child's deadline, an alarm, a
// timed wait), so a hang shows as a failure.

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <new>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/callback.h"
#include "rcu/domain.h"
#include "rcu/internal/sys.h"
#include "tests/testing/threads.h"

namespace rcu {
namespace {

using std::chrono::milliseconds;
using testutil::Background;
using testutil::ChildResult;
using testutil::ForkCannotStartThreads;
using testutil::kAllocatorForkUnsafe;
using testutil::ParkedReader;
using testutil::RunChild;

std::atomic<int> g_ran{0};

struct Counted {
  ~Counted() { g_ran.fetch_add(1); }
  char payload[32] = {};
};

struct CountedHead {
  CallbackHead head;
};
void CountCallback(CallbackHead*) { g_ran.fetch_add(1); }

// Threads that keep a domain busy: short readers (some of them slow), an updater retiring as
// fast as it can (so the callback thread is in a grace period most of the time) and a thread
// looping Synchronize().
class BusyDomain {
 public:
  explicit BusyDomain(Domain& domain) {
    threads_.emplace_back([&] {
      for (uint64_t i = 0; !stop_.load(); ++i) {
        ReadGuard guard(domain);
        if (i % 64 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
    threads_.emplace_back([&] {
      while (!stop_.load()) domain.Retire(new Counted);
    });
    threads_.emplace_back([&] {
      while (!stop_.load()) domain.Synchronize();
    });
  }
  ~BusyDomain() {
    stop_.store(true);
    for (std::thread& t : threads_) t.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

TEST(DomainLifecycleTest, ForkWhileGracePeriodsAndBatchesRunNeverHangsTheChild) {
  if (ForkCannotStartThreads()) GTEST_SKIP() << "TSan cannot run threads in a forked child";
  if (kAllocatorForkUnsafe) GTEST_SKIP() << "ASan's allocator is not fork-safe";
  Domain domain;
  int hung = 0, failed = 0;
  {
    BusyDomain busy(domain);
    BusyDomain busy_default(Domain::Default());
    for (int i = 0; i < 20; ++i) {
      std::this_thread::sleep_for(milliseconds(3));
      const ChildResult result = RunChild(
          [&] {
            domain.Synchronize();
            domain.Retire(new Counted);
            domain.Barrier();
            Domain::Default().Synchronize();
            Domain::Default().Barrier();
            return 0;
          },
          std::chrono::seconds(10));
      hung += result == ChildResult::kHung;
      failed += result != ChildResult::kExitedZero;
    }
  }
  EXPECT_EQ(hung, 0);
  EXPECT_EQ(failed, 0);
  domain.Barrier();
  Domain::Default().Barrier();
}

// Counted apart from the other tests, whose callbacks may still be running.
std::atomic<int> g_fork_ran{0};
struct ForkCounted {
  ~ForkCounted() { g_fork_ran.fetch_add(1); }
};
void ForkCountCallback(CallbackHead*) { g_fork_ran.fetch_add(1); }

// Callbacks queued before fork() and not yet run: the child runs each exactly once, whichever
// way it ends (Barrier, a new callback then Barrier, destroying the domain).
TEST(DomainLifecycleTest, ChildRunsEveryCallbackQueuedBeforeFork) {
  if (ForkCannotStartThreads()) GTEST_SKIP() << "TSan cannot run threads in a forked child";
  if (kAllocatorForkUnsafe) GTEST_SKIP() << "ASan's allocator is not fork-safe";
  constexpr int kCalls = 100;
  constexpr int kRetires = 600;  // more than two retire blocks
  auto domain = std::make_unique<Domain>();
  std::vector<CountedHead> heads(kCalls);
  const int before = g_fork_ran.load();
  {
    ParkedReader reader(*domain);  // nothing can run in the parent until it leaves
    for (int i = 0; i < kRetires; ++i) {
      domain->Retire(new ForkCounted);
      if (i % 6 == 0) domain->Call(&heads[i / 6].head, &ForkCountCallback);
    }
    const int queued = kCalls + kRetires;
    EXPECT_EQ(RunChild([&] {
                domain->Barrier();
                return g_fork_ran.load() - before == queued ? 0 : 1;
              }),
              ChildResult::kExitedZero)
        << "Barrier() in the child";
    EXPECT_EQ(RunChild([&] {
                CountedHead extra;
                domain->Call(&extra.head, &ForkCountCallback);
                domain->Barrier();
                return g_fork_ran.load() - before == queued + 1 ? 0 : 1;
              }),
              ChildResult::kExitedZero)
        << "a new Call() then Barrier() in the child";
    EXPECT_EQ(RunChild([&] {
                domain.reset();
                return g_fork_ran.load() - before == queued ? 0 : 1;
              }),
              ChildResult::kExitedZero)
        << "~Domain() in the child";
  }
  domain->Barrier();
  EXPECT_EQ(g_fork_ran.load() - before, kCalls + kRetires);
}

int g_pipe_write = -1;
struct Announced {
  ~Announced() {
    const char byte = 1;
    (void)!write(g_pipe_write, &byte, 1);
  }
};

// The default domain runs at exit() what was queued before the fork, in the child too.
TEST(DomainLifecycleTest, ChildOfForkRunsDefaultDomainCallbacksAtExit) {
  if (ForkCannotStartThreads()) GTEST_SKIP() << "TSan cannot run threads in a forked child";
  if (kAllocatorForkUnsafe) GTEST_SKIP() << "ASan's allocator is not fork-safe";
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  g_pipe_write = fds[1];
  {
    ParkedReader reader(Domain::Default());
    for (int i = 0; i < 50; ++i) Domain::Default().Retire(new Announced);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      std::exit(0);  // atexit: the default domain's Barrier()
    }
    close(fds[1]);
    int bytes = 0;
    char buffer[64];
    for (ssize_t n; (n = read(fds[0], buffer, sizeof(buffer))) > 0;) bytes += static_cast<int>(n);
    close(fds[0]);
    EXPECT_EQ(bytes, 50);
    int status = 0;
    waitpid(pid, &status, 0);
    g_pipe_write = open("/dev/null", O_WRONLY);  // the parent's own copies run later
  }
  Domain::Default().Barrier();
}

// At exit() the default domain runs what callbacks queue while it drains, as ~Domain() does: a
// deleter that drops the last reference to another object retires it from a callback.
void QueueThreeDeepAndExit() {
  alarm(30);
  static CallbackHead first, second, third;
  Domain::Default().Call(&first, [](CallbackHead*) {
    Domain::Default().Call(&second, [](CallbackHead*) {
      Domain::Default().Call(
          &third, [](CallbackHead*) { std::fprintf(stderr, "the third callback ran\n"); });
    });
  });
  std::exit(0);
}

TEST(DomainLifecycleTest, ExitRunsCallbacksThatCallbacksQueue) {
  EXPECT_EXIT(QueueThreeDeepAndExit(), ::testing::ExitedWithCode(0), "the third callback ran");
}

// exit() never hangs: a detached thread parked inside a section holds up the default domain's
// exit-time barrier; exit reports it (R13) and leaves what cannot run.
TEST(DomainLifecycleTest, ExitWithAReaderParkedInASectionDoesNotHang) {
  EXPECT_EXIT(
      {
        alarm(30);  // a hang fails the test instead of stalling it
        std::atomic<bool> inside{false};
        std::thread([&] {
          ReadGuard guard;
          inside.store(true);
          for (;;) pause();
        }).detach();
        testutil::AwaitFlag(inside);
        Domain::Default().Retire(new Counted);
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "R13: .*exit");
}

Domain* g_victim = nullptr;

TEST(DomainLifecycleTest, DestroyingADomainFromItsOwnCallbackAborts) {
  EXPECT_DEATH(
      {
        alarm(10);
        g_victim = new Domain;
        static CallbackHead head;
        g_victim->Call(&head, [](CallbackHead*) { delete g_victim; });
        g_victim->Barrier();
        std::this_thread::sleep_for(milliseconds(200));
      },
      "R10: .*own callback");
}

// Threads queue callbacks and exit at once while barriers run: every callback runs once.
TEST(DomainLifecycleTest, ThreadsExitingWithCallbacksInFlightLoseNothing) {
  DomainOptions options;
  options.callback_threads = 2;
  Domain domain(options);
  const int before = g_ran.load();
  std::atomic<bool> stop{false};
  std::thread barrier([&] {
    while (!stop.load()) domain.Barrier();
  });
  constexpr int kThreads = 40;
  std::vector<std::vector<CountedHead>> heads(kThreads, std::vector<CountedHead>(10));
  for (int t = 0; t < kThreads; ++t) {
    std::thread([&, t] {
      for (int i = 0; i < 300; ++i) domain.Retire(new Counted);
      for (CountedHead& h : heads[t]) domain.Call(&h.head, &CountCallback);
    }).join();
  }
  stop.store(true);
  barrier.join();
  domain.Barrier();
  EXPECT_EQ(g_ran.load() - before, kThreads * 310);
}

// Destroying a domain while batches are in flight on several callback threads runs each
// callback exactly once.
TEST(DomainLifecycleTest, DestroyingADomainWithBatchesInFlightRunsEachOnce) {
  const int before = g_ran.load();
  for (int round = 0; round < 20; ++round) {
    DomainOptions options;
    options.callback_threads = 2;
    Domain domain(options);
    for (int i = 0; i < 1000; ++i) domain.Retire(new Counted);
  }
  EXPECT_EQ(g_ran.load() - before, 20 * 1000);
}

// Domains are cheap: a thousand live at once, each used by several threads (sections, lock(),
// Retire(), grace periods), every retired object freed once, the counts of threads that exited
// kept. (The first version aborted at the 65th domain.)
TEST(DomainLifecycleTest, ThousandDomainsLiveAtOnce) {
  constexpr int kDomains = 1000, kThreads = 3;
  std::vector<std::unique_ptr<Domain>> domains;
  for (int i = 0; i < kDomains; ++i) domains.push_back(std::make_unique<Domain>());
  const int before = g_ran.load();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (auto& d : domains) {
        ReadGuard guard(*d);
        EXPECT_TRUE(d->InReadSection());
        d->Retire(new Counted);
      }
      for (auto& d : domains) {
        d->lock();
        EXPECT_TRUE(d->InReadSection());
        d->unlock();
        EXPECT_FALSE(d->InReadSection());
      }
    });
  }
  for (int i = 0; i < kDomains; i += 50) domains[i]->Synchronize();
  for (auto& t : threads) t.join();
  for (auto& d : domains) {
    d->Barrier();
    EXPECT_EQ(d->Stats().callbacks_queued, static_cast<uint64_t>(kThreads));
  }
  EXPECT_EQ(g_ran.load() - before, kDomains * kThreads);
  domains.clear();
}

// A domain created where a destroyed one lived is a new domain for every thread: a thread that
// used the old one registers anew, and a grace period of the new one waits for its section.
// (Per-thread caches are keyed by address; the destroyed domain clears its key from them.)
TEST(DomainLifecycleTest, ADomainAtAReusedAddressIsANewDomain) {
  alignas(Domain) unsigned char storage[sizeof(Domain)];
  Domain* old_domain = new (storage) Domain;
  std::atomic<int> phase{0};
  std::thread reader([&] {
    { ReadGuard guard(*old_domain); }
    phase.store(1);
    while (phase.load() != 2) std::this_thread::yield();
    Domain& fresh = *std::launder(reinterpret_cast<Domain*>(storage));
    EXPECT_FALSE(fresh.InReadSection());
    ReadGuard guard(fresh);
    phase.store(3);
    while (phase.load() != 4) std::this_thread::yield();
  });
  while (phase.load() != 1) std::this_thread::yield();
  old_domain->~Domain();
  Domain* fresh = new (storage) Domain;
  phase.store(2);
  while (phase.load() != 3) std::this_thread::yield();
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    fresh->SynchronizeExpedited();
    done.store(true);
  });
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_FALSE(done.load()) << "the grace period did not wait for the reader's section";
  phase.store(4);
  waiter.join();
  reader.join();
  fresh->~Domain();
}

}  // namespace
}  // namespace rcu
