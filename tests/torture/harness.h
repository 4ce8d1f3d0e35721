// rcutorture's harness (see rcutorture.cc): what every subject shares. A subject is the thing
// under torture (the domain's pipe, a container, a deliberately broken structure); the harness
// runs readers and updaters against it, and around it the threads that disturb any RCU user:
// fake writers running grace periods of every flavor through the operations table, a barrier
// tester, thread churn, a callback flood and stutter.

#ifndef RCU_TESTS_TORTURE_HARNESS_H_
#define RCU_TESTS_TORTURE_HARNESS_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <thread>

#include "rcu/domain.h"
#include "tests/testing/torture_ops.h"

namespace rcu::torture {

// The read-side delays (the seed's bug only showed with long ones).
struct Delays {
  int read_delay_us = 20;        // upper bound of the usual short delay (one read in 8)
  int long_delay_ms = 20;        // the rare long delay
  int long_delay_every = 20000;  // one read in this many takes it (0: never)
};

// Run-wide state: set by the driver, read by every thread.
inline std::atomic<bool> g_stop{false};
inline std::atomic<bool> g_paused{false};
inline std::atomic<uint64_t> g_errors{0};
inline Delays g_delays;

// Records a torture error (the first ten are printed). Any error makes the run a FAILURE.
inline void Fail(const char* what) {
  if (g_errors.fetch_add(1) < 10) std::fprintf(stderr, "torture error: %s\n", what);
}

inline bool Stopping() { return g_stop.load(std::memory_order_relaxed); }

// Waits while stutter has everything paused.
inline void Stutter() {
  while (g_paused.load(std::memory_order_relaxed) && !Stopping()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// A random read-side delay; subjects call it inside their sections.
inline void ReadDelay(std::mt19937_64& rng) {
  if (g_delays.long_delay_every > 0 && rng() % g_delays.long_delay_every == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(g_delays.long_delay_ms));
  } else if (g_delays.read_delay_us > 0 && rng() % 8 == 0) {
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::microseconds(rng() % g_delays.read_delay_us);
    while (std::chrono::steady_clock::now() < until) {
    }
  }
}

inline unsigned long long ULL(uint64_t v) { return static_cast<unsigned long long>(v); }

// The thing under torture. Readers call Read() and updaters Update() until the run stops; then
// Finish() runs alone (after every thread joined, before the domain's callbacks are drained) to
// compare what the subject holds with what its updaters did.
class Subject {
 public:
  virtual ~Subject() = default;
  // How many updater threads to run (the subject's own limit, or what the run asked for).
  virtual int Updaters() const = 0;
  // One read-side section, with ReadDelay() inside it; false if it reached anything freed, torn
  // or reused.
  virtual bool Read(std::mt19937_64& rng) = 0;
  // One random update by updater `updater` (0 <= updater < Updaters()).
  virtual void Update(std::mt19937_64& rng, int updater) = 0;
  virtual void Finish() {}
  virtual void Print() const {}
};

}  // namespace rcu::torture

#endif  // RCU_TESTS_TORTURE_HARNESS_H_
