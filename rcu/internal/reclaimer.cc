#include "rcu/internal/reclaimer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <vector>

#include "rcu/internal/checker.h"
#include "rcu/internal/sys.h"
#include "rcu/internal/thread_state.h"

namespace rcu::internal {

constinit thread_local const void* tls_invoking_callbacks = nullptr;

namespace {

// Bounds from this value up mean "no bound" (DomainOptions::max_pending_callbacks).
constexpr uint64_t kUnbounded = uint64_t{1} << 62;

int64_t PendingBound(uint64_t max_pending) {
  if (max_pending >= kUnbounded) return std::numeric_limits<int64_t>::max();
  return static_cast<int64_t>(std::max<uint64_t>(max_pending, 2 * kQueuedFlushInterval));
}

}  // namespace

Reclaimer::Reclaimer(ReadSide& readers, GracePeriods& grace_periods, CallbackQueue& queue,
                     BlockPool& pool, int threads, uint64_t max_pending)
    : readers_(readers),
      grace_periods_(grace_periods),
      queue_(queue),
      pool_(pool),
      threads_(threads),
      max_pending_(PendingBound(max_pending)) {}

Reclaimer::~Reclaimer() = default;

void Reclaimer::DrainAndStop() {
  StartIfQueued();
  std::vector<std::unique_ptr<Worker>> workers;
  {
    MutexLock lock(mu_);
    stop_.store(true, std::memory_order_release);
    workers.swap(workers_);
  }
  Wake();
  // Workers exit once a collection comes back empty, so everything queued has run.
  for (const std::unique_ptr<Worker>& w : workers) pthread_join(w->thread, nullptr);
}

void Reclaimer::OnQueued(uint64_t queued, bool first) {
  if (ABSL_PREDICT_FALSE(!started_.load(std::memory_order_acquire))) StartWorkers();
  // [F3] after the queueing thread's light fence (CallbackQueue::AppendSlowPath); pairs with
  // Idle().
  if (first && idle_workers_.load(std::memory_order_relaxed) > 0) Wake();
  if (queued % kQueuedFlushInterval != 0) return;
  flushed_.fetch_add(kQueuedFlushInterval, std::memory_order_relaxed);
  const int64_t pending = ApproximatePending();
  if (pending >= max_pending_ / 2 && !expedite_.load(std::memory_order_relaxed)) {
    expedite_.store(true, std::memory_order_relaxed);
    Wake();
  }
  // Never throttle a thread the workers might be waiting for: one inside a section of this
  // domain (the grace period waits for it) or a worker itself.
  if (pending > max_pending_ - static_cast<int64_t>(kQueuedFlushInterval) &&
      !readers_.InSection() && tls_invoking_callbacks == nullptr) {
    Throttle();
  }
}

void Reclaimer::Throttle() {
  throttled_.fetch_add(1, std::memory_order_relaxed);
  Wake();
  MutexLock lock(mu_);
  progress_.wait(mu_, [&] {
    return ApproximatePending() <= max_pending_ / 2 || stop_.load(std::memory_order_relaxed);
  });
}

bool Reclaimer::Barrier(std::chrono::steady_clock::time_point deadline) {
  StartIfQueued();
  if (!started_.load(std::memory_order_acquire)) return true;  // nothing was ever queued
  MutexLock lock(mu_);
  if (in_flight_.empty() && !AnythingQueued()) return true;  // no grace period needed
  const uint64_t target = collected_seq_ + 1;
  uint64_t request = barrier_request_.load(std::memory_order_relaxed);
  while (request < target &&
         !barrier_request_.compare_exchange_weak(request, target, std::memory_order_relaxed)) {
  }
  Wake();
  const auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return BatchesDoneThrough(target); };
  if (deadline == std::chrono::steady_clock::time_point::max()) {
    progress_.wait(mu_, done);
    return true;
  }
  return progress_.wait_until(mu_, deadline, done);
}

