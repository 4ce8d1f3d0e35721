#include "rcu/internal/reclaimer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>

#include "rcu/domain.h"
#include "rcu/internal/checker.h"
#include "rcu/internal/sys.h"

namespace rcu::internal {

constinit thread_local const void* tls_invoking_callbacks = nullptr;

namespace {

// Every live reclaimer, so fork() can quiesce them.
std::mutex& LiveMutex() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}
std::set<Reclaimer*>& Live() {
  static std::set<Reclaimer*>* live = new std::set<Reclaimer*>;
  return *live;
}

}  // namespace

Reclaimer::Reclaimer(Domain& domain, int slot, int threads, uint64_t max_pending)
    : domain_(domain),
      slot_(slot),
      threads_(std::max(1, threads)),
      max_pending_(
          static_cast<int64_t>(std::max<uint64_t>(max_pending, 2 * kQueuedFlushInterval))) {
  static const bool registered = [] {
    pthread_atfork(&ForkPrepare, &ForkParent, &ForkChild);
    return true;
  }();
  (void)registered;
  std::lock_guard<std::mutex> lock(LiveMutex());
  Live().insert(this);
}

constexpr size_t kMaxPooledBlocks = 256;  // 1 MiB

Reclaimer::~Reclaimer() {
  {
    std::lock_guard<std::mutex> lock(LiveMutex());
    Live().erase(this);
  }
  UpdateLock lock(pool_mu_);
  for (RetireBlock* block : pool_) delete block;
}

RetireBlock* Reclaimer::TakeBlock() {
  {
    UpdateLock lock(pool_mu_);
    if (!pool_.empty()) {
      RetireBlock* block = pool_.back();
      pool_.pop_back();
      return block;
    }
  }
  return new RetireBlock;
}

void Reclaimer::DrainAndStop() {
  std::vector<pthread_t> workers;
  {
    UpdateLock lock(mu_);
    stop_.store(true, std::memory_order_release);
    workers.swap(workers_);
  }
  Wake();
  for (pthread_t t : workers) pthread_join(t, nullptr);
  // Workers exit once a collection comes back empty, so everything queued has run. Reset the
  // slot's counters for the next domain that gets it.
  ForEachRecord([&](ThreadRecord& r) {
    r.queued[slot_].store(0, std::memory_order_relaxed);
    r.queued_bytes[slot_].store(0, std::memory_order_relaxed);
  });
}

void Reclaimer::OnQueued(uint64_t queued, bool first) {
  if (ABSL_PREDICT_FALSE(!started_.load(std::memory_order_acquire))) StartWorkers();
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
  if (pending + static_cast<int64_t>(kQueuedFlushInterval) > max_pending_ &&
      !domain_.InReadSection() && tls_invoking_callbacks == nullptr) {
    Throttle();
  }
}

void Reclaimer::Throttle() {
  throttled_.fetch_add(1, std::memory_order_relaxed);
  Wake();
  UpdateLock lock(mu_);
  progress_.wait(mu_, [&] {
    return ApproximatePending() <= max_pending_ / 2 || stop_.load(std::memory_order_relaxed);
  });
}

void Reclaimer::PushFullBlock(RetireBlock* block) {
  RetireBlock* head = full_blocks_.load(std::memory_order_relaxed);
  do {
    block->next = head;
  } while (!full_blocks_.compare_exchange_weak(head, block, std::memory_order_release,
                                               std::memory_order_relaxed));
  if (idle_workers_.load(std::memory_order_relaxed) > 0) Wake();
}

void Reclaimer::Barrier() {
  if (!started_.load(std::memory_order_acquire)) return;  // nothing was ever queued
  UpdateLock lock(mu_);
  if (in_flight_.empty() && !AnythingQueued()) return;  // no grace period needed
  const uint64_t target = collected_seq_ + 1;
  uint64_t request = barrier_request_.load(std::memory_order_relaxed);
  while (request < target &&
         !barrier_request_.compare_exchange_weak(request, target, std::memory_order_relaxed)) {
  }
  Wake();
  progress_.wait(mu_,
                 [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return BatchesDoneThrough(target); });
}

bool Reclaimer::BatchesDoneThrough(uint64_t seq) const {
  if (collected_seq_ < seq) return false;
  for (uint64_t s : in_flight_) {
    if (s <= seq) return false;
  }
  return true;
}

