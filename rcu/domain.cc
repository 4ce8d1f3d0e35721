#include "rcu/domain.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <string>

#include "rcu/internal/checker.h"
#include "rcu/internal/reclaimer.h"
#include "rcu/internal/sys.h"

// Ordering, in the C++ memory model (LightFence() and HeavyFence() are both seq_cst fences there,
// see rcu/internal/sys.h). Each pairing is labelled at both ends:
//
//   [F1] reader entry (Begin: store ctr, LightFence, then load published pointers) pairs with the
//        grace period's HeavyFence (unpublish, HeavyFence, then load every ctr): either the grace
//        period sees the reader inside, or the reader sees the unpublish.
//   [F2] reader exit (End and ExitSlowPath: store ctr = 0, LightFence, load kWakeRequested)
//        pairs with WaitForReader (set kWakeRequested, HeavyFence, load ctr): either the waiter sees the reader gone, or the reader sees
//        the request and wakes it. So only a reader the sleeper waits for pays for a wake-up.
//   [R1]/[R2] the reader's release stores of ctr pair with the scan's acquire loads: a section's
//        accesses happen before the grace period that saw it end (also what ThreadSanitizer uses).
//   [S1] RunGracePeriod's seq_cst fence before counting registered threads pairs with [S2], the
//        fence registration issues after counting itself (thread_registry.cc): a grace period
//        that skips its scan because it is alone misses no reader.
//   [C1] GetState()'s read-modify-write of gp_seq_ is read by the next grace period's exchange
//        (acq_rel): the cookie taker's stores happen before that grace period's fences.
//        [C2] the grace period's release store of the even gp_seq_ pairs with PollState()'s
//        acquire load.
//   [F3]/[F4] the callback thread's idle wake-up and hand-off: reclaimer.cc.

