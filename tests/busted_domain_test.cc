// A test that cannot fail proves nothing: the reader/updater stress below must pass on a real
// domain and must fail on a busted one (grace periods that do not wait: the busted operations
// table of tests/testing/torture_ops.h). How it fails depends on
// the build: the canary check in a plain build, "heap-use-after-free" under ASan, a data race
// report under TSan. The last one is the proof that TSan sees this library's grace periods as
// synchronization (no false reports on the real domain) and still sees a free that skipped one.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/domain.h"
#include "rcu/published.h"
#include "tests/testing/busted.h"
#include "tests/testing/torture_ops.h"

namespace rcu {
namespace {

struct Node {
  static constexpr uint64_t kAlive = 0xA11FE;
  uint64_t canary = kAlive;  // plain memory: a sanitizer sees every access
  uint64_t payload[7] = {};
};

// Readers hold each node for a while; the updater replaces, "waits", poisons and frees.
// Exits 0 when no reader saw a dead node.
void Stress(const testing_support::TortureOps& ops) {
  Domain domain;
  Published<Node> current(domain, new Node);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> dead{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        ReadGuard guard(domain);
        Node* n = current.Read(guard);
        for (int i = 0; i < 200; ++i) {
          if (n->canary != Node::kAlive) dead.fetch_add(1, std::memory_order_relaxed);
        }
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  while (reads.load() < 100) std::this_thread::yield();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (int i = 0; std::chrono::steady_clock::now() < deadline && dead.load() == 0; ++i) {
    Node* old = current.Exchange(new Node);
    if (i % 2 == 0) {
      ops.sync(domain);
    } else {
      ops.sync_expedited(domain);
    }
    old->canary = 0;
    delete old;
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  delete current.Exchange(nullptr);
  if (dead.load() != 0) {
    std::fprintf(stderr, "FAILURE: a reader saw a freed object %llu times\n",
                 static_cast<unsigned long long>(dead.load()));
    std::exit(1);
  }
  std::exit(0);
}

TEST(BustedDomainTest, RealGracePeriodsPass) {
  EXPECT_EXIT(Stress(testing_support::kRealOps), testing::ExitedWithCode(0), "");
}

TEST(BustedDomainTest, GracePeriodsThatDoNotWaitAreCaught) {
  EXPECT_EXIT(Stress(testing_support::kNoWaitOps), testing_support::Failed,
              testing_support::Detector("FAILURE: a reader saw a freed object"));
}

}  // namespace
}  // namespace rcu
