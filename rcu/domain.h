// -----------------------------------------------------------------------------
// File: domain.h
// -----------------------------------------------------------------------------
//
// An `rcu::Domain` is an independent RCU: read-side critical sections, and grace periods that
// wait for them. Readers enter a section, load pointers published with `rcu::Published<T>`
// (published.h) and use what they point to; an updater unpublishes an object, waits for a grace
// period (`Synchronize()`) or defers the free, and then frees it, knowing that no reader still
// holds a reference. Use it for read-mostly data whose readers must never block: routing tables,
// configuration, feature flags, caches. Do not use it when updates are as frequent as reads or
// when a reader must see the newest version at once (a grace period lets readers finish with the
// old one).
//
// A process-wide domain, `Domain::Default()`, serves most programs. Create your own domain only to
// isolate grace periods: a grace period of one domain never waits for readers of another. At most
// 64 domains may be alive at once.
//
// Read side:    `rcu::ReadGuard guard(domain);` (or `domain.lock()` / `domain.unlock()`, so
//               `std::scoped_lock<rcu::Domain>` works). Sections nest (strictly: an inner
//               section ends before its outer one), never block, never fail,
//               and need no registration call: a thread registers on its first section and is
//               unregistered when it exits. Pointers loaded inside a section stay valid until the
//               outermost section of that domain ends.
// Update side:  `Synchronize()` returns after a full grace period: every section (of this
//               domain, on any thread) that began before the call has ended. Concurrent callers
//               share grace periods. `SynchronizeExpedited()` is the same guarantee with a waiter
//               that spins and yields instead of sleeping, for latency-critical updaters. Polled
//               grace periods (`GetState()`, `PollState()`, `CondSynchronize()`) let an updater
//               take a cookie now and check or wait for it later, as the kernel's
//               get_state_synchronize_rcu() / poll_state_synchronize_rcu() do.
// Memory order: everything an updater wrote before `Synchronize()` (or before taking a cookie) is
//               visible to every section that begins after the grace period; everything a section
//               did happens before `Synchronize()` returns.
// Progress:     lock()/unlock() are wait-free: no fence, no atomic read-modify-write, and no
//               store to a cache line another thread writes. Grace periods pay instead: one
//               membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) system call (none when no other
//               thread has ever entered a section), then a scan of the registered readers. A
//               waiter spins briefly, then (Synchronize only) sleeps until the last reader it
//               waits for leaves; that reader wakes it. Where membarrier is unavailable, readers
//               use one atomic exchange at entry and exit instead (see rcu/internal/sys.h).
// Misuse:       R3 Synchronize (any flavor) inside a section of the same domain aborts in every
//               build (it would deadlock). R5 unbalanced unlock and nesting overflow abort when
//               RCU_DEBUG_CHECKS is on. R6 a thread that exits inside a section is reported and
//               its section ended. R10 destroying a domain while a thread is inside it aborts.
//               R11 threads that exited are never waited for. See README "Rules".
//
// Example:
//   rcu::Published<Config> current;             // published.h
//
//   int ReadLimit() {                           // any thread, any time
//     rcu::ReadGuard guard;
//     return current.Read(guard)->limit;
//   }
//
//   void Update(Config* next) {                 // one updater at a time
//     Config* old = current.Exchange(next);
//     rcu::Domain::Default().Synchronize();     // every reader that could see `old` is done
//     delete old;
//   }

#ifndef RCU_DOMAIN_H_
#define RCU_DOMAIN_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/base/optimization.h"
#include "rcu/callback.h"
#include "rcu/internal/checker.h"
#include "rcu/internal/retire_block.h"
#include "rcu/internal/source_location.h"
#include "rcu/internal/sys.h"
#include "rcu/internal/thread_registry.h"
#include "rcu/update_mutex.h"

