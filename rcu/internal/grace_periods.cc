#include "rcu/internal/grace_periods.h"

#include <sched.h>

#include <algorithm>
#include <new>

#include "rcu/internal/checker.h"
#include "rcu/internal/sys.h"

// Ordering, in the C++ memory model (LightFence() and HeavyFence() are both seq_cst fences there,
// see sys.h). Each pairing is labelled at both ends:
//
//   [F1] reader entry (ReadSide::Begin: store ctr, LightFence, then load published pointers)
//        pairs with the grace period's HeavyFence (unpublish, HeavyFence, then load every ctr):
//        either the grace period sees the reader inside, or the reader sees the unpublish.
//   [F2] reader exit (ReadSide::End and ExitSlowPath: store ctr = 0, LightFence, load
//        kWakeRequested) pairs with WaitForReader (set kWakeRequested, HeavyFence, load ctr):
//        either the waiter sees the reader gone, or the reader sees the request and wakes it. So
//        only a reader the sleeper waits for pays for a wake-up.
//   [R1]/[R2] the reader's release stores of ctr pair with the scan's acquire loads: a section's
//        accesses happen before the grace period that saw it end (also what ThreadSanitizer
//        uses).
//   [S1] Run()'s seq_cst fence before counting registered threads pairs with [S2], the fence
//        registration issues after counting itself (thread_registry.cc): a grace period that
//        skips its scan because it is alone misses no reader. The same pair covers a state
//        pushed while a scan runs: the scan read the list head after its fence, so a state it
//        did not see was pushed later, and its section sees the unpublish.
//   [C1] GetState()'s read-modify-write of seq_ is read by the next grace period's exchange
//        (acq_rel): the cookie taker's stores happen before that grace period's fences.
//        [C2] the grace period's release store of the even seq_ pairs with PollState()'s
//        acquire load.
//   [F3]/[F4] the callback thread's idle wake-up and hand-off: reclaimer.cc.

namespace rcu::internal {
namespace {

// A waiter spins this many times (about 10 microseconds) before it yields or sleeps: most
// sections are shorter than that, and a spin reacts within nanoseconds.
constexpr int kSpinIterations = 2000;
// A normal waiter then yields this many times before it sleeps.
constexpr int kYieldIterations = 20;

}  // namespace

GracePeriods::GracePeriods(ReadSide& readers, std::chrono::nanoseconds stall_timeout)
    : readers_(readers), stall_timeout_(stall_timeout) {}

uint64_t GracePeriods::GetState() const {
  // [C1] A read-modify-write: the grace period that starts next reads it (acq_rel exchange), so
  // the caller's earlier stores (the unpublish) happen before that grace period.
  const uint64_t seq = seq_.fetch_add(0, std::memory_order_acq_rel);
  // Idle (even): the next grace period will do. In progress (odd): it may have begun before the
  // caller's stores, so the one after it.
  return (seq + 3) & ~uint64_t{1};
}

void GracePeriods::Wait(bool expedited) {
  const uint64_t cookie = GetState();
  MutexLock lock(mu_);
  // Another caller's grace period, run while we waited for the lock, may already cover us.
  if (PollState(cookie)) return;
  Run(expedited);
}

void GracePeriods::Run(bool expedited) {
  const uint64_t seq = seq_.load(std::memory_order_relaxed);
  seq_.exchange(seq + 1, std::memory_order_acq_rel);  // [C1]
  ThreadRegistry& registry = readers_.registry();
  registry.Reclaim();                                   // no scan is running: we hold the lock
  std::atomic_thread_fence(std::memory_order_seq_cst);  // [S1]
  // The caller itself is outside every section (R3), so with no other registered thread there is
  // nobody to wait for.
  if (registry.OthersRegistered()) {
    const auto start = std::chrono::steady_clock::now();
    // [F1] heavy: after it every reader either is visibly inside a section (its ctr is stored)
    // or will see everything written before the grace period began.
    HeavyFence();
    const uint64_t target = readers_.AdvanceEpoch();
    registry.ForEachForScan(
        [&](ThreadState& s) { WaitForReader(s.reader, target, expedited, start); });
    const uint64_t ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                  std::chrono::steady_clock::now() - start)
                                                  .count());
    waited_.fetch_add(1, std::memory_order_relaxed);
    wait_ns_total_.fetch_add(ns, std::memory_order_relaxed);
    if (ns > wait_ns_max_.load(std::memory_order_relaxed)) {
      wait_ns_max_.store(ns, std::memory_order_relaxed);  // only the holder of mu_ writes
    }
  }
  seq_.store(seq + 2, std::memory_order_release);  // [C2]
}

// Waits until `reader` is outside every section that began before the epoch `target`. A reader
// whose ctr is at least `target` began its section after the heavy fence and needs no wait; that
// is what lets a grace period end under a continuous stream of readers.
void GracePeriods::WaitForReader(ReaderLine& reader, uint64_t target, bool expedited,
                                 std::chrono::steady_clock::time_point start) {
  const auto blocks = [&] {
    const uint64_t c = reader.ctr.load(std::memory_order_acquire);  // [R1]/[R2]
    return c != 0 && c < target;
  };
  for (int i = 0; i < kSpinIterations; ++i) {
    if (!blocks()) return;
    CpuRelax();
  }
  // R13: report a reader that holds up this grace period for longer than stall_timeout_. Returns
  // how long until the next report is due.
  auto next_report = start + stall_timeout_;
  const auto check_stall = [&] {
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_report) {
      Report(
          "R13: rcu stall: thread %d has held up a grace period of domain %u for %.3f s "
          "inside a read-side section",
          reader.tid, readers_.registry().id(), std::chrono::duration<double>(now - start).count());
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
  std::atomic<uint32_t>& word = readers_.registry().wake_word();
  reader.exit.fetch_or(kWakeRequested, std::memory_order_relaxed);
  HeavyFence();  // [F2] heavy
  for (;;) {
    const uint32_t generation = word.load(std::memory_order_acquire);
    if (!blocks()) break;
    const int64_t timeout_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(check_stall()).count();
    FutexWait(&word, generation, std::max<int64_t>(timeout_ns, 1));
  }
  reader.exit.fetch_and(~kWakeRequested, std::memory_order_relaxed);
}

GracePeriods::Stats GracePeriods::GetStats() const {
  return {waited_.load(std::memory_order_relaxed), wait_ns_total_.load(std::memory_order_relaxed),
          wait_ns_max_.load(std::memory_order_relaxed)};
}

void GracePeriods::ResetInChild() {
  const uint64_t seq = seq_.load(std::memory_order_relaxed);
  seq_.store((seq + 1) & ~uint64_t{1}, std::memory_order_relaxed);
  new (&mu_) Mutex;
}

}  // namespace rcu::internal
