// Not part of the public API; include "rcu/domain.h".
//
// The reclaimer runs a domain's deferred callbacks. Queueing is the callback queue's
// (callback_queue.h); the reclaimer takes the parts it needs (the read side, the grace-period
// engine, the queue and the block pool), never the Domain. Its worker threads, started on the
// first callback, loop:
//
//   collect  steal every thread's chain (one batch; what exited threads left included, so
//            nothing they queued is lost), numbered in collection order;
//   wait     one grace period for the whole batch (shared with concurrent Synchronize() callers;
//            expedited while the domain is over its back-pressure bound);
//   invoke   every callback of the batch, once, in each thread's queueing order, after every
//            earlier batch has been invoked (with several workers, grace periods overlap but
//            callbacks never run out of order);
//   pause    about a millisecond, so that the next grace period serves many callbacks (a
//            Barrier(), back-pressure or shutdown ends the pause at once; a StartPoll() ends it
//            kPace after the grace period, so that StartPoll() streams are paced too).
//
// With nothing to collect a worker sleeps on a futex; the first callback a thread queues into an
// empty chain wakes it. Barrier() asks for one more collection and waits until every batch up to
// it has been invoked; with nothing queued and nothing in flight it returns at once.
// Back-pressure: every kQueuedFlushInterval callbacks a thread adds to a shared count; past half
// the bound the workers expedite grace periods, past the bound the queueing thread sleeps until the
// workers bring the pending count back to half the bound.
//
// fork(): a collected batch stays in `uninvoked_` until a worker claims it to invoke it, and a
// worker holds its `busy` mutex while it claims and invokes. So the fork handler, holding every
// worker's `busy` (it waits only for callbacks running at that moment, never for a grace
// period), knows that every callback not yet run is in `uninvoked_` or in some thread's chain.
// The child moves them all, in order, to `orphans_` (so the next Call() starts a new chain and
// restarts the workers, and Barrier() and the destructor see them).

#ifndef RCU_INTERNAL_RECLAIMER_H_
#define RCU_INTERNAL_RECLAIMER_H_

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "rcu/internal/callback_queue.h"
#include "rcu/internal/grace_periods.h"
#include "rcu/internal/mutex.h"
#include "rcu/internal/read_side.h"
#include "rcu/internal/retire_block.h"
#include "rcu/version.h"

namespace rcu::internal {

// The reclaimer whose callbacks the calling thread is running, or null (R8, R10, R15).
extern constinit thread_local const void* tls_invoking_callbacks;

class Reclaimer {
 public:
  Reclaimer(ReadSide& readers, GracePeriods& grace_periods, CallbackQueue& queue, BlockPool& pool,
            int threads, uint64_t max_pending);
  ~Reclaimer();

  Reclaimer(const Reclaimer&) = delete;
  Reclaimer& operator=(const Reclaimer&) = delete;

  // Runs every callback still queued (callbacks that queue more included) and stops the workers.
  // The domain stays fully usable while it runs: callbacks may queue callbacks.
  void DrainAndStop();

  // After the calling thread queued its `queued`-th callback; `first` when it started a new chain
  // (a sleeping worker may need waking).
  void OnQueued(uint64_t queued, bool first);
  // Waits until every callback queued before the call has run, or until `deadline`; returns
  // whether everything ran.
  bool Barrier(std::chrono::steady_clock::time_point deadline);
  // Whether `tid` is one of this reclaimer's workers (whose callbacks may be queueing, inside the
  // brief section that protects an append: not a reader R10 should report).
  bool IsWorker(int tid) const ABSL_LOCKS_EXCLUDED(mu_);
  // Makes a worker run one grace period soon (Domain::StartPoll()).
  void RequestGracePeriod();
  struct Stats {
    uint64_t queued = 0;  // callbacks queued (Call and Retire) since the domain was created
    uint64_t invoked = 0;
    uint64_t pending_bytes = 0;
    uint64_t peak_pending = 0;
    uint64_t batches = 0;
    uint64_t throttled = 0;
  };
  Stats GetStats() const;

  // fork(): PauseForFork() waits until no worker is invoking callbacks, keeps it so, and takes
  // the reclaimer's locks; UnlockAfterFork() releases them all, and in the child first forgets the
  // workers (they do not exist there) and takes over every callback not yet run.
  void PauseForFork() ABSL_NO_THREAD_SAFETY_ANALYSIS;
  void UnlockAfterFork(bool child) ABSL_NO_THREAD_SAFETY_ANALYSIS;

 private:
  struct Worker {
    pthread_t thread;
    std::mutex busy;  // held while the worker claims and invokes a batch (the file comment)
    Reclaimer* owner;
    std::atomic<int> tid{0};
  };
  // Chains of blocks, in collection order (orphans first, then one per thread).
  using Batch = std::vector<RetireBlock*>;

  static void* WorkerEntry(void* worker);

  // How long a worker lets callbacks accumulate between batches (see Accumulate()).
  static constexpr std::chrono::microseconds kAccumulate{1000};
  // The shortest time between grace periods that StartPoll() requests start (see Accumulate()).
  static constexpr std::chrono::microseconds kPace{250};

  void StartWorkers() ABSL_LOCKS_EXCLUDED(mu_);
  void StartIfQueued() ABSL_LOCKS_EXCLUDED(mu_);
  void WorkerLoop(Worker& self);
  void Accumulate();
  void Idle();
  Batch CollectLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Invoke(Batch& batch);
  bool AnythingQueued() const;
  bool MustWake() const ABSL_LOCKS_EXCLUDED(mu_);
  bool BarrierRequested() const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t ApproximatePending() const;
  void Wake();
  void Throttle() ABSL_LOCKS_EXCLUDED(mu_);
  bool BatchesDoneThrough(uint64_t seq) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool EarlierBatchesDone(uint64_t seq) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ReadSide& readers_;
  GracePeriods& grace_periods_;
  CallbackQueue& queue_;
  BlockPool& pool_;
  const int threads_;
  const int64_t max_pending_;  // INT64_MAX: no bound

  mutable Mutex mu_;
  std::condition_variable_any progress_;  // a batch finished, or a collection happened
  std::vector<std::unique_ptr<Worker>> workers_ ABSL_GUARDED_BY(mu_);
  uint64_t collected_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint64_t> in_flight_ ABSL_GUARDED_BY(mu_);  // collected, not finished
  // Collected batches no worker has claimed for invocation yet, by collection number.
  std::vector<std::pair<uint64_t, Batch>> uninvoked_ ABSL_GUARDED_BY(mu_);
  std::vector<Worker*> paused_for_fork_;  // only between PauseForFork() and UnlockAfterFork()

  std::atomic<bool> started_{false};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> barrier_request_{0};
  std::atomic<bool> gp_requested_{false};
  std::atomic<int> idle_workers_{0};
  std::atomic<uint32_t> work_word_{0};
  std::atomic<bool> expedite_{false};
  // Chains taken over in the child of fork(), concatenated; collected before any thread's chain.
  std::atomic<RetireBlock*> orphans_{nullptr};

  std::atomic<uint64_t> flushed_{0};  // queued callbacks, in kQueuedFlushInterval steps
  std::atomic<uint64_t> invoked_{0};
  std::atomic<uint64_t> invoked_bytes_{0};
  std::atomic<uint64_t> peak_pending_{0};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> throttled_{0};
};

}  // namespace rcu::internal

#endif  // RCU_INTERNAL_RECLAIMER_H_
