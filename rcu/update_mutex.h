// -----------------------------------------------------------------------------
// File: update_mutex.h
// -----------------------------------------------------------------------------
//
// `rcu::UpdateMutex` is the lock that serializes the update side of an RCU-protected structure:
// a plain mutex that also knows which thread holds it, so that an update-side access can be
// checked (rule R2: `Published<T>::Protected(mu)` without holding `mu` aborts in debug builds).
// It carries Clang thread-safety annotations, so `-Wthread-safety` proves at compile time that
// annotated update paths hold it, and it has the standard `lock()` / `unlock()` / `try_lock()`
// names, so `std::scoped_lock` and `std::condition_variable_any` work with it.
//
// Use it for the writers of RCU-protected data. Readers never take it: they use a
// `rcu::ReadGuard` (domain.h) and never block.
//
// Update side:  a blocking, non-recursive mutex (std::mutex underneath, so ThreadSanitizer and
//               Helgrind understand it). lock() first retries for about a microsecond before it
//               sleeps, as absl::Mutex does: RCU updates often hold their locks for less than
//               that, and a sleep and wake-up cost several microseconds. (rcu::HashMap's stripes,
//               held about 100 ns each, use a cheaper internal spin lock: internal/spin_lock.h.)
// Misuse:       R2 (see README "Rules"): `AssertHeld()` aborts with "R2:" when the calling
//               thread does not hold the mutex. R16: locking it again on the thread that holds
//               it aborts with "R16:" in every build (std::mutex would deadlock).
//
// Example:
//   rcu::UpdateMutex mu;
//   rcu::Published<Config> config ABSL_GUARDED_BY(mu);  // guarded for writers only
//
//   void Replace(std::unique_ptr<Config> next) {
//     rcu::UpdateLock lock(mu);
//     Config* old = config.Replace(next.release(), mu);
//     ...retire `old` after a grace period...
//   }

#ifndef RCU_UPDATE_MUTEX_H_
#define RCU_UPDATE_MUTEX_H_

#include <atomic>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "rcu/internal/checker.h"
#include "rcu/internal/source_location.h"
#include "rcu/internal/sys.h"
#include "rcu/version.h"

namespace rcu {

class ABSL_LOCKABLE UpdateMutex {
 public:
  constexpr UpdateMutex() noexcept = default;
  UpdateMutex(const UpdateMutex&) = delete;
  UpdateMutex& operator=(const UpdateMutex&) = delete;

  // UpdateMutex::lock()
  //
  // Blocks until the calling thread holds the mutex.
  // Requires: the calling thread does not hold it already (R16: it would wait for itself;
  // checked in every build, on the path that would block).
  void lock(const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    for (int i = 0; i < kSpins; ++i) {
      const void* owner = owner_.load(std::memory_order_relaxed);
      if (owner == nullptr && try_lock()) return;
      if (owner == Self()) {
        internal::Die(where,
                      "R16: rcu::UpdateMutex %p locked again by the thread that holds it (it "
                      "would wait for itself; the mutex is not recursive)",
                      static_cast<const void*>(this));
      }
      internal::CpuRelax();
    }
    mu_.lock();
    owner_.store(Self(), std::memory_order_relaxed);
  }

  // UpdateMutex::try_lock()
  //
  // Takes the mutex if it is free; returns whether it did.
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    if (!mu_.try_lock()) return false;
    owner_.store(Self(), std::memory_order_relaxed);
    return true;
  }

  // UpdateMutex::unlock()
  //
  // Requires: the calling thread holds the mutex.
  void unlock() ABSL_UNLOCK_FUNCTION() {
    owner_.store(nullptr, std::memory_order_relaxed);
    mu_.unlock();
  }

  // UpdateMutex::HeldByCurrentThread()
  //
  // Whether the calling thread holds the mutex. Exact for the calling thread: only the owner
  // writes its own identity.
  bool HeldByCurrentThread() const { return owner_.load(std::memory_order_relaxed) == Self(); }

  // UpdateMutex::AssertHeld()
  //
  // Aborts with "R2:" unless the calling thread holds the mutex; tells the thread-safety
  // analysis that it does. Checked only when RCU_DEBUG_CHECKS is on.
  void AssertHeld(const internal::SourceLocation& where = internal::SourceLocation::current()) const
      ABSL_ASSERT_EXCLUSIVE_LOCK() {
    if (internal::kDebugChecks && !HeldByCurrentThread()) {
      internal::Die(where, "R2: update-side access without holding the rcu::UpdateMutex %p",
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

// `rcu::UpdateLock` holds an UpdateMutex for its scope (annotated, unlike std::lock_guard).
class ABSL_SCOPED_LOCKABLE UpdateLock {
 public:
  explicit UpdateLock(UpdateMutex& mu,
                      const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_EXCLUSIVE_LOCK_FUNCTION(mu)
      : mu_(mu) {
    mu_.lock(where);
  }
  ~UpdateLock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  UpdateLock(const UpdateLock&) = delete;
  UpdateLock& operator=(const UpdateLock&) = delete;

 private:
  UpdateMutex& mu_;
};

}  // namespace rcu

#endif  // RCU_UPDATE_MUTEX_H_