void Reclaimer::RequestGracePeriod() {
  if (!started_.load(std::memory_order_acquire)) StartWorkers();
  // Only the request that raises the flag wakes the workers: while it is up, a worker has yet to
  // take it (it looks before it sleeps), so later requests cost no system call.
  if (gp_requested_.exchange(true, std::memory_order_acq_rel)) return;
  Wake();
}

bool Reclaimer::BatchesDoneThrough(uint64_t seq) const {
  if (collected_seq_ < seq) return false;
  for (uint64_t s : in_flight_) {
    if (s <= seq) return false;
  }
  return true;
}

bool Reclaimer::EarlierBatchesDone(uint64_t seq) const {
  for (uint64_t s : in_flight_) {
    if (s < seq) return false;
  }
  return true;
}

void Reclaimer::StartIfQueued() {
  // In the child of fork() callbacks may be queued while the workers have not restarted yet.
  if (!started_.load(std::memory_order_acquire) && AnythingQueued()) StartWorkers();
}

void Reclaimer::StartWorkers() {
  MutexLock lock(mu_);
  if (started_.load(std::memory_order_relaxed)) return;
  for (int i = 0; i < threads_; ++i) {
    auto worker = std::make_unique<Worker>();
    worker->owner = this;
    if (pthread_create(&worker->thread, nullptr, &WorkerEntry, worker.get()) != 0) {
      std::fprintf(stderr, "rcu: cannot start a callback thread\n");
      std::abort();
    }
    workers_.push_back(std::move(worker));
  }
  started_.store(true, std::memory_order_release);
}

bool Reclaimer::IsWorker(int tid) const {
  MutexLock lock(mu_);
  for (const std::unique_ptr<Worker>& w : workers_) {
    if (w->tid.load(std::memory_order_relaxed) == tid) return true;
  }
  return false;
}

void* Reclaimer::WorkerEntry(void* worker) {
  auto* w = static_cast<Worker*>(worker);
  w->tid.store(CurrentTid(), std::memory_order_relaxed);
  w->owner->WorkerLoop(*w);
  return nullptr;
}

void Reclaimer::WorkerLoop(Worker& self) {
  for (;;) {
    uint64_t seq;
    bool collected, stopping;
    {
      MutexLock lock(mu_);
      seq = ++collected_seq_;
      in_flight_.push_back(seq);
      Batch batch = CollectLocked();
      collected = !batch.empty();
      if (collected) uninvoked_.emplace_back(seq, std::move(batch));
      stopping = stop_.load(std::memory_order_acquire);
    }
    const bool gp_requested = gp_requested_.exchange(false, std::memory_order_acq_rel);
    if (collected || gp_requested) {
      // [F4] the grace period orders every append to the stolen chains (made inside read-side
      // sections, retire_block.h) before the callbacks run.
      grace_periods_.Wait(/*expedited=*/expedite_.load(std::memory_order_relaxed));
    }
    if (collected) {
      {
        MutexLock lock(mu_);
        progress_.wait(mu_, [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return EarlierBatchesDone(seq);  // callbacks run in collection order
        });
      }
      std::lock_guard<std::mutex> busy(self.busy);  // fork() waits for what follows
      Batch batch;
      {
        MutexLock lock(mu_);
        auto it = std::find_if(uninvoked_.begin(), uninvoked_.end(),
                               [&](const auto& entry) { return entry.first == seq; });
        batch = std::move(it->second);
        uninvoked_.erase(it);
      }
      Invoke(batch);
    }
    {
      MutexLock lock(mu_);
      in_flight_.erase(std::find(in_flight_.begin(), in_flight_.end(), seq));
      if (ApproximatePending() < max_pending_ / 4) {
        expedite_.store(false, std::memory_order_relaxed);
      }
    }
    progress_.notify_all();
    if (collected || gp_requested) {
      Accumulate();
      continue;
    }
    if (stopping) return;
    Idle();
  }
}