namespace rcu {
namespace {

// A waiter spins this many times (about 10 microseconds) before it yields or sleeps: most
// sections are shorter than that, and a spin reacts within nanoseconds.
constexpr int kSpinIterations = 2000;
// A normal waiter then yields this many times before it sleeps.
constexpr int kYieldIterations = 20;
// Stall timeouts longer than this (milliseconds::max() included) never fire.
constexpr std::chrono::hours kNever{24 * 365 * 100};
// At exit(), how long the default domain's barrier may be held up before exit goes on.
constexpr std::chrono::seconds kExitPatience{1};

// Every live domain by slot, so fork() can quiesce them all.
struct DomainTable {
  std::mutex mu;
  Domain* slots[internal::kMaxDomains] = {};
};
DomainTable& Table() {
  static DomainTable* table = new DomainTable;  // never destroyed: domains outlive statics
  return *table;
}

int AcquireSlot(Domain* domain) {
  static const bool fork_handlers = [] {
    pthread_atfork(&internal::ForkPrepare, &internal::ForkParent, &internal::ForkChild);
    return true;
  }();
  (void)fork_handlers;
  DomainTable& table = Table();
  std::lock_guard<std::mutex> lock(table.mu);
  for (int slot = 0; slot < internal::kMaxDomains; ++slot) {
    if (table.slots[slot] == nullptr) {
      table.slots[slot] = domain;
      return slot;
    }
  }
  std::fprintf(stderr, "rcu: more than %d rcu::Domain objects alive at once\n",
               internal::kMaxDomains);
  std::abort();
}

void ReleaseSlot(int slot) {
  DomainTable& table = Table();
  std::lock_guard<std::mutex> lock(table.mu);
  table.slots[slot] = nullptr;
}

// R14: options are checked once, at construction.
const DomainOptions& Validated(const DomainOptions& options,
                               const internal::SourceLocation& where) {
  if (options.callback_threads < 1 || options.callback_threads > internal::kMaxDomains) {
    internal::Die(where, "R14: DomainOptions::callback_threads is %d; it must be between 1 and %d",
                  options.callback_threads, internal::kMaxDomains);
  }
  if (options.max_pending_callbacks == 0) {
    internal::Die(where, "R14: DomainOptions::max_pending_callbacks is 0; it must be at least 1 "
                         "(UINT64_MAX for no bound)");
  }
  if (options.stall_timeout.count() <= 0) {
    internal::Die(where,
                  "R14: DomainOptions::stall_timeout is %lld ms; it must be positive "
                  "(std::chrono::milliseconds::max() never reports)",
                  static_cast<long long>(options.stall_timeout.count()));
  }
  return options;
}

std::chrono::nanoseconds StallTimeout(std::chrono::milliseconds timeout) {
  return timeout >= kNever ? std::chrono::nanoseconds(kNever) : std::chrono::nanoseconds(timeout);
}

}  // namespace

Domain::Domain(const DomainOptions& options, const internal::SourceLocation& where)
    : slot_(AcquireSlot(this)),
      light_(internal::LightReadersEnabled()),
      stall_timeout_(StallTimeout(Validated(options, where).stall_timeout)),
      created_at_(where),
      reclaimer_(std::make_unique<internal::Reclaimer>(*this, slot_, options.callback_threads,
                                                       options.max_pending_callbacks)) {}

Domain* Domain::CreateDefault() {
  Domain* domain = new Domain();
  std::atexit([] {
    Domain& d = Default();
    // A thread exiting from inside a section or a callback cannot wait; its callbacks stay queued.
    if (!d.InReadSection() && internal::tls_invoking_callbacks == nullptr) d.BarrierAtExit();
  });
  return domain;
}

Domain::~Domain() {
  if (internal::tls_invoking_callbacks == reclaimer_.get()) {
    internal::Die(created_at_,
                  "R10: rcu::Domain destroyed from one of its own callbacks (its callback threads "
                  "cannot stop themselves); destroy it from another thread, after Barrier(). The "
                  "domain was created");
  }
  internal::ForEachRecord([&](const internal::ThreadRecord& r) {
    if (r.in_use.load(std::memory_order_acquire) &&
        r.reader[slot_].ctr.load(std::memory_order_acquire) != 0 &&
        !reclaimer_->IsWorker(r.tid.load(std::memory_order_relaxed))) {
      internal::Die(created_at_,
                    "R10: rcu::Domain destroyed while thread %d is inside one of its read-side "
                    "sections. The domain was created",
                    r.tid.load(std::memory_order_relaxed));
    }
  });
  reclaimer_->DrainAndStop();  // runs every queued callback
  ReleaseSlot(slot_);
}

void Domain::Synchronize(const internal::SourceLocation& where) {
  WaitForGracePeriod(/*expedited=*/false, where, "Synchronize()");
}

void Domain::SynchronizeExpedited(const internal::SourceLocation& where) {
  WaitForGracePeriod(/*expedited=*/true, where, "SynchronizeExpedited()");
}

void Domain::CondSynchronize(GracePeriodCookie cookie, const internal::SourceLocation& where) {
  CheckMayBlock(where, "CondSynchronize()", "R3");  // wrong even when the cookie completed
  if (PollState(cookie)) return;
  WaitForGracePeriod(/*expedited=*/false, where, "CondSynchronize()");
}

GracePeriodCookie Domain::GetState() const {
  // [C1] A read-modify-write: the grace period that starts next reads it (acq_rel exchange), so
  // the caller's earlier stores (the unpublish) happen before that grace period.
  const uint64_t seq = gp_seq_.fetch_add(0, std::memory_order_acq_rel);
  // Idle (even): the next grace period will do. In progress (odd): it may have begun before the
  // caller's stores, so the one after it.
  return GracePeriodCookie((seq + 3) & ~uint64_t{1});
}

GracePeriodCookie Domain::StartPoll() {
  const GracePeriodCookie cookie = GetState();
  reclaimer_->RequestGracePeriod();
  return cookie;
}

bool Domain::PollState(GracePeriodCookie cookie) const {
  return gp_seq_.load(std::memory_order_acquire) >= cookie.seq_;  // [C2]
}

void Domain::CheckMayBlock(const internal::SourceLocation& where, const char* operation,
                           const char* rule) {
  if (InReadSection()) {
    internal::Die(where,
                  "%s: %s called inside a read-side critical section of the same domain "
                  "(it would wait for itself)",
                  rule, operation);
  }
  if (internal::tls_invoking_callbacks != nullptr) {
    internal::Die(where,
                  "R8: %s called from an RCU callback (callbacks run on the domain's callback "
                  "threads and must not wait for grace periods or barriers)",
                  operation);
  }
}

void Domain::WaitForGracePeriod(bool expedited, const internal::SourceLocation& where,
                                const char* operation) {
  CheckMayBlock(where, operation, "R3");
  const GracePeriodCookie cookie = GetState();
  UpdateLock lock(gp_mu_);
  // Another caller's grace period, run while we waited for the lock, may already cover us.
  if (PollState(cookie)) return;
  RunGracePeriod(expedited);
}

void Domain::RunGracePeriod(bool expedited) {
  const uint64_t seq = gp_seq_.load(std::memory_order_relaxed);
  gp_seq_.exchange(seq + 1, std::memory_order_acq_rel);  // [C1]
  std::atomic_thread_fence(std::memory_order_seq_cst);   // [S1]
  // The caller itself is outside every section (R3), so with no other registered thread there is
  // nobody to wait for.
  if (internal::OtherThreadsRegistered() && !busted_.load(std::memory_order_relaxed)) {
    const auto start = std::chrono::steady_clock::now();
    // [F1] heavy: after it every reader either is visibly inside a section (its ctr is stored)
    // or will see everything written before the grace period began.
    internal::HeavyFence();
    const uint64_t target = epoch_.load(std::memory_order_relaxed) + 1;
    epoch_.store(target, std::memory_order_relaxed);
    internal::ForEachRecord(
        [&](internal::ThreadRecord& r) { WaitForReader(r, target, expedited, start); });
    const uint64_t ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                  std::chrono::steady_clock::now() - start)
                                                  .count());
    gp_waited_.fetch_add(1, std::memory_order_relaxed);
    gp_wait_ns_total_.fetch_add(ns, std::memory_order_relaxed);
    if (ns > gp_wait_ns_max_.load(std::memory_order_relaxed)) {
      gp_wait_ns_max_.store(ns, std::memory_order_relaxed);  // only the holder of gp_mu_ writes
    }
  }
  gp_seq_.store(seq + 2, std::memory_order_release);  // [C2]
}

