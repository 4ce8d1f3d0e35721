// Not part of the public API; include "rcu/domain.h".
//
// The thread registry of one domain: the per-thread states (thread_state.h) of the threads that
// use the domain. A thread finds its own state through a small thread-local cache and, behind
// it, its per-thread table; grace periods and callback collectors find every state through the
// registry's list.
//
// Registration: a thread's first section, Call() or Retire() in a domain allocates its state
//   (signal-safe memory) and pushes it onto the list with one compare-and-swap. No lock, no
//   malloc(), signals blocked meanwhile: a signal handler may register its thread.
// Departure: when the thread exits (a pthread key destructor, after the thread's C++
//   thread_local destructors, which may still use RCU), each of its states leaves its domain's
//   list: an open section is ended and reported (R6), its queued chain and counts move to the
//   registry's departed queue line (collected with the next batch: nothing it queued is lost,
//   and R11: grace periods never wait for it), and the state goes to limbo. The thread's signals
//   stay blocked from then on (but those a fault raises), so a handler cannot register it again
//   after its last key destructor round. RCU used from a pthread key destructor that runs after
//   the library's registers the thread again and makes glibc run another round, which departs
//   it, up to PTHREAD_DESTRUCTOR_ITERATIONS rounds.
// Reclamation: a grace period's scan walks the list without a lock, so a departed state is freed
//   only at the start of the next grace period (Reclaim(), under the grace-period lock): no scan
//   is running then, and no later scan can reach it. Grace periods cost what the live threads
//   cost, not what the peak did.
// Every other walker (callback collection, statistics, checks) holds the registry's lock, which
//   departures take too.
//
// Identity: a registry has a dense id (its index in per-thread tables; reused after the domain is
// destroyed) and a serial (never reused; what a table entry or cache entry is checked against).
// There is no limit on live domains but memory: a thread's table grows to the highest id it used.

#ifndef RCU_INTERNAL_THREAD_REGISTRY_H_
#define RCU_INTERNAL_THREAD_REGISTRY_H_

#include <atomic>
#include <cstdint>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/base/thread_annotations.h"
#include "rcu/internal/mutex.h"
#include "rcu/internal/thread_state.h"
#include "rcu/version.h"

namespace rcu::internal {

// The per-thread caches in front of the table, keyed by the registry's address: the most
// recently used domain (at a fixed thread-local address, so a hit needs nothing from the domain
// but the address the caller holds anyway), and behind it kCacheWays entries direct-mapped by
// address, so a program that alternates between a few domains stays off the table. Addresses may
// be reused by a later domain: a registry clears its key from every listed thread's caches when
// it is destroyed (the entries are atomics for that; the owner reads them with plain relaxed
// loads).
struct CachedState {
  std::atomic<const void*> key{nullptr};
  std::atomic<ThreadState*> state{nullptr};
};
inline constexpr uint32_t kCacheWays = 4;
struct StateCache {
  CachedState recent;
  CachedState ways[kCacheWays];
};
extern constinit thread_local StateCache tls_state_cache ABSL_ATTRIBUTE_INITIAL_EXEC;

// Called when a thread that used RCU exits (the registry's pthread key destructor).
void DepartThread(void* table);

class ThreadRegistry {
 public:
  // `fallback_fence`: readers cannot rely on membarrier (every state gets kFallbackFence).
  explicit ThreadRegistry(bool fallback_fence);
  // Frees every state. Requires: no thread uses the domain any more.
  ~ThreadRegistry();

  ThreadRegistry(const ThreadRegistry&) = delete;
  ThreadRegistry& operator=(const ThreadRegistry&) = delete;

  // The calling thread's state, registering the thread on its first use. Async-signal-safe.
  // Never null (a cached key is only ever set beside its state), which the fast paths rely on.
  ThreadState* Mine() {
    const CachedState& recent = tls_state_cache.recent;
    ThreadState* s;
    if (ABSL_PREDICT_TRUE(recent.key.load(std::memory_order_relaxed) == this)) {
      s = recent.state.load(std::memory_order_relaxed);
    } else {
      s = MineSlowPath(/*register_if_absent=*/true);
    }
    ABSL_ASSUME(s != nullptr);
    return s;
  }
  // The calling thread's state, or null if it never used the domain. Async-signal-safe.
  ThreadState* FindMine() const {
    const CachedState& recent = tls_state_cache.recent;
    if (ABSL_PREDICT_TRUE(recent.key.load(std::memory_order_relaxed) == this)) {
      return recent.state.load(std::memory_order_relaxed);
    }
    return const_cast<ThreadRegistry*>(this)->MineSlowPath(/*register_if_absent=*/false);
  }

