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
// isolate grace periods: a grace period of one domain never waits for readers of another. Domains
// are cheap: create as many as you need (thousands may be alive at once); a thread pays 128 bytes
// for each domain it uses, on its first use.
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
//               waits for leaves; that reader alone wakes it, once (other readers never pay for a
//               sleeping grace period). Where membarrier is unavailable, readers execute one
//               seq_cst fence at entry and one at exit instead (see rcu/internal/sys.h).
// Signals:      lock(), unlock(), ReadGuard, InReadSection() and Published<T>::Read() are
//               async-signal-safe: a handler may run sections of any domain, whatever the code
//               it interrupted was doing (inside a section, entering or leaving one, or entering
//               its thread's first one). Nothing else is: grace periods, Call(), Retire(),
//               Barrier() and Stats() may lock or allocate.
// fork():       the child keeps using every domain, and runs every callback queued before the
//               fork that had not run yet, exactly once. fork() waits for the callbacks running
//               at that moment, never for a reader or a grace period, so a callback must not wait
//               for a lock the forking thread holds across fork(); fork() from a callback would
//               wait for itself and aborts (R15, every build). fork() inside a section is fine:
//               the child's thread stays inside it.
// Misuse:       R3 Synchronize (any flavor) inside a section of the same domain aborts in every
//               build (it would deadlock). R5 unbalanced unlock and nesting overflow abort when
//               RCU_DEBUG_CHECKS is on. R6 a thread that exits inside a section is reported and
//               its section ended. R10 destroying a domain while a thread is inside it aborts.
//               R11 threads that exited are never waited for. R14 invalid DomainOptions abort at
//               construction. R15 fork() from a callback aborts. See README "Rules".
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
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

#include "rcu/callback.h"
#include "rcu/internal/callback_queue.h"
#include "rcu/internal/checker.h"
#include "rcu/internal/grace_periods.h"
#include "rcu/internal/read_side.h"
#include "rcu/internal/retire_block.h"
#include "rcu/internal/source_location.h"
#include "rcu/version.h"

namespace rcu {
class Domain;
namespace internal {
class DomainTestPeer;
class Reclaimer;
// The calling thread's current outermost section of `domain` (read_side.h), for the containers'
// debug checks that an iterator stays in the section that made it.
SectionId CurrentSection(const Domain& domain);
void ForkPrepare();
void ForkParent();
void ForkChild();
}  // namespace internal

// Options of a domain; the constructor checks them (R14: an out-of-range value aborts, naming
// the field).
struct DomainOptions {
  // Threads that run this domain's callbacks (1 to 64), started when the first callback is
  // queued. One is enough for most programs: a batch of callbacks shares one grace period. With
  // more, grace periods of consecutive batches overlap; callbacks still run one batch at a time,
  // in queueing order.
  int callback_threads = 1;
  // Back-pressure bound on callbacks queued but not yet run (R12); at least 1. Past half of it,
  // grace periods are expedited; past it, a thread that queues more sleeps until the callback
  // threads have brought the count back to half. The count moves in steps of 256, so bounds
  // below 512 act as 512. Exact for one queueing thread; each further concurrently queueing
  // thread may overshoot it by up to 256. UINT64_MAX (any value from 2^62) means no bound.
  uint64_t max_pending_callbacks = uint64_t{1} << 18;
  // R13: a grace period that has waited this long for one reader reports it (diagnostics.h),
  // naming the thread, and again every stall_timeout while it keeps waiting. Must be positive;
  // std::chrono::milliseconds::max() means never.
  std::chrono::milliseconds stall_timeout{10000};
};

// Counters a user can read at any time (Domain::Stats()); cheap enough to leave on.
struct DomainStats {
  uint64_t grace_periods = 0;         // completed
  uint64_t grace_periods_waited = 0;  // of those, how many had other reader threads to scan
  double mean_grace_period_us = 0;    // latency of the grace periods that waited
  double max_grace_period_us = 0;
  uint64_t callbacks_queued = 0;  // Call() and Retire() since the domain was created
  uint64_t callbacks_invoked = 0;
  uint64_t callbacks_pending = 0;  // queued - invoked
  uint64_t pending_bytes = 0;      // sizeof(T) of objects Retire()d and not yet deleted
  uint64_t peak_pending = 0;       // highest callbacks_pending seen by a callback thread
  uint64_t callback_batches = 0;   // batches collected (each waited for one grace period)
  uint64_t throttled = 0;          // times a queueing thread was made to wait (R12)
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
  // A new, independent domain. Aborts if `options` are out of range (R14).
  explicit Domain(const DomainOptions& options = DomainOptions(),
                  const internal::SourceLocation& where = internal::SourceLocation::current());

