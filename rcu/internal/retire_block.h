// Not part of the public API; include "rcu/domain.h".
//
// A block of queued callbacks (the kernel's kvfree_rcu bulk pages), and the pool that recycles
// them. Each thread queues, per domain, into a FIFO chain of blocks (QueueLine in
// thread_state.h; the protocol is in callback_queue.h). Blocks move between threads (a queueing
// thread fills them, a callback thread empties them), and the pool keeps malloc's cross-thread
// free path off the queueing path.

#ifndef RCU_INTERNAL_RETIRE_BLOCK_H_
#define RCU_INTERNAL_RETIRE_BLOCK_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "rcu/internal/mutex.h"
#include "rcu/version.h"

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
  uint64_t bytes = 0;  // sum of the retired objects' sizes (owner-only until stolen)
  Entry entries[kCapacity];
};

static_assert(sizeof(RetireBlock) <= 4096, "a block fits a page");

// Empty blocks of one domain, up to 1 MiB of them; the rest go back to malloc.
class BlockPool {
 public:
  BlockPool() = default;
  ~BlockPool();

  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  // An empty block: recycled when one is available.
  RetireBlock* Take() ABSL_LOCKS_EXCLUDED(mu_);
  // Takes back emptied blocks (their fields reset here).
  void Give(std::vector<RetireBlock*>& emptied) ABSL_LOCKS_EXCLUDED(mu_);

  // fork(): held by the forking thread across fork().
  void LockForFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu_.lock(); }
  void UnlockAfterFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu_.unlock(); }

 private:
  static constexpr size_t kMaxPooled = 256;

  Mutex mu_;
  std::vector<RetireBlock*> pool_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rcu::internal

#endif  // RCU_INTERNAL_RETIRE_BLOCK_H_
