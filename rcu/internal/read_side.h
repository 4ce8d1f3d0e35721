// Not part of the public API; include "rcu/domain.h".
//
// The read side of one domain: how a thread enters and leaves a read-side section. A section
// stamps the thread's reader line (thread_state.h) with the domain's epoch at its outermost entry
// and clears it at its outermost exit; nothing else on the fast path, no fence (membarrier()
// stands in for it, see sys.h), no atomic read-modify-write, no line another thread writes. The
// thread's state comes from the registry (thread_registry.h), which registers the thread on its
// first section.
//
// Nesting: the entry that finds the counter at 0 is the outermost one; Begin() returns its
// reader line, and End() clears the counter only when given it. Domain::lock()/unlock() cannot
// carry that token, so they count on the reader line the locks that did not begin the section. Both
// are async-signal-safe: a handler's section that lands anywhere between two of these steps
// balances (debug bookkeeping comes after the counter on entry and before it on exit).
//
// Ordering (labels pair with grace_periods.cc): [F1] a reader's entry fence pairs with the grace
// period's heavy fence; [F2] a reader's exit fence pairs with the heavy fence of a grace period
// about to sleep on it; [R1]/[R2] release stores of the counter carry the section's accesses to
// the grace period's acquire load.

#ifndef RCU_INTERNAL_READ_SIDE_H_
#define RCU_INTERNAL_READ_SIDE_H_

#include <atomic>
#include <cstdint>

#include "absl/base/optimization.h"
#include "rcu/internal/checker.h"
#include "rcu/internal/source_location.h"
#include "rcu/internal/sys.h"
#include "rcu/internal/thread_registry.h"
#include "rcu/internal/thread_state.h"
#include "rcu/version.h"

namespace rcu::internal {

// One outermost read-side section of one thread (ReadSide::CurrentSection()).
struct SectionId {
  const ThreadState* state = nullptr;  // null: outside every section
  uint32_t serial = 0;
  friend bool operator==(const SectionId&, const SectionId&) = default;
};

class ReadSide {
 public:
  static constexpr uint32_t kMaxNesting = 1u << 20;

  ReadSide() : epoch_(LightReadersEnabled() ? 1 : 2), registry_(/*fallback_fence=*/!light()) {}

  ReadSide(const ReadSide&) = delete;
  ReadSide& operator=(const ReadSide&) = delete;

  // The calling thread's state (registering it on first use).
  ThreadState* Mine() { return registry_.Mine(); }

  // Begins a section. Returns the reader line whose counter End() clears when this is the
  // outermost section, else null.
  ReaderLine* Begin(ThreadState* s, const SourceLocation& where) {
    ReaderLine& reader = s->reader;
    ReaderLine* outermost = nullptr;
    if (ABSL_PREDICT_TRUE(reader.ctr.load(std::memory_order_relaxed) == 0)) {
      // Before the counter: a handler that lands in between begins a section of its own.
      if (kDebugChecks) ++reader.debug_sections;
      const uint64_t epoch = epoch_.load(std::memory_order_relaxed);
      // [R1] release: the previous section's accesses happen before a grace period that reads
      // this value (C++20 release sequences do not carry same-thread stores).
      reader.ctr.store(epoch, std::memory_order_release);
      LightFence(/*light=*/(epoch & 1) != 0);  // [F1] light
      outermost = &reader;
    }
    if (kDebugChecks && ABSL_PREDICT_FALSE(++reader.debug_depth > kMaxNesting)) {
      Die(where, "R5: read-side sections nested more than %u deep (unbalanced lock()?)",
          kMaxNesting);
    }
    return outermost;
  }

  // Ends the section Begin() began; `outermost` is what it returned.
  void End(ThreadState* s, ReaderLine* outermost, const SourceLocation& where) {
    if (kDebugChecks) CheckEnd(s, outermost, where);
    if (ABSL_PREDICT_FALSE(outermost == nullptr)) return;
    outermost->ctr.store(0, std::memory_order_release);  // [R2]
    // [F2] light: LightFence(true) is this compiler fence; fallback readers have kFallbackFence
    // set and fence for real in ExitSlowPath(), before they look at kWakeRequested.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (ABSL_PREDICT_FALSE(outermost->exit.load(std::memory_order_relaxed) != 0)) {
      ExitSlowPath(*outermost);
    }
  }

  // Domain::lock() / unlock(): they cannot carry Begin()'s token, so the reader line counts the
  // lock() calls that found a section open (`nested_locks`); an unlock() that finds the count at 0
  // matches the lock() that began the section and ends it. The outermost pair stores nothing but
  // the counter. A handler that runs its own pair between any two steps leaves the count as it
  // found it.
  void Lock(const SourceLocation& where) {
    ThreadState* s = Mine();
    if (Begin(s, where) == nullptr) ++s->reader.nested_locks;
    if (kDebugChecks) ++s->reader.debug_locks;
  }
  void Unlock(const SourceLocation& where) {
    ThreadState* s = kDebugChecks ? registry_.FindMine() : Mine();
    if (kDebugChecks) {
      if (s == nullptr || s->reader.debug_locks == 0) {
        Die(where,
            "R5: bad unlock balance: Domain::unlock() without a matching lock() on this "
            "thread");
      }
      --s->reader.debug_locks;
    }
    const uint32_t nested = s->reader.nested_locks;
    if (ABSL_PREDICT_TRUE(nested == 0)) {
      End(s, &s->reader, where);
    } else {
      s->reader.nested_locks = nested - 1;
      End(s, nullptr, where);
    }
  }

  // Whether the calling thread is inside a section. Async-signal-safe; never registers.
  bool InSection() const {
    const ThreadState* s = registry_.FindMine();
    return s != nullptr && s->reader.ctr.load(std::memory_order_relaxed) != 0;
  }

  // The calling thread's current outermost section, or {} outside every section: equal for two
  // calls only within one section. Meaningful when RCU_DEBUG_CHECKS (the serial is not kept
  // otherwise), for debug checks that something does not outlive its section. Never registers.
  SectionId CurrentSection() const {
    const ThreadState* s = registry_.FindMine();
    if (s == nullptr || s->reader.ctr.load(std::memory_order_relaxed) == 0) return {};
    return {s, s->reader.debug_sections};
  }

  // For the grace-period engine: the epoch readers stamp, advanced by two once per grace period
  // that scans (only the holder of the grace-period lock writes it). Its low bit is the fence
  // mode, so a section reads one word for both: 1 when readers rely on membarrier (light), 0
  // when they fence for real. Never 0, which means "outside".
  uint64_t epoch() const { return epoch_.load(std::memory_order_relaxed); }
  uint64_t AdvanceEpoch() {
    const uint64_t next = epoch_.load(std::memory_order_relaxed) + 2;
    epoch_.store(next, std::memory_order_relaxed);
    return next;
  }

  ThreadRegistry& registry() { return registry_; }
  const ThreadRegistry& registry() const { return registry_; }
  // Whether readers rely on membarrier (the epoch's low bit, fixed for the domain's life).
  bool light() const { return (epoch() & 1) != 0; }

 private:
  void CheckEnd(ThreadState* s, ReaderLine* outermost, const SourceLocation& where);
  void ExitSlowPath(ReaderLine& reader);

  // Read by every outermost entry, written once per grace period: a line of its own.
  alignas(64) std::atomic<uint64_t> epoch_;
  ThreadRegistry registry_;
};

}  // namespace rcu::internal

#endif  // RCU_INTERNAL_READ_SIDE_H_
