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
//               held about 100 ns each, use a cheaper internal spin lock:
//               containers/internal/spin_lock.h.)
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

#include "rcu/internal/mutex.h"
#include "rcu/version.h"

namespace rcu {

// The mutex (rcu/internal/mutex.h has its members' contracts: lock(), try_lock(), unlock(),
// HeldByCurrentThread(), AssertHeld()).
using UpdateMutex = internal::Mutex;

// `rcu::UpdateLock` holds an UpdateMutex for its scope (annotated, unlike std::lock_guard).
using UpdateLock = internal::MutexLock;

}  // namespace rcu

#endif  // RCU_UPDATE_MUTEX_H_