void Reclaimer::StartWorkers() {
  UpdateLock lock(mu_);
  if (started_.load(std::memory_order_relaxed)) return;
  for (int i = 0; i < threads_; ++i) {
    pthread_t t;
    if (pthread_create(&t, nullptr, &WorkerEntry, this) != 0) {
      std::fprintf(stderr, "rcu: cannot start a callback thread\n");
      std::abort();
    }
    workers_.push_back(t);
  }
  started_.store(true, std::memory_order_release);
}

void* Reclaimer::WorkerEntry(void* self) {
  static_cast<Reclaimer*>(self)->WorkerLoop();
  return nullptr;
}

void Reclaimer::WorkerLoop() {
  for (;;) {
    uint64_t seq;
    Batch batch;
    bool stopping;
    {
      UpdateLock lock(mu_);
      seq = ++collected_seq_;
      in_flight_.push_back(seq);
      batch = CollectLocked();
      stopping = stop_.load(std::memory_order_acquire);
    }
    if (!batch.empty()) {
      const GracePeriodCookie cookie = domain_.GetState();
      if (!domain_.PollState(cookie)) {
        if (expedite_.load(std::memory_order_relaxed)) {
          domain_.SynchronizeExpedited();
        } else {
          domain_.Synchronize();
        }
      }
      Invoke(batch);
    }
    {
      UpdateLock lock(mu_);
      in_flight_.erase(std::find(in_flight_.begin(), in_flight_.end(), seq));
      if (ApproximatePending() < max_pending_ / 4) {
        expedite_.store(false, std::memory_order_relaxed);
      }
    }
    progress_.notify_all();
    if (!batch.empty()) {
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
  // shutdown wakes the thread at once.
  const auto until = std::chrono::steady_clock::now() + kAccumulate;
  for (;;) {
    const uint32_t generation = work_word_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_acquire) || expedite_.load(std::memory_order_relaxed)) {
      return;
    }
    if (BarrierPending()) return;
    const auto left = until - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds::zero()) return;
    FutexWait(&work_word_, generation,
              std::chrono::duration_cast<std::chrono::nanoseconds>(left).count());
  }
}

void Reclaimer::Idle() {
  idle_workers_.fetch_add(1, std::memory_order_seq_cst);
  // Queueing threads load idle_workers_ after they publish a callback; the heavy fence makes sure
  // that either they see us idle (and wake us) or we see their callback below.
  HeavyFence();
  const uint32_t generation = work_word_.load(std::memory_order_acquire);
  const bool work = AnythingQueued() || stop_.load(std::memory_order_acquire) || BarrierPending();
  if (!work) FutexWait(&work_word_, generation, /*timeout_ns=*/0);
  idle_workers_.fetch_sub(1, std::memory_order_relaxed);
}

bool Reclaimer::BarrierPending() const {
  UpdateLock lock(mu_);
  return barrier_request_.load(std::memory_order_acquire) > collected_seq_;
}

void Reclaimer::Wake() {
  work_word_.fetch_add(1, std::memory_order_release);
  FutexWakeAll(&work_word_);
}

