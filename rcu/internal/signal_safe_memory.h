// Not part of the public API.
//
// Memory for per-thread state that a signal handler may need to allocate: a thread's first
// read-side section of a domain can run in a handler, so its state cannot come from malloc().
// Blocks come in power-of-two sizes from 64 bytes, carved from mmap()ed chunks and recycled
// through one free list per size; a freed block is reused, never unmapped. Callers block signals
// around every call (registration and departure do), so the spinlock that guards the free lists
// is never taken by a handler that interrupted its holder.

#ifndef RCU_INTERNAL_SIGNAL_SAFE_MEMORY_H_
#define RCU_INTERNAL_SIGNAL_SAFE_MEMORY_H_

#include <cstddef>

#include "rcu/version.h"

namespace rcu::internal {

// A zero-filled block of at least `bytes` bytes, aligned to 64. Aborts when out of memory.
void* AllocateSignalSafe(size_t bytes);
// Returns a block of `bytes` (the size it was allocated with) for reuse.
void FreeSignalSafe(void* block, size_t bytes);

// fork(): the forking thread holds the allocator's lock across fork().
void LockSignalSafeMemoryForFork();
void UnlockSignalSafeMemoryAfterFork();

}  // namespace rcu::internal

#endif  // RCU_INTERNAL_SIGNAL_SAFE_MEMORY_H_
