// Not part of the public API; include "rcu/domain.h".
//
// The reclaimer runs a domain's deferred callbacks. Queueing is done inline by Domain (into the
// calling thread's own list and retire block, see thread_registry.h and retire_block.h); the
// reclaimer's worker threads, started on the first callback, loop:
//
//   collect  steal every thread's list and block and the full-block list (one batch; records of
//            exited threads included, so nothing they queued is lost);
//   wait     one grace period for the whole batch (shared with concurrent Synchronize() callers;
//            expedited while the domain is over its back-pressure bound);
//   invoke   every callback of the batch, once;
//   pause    about a millisecond, so that the next grace period serves many callbacks (a
//            Barrier(), back-pressure or shutdown ends the pause at once).
//
// With nothing to collect a worker sleeps on a futex; the first callback a thread queues into an
// empty list or block wakes it. Barrier() asks for one more collection and waits until every batch
// up to it has been invoked; with nothing queued and nothing in flight it returns at once.
// Back-pressure: every kQueuedFlushInterval callbacks a thread adds to a shared count; past half
// the bound the workers expedite grace periods, past the bound the queueing thread sleeps until the
// workers bring the pending count back to half the bound.

#ifndef RCU_INTERNAL_RECLAIMER_H_
#define RCU_INTERNAL_RECLAIMER_H_

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "rcu/callback.h"
#include "rcu/internal/retire_block.h"
#include "rcu/internal/thread_registry.h"
#include "rcu/update_mutex.h"

namespace rcu {
class Domain;
struct DomainStats;
}  // namespace rcu

namespace rcu::internal {

// Non-null while the calling thread runs callbacks (R8: a callback must not wait for a grace
// period or a barrier).
extern constinit thread_local const void* tls_invoking_callbacks;

class Reclaimer {
 public:
  Reclaimer(Domain& domain, int slot, int threads, uint64_t max_pending);
  ~Reclaimer();

  // Runs every callback still queued (callbacks that queue more included) and stops the workers.
  // The domain stays fully usable while it runs: callbacks may queue callbacks.
  void DrainAndStop();

  Reclaimer(const Reclaimer&) = delete;
  Reclaimer& operator=(const Reclaimer&) = delete;

  // After the calling thread queued its `queued`-th callback; `first` when it went into an empty
  // list or a new block (a sleeping worker may need waking).
  void OnQueued(uint64_t queued, bool first);
  // A thread's retire block is full: hand it to the workers.
  void PushFullBlock(RetireBlock* block);
  // An empty block for a thread's next retires: recycled when one is available. Blocks move
  // between threads, and recycling them keeps malloc's cross-thread free path (arena locks,
  // trimming) off the retire path.
  RetireBlock* TakeBlock();
  void Barrier();
  void FillStats(DomainStats& stats) const;

 private:
  struct Batch {
    std::vector<CallbackHead*> lists;
    RetireBlock* blocks = nullptr;
    bool empty() const { return lists.empty() && blocks == nullptr; }
  };

  static void* WorkerEntry(void* self);
  static void ForkPrepare();
  static void ForkParent();
  static void ForkChild();

  // How long a worker lets callbacks accumulate between batches (see Accumulate()).
  static constexpr std::chrono::microseconds kAccumulate{1000};

  void StartWorkers();
  void WorkerLoop();
  void Accumulate();
  void Idle();
  Batch CollectLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Invoke(Batch& batch);
  bool AnythingQueued() const;
  // A Barrier() waits for a collection that has not happened yet.
  bool BarrierPending() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t ExactQueued() const;
  int64_t ApproximatePending() const;
  void Wake();
  void Throttle() ABSL_LOCKS_EXCLUDED(mu_);
  bool BatchesDoneThrough(uint64_t seq) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Domain& domain_;
  const int slot_;
  const int threads_;
  const int64_t max_pending_;

  mutable UpdateMutex mu_;
  std::condition_variable_any progress_;  // a batch finished, or a collection happened
  std::vector<pthread_t> workers_ ABSL_GUARDED_BY(mu_);
  uint64_t collected_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint64_t> in_flight_ ABSL_GUARDED_BY(mu_);
  UpdateMutex pool_mu_;
  std::vector<RetireBlock*> pool_ ABSL_GUARDED_BY(pool_mu_);
  uint64_t max_in_flight_ ABSL_GUARDED_BY(mu_) = 0;

  std::atomic<bool> started_{false};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> barrier_request_{0};
  std::atomic<int> idle_workers_{0};
  std::atomic<uint32_t> work_word_{0};
  std::atomic<RetireBlock*> full_blocks_{nullptr};
  std::atomic<bool> expedite_{false};

  std::atomic<uint64_t> flushed_{0};  // queued callbacks, in kQueuedFlushInterval steps
  std::atomic<uint64_t> invoked_{0};
  std::atomic<uint64_t> invoked_bytes_{0};
  std::atomic<uint64_t> peak_pending_{0};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> throttled_{0};
};

}  // namespace rcu::internal

#endif  // RCU_INTERNAL_RECLAIMER_H_