  // Whether a thread other than the caller has a state here. The caller issues a seq_cst fence
  // first ([S1], grace_periods.cc), which pairs with the fence registration issues after
  // counting the new state ([S2]): either the caller counts the new thread, or the new thread's
  // first section sees everything the caller wrote before its fence.
  bool OthersRegistered() const;

  // The grace period's scan: every listed state, without a lock. The caller holds the
  // grace-period lock, which serializes scans with Reclaim().
  template <typename Fn>
  void ForEachForScan(Fn fn) const {
    for (ThreadState* s = head_.load(std::memory_order_acquire); s != nullptr;
         s = s->reader.next.load(std::memory_order_acquire)) {
      fn(*s);
    }
  }
  // Frees the states that departed before the call. Requires: no scan in progress.
  void Reclaim() ABSL_LOCKS_EXCLUDED(mu_);

  // Every listed state, under the registry's lock.
  template <typename Fn>
  void ForEachLocked(Fn fn) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(mu_);
    for (ThreadState* s = head_.load(std::memory_order_acquire); s != nullptr;
         s = s->reader.next.load(std::memory_order_relaxed)) {
      fn(*s);
    }
  }
  // Every queue line, under the registry's lock: the departed line first (what exited threads
  // left queued, oldest first), then each listed state's.
  template <typename Fn>
  void ForEachQueueLocked(Fn fn) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(mu_);
    fn(departed_);
    for (ThreadState* s = head_.load(std::memory_order_acquire); s != nullptr;
         s = s->reader.next.load(std::memory_order_relaxed)) {
      fn(s->queue);
    }
  }

  // The futex word a sleeping grace period waits on; readers it asked (kWakeRequested) and
  // departing threads bump it with WakeWaiter().
  std::atomic<uint32_t>& wake_word() { return wake_.word; }
  void WakeWaiter();

  uint32_t id() const { return id_; }

  // fork(): the forking thread holds every registry's lock (and the table of registries) across
  // fork(). In the child, AfterForkInChild() makes the states of threads that did not survive
  // depart (their sections ended, their queues kept), then every lock is released.
  static void LockAllForFork();
  static void UnlockAllAfterFork(bool child);

 private:
  friend void DepartThread(void* table);
  struct Identity {
    uint64_t serial;
    uint32_t id;
  };

  static Identity NewIdentity(ThreadRegistry* registry);
  ThreadRegistry(Identity identity, bool fallback_fence);

  // The cache way of this registry: from its address, no load.
  uint32_t Way() const { return (reinterpret_cast<uintptr_t>(this) >> 6) % kCacheWays; }
  // Behind the most recent entry: the ways, then the table, then (if asked) registration.
  ThreadState* MineSlowPath(bool register_if_absent);
  void Cache(CachedState& entry, ThreadState* s);
  ThreadState* Register();
  // Takes `s` off the list (ending its section, keeping its queue) and puts it in limbo.
  void Depart(ThreadState* s, bool report) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Unlink(ThreadState* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint64_t serial_;
  const uint32_t id_;
  const bool fallback_fence_;
  std::atomic<ThreadState*> head_{nullptr};
  std::atomic<int64_t> live_{0};  // listed states
  Mutex mu_;
  QueueLine departed_ ABSL_GUARDED_BY(mu_);
  ThreadState* limbo_ ABSL_GUARDED_BY(mu_) = nullptr;  // through ReaderLine::limbo_next
  std::atomic<bool> limbo_nonempty_{false};            // lets Reclaim() skip the lock
  struct alignas(64) {
    std::atomic<uint32_t> word{0};
  } wake_;
};

}  // namespace rcu::internal

#endif  // RCU_INTERNAL_THREAD_REGISTRY_H_
