#include "rcu/internal/retire_block.h"

namespace rcu::internal {

BlockPool::~BlockPool() {
  MutexLock lock(mu_);
  for (RetireBlock* block : pool_) delete block;
}

RetireBlock* BlockPool::Take() {
  {
    MutexLock lock(mu_);
    if (!pool_.empty()) {
      RetireBlock* block = pool_.back();
      pool_.pop_back();
      return block;
    }
  }
  return new RetireBlock;
}

void BlockPool::Give(std::vector<RetireBlock*>& emptied) {
  for (RetireBlock* block : emptied) {
    block->next = nullptr;
    block->count = 0;
    block->bytes = 0;
  }
  {
    MutexLock lock(mu_);
    while (!emptied.empty() && pool_.size() < kMaxPooled) {
      pool_.push_back(emptied.back());
      emptied.pop_back();
    }
  }
  for (RetireBlock* block : emptied) delete block;
  emptied.clear();
}

}  // namespace rcu::internal
