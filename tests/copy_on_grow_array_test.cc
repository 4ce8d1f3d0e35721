#include "rcu/containers/copy_on_grow_array.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/domain.h"
#include "tests/testing/container_lifecycle.h"
#include "tests/testing/values.h"

namespace rcu {
namespace {

std::vector<std::string> Contents(const CopyOnGrowArray<std::string>& array, Domain& domain) {
  ReadGuard guard(domain);
  auto view = array.Read(guard);
  return std::vector<std::string>(view.begin(), view.end());
}

TEST(CopyOnGrowArrayTest, AppendGrowSetTruncate) {
  Domain domain;
  CopyOnGrowArray<std::string> array(domain, /*initial_capacity=*/2);
  EXPECT_EQ(array.size(), 0u);
  EXPECT_EQ(array.Append("a"), 0u);
  EXPECT_EQ(array.Append("b"), 1u);
  EXPECT_EQ(array.Append("c"), 2u);  // grows
  EXPECT_EQ(Contents(array, domain), (std::vector<std::string>{"a", "b", "c"}));
  array.Set(1, "B");
  EXPECT_EQ(Contents(array, domain), (std::vector<std::string>{"a", "B", "c"}));
  array.Truncate(1);
  EXPECT_EQ(Contents(array, domain), (std::vector<std::string>{"a"}));
  array.Clear();
  EXPECT_TRUE(Contents(array, domain).empty());
  array.Append("d");
  EXPECT_EQ(Contents(array, domain), (std::vector<std::string>{"d"}));
  domain.Barrier();
}

// A view taken before an update keeps showing what it showed.
TEST(CopyOnGrowArrayTest, ViewIsAStableSnapshot) {
  Domain domain;
  CopyOnGrowArray<int> array(domain, 1);
  array.Append(1);
  ReadGuard guard(domain);
  auto before = array.Read(guard);
  std::thread([&] {
    for (int i = 2; i <= 100; ++i) array.Append(i);
    array.Set(0, -1);
  }).join();
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0], 1);
  auto after = array.Read(guard);
  EXPECT_EQ(after.size(), 100u);
  EXPECT_EQ(after[0], -1);
  EXPECT_EQ(after[99], 100);
}

struct Slot {
  static constexpr uint64_t kAlive = 0xA11FE;
  explicit Slot(uint64_t i) : index(i) {}
  Slot(const Slot& o) : index(o.index) {}
  ~Slot() { canary = 0; }
  uint64_t index;
  uint64_t canary = kAlive;
};

