// Not part of the public API; include "rcu/domain.h".
//
// One thread's state in one domain: two cache lines, allocated when the thread first uses the
// domain (thread_registry.h) and freed after it exits.
//
//   reader line  what the thread's read-side sections write and a grace period's scan reads: the
//                section counter, the exit flags, the owner's nesting bookkeeping (on the same
//                line, so a section touches one line), and the registry's list link.
//   queue line   what Call() and Retire() append to and a callback thread steals from: the head
//                and tail of the thread's chain of retire blocks and its queued counts.
//
// No line is shared between domains or between threads, so a grace period of one domain never
// pulls a line another domain's readers write, and a Retire() touches the two lines of its own
// state (plus the block it appends to).

#ifndef RCU_INTERNAL_THREAD_STATE_H_
#define RCU_INTERNAL_THREAD_STATE_H_

#include <atomic>
#include <cstdint>

#include "rcu/internal/retire_block.h"
#include "rcu/version.h"

namespace rcu::internal {

// ReaderLine::exit bits.
inline constexpr uint32_t kWakeRequested = 1;  // a grace period sleeps until this reader leaves
inline constexpr uint32_t kFallbackFence = 2;  // readers fence for real (no membarrier)

struct ThreadState;
struct StateCache;

struct alignas(64) ReaderLine {
  // 0 while the thread is outside every section of the domain; the domain's epoch read at the
  // outermost entry while inside. Written by the owning thread (and by the registry for a thread
  // that exited or did not survive fork()), read by grace periods. Nesting needs no counter on
  // the fast path: the entry that found ctr at 0 is the outermost one and clears it at its end.
  std::atomic<uint64_t> ctr{0};
  // Nonzero sends the thread's section exits through ReadSide::ExitSlowPath(): kWakeRequested
  // (set by a grace period about to sleep on this reader, cleared by the reader when it wakes
  // it, once per sleep) or kFallbackFence (set for good when readers cannot rely on membarrier).
  // One load covers both on the fast path.
  std::atomic<uint32_t> exit{0};
  // Owner-only bookkeeping.
  uint32_t nested_locks = 0;  // open Domain::lock()s that found a section open already
  uint32_t debug_depth = 0;   // every section; maintained when RCU_DEBUG_CHECKS
  uint32_t debug_locks = 0;   // open Domain::lock()s; maintained when RCU_DEBUG_CHECKS
  // Registry fields: the next state of the domain's list (a grace period follows it without a
  // lock), the owner's kernel thread id (for reports), its per-thread table (fork() tells the
  // forking thread's states from the others by it) and its state cache (cleared of a destroyed
  // domain).
  // `limbo_next` links a departed state until it is freed (thread_registry.h).
  std::atomic<ThreadState*> next{nullptr};
  ThreadState* limbo_next = nullptr;
  int tid = 0;
  // Outermost sections the owner entered (wraps); maintained when RCU_DEBUG_CHECKS, to tell one
  // section from a later one (ReadSide::CurrentSection()).
  uint32_t debug_sections = 0;
  const void* owner = nullptr;
  StateCache* cache = nullptr;
};

struct alignas(64) QueueLine {
  // The thread's callback queue: a FIFO chain of retire blocks holding Call()s and Retire()s in
  // queueing order. `head` is the oldest block; a callback thread steals the whole chain with
  // one exchange. `tail` is the block the owner appends to (owner-only while `head` is set).
  std::atomic<RetireBlock*> head{nullptr};
  RetireBlock* tail = nullptr;
  // How many callbacks and retired bytes the thread has queued in this domain (owner-written,
  // summed for statistics and back-pressure; folded into the registry's departed line when the
  // thread exits, so nothing it queued goes uncounted).
  std::atomic<uint64_t> queued{0};
  std::atomic<uint64_t> queued_bytes{0};

  // Appends the chain `first`..`last` (linked through RetireBlock::next, oldest first) after the
  // line's own chain; returns whether that was empty (stolen, or never filled: `tail` is stale
  // then and is not followed). Only the line's appender calls it: its owner, or whoever holds
  // the line alone (the registry's departed line, a chain gathered at fork()).
  bool Splice(RetireBlock* first, RetireBlock* last) {
    const bool was_empty = head.load(std::memory_order_relaxed) == nullptr;
    if (was_empty) {
      head.store(first, std::memory_order_release);
    } else {
      tail->next = first;  // read by the stealer only after a grace period [F4]
    }
    tail = last;
    return was_empty;
  }
};

struct ThreadState {
  ReaderLine reader;
  QueueLine queue;
};

static_assert(sizeof(ReaderLine) == 64 && sizeof(QueueLine) == 64,
              "each half of a thread's state is one cache line");

}  // namespace rcu::internal

#endif  // RCU_INTERNAL_THREAD_STATE_H_
