// Not part of the public API; include "rcu/domain.h".
//
// A block of queued callbacks (the kernel's kvfree_rcu bulk pages). Each thread queues, per
// domain, into a FIFO chain of blocks (ThreadRecord::queue); `Domain::Retire(p)` appends
// {p, deleter} and `Domain::Call(head, f)` appends {head, RunCallbackHead}, so one thread's
// Calls and Retires run in the order it queued them. The owner appends inside a read-side section
// of the block's domain; a callback thread steals the whole chain (one exchange of the thread's
// `queue` pointer) and reads it only after a grace period, when every append that raced with the
// steal has finished. So appends need no atomic read-modify-write, and an append after the steal
// finds `queue` null and starts a new chain.

#ifndef RCU_INTERNAL_RETIRE_BLOCK_H_
#define RCU_INTERNAL_RETIRE_BLOCK_H_

#include <cstddef>
#include <cstdint>

namespace rcu::internal {

struct RetireBlock {
  static constexpr uint32_t kCapacity = 254;  // a block is 4 KiB

  struct Entry {
    void* ptr;
    void (*fn)(void*);
  };

  RetireBlock* next = nullptr;  // the next (newer) block of the same chain
  uint32_t count = 0;           // entries written (owner-only until stolen)
  uint32_t padding = 0;
  uint64_t bytes = 0;           // sum of the retired objects' sizes (owner-only until stolen)
  Entry entries[kCapacity];
};

static_assert(sizeof(RetireBlock) <= 4096, "a block fits a page");

}  // namespace rcu::internal

#endif  // RCU_INTERNAL_RETIRE_BLOCK_H_
