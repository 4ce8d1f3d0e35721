// Not part of the public API; include "rcu/domain.h".
//
// The operating-system services grace periods are built on, and the one place that decides how
// readers and grace periods fence.
//
// * The asymmetric fence pair (folly's asymmetric_thread_fence_light / _heavy). In the C++ memory
//   model both `LightFence()` and `HeavyFence()` ARE `std::atomic_thread_fence(
//   std::memory_order_seq_cst)`, and every ordering argument in this library is made with that
//   definition (each pairing is labelled at both ends, [F1] ... [F4]; see grace_periods.cc). What
//   differs is the cost. When membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) is available (`light`
//   true), `HeavyFence()` runs a full barrier on every running thread of the process, so the light
//   side needs only a compiler fence: a reader never executes a fence instruction. Otherwise (old
//   kernels, seccomp filters, RCU_DISABLE_MEMBARRIER=1, ThreadSanitizer builds) both are plain
//   seq_cst fences. The mode is chosen once, before any domain exists, and never changes.
// * Futex waits and wakes, for a grace period that sleeps until a reader leaves its section and
//   for idle callback threads.
//
// ThreadSanitizer does not model fences; it sees the same orderings through the release/acquire
// pairs that accompany every fence pairing (a reader's release store of its counter, the grace
// period's acquire load of it).

#ifndef RCU_INTERNAL_SYS_H_
#define RCU_INTERNAL_SYS_H_

#include <atomic>
#include <cstdint>

#include "rcu/version.h"

namespace rcu::internal {

#if defined(__SANITIZE_THREAD__)
inline constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif
#else
inline constexpr bool kThreadSanitizer = false;
#endif

// True when readers may rely on HeavyFence() (membarrier) instead of their own fence.
bool LightReadersEnabled();

// The light half of the asymmetric pair: std::atomic_thread_fence(seq_cst) in the model; a
// compiler fence when `light` (= LightReadersEnabled(), cached by the caller).
inline void LightFence(bool light) {
  // Expected light: the fence instruction is laid out of line, so a reader's fast path has no
  // taken branch.
  if (__builtin_expect(!light, 0)) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  } else {
    std::atomic_signal_fence(std::memory_order_seq_cst);
  }
}

// The heavy half: std::atomic_thread_fence(seq_cst) in the model, and membarrier() when light
// readers are enabled (so that every other thread's LightFence() acts as a real fence).
void HeavyFence();

// Sleeps while `*word == expected`, at most `timeout_ns` nanoseconds (0: no limit). Returns false
// on timeout.
bool FutexWait(std::atomic<uint32_t>* word, uint32_t expected, int64_t timeout_ns);
void FutexWakeAll(std::atomic<uint32_t>* word);

// The kernel's id of the calling thread (for reports).
int CurrentTid();

// A pause instruction for spin loops.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace rcu::internal

#endif  // RCU_INTERNAL_SYS_H_
