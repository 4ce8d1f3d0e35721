// The copy-on-grow array's races (../shared/MISUSE.md A1 to A3), each rebuilt as a busted array
// that the same stress catches, while rcu::CopyOnGrowArray survives it. Readers scan every
// element of what they read and check that element i holds i and is alive.
//
//   A1  the storage pointer and the size read in two loads, the size published first on growth:
//       a reader indexes the old storage with the new size (past its end);
//   A2  the old storage freed at once on growth, while readers still index it;
//   A3  the size published before the new element is constructed.
//
// What catches a busted array depends on the bug and the build (the canary, ASan's overflow or
// use-after-free, TSan's race report, or a crash), so these tests accept any failure of the
// child; the correct array must exit cleanly under every build.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/containers/copy_on_grow_array.h"
#include "rcu/domain.h"
#include "tests/testing/busted.h"

namespace rcu {
namespace {

struct Slot {
  static constexpr uint64_t kAlive = 0xA11FE;
  explicit Slot(uint64_t i) : index(i) {}
  Slot(const Slot& o) : index(o.index) {}
  ~Slot() { canary = 0; }
  uint64_t index;
  uint64_t canary = kAlive;
};

enum class Bug { kNone, kSplitLoad, kFreeAtOnce, kPublishBeforeConstruct };

// A hand-rolled growable array with its storage pointer and size in two atomics, and one of the
// bugs. kNone is the control, which must survive, so that a busted array fails for its bug and
// not for the harness. Two loads can only be made safe with care: the reader loads the size
// first and the storage second; growth publishes the storage before the size; shrinking lowers
// the size, waits a grace period, and only then swaps the storage.
template <Bug kBug>
class BustedArray {
 public:
  explicit BustedArray(Domain& domain) : domain_(domain) {}
  ~BustedArray() { Free(data_.load(), size_.load()); }

  template <typename Fn>
  void Scan(Fn check) {
    ReadGuard guard(domain_);
    const Slot* d;
    size_t n;
    if (kBug == Bug::kSplitLoad) {
      d = data_.load(std::memory_order_acquire);  // BUG (A1): storage first, then size
      std::this_thread::yield();
      n = size_.load(std::memory_order_acquire);
    } else {
      n = size_.load(std::memory_order_acquire);
      d = data_.load(std::memory_order_acquire);
    }
    for (size_t i = 0; i < n; ++i) check(d[i], i);
  }

  void Append(uint64_t i) {
    const size_t n = size_.load(std::memory_order_relaxed);
    Slot* d = data_.load(std::memory_order_relaxed);
    if (n < capacity_) {
      if (kBug == Bug::kPublishBeforeConstruct) {
        size_.store(n + 1, std::memory_order_release);  // BUG (A3)
        std::this_thread::yield();
        new (&d[n]) Slot(i);
      } else {
        new (&d[n]) Slot(i);
        size_.store(n + 1, std::memory_order_release);
      }
      return;
    }
    capacity_ *= 2;
    Slot* grown = static_cast<Slot*>(::operator new(capacity_ * sizeof(Slot)));
    for (size_t j = 0; j < n; ++j) new (&grown[j]) Slot(d[j]);
    new (&grown[n]) Slot(i);
    data_.store(grown, std::memory_order_release);
    size_.store(n + 1, std::memory_order_release);
    if (kBug != Bug::kFreeAtOnce) domain_.Synchronize();  // BUG (A2) when skipped
    Free(d, n);
  }

  void Clear() {
    const size_t n = size_.exchange(0, std::memory_order_acq_rel);
    domain_.Synchronize();  // no reader still uses the old size
    Slot* old = data_.exchange(static_cast<Slot*>(::operator new(sizeof(Slot))));
    capacity_ = 1;
    domain_.Synchronize();  // no reader still uses the old storage
    Free(old, n);
  }

 private:
  static void Free(Slot* d, size_t n) {
    for (size_t j = 0; j < n; ++j) d[j].~Slot();
    ::operator delete(d);
  }
  Domain& domain_;
  size_t capacity_ = 1;
  std::atomic<Slot*> data_{static_cast<Slot*>(::operator new(sizeof(Slot)))};
  std::atomic<size_t> size_{0};
};

// The library's array behind the same interface.
class LibraryArray {
 public:
  explicit LibraryArray(Domain& domain) : domain_(domain), array_(domain, 1) {}
  template <typename Fn>
  void Scan(Fn check) {
    ReadGuard guard(domain_);
    auto view = array_.Read(guard);
    for (size_t i = 0; i < view.size(); ++i) check(view[i], i);
  }
  void Append(uint64_t i) { array_.Append(Slot(i)); }
  void Clear() { array_.Clear(); }

 private:
  Domain& domain_;
  CopyOnGrowArray<Slot> array_;
};

template <typename Array>
void Stress(std::chrono::seconds duration) {
  {
    Domain domain;
    Array array(domain);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> bad{0}, scans{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 2; ++t) {
      readers.emplace_back([&] {
        while (!stop.load(std::memory_order_relaxed)) {
          array.Scan([&](const Slot& s, size_t i) {
            if (s.canary != Slot::kAlive || s.index != i) bad.fetch_add(1);
          });
          scans.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    while (scans.load() == 0) std::this_thread::yield();
    const auto deadline = std::chrono::steady_clock::now() + duration;
    while (std::chrono::steady_clock::now() < deadline && bad.load() == 0) {
      for (uint64_t i = 0; i < 300; ++i) array.Append(i);
      array.Clear();
    }
    stop.store(true);
    for (auto& t : readers) t.join();
    if (bad.load() != 0) {
      std::fprintf(stderr, "FAILURE: a reader saw a missing, unconstructed or freed element\n");
      std::exit(1);
    }
  }
  std::exit(0);
}

constexpr std::chrono::seconds kBustedBudget(10), kSurvivorRun(2);

TEST(CopyOnGrowArrayMisuseTest, HandRolledArrayWithoutTheBugsSurvives) {
  EXPECT_EXIT(Stress<BustedArray<Bug::kNone>>(kSurvivorRun), testing::ExitedWithCode(0), "");
}

TEST(CopyOnGrowArrayMisuseTest, A1SplitPointerAndSizeLoadIsCaught) {
  EXPECT_EXIT(Stress<BustedArray<Bug::kSplitLoad>>(kBustedBudget), testing_support::Failed, "");
}

TEST(CopyOnGrowArrayMisuseTest, A2FreeBeforeGracePeriodIsCaught) {
  EXPECT_EXIT(Stress<BustedArray<Bug::kFreeAtOnce>>(kBustedBudget), testing_support::Failed, "");
}

TEST(CopyOnGrowArrayMisuseTest, A3PublishBeforeConstructIsCaught) {
  EXPECT_EXIT(Stress<BustedArray<Bug::kPublishBeforeConstruct>>(kBustedBudget),
              testing_support::Failed, "");
}

TEST(CopyOnGrowArrayMisuseTest, LibraryArraySurvivesTheSameStress) {
  EXPECT_EXIT(Stress<LibraryArray>(kSurvivorRun), testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace rcu
