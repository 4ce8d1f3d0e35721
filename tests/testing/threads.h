// Test helpers for threads and processes: waiting on flags, a reader parked inside a section,
// a background thread, a watchdog for tests that could hang, and a child process that must
// finish within a deadline.

#ifndef RCU_TESTS_TESTING_THREADS_H_
#define RCU_TESTS_TESTING_THREADS_H_

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>

#include "rcu/domain.h"
#include "rcu/internal/sys.h"

namespace rcu::testutil {

// Spins until `flag` is set, yielding.
inline void AwaitFlag(const std::atomic<bool>& flag) {
  while (!flag.load(std::memory_order_acquire)) std::this_thread::yield();
}

// Runs `fn` on a thread and reports when it has returned.
class Background {
 public:
  template <typename Fn>
  explicit Background(Fn fn)
      : thread_([this, fn] {
          fn();
          done_.store(true, std::memory_order_release);
        }) {}
  ~Background() { thread_.join(); }
  bool done() const { return done_.load(std::memory_order_acquire); }
  void Join() { AwaitFlag(done_); }
  // Waits at most `timeout` for `fn` to return; returns whether it did.
  bool WaitFor(std::chrono::milliseconds timeout) const {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!done() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return done();
  }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// A thread that enters a section of `domain` (nested `depth` times) and stays until released.
class ParkedReader {
 public:
  explicit ParkedReader(Domain& domain, int depth = 1)
      : thread_([this, &domain, depth] {
          for (int i = 0; i < depth; ++i) domain.lock();
          inside_.store(true, std::memory_order_release);
          AwaitFlag(release_);
          for (int i = 0; i < depth; ++i) domain.unlock();
        }) {
    AwaitFlag(inside_);
  }
  ~ParkedReader() {
    Release();
    thread_.join();
  }
  void Release() { release_.store(true, std::memory_order_release); }

 private:
  std::atomic<bool> inside_{false};
  std::atomic<bool> release_{false};
  std::thread thread_;
};

// Aborts the process, naming `what`, unless destroyed within `timeout`: for tests whose failure
// mode is a hang (a deadlock would otherwise stall the suite until Bazel's timeout, with no
// hint of which test hung).
class Watchdog {
 public:
  Watchdog(const char* what, std::chrono::seconds timeout = std::chrono::seconds(60))
      : thread_([this, what, timeout] {
          const auto until = std::chrono::steady_clock::now() + timeout;
          while (!disarmed_.load(std::memory_order_acquire)) {
            if (std::chrono::steady_clock::now() >= until) {
              std::fprintf(stderr, "testutil::Watchdog: hung: %s\n", what);
              std::abort();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
          }
        }) {}
  ~Watchdog() {
    disarmed_.store(true, std::memory_order_release);
    thread_.join();
  }

 private:
  std::atomic<bool> disarmed_{false};
  std::thread thread_;
};

// Why a test that forks may have to skip.
//
// TSan cannot start threads in the child of a multi-threaded fork().
inline bool ForkCannotStartThreads() { return internal::kThreadSanitizer; }

// GCC 12's AddressSanitizer does not hold its allocator's locks across fork(): a child forked
// while another thread (a callback thread freeing a batch, say) was inside malloc() or free()
// deadlocks in its first allocation (seen in DomainLifecycleTest's children, and in
// ReclamationTest.ChildOfForkRunsItsQueuedCallbacks, which hung until Bazel's 300 s timeout in a
// fresh-clone CI run). glibc's malloc does hold them; so the tests that fork while callback
// threads may allocate run in the plain, UBSan and clang builds and under ctest.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAllocatorForkUnsafe = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAllocatorForkUnsafe = true;
#else
inline constexpr bool kAllocatorForkUnsafe = false;
#endif
#else
inline constexpr bool kAllocatorForkUnsafe = false;
#endif

// How a child process ended.
enum class ChildResult { kExitedZero, kExitedNonZero, kKilled, kHung };

// Forks; the child runs `body` and exits with its return value (through _exit, so the parent's
// atexit work is not repeated). The parent waits at most `deadline` and kills a child that has
// not finished (kHung).
inline ChildResult RunChild(const std::function<int()>& body,
                            std::chrono::milliseconds deadline = std::chrono::seconds(20)) {
  const pid_t pid = fork();
  if (pid < 0) return ChildResult::kKilled;
  if (pid == 0) _exit(body());
  const auto until = std::chrono::steady_clock::now() + deadline;
  int status = 0;
  for (;;) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() >= until) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return ChildResult::kHung;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status) == 0 ? ChildResult::kExitedZero : ChildResult::kExitedNonZero;
  }
  return ChildResult::kKilled;
}

}  // namespace rcu::testutil

#endif  // RCU_TESTS_TESTING_THREADS_H_