// Readers scan every element of their view while an appender grows the array; element i always
// holds i and is alive (A1, A2, A3).
TEST(CopyOnGrowArrayTest, ReadersSeeWholeElementsWhileItGrows) {
  Domain domain;
  CopyOnGrowArray<Slot> array(domain, 1);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0}, scans{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        ReadGuard guard(domain);
        auto view = array.Read(guard);
        for (size_t i = 0; i < view.size(); ++i) {
          if (view[i].canary != Slot::kAlive || view[i].index != i) bad.fetch_add(1);
        }
        scans.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  array.Append(Slot(0));
  while (scans.load() == 0) std::this_thread::yield();
  array.Clear();
  for (int round = 0; round < 5; ++round) {
    for (uint64_t i = 0; i < 5000; ++i) array.Append(Slot(i));
    array.Clear();
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(scans.load(), 0u);
}

// Default options and every size from 1 to 64, with two appenders: every element appended is
// there once, whole, and the views readers take are consistent.
TEST(CopyOnGrowArrayTest, TinyArraysTwoAppenders) {
  Domain domain;
  for (size_t n = 1; n <= 64; n += 7) {
    CopyOnGrowArray<uint64_t> array(domain);
    std::vector<std::thread> appenders;
    for (uint64_t u = 0; u < 2; ++u) {
      appenders.emplace_back([&, u] {
        for (uint64_t i = 0; i < n; ++i) array.Append(u * 1000 + i);
      });
    }
    for (auto& t : appenders) t.join();
    ReadGuard guard(domain);
    auto view = array.Read(guard);
    ASSERT_EQ(view.size(), 2 * n);
    std::vector<uint64_t> seen(view.begin(), view.end());
    std::sort(seen.begin(), seen.end());
    for (uint64_t i = 0; i < n; ++i) {
      EXPECT_EQ(seen[i], i);
      EXPECT_EQ(seen[n + i], 1000 + i);
    }
  }
}

// A copy that throws in the middle of a growth, a Set or a Truncate: the array is unchanged,
// and nothing the update built is leaked.
TEST(CopyOnGrowArrayTest, ThrowingCopiesChangeNothingAndLeakNothing) {
  testutil::Tracker tracker;
  Domain domain;
  {
    CopyOnGrowArray<testutil::Counted> array(domain, /*initial_capacity=*/4);
    for (int64_t i = 0; i < 4; ++i) array.Append(testutil::Counted(tracker, i));
    for (int64_t nth = 1; nth <= 6; ++nth) {
      tracker.ThrowOnCopyOrMove(nth);
      try {
        array.Append(testutil::Counted(tracker, 100));  // grows: copies 4 elements
      } catch (const std::runtime_error&) {
      }
      tracker.Disarm();
      if (array.size() == 5) array.Truncate(4);
    }
    for (int64_t nth = 1; nth <= 4; ++nth) {  // the 4 elements of the new block
      tracker.ThrowOnCopyOrMove(nth);
      EXPECT_THROW(array.Set(2, testutil::Counted(tracker, 200)), std::runtime_error);
      tracker.Disarm();
    }
    tracker.ThrowOnCopyOrMove(2);
    EXPECT_THROW(array.Truncate(3), std::runtime_error);
    tracker.Disarm();
    ReadGuard guard(domain);
    auto view = array.Read(guard);
    ASSERT_EQ(view.size(), 4u);
    for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(view[i].value(), i);
  }
  domain.Barrier();
  EXPECT_EQ(tracker.live.load(), 0);
}

void UpdateCounted(CopyOnGrowArray<testutil::Counted>& array, uint64_t i,
                   testutil::Tracker& tracker) {
  const size_t size = array.size();
  if (i % 7 == 6 && size > 0) {
    array.Set(i % size, testutil::Counted(tracker, static_cast<int64_t>(i)));
  } else if (i % 50 == 49) {
    array.Truncate(size / 2);
  } else {
    array.Append(testutil::Counted(tracker, static_cast<int64_t>(i)));
  }
}

std::unique_ptr<CopyOnGrowArray<testutil::Counted>> MakeCountedArray(Domain& domain) {
  return std::make_unique<CopyOnGrowArray<testutil::Counted>>(domain);
}

TEST(CopyOnGrowArrayTest, UpdatesFromCallbacksUnderBackPressure) {
  testutil::UpdatesFromCallbacksUnderBackPressure(MakeCountedArray, UpdateCounted);
}

TEST(CopyOnGrowArrayTest, BarrierAndDomainDestructionDestroyEveryValue) {
  testutil::BarrierAndDomainDestructionDestroyEveryValue(MakeCountedArray, UpdateCounted);
}

TEST(CopyOnGrowArrayTest, ExitDestroysEveryRetiredValue) {
  testutil::ExitDestroysEveryRetiredValue(MakeCountedArray, UpdateCounted);
}

// Capacities at the limits: over max_size() std::length_error, up to it std::bad_alloc when the
// memory is not there, never a wrapped byte count.
TEST(CopyOnGrowArrayTest, CapacitiesAtTheLimits) {
  Domain domain;
  using Array = CopyOnGrowArray<uint64_t>;
  for (const size_t over :
       {Array::max_size() + 1, (size_t{1} << 61) + 1, size_t{1} << 62, SIZE_MAX - 1, SIZE_MAX}) {
    EXPECT_THROW(Array(domain, over), std::length_error) << over;
  }
  EXPECT_THROW(Array(domain, Array::max_size()), std::bad_alloc);
  for (int k = 0; k <= 10; ++k) {
    for (const size_t capacity : {(size_t{1} << k) - 1, size_t{1} << k, (size_t{1} << k) + 1}) {
      Array array(domain, capacity);
      for (uint64_t i = 0; i < 2 * capacity + 1; ++i) array.Append(i);
      ReadGuard guard(domain);
      const auto view = array.Read(guard);
      ASSERT_EQ(view.size(), 2 * capacity + 1);
      for (uint64_t i = 0; i < view.size(); ++i) ASSERT_EQ(view[i], i);
    }
  }
}

}  // namespace
}  // namespace rcu