  // Domain::~Domain()
  //
  // Runs every callback still queued, exactly once (callbacks they queue included), then stops
  // the callback threads.
  // Requires: no thread is inside a read-side section of this domain, and the caller is not one
  // of its callbacks (R10, checked in every build; the report names where the domain was
  // created); no other thread uses the domain any more.
  ~Domain();

  Domain(const Domain&) = delete;
  Domain& operator=(const Domain&) = delete;

  // Domain::Default()
  //
  // The process-wide domain. Never destroyed; safe to use from static destructors and
  // thread_local destructors. At exit() it runs Barrier(), so callbacks queued before exit run
  // (objects are freed and leak checkers stay quiet). Exit never hangs: when a reader holds that
  // barrier up for more than a second (a detached or stuck thread parked in a section), exit
  // reports it (R13) and leaves the callbacks that could not run (a leak at exit, not a hang).
  static Domain& Default() {
    static Domain* const domain = CreateDefault();
    return *domain;
  }

  // Domain::lock()
  // Domain::unlock()
  //
  // Enter and leave a read-side section; prefer `ReadGuard`. Nestable; wait-free;
  // async-signal-safe.
  // Requires (unlock): the calling thread is inside a section of this domain (R5).
  void lock(const internal::SourceLocation& where = internal::SourceLocation::current()) {
    read_side_.Lock(where);
  }
  void unlock(const internal::SourceLocation& where = internal::SourceLocation::current()) {
    read_side_.Unlock(where);
  }

  // Domain::InReadSection()
  //
  // Whether the calling thread is inside a read-side section of this domain.
  bool InReadSection() const { return read_side_.InSection(); }

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
  void SynchronizeExpedited(
      const internal::SourceLocation& where = internal::SourceLocation::current());

  // Domain::GetState()
  //
  // Takes a cookie for a grace period that begins after this call (the kernel's
  // get_state_synchronize_rcu()). Never blocks; starts nothing: the cookie completes when some
  // thread runs a grace period (Synchronize(), a callback batch, StartPoll()).
  GracePeriodCookie GetState() const;

  // Domain::StartPoll()
  //
  // GetState(), and makes sure a grace period that completes the cookie starts soon (the
  // kernel's start_poll_synchronize_rcu()): a callback thread of this domain runs it. Never
  // blocks (it may start the callback threads). Use it to poll a cookie without anyone else
  // updating. Requests are paced: a callback thread starts a requested grace period at once when
  // it is idle, else no sooner than 250 us after its last one ended, so that a stream of
  // requests (rcu::HashMap recycles slots a batch at a time) does not interrupt every running
  // thread with a membarrier per request.
  GracePeriodCookie StartPoll();

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
  // call_rcu()). Never blocks, except for back-pressure (R12); appends to the calling thread's
  // queue block, which comes from the domain's pool (a new 4 KiB block is allocated only when the
  // pool is empty). Callbacks run exactly once, in batches, in queueing order per queueing thread
  // (Call and Retire together); a callback may queue more callbacks.
  // Requires: `head` is not queued already (R7); `func` does not throw and does not wait for a
  // grace period or a barrier (R8).
  void Call(CallbackHead* head, void (*func)(CallbackHead*),
            const internal::SourceLocation& where = internal::SourceLocation::current());

  // Domain::Call() (a function object)
  //
  // Queues `fn()` to run on a callback thread after a grace period, as Call(head, func) does, for
  // any function object a lambda's captures included (folly's `call(f)`): the object is moved
  // into an allocation of its own (std::bad_alloc, before anything is queued, if it fails), run
  // once, then freed. Use Call(head, func) where a callback must not allocate.
  // Requires: `fn()` does not throw (R8: it would terminate) and does not wait for a grace
  // period or a barrier (R8).
  template <typename Fn>
  requires std::invocable < std::decay_t<Fn>
  & > void Call(Fn&& fn,
                const internal::SourceLocation& where = internal::SourceLocation::current()) {
    using Held = internal::HeldCallback<std::decay_t<Fn>>;
    auto held = std::make_unique<Held>(Held{std::forward<Fn>(fn)});
    Enqueue(held.release(), &Held::Run, sizeof(Held), where);
  }