Reclaimer::Batch Reclaimer::CollectLocked() {
  Batch batch;
  batch.blocks = full_blocks_.exchange(nullptr, std::memory_order_acquire);
  ForEachRecord([&](ThreadRecord& r) {
    if (r.callbacks[slot_].load(std::memory_order_relaxed) != nullptr) {
      CallbackHead* list = r.callbacks[slot_].exchange(nullptr, std::memory_order_acquire);
      if (list != nullptr) batch.lists.push_back(list);
    }
    if (r.block[slot_].load(std::memory_order_relaxed) != nullptr) {
      // The owner may still be appending: the block is read only after the grace period.
      RetireBlock* block = r.block[slot_].exchange(nullptr, std::memory_order_acq_rel);
      if (block != nullptr) {
        block->next = batch.blocks;
        batch.blocks = block;
      }
    }
  });
  if (!batch.empty()) {
    batches_.fetch_add(1, std::memory_order_relaxed);
    const uint64_t queued = ExactQueued();
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
  for (RetireBlock* block = batch.blocks; block != nullptr;) {
    RetireBlock* next = block->next;
    const uint32_t count = block->count.load(std::memory_order_acquire);
    for (uint32_t i = 0; i < count; ++i) {
      ForgetRetired(block->entries[i].ptr);  // R7 tracking: the address may be reused from here
      block->entries[i].deleter(block->entries[i].ptr);
    }
    invoked += count;
    bytes += block->bytes;
    block->next = nullptr;
    block->count.store(0, std::memory_order_relaxed);
    block->bytes = 0;
    emptied.push_back(block);
    block = next;
  }
  if (!emptied.empty()) {
    UpdateLock lock(pool_mu_);
    while (!emptied.empty() && pool_.size() < kMaxPooledBlocks) {
      pool_.push_back(emptied.back());
      emptied.pop_back();
    }
  }
  for (RetireBlock* block : emptied) delete block;
  for (CallbackHead* list : batch.lists) {
    // Each thread's list is LIFO; run it in queueing order.
    CallbackHead* fifo = nullptr;
    while (list != nullptr) {
      CallbackHead* next = list->next;
      list->next = fifo;
      fifo = list;
      list = next;
    }
    while (fifo != nullptr) {
      CallbackHead* next = fifo->next;
      void (*func)(CallbackHead*) = fifo->func;
      fifo->next = nullptr;
      fifo->func = nullptr;  // not queued any more: the callback may queue it again
      func(fifo);
      ++invoked;
      fifo = next;
    }
  }
  tls_invoking_callbacks = nullptr;
  // Release: a reader of the counters (Stats) that sees these callbacks counted also sees what
  // they did.
  invoked_.fetch_add(invoked, std::memory_order_release);
  invoked_bytes_.fetch_add(bytes, std::memory_order_release);
}

bool Reclaimer::AnythingQueued() const {
  if (full_blocks_.load(std::memory_order_acquire) != nullptr) return true;
  bool any = false;
  ForEachRecord([&](const ThreadRecord& r) {
    any = any || r.callbacks[slot_].load(std::memory_order_acquire) != nullptr ||
          r.block[slot_].load(std::memory_order_acquire) != nullptr;
  });
  return any;
}

uint64_t Reclaimer::ExactQueued() const {
  uint64_t queued = 0;
  ForEachRecord(
      [&](const ThreadRecord& r) { queued += r.queued[slot_].load(std::memory_order_relaxed); });
  return queued;
}

int64_t Reclaimer::ApproximatePending() const {
  return static_cast<int64_t>(flushed_.load(std::memory_order_relaxed)) -
         static_cast<int64_t>(invoked_.load(std::memory_order_relaxed));
}

void Reclaimer::FillStats(DomainStats& stats) const {
  uint64_t bytes = 0;
  ForEachRecord([&](const ThreadRecord& r) {
    bytes += r.queued_bytes[slot_].load(std::memory_order_relaxed);
  });
  // Invoked counts are read first, so pending never goes below zero.
  const uint64_t invoked = invoked_.load(std::memory_order_acquire);
  const uint64_t invoked_bytes = invoked_bytes_.load(std::memory_order_acquire);
  stats.callbacks_queued = std::max(ExactQueued(), invoked);
  stats.callbacks_invoked = invoked;
  stats.callbacks_pending = stats.callbacks_queued - invoked;
  stats.pending_bytes = bytes > invoked_bytes ? bytes - invoked_bytes : 0;
  stats.peak_pending = peak_pending_.load(std::memory_order_relaxed);
  stats.callback_batches = batches_.load(std::memory_order_relaxed);
  stats.throttled = throttled_.load(std::memory_order_relaxed);
}

// fork(): the child has no worker threads and must not inherit a locked mutex.
void Reclaimer::ForkPrepare() {
  LiveMutex().lock();
  for (Reclaimer* r : Live()) r->mu_.lock();
}

void Reclaimer::ForkParent() {
  for (Reclaimer* r : Live()) r->mu_.unlock();
  LiveMutex().unlock();
}

void Reclaimer::ForkChild() {
  for (Reclaimer* r : Live()) {
    // Batches the parent's workers held are not in the child; their objects stay allocated
    // there (a leak in the child, never a double free). Everything still queued runs.
    r->workers_.clear();
    r->in_flight_.clear();
    r->idle_workers_.store(0, std::memory_order_relaxed);
    r->started_.store(false, std::memory_order_relaxed);
    r->mu_.unlock();
  }
  LiveMutex().unlock();
}

}  // namespace rcu::internal
