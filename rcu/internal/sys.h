// Not part of the public API; include "rcu/domain.h".
//
// The two operating-system services grace periods are built on:
//
// * The asymmetric fence. Readers execute only a compiler fence; a grace period calls
//   `HeavyFence()`, which runs membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) and thereby a full
//   memory barrier on every running thread of the process. Where membarrier is unavailable (old
//   kernels, seccomp filters, RCU_DISABLE_MEMBARRIER=1 in the environment, ThreadSanitizer
//   builds), `LightReadersEnabled()` is false: readers then order their entry with an atomic
//   exchange and `HeavyFence()` is a plain seq_cst fence. The mode is chosen once, before any
//   domain exists, and never changes.
// * Futex waits and wakes, for a grace period that sleeps until a reader leaves its section.

#ifndef RCU_INTERNAL_SYS_H_
#define RCU_INTERNAL_SYS_H_

#include <atomic>
#include <cstdint>

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

// A full memory barrier on every thread of the process (see the file comment).
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