namespace rcu {
namespace internal {
class DomainTestPeer;
class Reclaimer;
}  // namespace internal

struct DomainOptions {
  // Threads that run this domain's callbacks, started when the first callback is queued. One is
  // enough for most programs: a batch of callbacks shares one grace period.
  int callback_threads = 1;
  // Back-pressure bound on callbacks queued but not yet run (R12). Past half of it, grace periods
  // are expedited; past it, a thread that queues more sleeps until the callback threads have
  // brought the count back to half. Exact for one queueing thread; each further concurrently
  // queueing thread may overshoot it by up to 256.
  uint64_t max_pending_callbacks = uint64_t{1} << 18;
  // R13: a grace period that has waited this long for one reader reports it (diagnostics.h),
  // naming the thread, and again every stall_timeout while it keeps waiting.
  std::chrono::milliseconds stall_timeout{10000};
};

// Counters a user can read at any time (Domain::Stats()); cheap enough to leave on.
struct DomainStats {
  uint64_t grace_periods = 0;             // completed
  uint64_t grace_periods_waited = 0;      // of those, how many had other reader threads to scan
  double mean_grace_period_us = 0;        // latency of the grace periods that waited
  double max_grace_period_us = 0;
  uint64_t callbacks_queued = 0;          // Call() and Retire() since the domain was created
  uint64_t callbacks_invoked = 0;
  uint64_t callbacks_pending = 0;         // queued - invoked
  uint64_t pending_bytes = 0;             // sizeof(T) of objects Retire()d and not yet deleted
  uint64_t peak_pending = 0;              // highest callbacks_pending seen by a callback thread
  uint64_t callback_batches = 0;          // batches collected (each waited for one grace period)
  uint64_t throttled = 0;                 // times a queueing thread was made to wait (R12)
};

// A grace-period cookie from `Domain::GetState()`: it stands for "a full grace period after the
// moment the cookie was taken". Cheap to copy; compare only through `Domain::PollState()`.
class GracePeriodCookie {
 public:
  constexpr GracePeriodCookie() = default;  // a cookie that is already complete

 private:
  friend class Domain;
  constexpr explicit GracePeriodCookie(uint64_t seq) : seq_(seq) {}
  uint64_t seq_ = 0;
};

class Domain {
 public:
  // Domain::Domain()
  //
  // A new, independent domain. Aborts if 64 domains are already alive.
  explicit Domain(const DomainOptions& options = DomainOptions());

  // Domain::~Domain()
  //
  // Runs every callback still queued, exactly once (callbacks they queue included), then stops
  // the callback threads.
  // Requires: no thread is inside a read-side section of this domain (R10, checked in every
  // build) and no other thread uses the domain any more.
  ~Domain();

  Domain(const Domain&) = delete;
  Domain& operator=(const Domain&) = delete;

  // Domain::Default()
  //
  // The process-wide domain. Never destroyed; safe to use from static destructors and
  // thread_local destructors. At exit() it runs Barrier(), so callbacks queued before exit run
  // (objects are freed and leak checkers stay quiet); a thread still inside a read-side section
  // at exit() would make that wait, so join reader threads before exiting.
  static Domain& Default() {
    static Domain* const domain = CreateDefault();
    return *domain;
  }

  // Domain::lock()
  // Domain::unlock()
  //
  // Enter and leave a read-side section; prefer `ReadGuard`. Nestable; wait-free.
  // Requires (unlock): the calling thread is inside a section of this domain (R5).
  void lock() {
    internal::ThreadRecord* r = Record();
    const bool outermost = Begin(r) != nullptr;
    if (r->lock_depth[slot_]++ == 0) r->lock_owns[slot_] = outermost;
  }
  void unlock(const internal::SourceLocation& where = internal::SourceLocation::current()) {
    internal::ThreadRecord* r = internal::tls_record;
    if (internal::kDebugChecks && (r == nullptr || r->lock_depth[slot_] == 0)) {
      internal::Die(where, "R5: bad unlock balance: Domain::unlock() without a matching lock() "
                           "on this thread");
    }
    const bool outermost = --r->lock_depth[slot_] == 0 && r->lock_owns[slot_];
    End(r, outermost ? &r->ctr[slot_] : nullptr, where);
  }

  // Domain::InReadSection()
  //
  // Whether the calling thread is inside a read-side section of this domain.
  bool InReadSection() const {
    const internal::ThreadRecord* r = internal::tls_record;
    return r != nullptr && r->ctr[slot_].load(std::memory_order_relaxed) != 0;
  }

  // Domain::Synchronize()
  //
  // Waits for a full grace period: returns once every read-side section of this domain that
  // began before the call has ended. Blocks; may sleep.
  // Requires: the calling thread is not inside a section of this domain (R3; it would wait for
  // itself).
  void Synchronize(const internal::SourceLocation& where = internal::SourceLocation::current());

