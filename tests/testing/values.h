// Element types for container tests: values that count themselves (to prove that every value is
// destroyed exactly once), that throw on the Nth copy or move (to test exception guarantees),
// and that cannot be copied at all; a hash that sends every key to one chain.

#ifndef RCU_TESTS_TESTING_VALUES_H_
#define RCU_TESTS_TESTING_VALUES_H_

#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <stdexcept>

namespace rcu::testutil {

// Counts the live values of one test, and arms a throw on the Nth copy or move. Placed in shared
// memory (Shared()) it survives into a forked child's exit, so the parent can read what the
// child's exit destroyed.
struct Tracker {
  std::atomic<int64_t> live{0};
  std::atomic<int64_t> destroyed{0};
  // How many values a container held, as a child process reports it to its parent.
  std::atomic<int64_t> held{0};
  // Copies and moves left before one throws; negative: never.
  std::atomic<int64_t> throw_countdown{-1};

  // A tracker in anonymous shared memory (never unmapped: children may still write to it).
  static Tracker* Shared() {
    void* memory =
        mmap(nullptr, sizeof(Tracker), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) std::abort();
    return new (memory) Tracker;
  }

  // Throws std::runtime_error when the armed countdown reaches zero.
  void MaybeThrow() {
    int64_t left = throw_countdown.load(std::memory_order_relaxed);
    while (left > 0 && !throw_countdown.compare_exchange_weak(left, left - 1)) {
    }
    if (left == 1) throw std::runtime_error("testutil: armed copy/move throws");
  }
  void ThrowOnCopyOrMove(int64_t nth) { throw_countdown.store(nth); }
  void Disarm() { throw_countdown.store(-1); }
};

// A value that knows whether it is alive: destroying it twice, or reading it after its
// destruction, is reported (the canary), besides what ASan sees.
class Counted {
 public:
  Counted(Tracker& tracker, int64_t value) : tracker_(&tracker), value_(value) { Born(); }
  Counted(const Counted& o) : tracker_(o.tracker_), value_(o.value()) {
    tracker_->MaybeThrow();
    Born();
  }
  Counted(Counted&& o) : tracker_(o.tracker_), value_(o.value()) {
    tracker_->MaybeThrow();
    Born();
  }
  Counted& operator=(const Counted&) = delete;
  ~Counted() {
    if (canary_ != kAlive) {
      std::fprintf(stderr, "testutil::Counted destroyed twice (value %lld)\n",
                   static_cast<long long>(value_));
      std::abort();
    }
    canary_ = kDead;
    tracker_->live.fetch_sub(1, std::memory_order_relaxed);
    tracker_->destroyed.fetch_add(1, std::memory_order_relaxed);
  }

  int64_t value() const {
    if (canary_ != kAlive) {
      std::fprintf(stderr, "testutil::Counted read after its destruction\n");
      std::abort();
    }
    return value_;
  }
  bool alive() const { return canary_ == kAlive; }

 private:
  static constexpr uint64_t kAlive = 0xA11FEA11FEull;
  static constexpr uint64_t kDead = 0xDEADDEADull;
  void Born() { tracker_->live.fetch_add(1, std::memory_order_relaxed); }

  Tracker* tracker_;
  int64_t value_;
  uint64_t canary_ = kAlive;
};

// A Counted that can only be moved (and whose moves never throw).
using MoveOnly = std::unique_ptr<Counted>;

// A hash that sends every key to the same chain.
struct CollidingHash {
  template <typename K>
  size_t operator()(const K&) const {
    return 7;
  }
};

// The identity hash on integers: keys k and k + n share a bucket in a table of n buckets.
struct IdentityHash {
  size_t operator()(uint64_t k) const { return k; }
};

}  // namespace rcu::testutil

#endif  // RCU_TESTS_TESTING_VALUES_H_
