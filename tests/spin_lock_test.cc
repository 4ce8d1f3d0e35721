// The hash table's stripe lock alone (rcu/containers/internal/spin_lock.h): mutual exclusion on
// every path (taken free, after spinning, after yielding, after sleeping), and a long hold whose
// waiters sleep and are woken.

#include "rcu/containers/internal/spin_lock.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace rcu::container_internal {
namespace {

// A non-atomic read-modify-write under the lock: a lost increment means two holders at once.
TEST(SpinLockTest, ExcludesUnderContention) {
  SpinLock mu;
  uint64_t counter = 0;
  constexpr int kThreads = 4;  // more than this machine's cores: holders get preempted
  constexpr int kIncrements = 200000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        SpinLockGuard lock(mu);
        const uint64_t seen = counter;
        if (i % 1024 == 0) std::this_thread::yield();  // a holder that lingers
        counter = seen + 1;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(counter, uint64_t{kThreads} * kIncrements);
}

// Waiters outlast their spins and yields, sleep on the futex, and the release wakes them all.
TEST(SpinLockTest, LongHoldPutsWaitersToSleepAndReleaseWakesThem) {
  SpinLock mu;
  std::atomic<int> entered{0};
  mu.lock();
  std::vector<std::thread> waiters;
  for (int t = 0; t < 3; ++t) {
    waiters.emplace_back([&] {
      SpinLockGuard lock(mu);
      entered.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(entered.load(), 0);
  mu.unlock();
  for (std::thread& t : waiters) t.join();
  EXPECT_EQ(entered.load(), 3);
  // Free again, after holders that slept (the word went through kSleepers).
  SpinLockGuard lock(mu);
}

}  // namespace
}  // namespace rcu::container_internal
