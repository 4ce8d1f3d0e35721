// Not part of the public API; include "rcu/domain.h".
//
// The grace-period engine of one domain: the sequence that numbers grace periods (and the
// cookies of polled grace periods), the scan of the registry's readers, the waiter that spins,
// yields and then sleeps until the last reader it waits for leaves, stall reports (R13), and the
// statistics of all that.
//
// A grace period, under the engine's lock (concurrent callers share one):
//   1. gp_seq_ becomes odd (in progress) [C1];
//   2. freed: the states of threads that exited before now (nothing scans them any more);
//   3. if another thread is registered [S1]: the heavy fence [F1], the epoch advances, and every
//      listed reader is waited for until it is outside every section that began before;
//   4. gp_seq_ becomes even [C2].
// A cookie (GetState) is the sequence value at which a grace period that began after the
// cookie was taken has completed.

#ifndef RCU_INTERNAL_GRACE_PERIODS_H_
#define RCU_INTERNAL_GRACE_PERIODS_H_

#include <atomic>
#include <chrono>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "rcu/internal/mutex.h"
#include "rcu/internal/read_side.h"
#include "rcu/version.h"

namespace rcu::internal {

class GracePeriods {
 public:
  GracePeriods(ReadSide& readers, std::chrono::nanoseconds stall_timeout);

  GracePeriods(const GracePeriods&) = delete;
  GracePeriods& operator=(const GracePeriods&) = delete;

  // Returns after a full grace period: every section that began before the call has ended.
  // `expedited`: spin and yield instead of sleeping. The caller checked R3.
  void Wait(bool expedited) ABSL_LOCKS_EXCLUDED(mu_);

  // Polled grace periods: a cookie taken now, and whether it has completed.
  uint64_t GetState() const;
  bool PollState(uint64_t cookie) const {
    return seq_.load(std::memory_order_acquire) >= cookie;  // [C2]
  }
  uint64_t Completed() const { return seq_.load(std::memory_order_acquire) / 2; }

  struct Stats {
    uint64_t waited = 0;  // grace periods that had other readers to scan
    uint64_t wait_ns_total = 0;
    uint64_t wait_ns_max = 0;
  };
  Stats GetStats() const;

  // In the child of fork(): a grace period in progress belonged to a thread that is gone, and
  // every reader it waited for is gone too: it is complete, and its lock starts afresh.
  void ResetInChild() ABSL_NO_THREAD_SAFETY_ANALYSIS;

 private:
  void Run(bool expedited) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WaitForReader(ReaderLine& reader, uint64_t target, bool expedited,
                     std::chrono::steady_clock::time_point start);

  ReadSide& readers_;
  const std::chrono::nanoseconds stall_timeout_;

  // Even = idle, odd = a grace period in progress.
  alignas(64) mutable std::atomic<uint64_t> seq_{0};
  Mutex mu_;
  std::atomic<uint64_t> waited_{0};
  std::atomic<uint64_t> wait_ns_total_{0};
  std::atomic<uint64_t> wait_ns_max_{0};
};

}  // namespace rcu::internal

#endif  // RCU_INTERNAL_GRACE_PERIODS_H_