// Waits until `r` is outside every section of this domain that began before the epoch `target`.
// A reader whose ctr is at least `target` began its section after the heavy fence and needs no
// wait; that is what lets a grace period end under a continuous stream of readers.
void Domain::WaitForReader(internal::ThreadRecord& r, uint64_t target, bool expedited,
                           std::chrono::steady_clock::time_point start) {
  internal::ReaderState& reader = r.reader[slot_];
  const auto blocks = [&] {
    const uint64_t c = reader.ctr.load(std::memory_order_acquire);  // [R1]/[R2]
    return c != 0 && c < target;
  };
  for (int i = 0; i < kSpinIterations; ++i) {
    if (!blocks()) return;
    internal::CpuRelax();
  }
  // R13: report a reader that holds up this grace period for longer than stall_timeout_. Returns
  // how long until the next report is due.
  auto next_report = start + stall_timeout_;
  const auto check_stall = [&] {
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_report) {
      internal::Report(
          "R13: rcu stall: thread %d has held up a grace period of domain slot %d for %.3f s "
          "inside a read-side section",
          r.tid.load(std::memory_order_relaxed), slot_,
          std::chrono::duration<double>(now - start).count());
      next_report = now + stall_timeout_;
    }
    return next_report - now;
  };
  for (int i = 0; expedited || i < kYieldIterations; ++i) {
    if (!blocks()) return;
    sched_yield();
    if (i % 64 == 63) check_stall();
  }
  // Sleep until this reader leaves. Only it is asked to wake us, and only once.
  std::atomic<uint32_t>& word = internal::SlotWakeWord(slot_);
  reader.exit.fetch_or(internal::kWakeRequested, std::memory_order_relaxed);
  internal::HeavyFence();  // [F2] heavy
  for (;;) {
    const uint32_t generation = word.load(std::memory_order_acquire);
    if (!blocks()) break;
    const int64_t timeout_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(check_stall()).count();
    internal::FutexWait(&word, generation, std::max<int64_t>(timeout_ns, 1));
  }
  reader.exit.fetch_and(~internal::kWakeRequested, std::memory_order_relaxed);
}

void Domain::ExitSlowPath(internal::ReaderState& reader) {
  internal::LightFence(light_);  // [F2] light, for fallback readers
  if ((reader.exit.load(std::memory_order_relaxed) & internal::kWakeRequested) == 0) return;
  reader.exit.fetch_and(~internal::kWakeRequested, std::memory_order_relaxed);  // once per sleep
  internal::WakeSlot(slot_);
}

void Domain::Barrier(const internal::SourceLocation& where) {
  CheckMayBlock(where, "Barrier()", "R4");
  reclaimer_->Barrier(std::chrono::steady_clock::time_point::max());
}

void Domain::BarrierAtExit() {
  if (reclaimer_->Barrier(std::chrono::steady_clock::now() + kExitPatience)) return;
  std::string readers;
  internal::ForEachRecord([&](const internal::ThreadRecord& r) {
    if (r.in_use.load(std::memory_order_acquire) &&
        r.reader[slot_].ctr.load(std::memory_order_acquire) != 0) {
      readers += " " + std::to_string(r.tid.load(std::memory_order_relaxed));
    }
  });
  const DomainStats stats = Stats();
  internal::Report(
      "R13: rcu stall at exit: the default domain's exit-time Barrier() waited %lld s; threads "
      "inside read-side sections:%s; exit goes on and leaves %" PRIu64 " callbacks unrun",
      static_cast<long long>(kExitPatience.count()), readers.empty() ? " none" : readers.c_str(),
      stats.callbacks_pending);
}

