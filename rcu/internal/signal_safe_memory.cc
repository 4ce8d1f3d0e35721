#include "rcu/internal/signal_safe_memory.h"

#include <sys/mman.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "rcu/internal/sys.h"

namespace rcu::internal {
namespace {

constexpr size_t kMinBlock = 64;
constexpr int kClasses = 16;                 // 64 B to 2 MiB
constexpr size_t kChunk = size_t{64} << 10;  // small blocks are carved from 64 KiB chunks

struct FreeBlock {
  FreeBlock* next;
};

std::atomic<bool> g_lock{false};
FreeBlock* g_free[kClasses] = {};
char* g_chunk = nullptr;  // the rest of the current chunk
size_t g_chunk_left = 0;

void Lock() {
  while (g_lock.exchange(true, std::memory_order_acquire)) CpuRelax();
}
void Unlock() { g_lock.store(false, std::memory_order_release); }

int ClassOf(size_t bytes) {
  int c = 0;
  while ((kMinBlock << c) < bytes) ++c;
  if (c >= kClasses) {
    std::fprintf(stderr, "rcu: per-thread state of %zu bytes is too large\n", bytes);
    std::abort();
  }
  return c;
}

void* Map(size_t bytes) {
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    std::fprintf(stderr, "rcu: cannot allocate per-thread state\n");
    std::abort();
  }
  return memory;
}

}  // namespace

void* AllocateSignalSafe(size_t bytes) {
  const int c = ClassOf(bytes);
  const size_t size = kMinBlock << c;
  Lock();
  void* block = g_free[c];
  if (block != nullptr) {
    g_free[c] = g_free[c]->next;
  } else if (size <= kChunk) {
    if (g_chunk_left < size) {
      // The tail of the old chunk is too small for this class: it stays unused (at most one
      // block of each smaller class's worth; chunks are never returned).
      g_chunk = static_cast<char*>(Map(kChunk));
      g_chunk_left = kChunk;
    }
    block = g_chunk;
    g_chunk += size;
    g_chunk_left -= size;
  }
  Unlock();
  if (block == nullptr) return Map(size);  // zero-filled already
  std::memset(block, 0, size);
  return block;
}

void FreeSignalSafe(void* block, size_t bytes) {
  const int c = ClassOf(bytes);
  Lock();
  auto* b = static_cast<FreeBlock*>(block);
  b->next = g_free[c];
  g_free[c] = b;
  Unlock();
}

void LockSignalSafeMemoryForFork() { Lock(); }
void UnlockSignalSafeMemoryAfterFork() { Unlock(); }

}  // namespace rcu::internal