  // Domain::SynchronizeExpedited()
  //
  // Synchronize(), but the caller spins and yields instead of sleeping: lower latency, one core
  // busy while it waits. Requires: as Synchronize() (R3).
  void SynchronizeExpedited(const internal::SourceLocation& where = internal::SourceLocation::current());

  // Domain::GetState()
  //
  // Takes a cookie for a grace period that begins after this call (the kernel's
  // get_state_synchronize_rcu()). Never blocks; starts nothing.
  GracePeriodCookie GetState() const;

  // Domain::PollState()
  //
  // True once a full grace period has elapsed since `cookie` was taken (the kernel's
  // poll_state_synchronize_rcu()). False while any section that began before the cookie may still
  // be running. Never blocks.
  bool PollState(GracePeriodCookie cookie) const;

  // Domain::CondSynchronize()
  //
  // Returns at once if `PollState(cookie)`, else waits as Synchronize() does (the kernel's
  // cond_synchronize_rcu()). Requires: as Synchronize() (R3).
  void CondSynchronize(GracePeriodCookie cookie,
                       const internal::SourceLocation& where = internal::SourceLocation::current());

  // Domain::Call()
  //
  // Queues `func(head)` to run on a callback thread after a grace period (the kernel's
  // call_rcu()). Never allocates and never blocks, except for back-pressure (R12). Callbacks run
  // in batches, in queueing order per queueing thread; a callback may queue more callbacks.
  // Requires: `head` is not queued already (R7); `func` does not throw and does not wait for a
  // grace period or a barrier (R8).
  void Call(CallbackHead* head, void (*func)(CallbackHead*),
            const internal::SourceLocation& where = internal::SourceLocation::current());

  // Domain::Retire()
  //
  // Deletes `p` with `Deleter` after a grace period (the kernel's kfree_rcu()). Pointers are
  // batched into 4 KiB blocks, so a retire does not allocate. Null is ignored.
  // Requires: `p` is unpublished already (R9: otherwise a reader that starts after the grace
  // period began can still find it); not retired already (R7).
  template <typename T, typename Deleter = std::default_delete<T>>
  void Retire(T* p, const internal::SourceLocation& where = internal::SourceLocation::current()) {
    RetireErased(const_cast<void*>(static_cast<const void*>(p)), &DeleteErased<T, Deleter>,
                 sizeof(T), where);
  }

  // Domain::Barrier()
  //
  // Returns once every callback queued (by any thread) before the call has run (the kernel's
  // rcu_barrier()). With nothing queued and nothing running it returns at once, without a grace
  // period. Threads that exited never delay it. Use it before unloading code that callbacks run
  // (dlclose) or destroying what they use.
  // Requires: not inside a read-side section of this domain (R4) and not in a callback (R8).
  void Barrier(const internal::SourceLocation& where = internal::SourceLocation::current());

  // Domain::Stats()
  //
  // A snapshot of this domain's counters. A callback counted as invoked has finished, and what
  // it did is visible to the caller.
  DomainStats Stats() const;

  // Domain::GracePeriodsCompleted()
  //
  // How many grace periods this domain has completed (monotonic; for statistics and tests).
  uint64_t GracePeriodsCompleted() const {
    return gp_seq_.load(std::memory_order_acquire) / 2;
  }

 private:
  friend class ReadGuard;
  friend class internal::DomainTestPeer;  // tests observe the epoch

  static constexpr uint32_t kMaxNesting = 1u << 20;

  static Domain* CreateDefault();
  static internal::ThreadRecord* Record();
  // Begins a section on `r`. Returns the reader counter to clear at the end when this is the
  // outermost section, else null; End() takes what Begin() returned.
  std::atomic<uint64_t>* Begin(internal::ThreadRecord* r);
  void End(internal::ThreadRecord* r, std::atomic<uint64_t>* outermost,
           const internal::SourceLocation& where);
  void WaitForGracePeriod(bool expedited, const internal::SourceLocation& where,
                          const char* operation);
  void CheckMayBlock(const internal::SourceLocation& where, const char* operation, const char* rule);
  void RetireErased(void* p, void (*deleter)(void*), size_t bytes,
                    const internal::SourceLocation& where);
  void RetireSlowPath(internal::ThreadRecord* r, void* p, void (*deleter)(void*), size_t bytes);
  // Counts a queued callback; `first` when it went into an empty list or a new block.
  void Queued(internal::ThreadRecord* r, size_t bytes, bool first);
  void QueuedSlowPath(uint64_t queued, bool first);
  void RunGracePeriod(bool expedited) ABSL_EXCLUSIVE_LOCKS_REQUIRED(gp_mu_);
  void WaitForReader(const internal::ThreadRecord& r, uint64_t target, bool expedited,
                     bool& announced, std::chrono::steady_clock::time_point start);
  void ExitSlowPath();

