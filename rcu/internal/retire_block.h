// Not part of the public API; include "rcu/domain.h".
//
// A block of retired pointers (the kernel's kvfree_rcu bulk pages): `Domain::Retire()` appends
// to its thread's current block instead of allocating per call. The owner thread appends inside a
// read-side section of the block's domain; a reclaimer worker that steals the block (an atomic
// exchange of the thread's block pointer) reads it only after a grace period, when every append
// that raced with the steal has finished. So appends need no atomic read-modify-write.

#ifndef RCU_INTERNAL_RETIRE_BLOCK_H_
#define RCU_INTERNAL_RETIRE_BLOCK_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace rcu::internal {

struct RetireBlock {
  static constexpr uint32_t kCapacity = 254;  // a block is 4 KiB

  struct Entry {
    void* ptr;
    void (*deleter)(void*);
  };

  RetireBlock* next = nullptr;      // in the domain's list of full blocks
  std::atomic<uint32_t> count{0};   // entries written (owner: release store)
  uint32_t padding = 0;
  uint64_t bytes = 0;               // sum of the retired objects' sizes (owner-only until stolen)
  Entry entries[kCapacity];
};

}  // namespace rcu::internal

#endif  // RCU_INTERNAL_RETIRE_BLOCK_H_
