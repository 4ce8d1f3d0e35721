#include "containers/copy_on_grow_array.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/domain.h"

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

}  // namespace
}  // namespace rcu
