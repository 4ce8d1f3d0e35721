#include "rcu/containers/ordered_map.h"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
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

TEST(OrderedMapTest, FindBoundsRangesAndErase) {
  Domain domain;
  OrderedMap<std::string, std::string> map(domain);
  EXPECT_TRUE(map.Insert("b", "2"));
  EXPECT_TRUE(map.Insert("d", "4"));
  EXPECT_TRUE(map.Insert("a", "1"));
  EXPECT_FALSE(map.Insert("a", "x"));
  EXPECT_FALSE(map.InsertOrAssign("d", "44"));
  EXPECT_TRUE(map.InsertOrAssign("c", "3"));
  EXPECT_EQ(map.size(), 4u);
  {
    ReadGuard guard(domain);
    EXPECT_EQ(*map.Find(guard, "d"), "44");
    EXPECT_EQ(map.Find(guard, "e"), nullptr);
    EXPECT_EQ(map.LowerBound(guard, "bb").key(), "c");
    EXPECT_EQ(map.LowerBound(guard, "c").key(), "c");
    EXPECT_EQ(map.UpperBound(guard, "c").key(), "d");
    EXPECT_TRUE(map.LowerBound(guard, "e") == map.end());
    std::string seen;
    for (const auto& [k, v] : map.Between(guard, "b", "d")) seen += k + "=" + v + " ";
    EXPECT_EQ(seen, "b=2 c=3 ");
    seen.clear();
    for (const auto& [k, v] : map.All(guard)) seen += k;
    EXPECT_EQ(seen, "abcd");
    int n = 0;
    for (const auto& kv : map.Between(guard, "x", "z")) n += static_cast<int>(kv.first.size());
    EXPECT_EQ(n, 0);
  }
  EXPECT_TRUE(map.Erase("b"));
  EXPECT_FALSE(map.Erase("b"));
  EXPECT_EQ(map.Get("c"), "3");
  EXPECT_EQ(map.Get("b"), std::nullopt);
  EXPECT_EQ(map.size(), 3u);
}

// Random inserts, assignments and erases against std::map, through growth to several levels
// and back down to empty (splits, merges, rebalancing, the root growing and shrinking), with
// inline values and with values behind pointers.
template <typename V>
void CheckAgainstStdMap(uint64_t key_range, int steps, uint64_t seed) {
  Domain domain;
  OrderedMap<uint64_t, V> map(domain);
  std::map<uint64_t, V> reference;
  std::mt19937_64 rng(seed);
  const auto verify = [&](int step) {
    ReadGuard guard(domain);
    auto expected = reference.begin();
    for (const auto& [k, v] : map.All(guard)) {
      ASSERT_NE(expected, reference.end()) << step;
      ASSERT_EQ(k, expected->first) << step;
      ASSERT_EQ(v, expected->second) << step;
      ++expected;
    }
    ASSERT_EQ(expected, reference.end()) << step;
    for (int probe = 0; probe < 8; ++probe) {
      const uint64_t a = rng() % (key_range + 2), b = a + rng() % 64;
      auto it = reference.lower_bound(a);
      for (const auto& [k, v] : map.Between(guard, a, b)) {
        ASSERT_NE(it, reference.end());
        ASSERT_EQ(k, it->first);
        ++it;
      }
      ASSERT_TRUE(it == reference.end() || it->first >= b);
      const auto upper = map.UpperBound(guard, a);
      const auto ref_upper = reference.upper_bound(a);
      ASSERT_EQ(upper == map.end(), ref_upper == reference.end());
      if (ref_upper != reference.end()) {
        ASSERT_EQ(upper.key(), ref_upper->first);
      }
      const V* found = map.Find(guard, a);
      ASSERT_EQ(found != nullptr, reference.count(a) == 1);
    }
  };
  for (int step = 0; step < steps; ++step) {
    const uint64_t key = rng() % key_range;
    V value;
    if constexpr (std::is_same_v<V, std::string>) {
      value = std::to_string(rng() % 1000);
    } else {
      value = rng() % 1000;
    }
    // Grow for the first half, shrink for the second.
    const bool grow = step < steps / 2 ? rng() % 4 != 0 : rng() % 4 == 0;
    if (grow) {
      const bool inserted = reference.insert_or_assign(key, value).second;
      ASSERT_EQ(map.InsertOrAssign(key, value), inserted);
    } else {
      ASSERT_EQ(map.Erase(key), reference.erase(key) == 1);
    }
    ASSERT_EQ(map.size(), reference.size());
    if (step % 997 == 0) verify(step);
  }
  verify(steps);
  for (const auto& [k, v] : reference) ASSERT_TRUE(map.Erase(k));
  EXPECT_TRUE(map.empty());
  ReadGuard guard(domain);
  EXPECT_TRUE(map.All(guard).begin() == map.end());
}