void Reclaimer::Accumulate() {
  // Let callbacks accumulate for a while before the next grace period, as the kernel does: one
  // grace period (one membarrier, which interrupts every running thread of the process) then
  // serves a millisecond's worth of callbacks instead of a few. A Barrier(), back-pressure or
  // shutdown wakes the thread at once; a StartPoll() request ends the pause too, but no sooner
  // than kPace after the last grace period, so that a stream of requests (a hash map recycles its
  // slots a batch at a time) costs one grace period per kPace instead of one per request.
  const auto now = std::chrono::steady_clock::now();
  const auto until = now + kAccumulate;
  const auto paced = now + kPace;
  for (;;) {
    const uint32_t generation = work_word_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_acquire) || expedite_.load(std::memory_order_relaxed)) {
      return;
    }
    if (BarrierRequested()) return;
    const bool requested = gp_requested_.load(std::memory_order_acquire);
    const auto left = (requested ? paced : until) - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds::zero()) return;
    FutexWait(&work_word_, generation,
              std::chrono::duration_cast<std::chrono::nanoseconds>(left).count());
  }
}

void Reclaimer::Idle() {
  idle_workers_.fetch_add(1, std::memory_order_relaxed);
  // [F3] heavy: queueing threads load idle_workers_ after they publish a chain and a light
  // fence; either they see us idle (and wake us) or we see their chain below.
  HeavyFence();
  const uint32_t generation = work_word_.load(std::memory_order_acquire);
  const bool work = AnythingQueued() || stop_.load(std::memory_order_acquire) || MustWake();
  if (!work) FutexWait(&work_word_, generation, /*timeout_ns=*/0);
  idle_workers_.fetch_sub(1, std::memory_order_relaxed);
}

bool Reclaimer::MustWake() const {
  return gp_requested_.load(std::memory_order_acquire) || BarrierRequested();
}

bool Reclaimer::BarrierRequested() const {
  MutexLock lock(mu_);
  return barrier_request_.load(std::memory_order_acquire) > collected_seq_;
}

void Reclaimer::Wake() {
  work_word_.fetch_add(1, std::memory_order_release);
  FutexWakeAll(&work_word_);
}

Reclaimer::Batch Reclaimer::CollectLocked() {
  Batch batch;
  if (orphans_.load(std::memory_order_relaxed) != nullptr) {
    batch.push_back(orphans_.exchange(nullptr, std::memory_order_acquire));
  }
  for (RetireBlock* chain : queue_.Steal()) batch.push_back(chain);
  if (!batch.empty()) {
    batches_.fetch_add(1, std::memory_order_relaxed);
    const uint64_t queued = queue_.Queued();
    const uint64_t invoked = invoked_.load(std::memory_order_relaxed);
    const uint64_t pending = queued > invoked ? queued - invoked : 0;
    uint64_t peak = peak_pending_.load(std::memory_order_relaxed);
    while (pending > peak &&
           !peak_pending_.compare_exchange_weak(peak, pending, std::memory_order_relaxed)) {
    }
  }
  return batch;
}

void Reclaimer::Invoke(Batch& batch) {
  tls_invoking_callbacks = this;
  uint64_t invoked = 0, bytes = 0;
  std::vector<RetireBlock*> emptied;
  for (RetireBlock* chain : batch) {
    for (RetireBlock* block = chain; block != nullptr;) {
      for (uint32_t i = 0; i < block->count; ++i) {
        const RetireBlock::Entry entry = block->entries[i];
        RetireTracking::Forget(entry.ptr);  // R7/R9: the address may be reused from here
        entry.fn(entry.ptr);
      }
      invoked += block->count;
      bytes += block->bytes;
      emptied.push_back(block);
      block = block->next;
    }
  }
  tls_invoking_callbacks = nullptr;
  pool_.Give(emptied);
  // Release: a reader of the counters (Stats) that sees these callbacks counted also sees what
  // they did.
  invoked_.fetch_add(invoked, std::memory_order_release);
  invoked_bytes_.fetch_add(bytes, std::memory_order_release);
}