DomainStats Domain::Stats() const {
  DomainStats stats;
  stats.grace_periods = GracePeriodsCompleted();
  stats.grace_periods_waited = gp_waited_.load(std::memory_order_relaxed);
  if (stats.grace_periods_waited != 0) {
    stats.mean_grace_period_us = gp_wait_ns_total_.load(std::memory_order_relaxed) / 1e3 /
                                 static_cast<double>(stats.grace_periods_waited);
  }
  stats.max_grace_period_us = gp_wait_ns_max_.load(std::memory_order_relaxed) / 1e3;
  reclaimer_->FillStats(stats);
  return stats;
}

void Domain::QueuedSlowPath(uint64_t queued, bool first) { reclaimer_->OnQueued(queued, first); }

void Domain::EnqueueSlowPath(internal::ThreadRecord* r, void* p, void (*fn)(void*), size_t bytes,
                             const internal::SourceLocation& where) {
  // This thread's queue is empty (or was stolen by a callback thread), or its tail block is full.
  internal::RetireBlock* fresh = reclaimer_->TakeBlock();
  fresh->entries[0] = {p, fn};
  fresh->bytes = bytes;
  fresh->count = 1;
  internal::ReaderState* outermost = Begin(r, where);  // see Enqueue()
  std::atomic<internal::RetireBlock*>& queue = r->queue[slot_];
  const bool first = queue.load(std::memory_order_relaxed) == nullptr;
  if (first) {
    queue.store(fresh, std::memory_order_release);
  } else {
    r->queue_tail[slot_]->next = fresh;  // read by the stealer only after a grace period
  }
  r->queue_tail[slot_] = fresh;
  End(r, outermost, where);
  // [F3] light: the new chain is published before Queued() looks for idle callback threads
  // (End() fences only for an outermost section).
  if (first) internal::LightFence(light_);
  Queued(r, bytes, first);
}

// fork() ---------------------------------------------------------------------------------------
//
// Before fork(), every domain's callback threads finish the callbacks they are running and
// start no others, and the library's short-held locks are taken by the forking thread, so the
// child gets a consistent copy. fork() never waits for a reader: grace periods in progress are
// left alone. In the child every other thread is gone, and with it every section a grace period
// could wait for (the forking thread itself may be inside one; no grace period of the parent
// waits for the child's copy of it). So the child ends any grace period that was in progress
// (its waiters do not exist there), releases the records of threads that did not survive, hands
// every callback not yet run to its domain (the callback threads restart on demand), and
// unlocks.

void Domain::PrepareFork() { reclaimer_->PauseForFork(); }

void Domain::ParentAfterFork() { reclaimer_->UnlockAfterFork(/*child=*/false); }

void Domain::ChildAfterFork() {
  reclaimer_->UnlockAfterFork(/*child=*/true);
  // A grace period in progress belonged to a thread that is gone, and every reader it waited
  // for is gone too: it is complete. Its lock may be held by that thread: start a fresh one.
  const uint64_t seq = gp_seq_.load(std::memory_order_relaxed);
  gp_seq_.store((seq + 1) & ~uint64_t{1}, std::memory_order_relaxed);
  new (&gp_mu_) UpdateMutex;
}

namespace internal {

void ForkPrepare() {
  // R15: fork() waits for the callbacks running at that moment; from a callback it would wait
  // for itself.
  if (tls_invoking_callbacks != nullptr) {
    Die(SourceLocation::current(),
        "R15: fork() called from an RCU callback (fork() waits for the callbacks being run)");
  }
  DomainTable& table = Table();
  table.mu.lock();
  for (Domain* d : table.slots) {
    if (d != nullptr) d->PrepareFork();
  }
  LockCheckerForFork();
}

void ForkParent() {
  UnlockCheckerAfterFork();
  DomainTable& table = Table();
  for (Domain* d : table.slots) {
    if (d != nullptr) d->ParentAfterFork();
  }
  table.mu.unlock();
}

void ForkChild() {
  UnlockCheckerAfterFork();
  DomainTable& table = Table();
  // Domains first: they collect the queues of every record, including those released below.
  for (Domain* d : table.slots) {
    if (d != nullptr) d->ChildAfterFork();
  }
  RegistryAfterForkInChild();
  table.mu.unlock();
}

}  // namespace internal
}  // namespace rcu