TEST(OrderedMapTest, InlineValuesAgainstStdMap) { CheckAgainstStdMap<uint64_t>(50000, 120000, 1); }
TEST(OrderedMapTest, PointerValuesAgainstStdMap) {
  CheckAgainstStdMap<std::string>(5000, 30000, 2);
}
TEST(OrderedMapTest, DenseKeysAgainstStdMap) { CheckAgainstStdMap<uint64_t>(300, 20000, 3); }

// Iteration while updates run: even keys stay throughout (their values are replaced, always
// whole: second == 2 * first), odd keys come and go. Every scan sees each even key exactly once,
// all keys strictly in order.
TEST(OrderedMapTest, ScansSeeStableKeysOnceInOrderDuringUpdates) {
  struct Pair {
    uint64_t first, second;
  };
  Domain domain;
  OrderedMap<uint64_t, Pair> map(domain);
  constexpr uint64_t kKeys = 4000;
  for (uint64_t k = 0; k < kKeys; k += 2) map.Insert(k, {k, 2 * k});
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> errors{0}, scans{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937_64 rng(r);
      while (!stop.load(std::memory_order_relaxed)) {
        ReadGuard guard(domain);
        const uint64_t from = rng() % kKeys, to = from + rng() % 600;
        uint64_t expected_even = from + (from % 2), previous = 0, count = 0;
        for (const auto& [k, v] : map.Between(guard, from, to)) {
          if ((count > 0 && k <= previous) || v.second != 2 * v.first) errors.fetch_add(1);
          if (k % 2 == 0) {
            if (k != expected_even) errors.fetch_add(1);
            expected_even = k + 2;
          }
          previous = k;
          ++count;
        }
        if (expected_even < std::min(to, kKeys)) errors.fetch_add(1);  // a stable key missed
        scans.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::mt19937_64 rng(9);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (uint64_t i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
    const uint64_t k = rng() % kKeys;
    if (k % 2 == 0) {
      map.InsertOrAssign(k, {i, 2 * i});
    } else if (rng() % 2 == 0) {
      map.InsertOrAssign(k, {i, 2 * i});
    } else {
      map.Erase(k);
    }
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_GT(scans.load(), 100u);
  EXPECT_EQ(errors.load(), 0u);
}

// Tiny maps with default options: 1 to 64 keys, two updaters on disjoint keys, two readers.
TEST(OrderedMapTest, TinyMapsTwoUpdaters) {
  for (uint64_t n : {1, 2, 3, 7, 16, 64}) {
    Domain domain;
    OrderedMap<uint64_t, uint64_t> map(domain);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> disorder{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 2; ++r) {
      readers.emplace_back([&] {
        while (!stop.load(std::memory_order_relaxed)) {
          ReadGuard guard(domain);
          uint64_t previous = 0;
          bool first = true;
          for (const auto& [k, v] : map.All(guard)) {
            if ((!first && k <= previous) || v != k * 10) disorder.fetch_add(1);
            previous = k;
            first = false;
          }
        }
      });
    }
    std::vector<std::thread> updaters;
    for (uint64_t u = 0; u < 2; ++u) {
      updaters.emplace_back([&, u] {
        for (int round = 0; round < 20; ++round) {
          for (uint64_t i = 0; i < n; ++i) map.InsertOrAssign(i * 2 + u, (i * 2 + u) * 10);
          for (uint64_t i = 0; i < n; i += 2) map.Erase(i * 2 + u);
        }
      });
    }
    for (auto& t : updaters) t.join();
    stop.store(true);
    for (auto& t : readers) t.join();
    EXPECT_EQ(disorder.load(), 0u);
    EXPECT_EQ(map.size(), 2 * (n / 2));
  }
}

TEST(OrderedMapTest, ErasedValueOutlivesItsSection) {
  testutil::Tracker tracker;
  {
    Domain domain;
    OrderedMap<int, testutil::Counted> map(domain);
    for (int k = 0; k < 100; ++k) map.Insert(k, testutil::Counted(tracker, k));
    std::atomic<bool> found{false}, erased{false};
    std::thread reader([&] {
      ReadGuard guard(domain);
      const testutil::Counted* v = map.Find(guard, 42);
      auto it = map.LowerBound(guard, 50);
      found.store(true);
      while (!erased.load()) std::this_thread::yield();
      EXPECT_EQ(v->value(), 42);  // the canary (and ASan) check they are alive
      EXPECT_EQ(it.value().value(), 50);
      ++it;
      EXPECT_EQ(it.key(), 51);  // the snapshot: erased meanwhile, still there
    });
    while (!found.load()) std::this_thread::yield();
    for (int k = 0; k < 100; ++k) map.Erase(k);
    erased.store(true);
    reader.join();
    domain.Barrier();
    EXPECT_EQ(tracker.live.load(), 0);
  }
}

TEST(OrderedMapTest, MoveOnlyValuesAndStrongGuarantee) {
  testutil::Tracker tracker;
  {
    Domain domain;
    OrderedMap<int, testutil::Counted> map(domain);
    for (int k = 0; k < 200; ++k) map.Insert(k, testutil::Counted(tracker, k));
    const testutil::Counted value(tracker, -1);
    tracker.ThrowOnCopyOrMove(2);  // the copy into the argument passes; the map's move throws
    EXPECT_THROW(map.InsertOrAssign(5, value), std::runtime_error);
    tracker.ThrowOnCopyOrMove(2);
    EXPECT_THROW(map.Insert(1000, value), std::runtime_error);
    tracker.Disarm();
    EXPECT_EQ(map.size(), 200u);
    EXPECT_EQ(map.Get(5)->value(), 5);
  }
  {
    Domain domain;
    OrderedMap<int, testutil::MoveOnly> map(domain);
    map.Insert(1, std::make_unique<testutil::Counted>(tracker, 1));
    map.InsertOrAssign(1, std::make_unique<testutil::Counted>(tracker, 2));
    ReadGuard guard(domain);
    EXPECT_EQ((*map.Find(guard, 1))->value(), 2);
  }
  EXPECT_EQ(tracker.live.load(), 0);
}

void UpdateCounted(OrderedMap<uint64_t, testutil::Counted>& map, uint64_t i,
                   testutil::Tracker& tracker) {
  const uint64_t key = (i * 7919) % 211;
  if (i % 3 == 2) {
    map.Erase(key);
  } else {
    map.InsertOrAssign(key, testutil::Counted(tracker, static_cast<int64_t>(i)));
  }
}
std::unique_ptr<OrderedMap<uint64_t, testutil::Counted>> MakeCountedMap(Domain& domain) {
  return std::make_unique<OrderedMap<uint64_t, testutil::Counted>>(domain);
}

TEST(OrderedMapTest, UpdatesFromCallbacksUnderBackPressure) {
  testutil::UpdatesFromCallbacksUnderBackPressure(MakeCountedMap, UpdateCounted);
}
TEST(OrderedMapTest, BarrierAndDomainDestructionDestroyEveryValue) {
  testutil::BarrierAndDomainDestructionDestroyEveryValue(MakeCountedMap, UpdateCounted);
}
TEST(OrderedMapTest, ExitDestroysEveryRetiredValue) {
  testutil::ExitDestroysEveryRetiredValue(MakeCountedMap, UpdateCounted);
}

}  // namespace
}  // namespace rcu
