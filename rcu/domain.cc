#include "rcu/domain.h"

#include <pthread.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "rcu/internal/checker.h"
#include "rcu/internal/mutex.h"
#include "rcu/internal/reclaimer.h"
#include "rcu/internal/thread_registry.h"

// The facade: the parts (rcu/internal/read_side.h, grace_periods.h, callback_queue.h,
// reclaimer.h) do the work; this file checks the rules that span them, keeps the list of live
// domains for fork(), and runs the default domain's barrier at exit. The memory-order argument is
// in grace_periods.cc, each pairing labelled at both ends.

namespace rcu {
namespace {

// DomainOptions::callback_threads bound.
constexpr int kMaxCallbackThreads = 64;
// Stall timeouts longer than this (milliseconds::max() included) never fire.
constexpr std::chrono::hours kNever{24 * 365 * 100};
// At exit(), how long the default domain's barrier may be held up before exit goes on.
constexpr std::chrono::seconds kExitPatience{1};

// Every live domain, so fork() can quiesce them all.
struct LiveDomains {
  internal::Mutex mu;
  std::vector<Domain*> domains ABSL_GUARDED_BY(mu);
};
LiveDomains& Live() {
  static LiveDomains* live = new LiveDomains;  // never destroyed: domains outlive statics
  return *live;
}

void AddLive(Domain* domain) {
  static const bool fork_handlers = [] {
    pthread_atfork(&internal::ForkPrepare, &internal::ForkParent, &internal::ForkChild);
    return true;
  }();
  (void)fork_handlers;
  LiveDomains& live = Live();
  internal::MutexLock lock(live.mu);
  live.domains.push_back(domain);
}

void RemoveLive(Domain* domain) {
  LiveDomains& live = Live();
  internal::MutexLock lock(live.mu);
  std::erase(live.domains, domain);
}

// R14: options are checked once, at construction.
const DomainOptions& Validated(const DomainOptions& options,
                               const internal::SourceLocation& where) {
  if (options.callback_threads < 1 || options.callback_threads > kMaxCallbackThreads) {
    internal::Die(where, "R14: DomainOptions::callback_threads is %d; it must be between 1 and %d",
                  options.callback_threads, kMaxCallbackThreads);
  }
  if (options.max_pending_callbacks == 0) {
    internal::Die(where,
                  "R14: DomainOptions::max_pending_callbacks is 0; it must be at least 1 "
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
    : grace_periods_(read_side_, StallTimeout(Validated(options, where).stall_timeout)),
      queue_(read_side_, pool_),
      reclaimer_(std::make_unique<internal::Reclaimer>(read_side_, grace_periods_, queue_, pool_,
                                                       options.callback_threads,
                                                       options.max_pending_callbacks)),
      created_at_(where) {
  AddLive(this);
}

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
  std::vector<int> inside;
  read_side_.registry().ForEachLocked([&](internal::ThreadState& s) {
    if (s.reader.ctr.load(std::memory_order_acquire) != 0) inside.push_back(s.reader.tid);
  });
  for (int tid : inside) {
    if (!reclaimer_->IsWorker(tid)) {
      internal::Die(created_at_,
                    "R10: rcu::Domain destroyed while thread %d is inside one of its read-side "
                    "sections. The domain was created",
                    tid);
    }
  }
  reclaimer_->DrainAndStop();  // runs every queued callback
  RemoveLive(this);
}

void Domain::Synchronize(const internal::SourceLocation& where) {
  CheckMayBlock(where, "Synchronize()", "R3");
  grace_periods_.Wait(/*expedited=*/false);
}

void Domain::SynchronizeExpedited(const internal::SourceLocation& where) {
  CheckMayBlock(where, "SynchronizeExpedited()", "R3");
  grace_periods_.Wait(/*expedited=*/true);
}

void Domain::CondSynchronize(GracePeriodCookie cookie, const internal::SourceLocation& where) {
  CheckMayBlock(where, "CondSynchronize()", "R3");  // wrong even when the cookie completed
  if (PollState(cookie)) return;
  grace_periods_.Wait(/*expedited=*/false);
}

GracePeriodCookie Domain::GetState() const { return GracePeriodCookie(grace_periods_.GetState()); }

GracePeriodCookie Domain::StartPoll() {
  const GracePeriodCookie cookie = GetState();
  reclaimer_->RequestGracePeriod();
  return cookie;
}

bool Domain::PollState(GracePeriodCookie cookie) const {
  return grace_periods_.PollState(cookie.seq_);
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

void Domain::Queued(internal::CallbackQueue::Appended appended) {
  reclaimer_->OnQueued(appended.queued, appended.first);
}

void Domain::Barrier(const internal::SourceLocation& where) {
  CheckMayBlock(where, "Barrier()", "R4");
  reclaimer_->Barrier(std::chrono::steady_clock::time_point::max());
}

void Domain::BarrierAtExit() {
  // Barriers until nothing is pending, as ~Domain() drains: callbacks may queue callbacks (a
  // deleter that drops an object's last reference retires the object).
  const auto deadline = std::chrono::steady_clock::now() + kExitPatience;
  bool drained;
  while ((drained = reclaimer_->Barrier(deadline)) && Stats().callbacks_pending != 0) {
  }
  if (drained) return;
  std::string readers;
  read_side_.registry().ForEachLocked([&](internal::ThreadState& s) {
    if (s.reader.ctr.load(std::memory_order_acquire) != 0) {
      // Appended, not `" " + std::to_string(...)`: g++ 12 at -O3 misreads that as an overlapping
      // copy (-Wrestrict).
      readers.append(" ").append(std::to_string(s.reader.tid));
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
  const internal::GracePeriods::Stats gp = grace_periods_.GetStats();
  stats.grace_periods_waited = gp.waited;
  if (gp.waited != 0) {
    stats.mean_grace_period_us = gp.wait_ns_total / 1e3 / static_cast<double>(gp.waited);
  }
  stats.max_grace_period_us = gp.wait_ns_max / 1e3;
  const internal::Reclaimer::Stats callbacks = reclaimer_->GetStats();
  stats.callbacks_queued = callbacks.queued;
  stats.callbacks_invoked = callbacks.invoked;
  stats.callbacks_pending = callbacks.queued - callbacks.invoked;
  stats.pending_bytes = callbacks.pending_bytes;
  stats.peak_pending = callbacks.peak_pending;
  stats.callback_batches = callbacks.batches;
  stats.throttled = callbacks.throttled;
  return stats;
}

// fork() ---------------------------------------------------------------------------------------
//
// Before fork(), every domain's callback threads finish the callbacks they are running and
// start no others, and the library's short-held locks are taken by the forking thread, so the
// child gets a consistent copy. fork() never waits for a reader: grace periods in progress are
// left alone. In the child every other thread is gone, and with it every section a grace period
// could wait for (the forking thread itself may be inside one; no grace period of the parent
// waits for the child's copy of it). So the child releases the states of threads that did not
// survive (their sections ended, their queues kept), ends any grace period that was in progress
// (its waiters do not exist there), hands every callback not yet run to its domain (the callback
// threads restart on demand), and unlocks.

namespace internal {

void ForkPrepare() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  // R15: fork() waits for the callbacks running at that moment; from a callback it would wait
  // for itself.
  if (tls_invoking_callbacks != nullptr) {
    Die(SourceLocation::current(),
        "R15: fork() called from an RCU callback (fork() waits for the callbacks being run)");
  }
  LiveDomains& live = Live();
  live.mu.lock();
  for (Domain* d : live.domains) d->reclaimer_->PauseForFork();
  ThreadRegistry::LockAllForFork();  // after the reclaimers: a collector takes a registry's lock
  LockCheckerForFork();
}

void ForkParent() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  UnlockCheckerAfterFork();
  ThreadRegistry::UnlockAllAfterFork(/*child=*/false);
  LiveDomains& live = Live();
  for (Domain* d : live.domains) d->reclaimer_->UnlockAfterFork(/*child=*/false);
  live.mu.unlock();
}

void ForkChild() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  UnlockCheckerAfterFork();
  // Registries first: the departed threads' queues move to their departed lines, which the
  // reclaimers then take over with every other callback not yet run.
  ThreadRegistry::UnlockAllAfterFork(/*child=*/true);
  LiveDomains& live = Live();
  for (Domain* d : live.domains) {
    d->reclaimer_->UnlockAfterFork(/*child=*/true);
    d->grace_periods_.ResetInChild();
  }
  live.mu.unlock();
}

}  // namespace internal
}  // namespace rcu
