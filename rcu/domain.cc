#include "rcu/domain.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "rcu/internal/checker.h"
#include "rcu/internal/reclaimer.h"
#include "rcu/internal/sys.h"

namespace rcu {
namespace {

// A waiter spins this many times (about 10 microseconds) before it yields or sleeps: most
// sections are shorter than that, and a spin reacts within nanoseconds.
constexpr int kSpinIterations = 2000;
// A normal waiter then yields this many times before it sleeps.
constexpr int kYieldIterations = 20;

}  // namespace

Domain::Domain(const DomainOptions& options)
    : exit_flags_(internal::LightReadersEnabled() ? 0 : kFallbackReaders),
      slot_(internal::AcquireDomainSlot()),
      light_(internal::LightReadersEnabled()),
      stall_timeout_(options.stall_timeout),
      reclaimer_(std::make_unique<internal::Reclaimer>(*this, slot_, options.callback_threads,
                                                       options.max_pending_callbacks)) {}

Domain* Domain::CreateDefault() {
  Domain* domain = new Domain();
  std::atexit([] {
    Domain& d = Default();
    // A thread exiting from inside a section or a callback cannot wait; its callbacks stay queued.
    if (!d.InReadSection() && internal::tls_invoking_callbacks == nullptr) d.Barrier();
  });
  return domain;
}

Domain::~Domain() {
  internal::ForEachRecord([&](const internal::ThreadRecord& r) {
    if (r.in_use.load(std::memory_order_acquire) &&
        r.ctr[slot_].load(std::memory_order_acquire) != 0) {
      internal::Die(internal::SourceLocation::current(),
                    "R10: rcu::Domain destroyed while thread %d is inside one of its read-side "
                    "sections",
                    r.tid.load(std::memory_order_relaxed));
    }
  });
  reclaimer_->DrainAndStop();  // runs every queued callback
  internal::ReleaseDomainSlot(slot_);
}

void Domain::Synchronize(const internal::SourceLocation& where) {
  WaitForGracePeriod(/*expedited=*/false, where, "Synchronize()");
}

void Domain::SynchronizeExpedited(const internal::SourceLocation& where) {
  WaitForGracePeriod(/*expedited=*/true, where, "SynchronizeExpedited()");
}

void Domain::CondSynchronize(GracePeriodCookie cookie, const internal::SourceLocation& where) {
  if (PollState(cookie)) return;
  WaitForGracePeriod(/*expedited=*/false, where, "CondSynchronize()");
}

GracePeriodCookie Domain::GetState() const {
  // A seq_cst read-modify-write (a locked instruction, far cheaper than a fence) orders the
  // caller's earlier stores (the unpublish) before the snapshot and synchronizes with the
  // grace period that starts next.
  const uint64_t seq = gp_seq_.fetch_add(0, std::memory_order_seq_cst);
  // Idle (even): the next grace period will do. In progress (odd): it may have begun before the
  // caller's stores, so the one after it.
  return GracePeriodCookie((seq + 3) & ~uint64_t{1});
}

bool Domain::PollState(GracePeriodCookie cookie) const {
  return gp_seq_.load(std::memory_order_acquire) >= cookie.seq_;
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
  // Marks the grace period started, and (as a full barrier) orders that before the scan below,
  // so a GetState() that saw it idle is covered by this grace period.
  gp_seq_.exchange(seq + 1, std::memory_order_seq_cst);
  // The caller itself is outside every section (R3), so with no other registered thread there is
  // nobody to wait for, and no reader whose stores the heavy fence would need to order.
  if (internal::OtherThreadsRegistered() && !busted_.load(std::memory_order_relaxed)) {
    // After this fence every reader either is visibly inside a section (its ctr is stored) or will
    // see everything written before the grace period began.
    const auto start = std::chrono::steady_clock::now();
    internal::HeavyFence();
    const uint64_t target = epoch_.load(std::memory_order_relaxed) + 1;
    epoch_.store(target, std::memory_order_relaxed);
    bool announced = false;
    internal::ForEachRecord([&](const internal::ThreadRecord& r) {
      WaitForReader(r, target, expedited, announced, start);
    });
    if (announced) {
      exit_flags_.store(exit_flags_.load(std::memory_order_relaxed) & ~kWaiters,
                        std::memory_order_relaxed);
    }
    const uint64_t ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                  std::chrono::steady_clock::now() - start)
                                                  .count());
    gp_waited_.fetch_add(1, std::memory_order_relaxed);
    gp_wait_ns_total_.fetch_add(ns, std::memory_order_relaxed);
    if (ns > gp_wait_ns_max_.load(std::memory_order_relaxed)) {
      gp_wait_ns_max_.store(ns, std::memory_order_relaxed);  // only the holder of gp_mu_ writes
    }
  }
  gp_seq_.store(seq + 2, std::memory_order_release);
}

// Waits until `r` is outside every section of this domain that began before the epoch `target`.
// A reader whose ctr is at least `target` began its section after the heavy fence and needs no
// wait; that is what lets a grace period end under a continuous stream of readers.
void Domain::WaitForReader(const internal::ThreadRecord& r, uint64_t target, bool expedited,
                           bool& announced, std::chrono::steady_clock::time_point start) {
  const auto blocks = [&] {
    const uint64_t c = r.ctr[slot_].load(std::memory_order_acquire);
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
  std::atomic<uint32_t>& word = internal::SlotWakeWord(slot_);
  if (!announced) {
    // Readers load exit_flags_ after clearing their ctr; the heavy fence makes sure that either
    // we see the cleared ctr below or the reader sees kWaiters and wakes us.
    exit_flags_.store(exit_flags_.load(std::memory_order_relaxed) | kWaiters,
                      std::memory_order_relaxed);
    internal::HeavyFence();
    announced = true;
  }
  for (;;) {
    const uint32_t generation = word.load(std::memory_order_acquire);
    if (!blocks()) return;
    const int64_t timeout_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(check_stall()).count();
    internal::FutexWait(&word, generation, std::max<int64_t>(timeout_ns, 1));
  }
}

void Domain::Barrier(const internal::SourceLocation& where) {
  CheckMayBlock(where, "Barrier()", "R4");
  reclaimer_->Barrier();
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

void Domain::RetireSlowPath(internal::ThreadRecord* r, void* p, void (*deleter)(void*),
                            size_t bytes) {
  // This thread's block is full (or was taken by a callback thread): start a new one.
  internal::RetireBlock* fresh = reclaimer_->TakeBlock();
  fresh->entries[0] = {p, deleter};
  fresh->bytes = bytes;
  fresh->count.store(1, std::memory_order_relaxed);
  std::atomic<internal::RetireBlock*>& current = r->block[slot_];
  internal::RetireBlock* full = current.load(std::memory_order_relaxed);
  if (full != nullptr && current.compare_exchange_strong(full, fresh, std::memory_order_acq_rel)) {
    reclaimer_->PushFullBlock(full);
  } else {
    current.store(fresh, std::memory_order_release);  // a callback thread took the full block
  }
  Queued(r, bytes, /*first=*/true);
}

void Domain::ExitSlowPath() {
  if (!light_) {
    // A fallback reader's store->load order (its ctr store, then exit_flags_), which the
    // grace period's plain fence pairs with.
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  if (exit_flags_.load(std::memory_order_relaxed) & kWaiters) internal::WakeSlot(slot_);
}

}  // namespace rcu