  // exit_flags_ bits: readers leaving their outermost section take ExitSlowPath() when any is set.
  static constexpr uint8_t kFallbackReaders = 1;  // no membarrier: readers fence themselves
  static constexpr uint8_t kWaiters = 2;          // a grace period sleeps until a reader leaves

  // Read by every reader, written once per grace period: kept on one line of its own.
  alignas(64) std::atomic<uint64_t> epoch_{1};
  std::atomic<uint8_t> exit_flags_;  // written only by the grace period holding gp_mu_
  const int slot_;
  const bool light_;
  const std::chrono::nanoseconds stall_timeout_;
  // Torture and sanitizer self-tests only (set through internal::DomainTestPeer): grace periods
  // that do not wait, the "busted" RCU a test must catch.
  std::atomic<bool> busted_{false};

  // Grace-period state: even = idle, odd = a grace period in progress.
  alignas(64) mutable std::atomic<uint64_t> gp_seq_{0};
  UpdateMutex gp_mu_;
  std::atomic<uint64_t> gp_waited_{0};
  std::atomic<uint64_t> gp_wait_ns_total_{0};
  std::atomic<uint64_t> gp_wait_ns_max_{0};

  std::unique_ptr<internal::Reclaimer> reclaimer_;
};

// `rcu::ReadGuard` holds a read-side section of a domain for its scope. It is the read token:
// APIs that need a section take a `const ReadGuard&`, so reading without one does not compile.
// Not copyable, not movable: a section belongs to the thread and scope that entered it.
class ReadGuard {
 public:
  [[nodiscard]] explicit ReadGuard(Domain& domain = Domain::Default())
      : domain_(domain), record_(Domain::Record()), outermost_(domain.Begin(record_)) {}
  ~ReadGuard() { domain_.End(record_, outermost_, internal::SourceLocation::current()); }

  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;

  // ReadGuard::domain()
  //
  // The domain whose section this guard holds.
  Domain& domain() const { return domain_; }

