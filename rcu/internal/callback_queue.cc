#include "rcu/internal/callback_queue.h"

#include "rcu/internal/sys.h"

namespace rcu::internal {

CallbackQueue::Appended CallbackQueue::AppendSlowPath(ThreadState* s, void* p, void (*fn)(void*),
                                                      size_t bytes, const SourceLocation& where) {
  // This thread's chain is empty (or was stolen), or its tail block is full.
  RetireBlock* fresh = pool_.Take();
  fresh->entries[0] = {p, fn};
  fresh->bytes = bytes;
  fresh->count = 1;
  ReaderLine* outermost = readers_.Begin(s, where);  // see Append()
  QueueLine& queue = s->queue;
  const bool first = queue.Splice(fresh, fresh);
  readers_.End(s, outermost, where);
  // [F3] light: the new chain is published before the reclaimer looks for idle callback threads
  // (End() fences only for an outermost section).
  if (first) LightFence(readers_.light());
  return Count(queue, bytes, first);
}

std::vector<RetireBlock*> CallbackQueue::Steal() {
  std::vector<RetireBlock*> chains;
  readers_.registry().ForEachQueueLocked([&](QueueLine& queue) {
    if (queue.head.load(std::memory_order_relaxed) == nullptr) return;
    // The owner may still be appending: the chain is read only after the grace period [F4].
    if (RetireBlock* chain = queue.head.exchange(nullptr, std::memory_order_acq_rel)) {
      chains.push_back(chain);
    }
  });
  return chains;
}

bool CallbackQueue::AnythingQueued() {
  bool any = false;
  readers_.registry().ForEachQueueLocked([&](QueueLine& queue) {
    any = any || queue.head.load(std::memory_order_acquire) != nullptr;
  });
  return any;
}

uint64_t CallbackQueue::Queued() {
  uint64_t queued = 0;
  readers_.registry().ForEachQueueLocked(
      [&](QueueLine& queue) { queued += queue.queued.load(std::memory_order_relaxed); });
  return queued;
}

uint64_t CallbackQueue::QueuedBytes() {
  uint64_t bytes = 0;
  readers_.registry().ForEachQueueLocked(
      [&](QueueLine& queue) { bytes += queue.queued_bytes.load(std::memory_order_relaxed); });
  return bytes;
}

RetireBlock* CallbackQueue::TakeAllInChild() {
  QueueLine gathered;
  // The registries were released first (ForkChild in domain.cc), with the departed threads'
  // chains on the departed line.
  readers_.registry().ForEachQueueLocked([&](QueueLine& queue) {
    RetireBlock* chain = queue.head.exchange(nullptr, std::memory_order_relaxed);
    if (chain != nullptr) gathered.Splice(chain, queue.tail);
  });
  return gathered.head.load(std::memory_order_relaxed);
}

}  // namespace rcu::internal
