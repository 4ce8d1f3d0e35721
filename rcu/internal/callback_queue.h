// Not part of the public API; include "rcu/domain.h".
//
// The callback queue of one domain: the producer half (Call() and Retire() append to the calling
// thread's own chain of retire blocks, in queueing order, and count what they queued) and the
// collector half (a callback thread steals every chain and counts what is queued).
//
// The protocol: the owner appends inside a read-side section of the domain; a collector steals a
// whole chain with one exchange of the queue line's head and reads it only after a grace period
// ([F4], reclaimer.cc), when every append that raced with the steal has finished. So an append
// needs no atomic read-modify-write, and an append after a steal finds the head null and starts
// a new chain. What a departed thread left queued is on the registry's departed line, collected
// first (thread_registry.h).
//
// An append touches the thread's reader line (the section) and queue line, and the tail block.

#ifndef RCU_INTERNAL_CALLBACK_QUEUE_H_
#define RCU_INTERNAL_CALLBACK_QUEUE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/base/optimization.h"
#include "rcu/internal/read_side.h"
#include "rcu/internal/retire_block.h"
#include "rcu/internal/source_location.h"
#include "rcu/internal/thread_state.h"
#include "rcu/version.h"

namespace rcu::internal {

// A thread reports its queued-callback count to the reclaimer's back-pressure count in steps of
// this many callbacks.
inline constexpr uint64_t kQueuedFlushInterval = 256;

class CallbackQueue {
 public:
  CallbackQueue(ReadSide& readers, BlockPool& pool) : readers_(readers), pool_(pool) {}

  CallbackQueue(const CallbackQueue&) = delete;
  CallbackQueue& operator=(const CallbackQueue&) = delete;

  // What the reclaimer must hear about an append: the thread's queued count when it started a
  // new chain (`first`: a sleeping callback thread may need waking) or crossed a multiple of
  // kQueuedFlushInterval; `queued` is 0 otherwise.
  struct Appended {
    uint64_t queued = 0;
    bool first = false;
  };

  // Appends {p, fn} (with `bytes` retired) to the calling thread's chain.
  Appended Append(void* p, void (*fn)(void*), size_t bytes, const SourceLocation& where) {
    ThreadState* s = readers_.Mine();
    ReaderLine* outermost = readers_.Begin(s, where);
    QueueLine& queue = s->queue;
    if (ABSL_PREDICT_TRUE(queue.head.load(std::memory_order_relaxed) != nullptr)) {
      RetireBlock* tail = queue.tail;
      const uint32_t n = tail->count;
      if (ABSL_PREDICT_TRUE(n < RetireBlock::kCapacity)) {
        tail->entries[n] = {p, fn};
        tail->bytes += bytes;
        tail->count = n + 1;
        readers_.End(s, outermost, where);
        return Count(queue, bytes, /*first=*/false);
      }
    }
    readers_.End(s, outermost, where);
    return AppendSlowPath(s, p, fn, bytes, where);
  }

  // Collector: steals every chain (the departed line's first), oldest first per thread.
  std::vector<RetireBlock*> Steal();
  // Whether anything is queued and not stolen yet.
  bool AnythingQueued();
  // Callbacks and bytes ever queued (departed threads included).
  uint64_t Queued();
  uint64_t QueuedBytes();

  // In the child of fork(): every chain, concatenated in order into one.
  RetireBlock* TakeAllInChild();

 private:
  static Appended Count(QueueLine& queue, size_t bytes, bool first) {
    const uint64_t n = queue.queued.load(std::memory_order_relaxed) + 1;
    queue.queued.store(n, std::memory_order_relaxed);
    if (bytes != 0) {
      queue.queued_bytes.store(queue.queued_bytes.load(std::memory_order_relaxed) + bytes,
                               std::memory_order_relaxed);
    }
    if (ABSL_PREDICT_FALSE(first || n % kQueuedFlushInterval == 0)) return {n, first};
    return {};
  }
  Appended AppendSlowPath(ThreadState* s, void* p, void (*fn)(void*), size_t bytes,
                          const SourceLocation& where);

  ReadSide& readers_;
  BlockPool& pool_;
};

}  // namespace rcu::internal

#endif  // RCU_INTERNAL_CALLBACK_QUEUE_H_