 private:
  Domain& domain_;
  internal::ThreadRecord* const record_;
  std::atomic<uint64_t>* const outermost_;
};

// ---------------------------------------------------------------------------------------------
// Implementation details: the read-side fast path is inline.

inline internal::ThreadRecord* Domain::Record() {
  internal::ThreadRecord* r = internal::tls_record;
  if (ABSL_PREDICT_FALSE(r == nullptr)) r = internal::RegisterThisThread();
  return r;
}

inline std::atomic<uint64_t>* Domain::Begin(internal::ThreadRecord* r) {
  if (internal::kDebugChecks && ABSL_PREDICT_FALSE(++r->debug_depth[slot_] > kMaxNesting)) {
    internal::Die(internal::SourceLocation::current(),
                  "R5: read-side sections nested more than %u deep (unbalanced lock()?)",
                  kMaxNesting);
  }
  // Read the const members before the compiler fence, which would force them to be reloaded.
  std::atomic<uint64_t>& ctr = r->ctr[slot_];
  const bool light = !internal::kThreadSanitizer && light_;
  if (ctr.load(std::memory_order_relaxed) != 0) return nullptr;  // nested: nothing to publish
  const uint64_t epoch = epoch_.load(std::memory_order_relaxed);
  if (ABSL_PREDICT_TRUE(light)) {
    // Release orders the previous section before this store; the grace period's membarrier
    // supplies the store->load order that the compiler fence leaves to the hardware.
    ctr.store(epoch, std::memory_order_release);
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
    ctr.exchange(epoch, std::memory_order_seq_cst);
  }
  return &ctr;
}

inline void Domain::End(internal::ThreadRecord* r, std::atomic<uint64_t>* outermost,
                        const internal::SourceLocation& where) {
  if (internal::kDebugChecks) {
    if (ABSL_PREDICT_FALSE(r != internal::tls_record)) {
      internal::Die(where, "R5: bad unlock balance: read-side section ended on another thread "
                           "than the one that entered it");
    }
    if (ABSL_PREDICT_FALSE(r->debug_depth[slot_] == 0)) {
      internal::Die(where, "R5: bad unlock balance: section ended twice");
    }
    if (ABSL_PREDICT_FALSE(--r->debug_depth[slot_] != 0 && outermost != nullptr)) {
      internal::Die(where, "R5: bad unlock balance: the outermost read-side section ended while "
                           "a section nested in it is still open");
    }
  }
  if (outermost == nullptr) return;
  if (internal::kThreadSanitizer) {
    outermost->exchange(0, std::memory_order_seq_cst);
  } else {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    outermost->store(0, std::memory_order_release);
  }
  // One flag covers both rare cases: fallback readers (who need a fence here) and a sleeping
  // grace period (which needs a wake).
  if (ABSL_PREDICT_FALSE(exit_flags_.load(std::memory_order_relaxed) != 0)) ExitSlowPath();
}

inline void Domain::Queued(internal::ThreadRecord* r, size_t bytes, bool first) {
  std::atomic<uint64_t>& queued = r->queued[slot_];
  const uint64_t n = queued.load(std::memory_order_relaxed) + 1;
  queued.store(n, std::memory_order_relaxed);
  if (bytes != 0) {
    std::atomic<uint64_t>& b = r->queued_bytes[slot_];
    b.store(b.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
  }
  if (ABSL_PREDICT_FALSE(first || n % internal::kQueuedFlushInterval == 0)) {
    QueuedSlowPath(n, first);
  }
}

inline void Domain::Call(CallbackHead* head, void (*func)(CallbackHead*),
                         const internal::SourceLocation& where) {
  if (internal::kDebugChecks && ABSL_PREDICT_FALSE(head->func != nullptr)) {
    internal::Die(where, "R7: double call_rcu: this CallbackHead is already queued and its "
                         "callback has not run yet");
  }
  head->func = func;
  internal::ThreadRecord* r = Record();
  std::atomic<CallbackHead*>& list = r->callbacks[slot_];
  CallbackHead* old = list.load(std::memory_order_relaxed);
  do {
    head->next = old;
  } while (!list.compare_exchange_weak(old, head, std::memory_order_release,
                                       std::memory_order_relaxed));
  Queued(r, 0, old == nullptr);
}

inline void Domain::RetireErased(void* p, void (*deleter)(void*), size_t bytes,
                                 const internal::SourceLocation& where) {
  if (p == nullptr) return;
  if (internal::kDebugChecks) internal::NoteRetired(p, /*check_double_retire=*/true, where);
  internal::ThreadRecord* r = Record();
  // The section keeps a worker that steals this block from reading it before the append is done.
  std::atomic<uint64_t>* outermost = Begin(r);
  internal::RetireBlock* block = r->block[slot_].load(std::memory_order_relaxed);
  if (ABSL_PREDICT_TRUE(block != nullptr)) {
    const uint32_t n = block->count.load(std::memory_order_relaxed);
    if (ABSL_PREDICT_TRUE(n < internal::RetireBlock::kCapacity)) {
      block->entries[n] = {p, deleter};
      block->bytes += bytes;
      block->count.store(n + 1, std::memory_order_release);
      End(r, outermost, where);
      Queued(r, bytes, false);
      return;
    }
  }
  End(r, outermost, where);
  RetireSlowPath(r, p, deleter, bytes);
}

template <typename T, typename Deleter>
void Retirable<T, Deleter>::Retire(Domain& domain, const internal::SourceLocation& where) {
  if (internal::kDebugChecks) {
    internal::NoteRetired(static_cast<T*>(this), /*check_double_retire=*/false, where);
  }
  domain.Call(&head_, &Invoke, where);
}

template <typename T, typename Deleter>
void Retirable<T, Deleter>::Retire(const internal::SourceLocation& where) {
  Retire(Domain::Default(), where);
}

}  // namespace rcu

#endif  // RCU_DOMAIN_H_
