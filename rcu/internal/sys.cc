#include "rcu/internal/sys.h"

#include <errno.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace rcu::internal {
namespace {

int Membarrier(int cmd) { return static_cast<int>(syscall(__NR_membarrier, cmd, 0, 0)); }

bool RegisterMembarrier() { return Membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0; }

bool DetectLightReaders() {
  if (kThreadSanitizer) return false;  // TSan does not model membarrier; see sys.h.
  const char* disable = std::getenv("RCU_DISABLE_MEMBARRIER");
  if (disable != nullptr && disable[0] != '\0' && std::strcmp(disable, "0") != 0) return false;
  const int supported = Membarrier(MEMBARRIER_CMD_QUERY);
  if (supported < 0 || (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  if (!RegisterMembarrier()) return false;
  // The registration belongs to the address space; a forked child has a new one.
  pthread_atfork(nullptr, nullptr, [] { RegisterMembarrier(); });
  return true;
}

}  // namespace

bool LightReadersEnabled() {
  static const bool enabled = DetectLightReaders();
  return enabled;
}

void HeavyFence() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!LightReadersEnabled()) return;
  if (Membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return;
  // EPERM: not registered (a child of fork() whose registration failed); try once more.
  if (RegisterMembarrier() && Membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return;
  std::fprintf(stderr, "rcu: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed: %s\n",
               std::strerror(errno));
  std::abort();
}

bool FutexWait(std::atomic<uint32_t>* word, uint32_t expected, int64_t timeout_ns) {
  struct timespec ts;
  struct timespec* tsp = nullptr;
  if (timeout_ns > 0) {
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1000000000);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1000000000);
    tsp = &ts;
  }
  const long rc = syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE,
                          expected, tsp, nullptr, 0);
  return !(rc != 0 && errno == ETIMEDOUT);
}

void FutexWakeAll(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
          nullptr, 0);
}

int CurrentTid() { return static_cast<int>(syscall(SYS_gettid)); }

}  // namespace rcu::internal
