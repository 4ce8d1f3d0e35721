// Not part of the public API; include "rcu/domain.h".
//
// The reader registry: one `ThreadRecord` per live thread that has ever entered a read-side
// section of any domain, holding that thread's reader state for every domain (indexed by the
// domain's slot). Registration is implicit: `Domain::lock()` registers the calling thread on its
// first use, and a pthread key destructor unregisters it when the thread exits, after the
// thread's C++ thread_local destructors (which may still use RCU). A thread that exits inside a
// section (R6) is reported and its section is ended, so grace periods never wait for a thread
// that is gone (R11).
//
// Records are never freed, only recycled, so a grace period walks the list without locks.

#ifndef RCU_INTERNAL_THREAD_REGISTRY_H_
#define RCU_INTERNAL_THREAD_REGISTRY_H_

#include <atomic>
#include <cstdint>

#include "absl/base/attributes.h"
#include "rcu/callback.h"
#include "rcu/internal/retire_block.h"

namespace rcu::internal {

// How many rcu::Domain objects may be alive at once (the default domain is one of them).
inline constexpr int kMaxDomains = 64;

// A thread reports its queued-callback count to the domain's back-pressure count in steps of
// this many callbacks.
inline constexpr uint64_t kQueuedFlushInterval = 256;

struct alignas(64) ThreadRecord {
  // ctr[slot] is 0 while this thread is outside every section of the domain in `slot`, and the
  // domain's epoch read at the outermost entry while inside. Written only by the owning thread,
  // read by grace periods. Nesting needs no counter on the fast path: the entry that found ctr at
  // 0 is the outermost one and is the one that clears it (ReadGuard remembers which it was).
  std::atomic<uint64_t> ctr[kMaxDomains] = {};
  // Owner-only bookkeeping (and fork/exit cleanup):
  uint32_t lock_depth[kMaxDomains] = {};  // Domain::lock() nesting
  bool lock_owns[kMaxDomains] = {};       // the outermost lock() began the outermost section
  uint32_t debug_depth[kMaxDomains] = {};  // every section; maintained when RCU_DEBUG_CHECKS
  // Deferred reclamation, per domain: this thread's queued callbacks (a LIFO list; the owner
  // pushes with a CAS, a worker steals the whole list with an exchange), its current retire
  // block, and how many callbacks and retired bytes it has ever queued (owner-written counters,
  // summed for statistics; they outlive the thread, so nothing it queued is lost or uncounted).
  std::atomic<CallbackHead*> callbacks[kMaxDomains] = {};
  std::atomic<RetireBlock*> block[kMaxDomains] = {};
  std::atomic<uint64_t> queued[kMaxDomains] = {};
  std::atomic<uint64_t> queued_bytes[kMaxDomains] = {};
  std::atomic<bool> in_use{false};
  std::atomic<int> tid{0};
  ThreadRecord* next = nullptr;  // immutable once the record is published
};

// The calling thread's record, or null before its first read-side section.
extern constinit thread_local ThreadRecord* tls_record ABSL_ATTRIBUTE_INITIAL_EXEC;

// Registers the calling thread (slow path of the first Domain::lock()).
ThreadRecord* RegisterThisThread();

// The first record of the registry; follow `next`. Skip records that are not `in_use`.
ThreadRecord* RegistryHead();

// Visits every record ever created, live or recycled (callbacks queued by threads that exited
// are still in their records).
template <typename Fn>
void ForEachRecord(Fn fn) {
  for (ThreadRecord* r = RegistryHead(); r != nullptr; r = r->next) fn(*r);
}

// Whether any registered thread other than the caller exists. Callers issue a seq_cst fence
// first: registration is a seq_cst read-modify-write, so either the caller sees the new thread
// or the new thread's first section sees everything the caller wrote before the fence.
bool OtherThreadsRegistered();

// The futex word a grace period of the domain in `slot` sleeps on; readers leaving a section
// (and exiting threads) bump it and wake the sleeper.
std::atomic<uint32_t>& SlotWakeWord(int slot);
void WakeSlot(int slot);

// Domain slots. AcquireDomainSlot() aborts when kMaxDomains domains are alive.
int AcquireDomainSlot();
void ReleaseDomainSlot(int slot);

}  // namespace rcu::internal

#endif  // RCU_INTERNAL_THREAD_REGISTRY_H_
