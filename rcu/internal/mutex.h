// Not part of the public API; include "rcu/update_mutex.h" (rcu::UpdateMutex, rcu::UpdateLock).
//
// The mutex of the core's parts and of every update side: a blocking, non-recursive mutex that
// knows which thread holds it (R2, R16), with Clang thread-safety annotations and the standard
// lock() / unlock() / try_lock() names. It lives here, below the public headers, so that the
// core's parts use it without including a public header; rcu/update_mutex.h gives it its public
// names and its contract.

#ifndef RCU_INTERNAL_MUTEX_H_
#define RCU_INTERNAL_MUTEX_H_

#include <atomic>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "rcu/internal/checker.h"
#include "rcu/internal/source_location.h"
#include "rcu/internal/sys.h"
#include "rcu/version.h"

namespace rcu::internal {

class ABSL_LOCKABLE Mutex {
 public:
  constexpr Mutex() noexcept = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  // Mutex::lock()
  //
  // Blocks until the calling thread holds the mutex.
  // Requires: the calling thread does not hold it already (R16: it would wait for itself;
  // checked in every build, on the path that would block).
  void lock(const SourceLocation& where = SourceLocation::current())
      ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    for (int i = 0; i < kSpins; ++i) {
      const void* owner = owner_.load(std::memory_order_relaxed);
      if (owner == nullptr && try_lock()) return;
      if (owner == Self()) {
        Die(where,
            "R16: rcu::UpdateMutex %p locked again by the thread that holds it (it "
            "would wait for itself; the mutex is not recursive)",
            static_cast<const void*>(this));
      }
      CpuRelax();
    }
    mu_.lock();
    owner_.store(Self(), std::memory_order_relaxed);
  }

  // Mutex::try_lock()
  //
  // Takes the mutex if it is free; returns whether it did.
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    if (!mu_.try_lock()) return false;
    owner_.store(Self(), std::memory_order_relaxed);
    return true;
  }

  // Mutex::unlock()
  //
  // Requires: the calling thread holds the mutex.
  void unlock() ABSL_UNLOCK_FUNCTION() {
    owner_.store(nullptr, std::memory_order_relaxed);
    mu_.unlock();
  }

  // Mutex::HeldByCurrentThread()
  //
  // Whether the calling thread holds the mutex. Exact for the calling thread: only the owner
  // writes its own identity.
  bool HeldByCurrentThread() const { return owner_.load(std::memory_order_relaxed) == Self(); }

  // Mutex::AssertHeld()
  //
  // Aborts with "R2:" unless the calling thread holds the mutex; tells the thread-safety
  // analysis that it does. Checked only when RCU_DEBUG_CHECKS is on.
  void AssertHeld(const SourceLocation& where = SourceLocation::current()) const
      ABSL_ASSERT_EXCLUSIVE_LOCK() {
    if (kDebugChecks && !HeldByCurrentThread()) {
      Die(where, "R2: update-side access without holding the rcu::UpdateMutex %p",
          static_cast<const void*>(this));
    }
  }

 private:
  static constexpr int kSpins = 64;

  // A per-thread address is a cheap, never-reused-while-alive thread identity.
  static const void* Self() {
    static thread_local const char self = 0;
    return &self;
  }

  std::mutex mu_;
  std::atomic<const void*> owner_{nullptr};
};

// Holds a Mutex for its scope (annotated, unlike std::lock_guard).
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex& mu, const SourceLocation& where = SourceLocation::current())
      ABSL_EXCLUSIVE_LOCK_FUNCTION(mu)
      : mu_(mu) {
    mu_.lock(where);
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

}  // namespace rcu::internal

#endif  // RCU_INTERNAL_MUTEX_H_