  // Domain::Retire()
  //
  // Deletes `p` with `Deleter` after a grace period (the kernel's kfree_rcu()), in queueing order
  // with the thread's other callbacks. Pointers are batched into 4 KiB blocks, as for Call(), so
  // a retire does not allocate. Null is ignored.
  // Requires: `p` is unpublished already (R9: otherwise a reader that starts after the grace
  // period began can still find it); not retired already (R7).
  template <typename T, typename Deleter = std::default_delete<T>>
  void Retire(T* p, const internal::SourceLocation& where = internal::SourceLocation::current()) {
    if (p == nullptr) return;
    internal::RetireTracking::Note(p, where);  // the reclaimer forgets it before the deleter
    Enqueue(const_cast<void*>(static_cast<const void*>(p)), &internal::DeleteErased<T, Deleter>,
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
  uint64_t GracePeriodsCompleted() const { return grace_periods_.Completed(); }

 private:
  friend class ReadGuard;
  friend class internal::DomainTestPeer;  // tests observe the epoch
  friend internal::SectionId internal::CurrentSection(const Domain& domain);
  friend void internal::ForkPrepare();
  friend void internal::ForkParent();
  friend void internal::ForkChild();

  static Domain* CreateDefault();
  void CheckMayBlock(const internal::SourceLocation& where, const char* operation,
                     const char* rule);
  // Appends {p, fn} to the calling thread's queue (Call and Retire).
  void Enqueue(void* p, void (*fn)(void*), size_t bytes, const internal::SourceLocation& where) {
    const internal::CallbackQueue::Appended appended = queue_.Append(p, fn, bytes, where);
    if (ABSL_PREDICT_FALSE(appended.queued != 0)) Queued(appended);
  }
  void Queued(internal::CallbackQueue::Appended appended);
  void BarrierAtExit();

  // The parts, each with one concept (see "How the core fits together" in README.md); each takes
  // the parts it needs and none knows the Domain.
  internal::ReadSide read_side_;                    // sections, thread states (its registry)
  internal::GracePeriods grace_periods_;            // sequence, cookies, the reader scan, stalls
  internal::BlockPool pool_;                        // empty retire blocks
  internal::CallbackQueue queue_;                   // Call()/Retire() appends, collection
  std::unique_ptr<internal::Reclaimer> reclaimer_;  // callback threads, Barrier, back-pressure
  const internal::SourceLocation created_at_;       // named by R10 reports
};

// `rcu::ReadGuard` holds a read-side section of a domain for its scope. It is the read token:
// APIs that need a section take a `const ReadGuard&`, so reading without one does not compile.
// Not copyable, not movable: a section belongs to the thread and scope that entered it.
class ReadGuard {
 public:
  [[nodiscard]] explicit ReadGuard(
      Domain& domain = Domain::Default(),
      const internal::SourceLocation& where = internal::SourceLocation::current())
      : domain_(domain),
        state_(domain.read_side_.Mine()),
        outermost_(domain.read_side_.Begin(state_, where)),
        where_(where) {}
  ~ReadGuard() { domain_.read_side_.End(state_, outermost_, where_); }

  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;

  // ReadGuard::domain()
  //
  // The domain whose section this guard holds.
  Domain& domain() const { return domain_; }

 private:
  Domain& domain_;
  internal::ThreadState* const state_;
  internal::ReaderLine* const outermost_;
  const internal::SourceLocation where_;  // R5 reports name the guard's line
};

// ---------------------------------------------------------------------------------------------
// Implementation details: the read-side fast path is inline (rcu/internal/read_side.h).

inline internal::SectionId internal::CurrentSection(const Domain& domain) {
  return domain.read_side_.CurrentSection();
}

namespace internal {

// The check every read of RCU-protected data makes, written once (Published<T>, Ref<T>, every
// container): `guard` must hold a section of `domain`, the one the data is retired on; a guard of
// another domain protects nothing. `rule`: the id the report names ("R1"; IntrusiveList's
// traversal says "L4"); `what`: the read ("HashMap::Find()"). Checked when RCU_DEBUG_CHECKS is
// on; the report names the caller's line.
inline void CheckGuard(const ReadGuard& guard, const Domain& domain, const char* rule,
                       const char* what, const SourceLocation& where) {
  if (kDebugChecks && &guard.domain() != &domain) {
    Die(where, "%s: %s with a ReadGuard of another domain", rule, what);
  }
}

}  // namespace internal

inline void Domain::Call(CallbackHead* head, void (*func)(CallbackHead*),
                         const internal::SourceLocation& where) {
  if (internal::kDebugChecks && ABSL_PREDICT_FALSE(head->func != nullptr)) {
    internal::Die(where,
                  "R7: double call_rcu: this CallbackHead is already queued and its "
                  "callback has not run yet");
  }
  head->func = func;
  Enqueue(head, &internal::RunCallbackHead, 0, where);
}

}  // namespace rcu

#endif  // RCU_DOMAIN_H_