bool Reclaimer::AnythingQueued() const {
  return orphans_.load(std::memory_order_acquire) != nullptr || queue_.AnythingQueued();
}

int64_t Reclaimer::ApproximatePending() const {
  return static_cast<int64_t>(flushed_.load(std::memory_order_relaxed)) -
         static_cast<int64_t>(invoked_.load(std::memory_order_relaxed));
}

Reclaimer::Stats Reclaimer::GetStats() const {
  Stats stats;
  // Invoked counts are read first, so pending never goes below zero.
  stats.invoked = invoked_.load(std::memory_order_acquire);
  const uint64_t invoked_bytes = invoked_bytes_.load(std::memory_order_acquire);
  const uint64_t bytes = queue_.QueuedBytes();
  stats.queued = std::max(queue_.Queued(), stats.invoked);
  stats.pending_bytes = bytes > invoked_bytes ? bytes - invoked_bytes : 0;
  stats.peak_pending = peak_pending_.load(std::memory_order_relaxed);
  stats.batches = batches_.load(std::memory_order_relaxed);
  stats.throttled = throttled_.load(std::memory_order_relaxed);
  return stats;
}

void Reclaimer::PauseForFork() {
  for (;;) {
    std::vector<Worker*> workers;
    {
      MutexLock lock(mu_);
      for (const std::unique_ptr<Worker>& w : workers_) workers.push_back(w.get());
    }
    for (Worker* w : workers) {
      if (std::find(paused_for_fork_.begin(), paused_for_fork_.end(), w) !=
          paused_for_fork_.end()) {
        continue;
      }
      w->busy.lock();  // the worker finishes the batch it holds, if any
      paused_for_fork_.push_back(w);
    }
    mu_.lock();
    if (workers_.size() == paused_for_fork_.size()) break;  // no worker started meanwhile
    mu_.unlock();
  }
  pool_.LockForFork();
}

void Reclaimer::UnlockAfterFork(bool child) {
  for (Worker* w : paused_for_fork_) w->busy.unlock();
  paused_for_fork_.clear();
  if (child) {
    // The workers do not exist here. Every callback not yet run is in a batch nobody claimed or
    // in some thread's chain: take them all, in order, so the next Call() starts a new chain (and
    // restarts the workers), and Barrier() and ~Domain() see them.
    QueueLine gathered;
    const auto append = [&](RetireBlock* chain) {
      if (chain == nullptr) return;
      RetireBlock* last = chain;
      while (last->next != nullptr) last = last->next;
      gathered.Splice(chain, last);
    };
    append(orphans_.load(std::memory_order_relaxed));
    std::sort(uninvoked_.begin(), uninvoked_.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [seq, batch] : uninvoked_) {
      for (RetireBlock* chain : batch) append(chain);
    }
    append(queue_.TakeAllInChild());
    orphans_.store(gathered.head.load(std::memory_order_relaxed), std::memory_order_relaxed);
    uninvoked_.clear();
    workers_.clear();
    in_flight_.clear();
    idle_workers_.store(0, std::memory_order_relaxed);
    started_.store(false, std::memory_order_relaxed);
    // A parent thread may have been inside the condition variable (glibc's condition variables
    // can wait for waiters that will never come back): start from a fresh one. The old one's
    // storage is reused without its destructor, which would wait for those waiters. What it
    // owns (libstdc++'s condition_variable_any holds a heap-allocated mutex) can never be freed:
    // its bytes are kept where leak checkers look, so that a child's exit reports no leak.
    static auto* const kept = new std::vector<std::unique_ptr<unsigned char[]>>;
    kept->push_back(std::make_unique<unsigned char[]>(sizeof(progress_)));
    std::memcpy(kept->back().get(), static_cast<void*>(&progress_), sizeof(progress_));
    new (&progress_) std::condition_variable_any;
  }
  pool_.UnlockAfterFork();
  mu_.unlock();
}

}  // namespace rcu::internal
