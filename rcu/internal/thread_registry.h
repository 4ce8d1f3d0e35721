// Not part of the public API; include "rcu/domain.h".
//
// The reader registry: one `ThreadRecord` per live thread that has ever entered a read-side
// section of any domain, holding that thread's reader state and callback queue for every domain
// (indexed by the domain's slot). Registration is implicit: the first section registers the
// calling thread, and a pthread key destructor unregisters it when the thread exits, after the
// thread's C++ thread_local destructors (which may still use RCU). A thread that exits inside a
// section (R6) is reported and its section is ended, so grace periods never wait for a thread
// that is gone (R11). What it queued stays in its record and is collected from there.
//
// Registration is async-signal-safe: it blocks signals while it runs (so a handler never sees a
// half-registered thread), allocates records with mmap() rather than malloc(), and creates its
// pthread key at load time. So a signal handler may enter the first section of a thread.
//
// Records are never freed, only recycled, so a grace period walks the list without locks.

#ifndef RCU_INTERNAL_THREAD_REGISTRY_H_
#define RCU_INTERNAL_THREAD_REGISTRY_H_

#include <atomic>
#include <cstdint>

#include "absl/base/attributes.h"
#include "rcu/internal/retire_block.h"

namespace rcu::internal {

// How many rcu::Domain objects may be alive at once (the default domain is one of them).
inline constexpr int kMaxDomains = 64;

// A thread reports its queued-callback count to the domain's back-pressure count in steps of
// this many callbacks.
inline constexpr uint64_t kQueuedFlushInterval = 256;

// One thread's reader state for one domain. `ctr` and `exit` share a cache line: a reader
// leaving its section stores the one and loads the other.
struct alignas(16) ReaderState {
  // 0 while the thread is outside every section of the domain; the domain's epoch read at the
  // outermost entry while inside. Written only by the owning thread (and by the registry for a
  // thread that exited or did not survive fork()), read by grace periods. Nesting needs no
  // counter on the fast path: the entry that found ctr at 0 is the outermost one and is the one
  // that clears it (ReadGuard remembers which it was).
  std::atomic<uint64_t> ctr{0};
  // Nonzero sends the thread's section exits through Domain::ExitSlowPath(). Two reasons:
  // kWakeRequested, set by a grace period about to sleep until this thread leaves its section
  // (the thread clears it and wakes the sleeper, once per sleep; domain.cc [F2]), and
  // kFallbackFence, set for good on every record when readers cannot rely on membarrier (their
  // exit needs a real fence). One load covers both on the fast path.
  std::atomic<uint32_t> exit{0};
};

inline constexpr uint32_t kWakeRequested = 1;
inline constexpr uint32_t kFallbackFence = 2;

struct alignas(64) ThreadRecord {
  ReaderState reader[kMaxDomains];
  // Owner-only bookkeeping (and fork/exit cleanup):
  uint32_t lock_depth[kMaxDomains] = {};   // Domain::lock() nesting
  bool lock_owns[kMaxDomains] = {};        // the outermost lock() began the outermost section
  uint32_t debug_depth[kMaxDomains] = {};  // every section; maintained when RCU_DEBUG_CHECKS
  // This thread's callback queue, per domain: a FIFO chain of retire blocks holding both
  // Call()s and Retire()s in queueing order. `queue` points at the oldest block; a callback
  // thread steals the whole chain with one exchange. `queue_tail` is the block the owner
  // appends to (owner-only; meaningful while `queue` is not null). See retire_block.h.
  std::atomic<RetireBlock*> queue[kMaxDomains] = {};
  RetireBlock* queue_tail[kMaxDomains] = {};
  // How many callbacks and retired bytes this thread has ever queued (owner-written counters,
  // summed for statistics; they outlive the thread, so nothing it queued is uncounted).
  std::atomic<uint64_t> queued[kMaxDomains] = {};
  std::atomic<uint64_t> queued_bytes[kMaxDomains] = {};
  std::atomic<bool> in_use{false};
  std::atomic<int> tid{0};
  ThreadRecord* next = nullptr;  // immutable once the record is published
};

// The calling thread's record, or null before its first read-side section.
extern constinit thread_local ThreadRecord* tls_record ABSL_ATTRIBUTE_INITIAL_EXEC;

// Registers the calling thread (slow path of the first section). Async-signal-safe.
ThreadRecord* RegisterThisThread();

// The first record of the registry; follow `next`. Skip records that are not `in_use`.
ThreadRecord* RegistryHead();

// Visits every record ever created, live or recycled (callbacks queued by threads that exited
// are still in their records).
template <typename Fn>
void ForEachRecord(Fn fn) {
  for (ThreadRecord* r = RegistryHead(); r != nullptr; r = r->next) fn(*r);
}

// Whether any registered thread other than the caller exists. The caller issues a seq_cst fence
// first ([S1] in domain.cc), which pairs with the fence registration issues after counting the
// new thread ([S2]): either the caller sees the new thread, or the new thread's first section
// sees everything the caller wrote before its fence.
bool OtherThreadsRegistered();

// The futex word a grace period of the domain in `slot` sleeps on; a reader the sleeper asked
// (ReaderState::wake), and exiting threads, bump it and wake the sleeper.
std::atomic<uint32_t>& SlotWakeWord(int slot);
void WakeSlot(int slot);

// In the child of fork(): releases the records of the threads that did not survive (their
// sections are ended; their queues stay for the domains to collect).
void RegistryAfterForkInChild();

}  // namespace rcu::internal

#endif  // RCU_INTERNAL_THREAD_REGISTRY_H_
