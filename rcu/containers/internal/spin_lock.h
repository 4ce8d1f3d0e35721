// Not part of the public API.
//
// A lock for critical sections of a few hundred nanoseconds that touch a handful of cache lines:
// rcu::HashMap's key stripes (the kernel's rhashtable locks its buckets with bit spinlocks, TBB
// its buckets with spin locks, for the same reason). Taking it free is one compare-and-swap and
// releasing it one exchange, against std::mutex's calls into glibc; a contended lock() spins
// first (the holder is about to finish), then yields, and only then sleeps on a futex, so that a
// long hold (a table resize holds every stripe while it copies) costs its waiters no core.
// rcu::UpdateMutex stays the lock of update paths that users see: it is a std::mutex underneath,
// which Helgrind understands, and it knows its holder (R2).
//
// Measured (//benchmarks:hash_map_benchmark, 1M keys, 2 threads, medians of 3 in one session):
// with UpdateMutex stripes, updaters slept on each other's stripes (futex waits and wakes took
// 15% of the time at 50% updates under Zipf keys); with this lock, 50% updates went from 11.1 to
// 14.5-14.9 M/s (uniform keys) and from 6.0 to 6.8-7.3 M/s (Zipf).
//
// Memory order: lock() acquires, unlock() releases (the lock word; ThreadSanitizer sees them).
// States: kFree, kLocked, kSleepers (locked, and some thread may sleep on the word: unlock()
// wakes them). A thread that slept takes the lock as kSleepers, since others may still sleep.

#ifndef RCU_CONTAINERS_INTERNAL_SPIN_LOCK_H_
#define RCU_CONTAINERS_INTERNAL_SPIN_LOCK_H_

#include <sched.h>

#include <atomic>
#include <cstdint>

#include "absl/base/optimization.h"
#include "absl/base/thread_annotations.h"
#include "rcu/internal/sys.h"

namespace rcu::container_internal {

class ABSL_LOCKABLE SpinLock {
 public:
  constexpr SpinLock() noexcept = default;
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    if (ABSL_PREDICT_FALSE(!TryLock())) LockSlow();
  }
  void unlock() ABSL_UNLOCK_FUNCTION() {
    if (ABSL_PREDICT_FALSE(word_.exchange(kFree, std::memory_order_release) == kSleepers)) {
      internal::FutexWakeAll(&word_);
    }
  }

 private:
  static constexpr uint32_t kFree = 0, kLocked = 1, kSleepers = 2;
  static constexpr int kSpins = 100;  // a few microseconds of pause instructions
  static constexpr int kYields = 20;

  bool TryLock() {
    uint32_t free = kFree;
    return word_.load(std::memory_order_relaxed) == kFree &&
           word_.compare_exchange_strong(free, kLocked, std::memory_order_acquire,
                                         std::memory_order_relaxed);
  }
  void LockSlow() {
    for (int i = 0; i < kSpins; ++i) {
      internal::CpuRelax();
      if (TryLock()) return;
    }
    for (int i = 0; i < kYields; ++i) {
      sched_yield();
      if (TryLock()) return;
    }
    while (word_.exchange(kSleepers, std::memory_order_acquire) != kFree) {
      internal::FutexWait(&word_, kSleepers, /*timeout_ns=*/0);
    }
  }

  std::atomic<uint32_t> word_{kFree};
};

class ABSL_SCOPED_LOCKABLE SpinLockGuard {
 public:
  explicit SpinLockGuard(SpinLock& mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_.lock(); }
  ~SpinLockGuard() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  SpinLockGuard(const SpinLockGuard&) = delete;
  SpinLockGuard& operator=(const SpinLockGuard&) = delete;

 private:
  SpinLock& mu_;
};

}  // namespace rcu::container_internal

#endif  // RCU_CONTAINERS_INTERNAL_SPIN_LOCK_H_
