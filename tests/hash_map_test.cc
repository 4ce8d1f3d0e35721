#include "containers/hash_map.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/domain.h"

namespace rcu {
namespace {

// A value a torn or freed read would show: b is always 2 * a while alive.
struct Pair {
  static constexpr uint64_t kAlive = 0xA11FE;
  Pair(uint64_t x) : a(x), b(2 * x) {}
  Pair(const Pair& o) : a(o.a), b(o.b) {}
  ~Pair() { canary = 0; }
  bool Whole() const { return canary == kAlive && b == 2 * a; }
  uint64_t a, b;
  uint64_t canary = kAlive;
};

class HashMapTest : public testing::TestWithParam<bool> {
 protected:
  HashMapOptions Options() const {
    HashMapOptions options;
    options.lookup_cache = GetParam();
    options.cache_slots = 64;  // small: slots are shared and overwritten a lot
    return options;
  }
  Domain domain_;
};

TEST_P(HashMapTest, InsertFindAssignErase) {
  HashMap<std::string, int> map(domain_, Options());
  EXPECT_TRUE(map.Insert("a", 1));
  EXPECT_FALSE(map.Insert("a", 2));
  EXPECT_TRUE(map.InsertOrAssign("b", 3));
  EXPECT_FALSE(map.InsertOrAssign("b", 4));
  EXPECT_EQ(map.size(), 2u);
  for (int round = 0; round < 20; ++round) {  // hits go through the cache after a few rounds
    ReadGuard guard(domain_);
    ASSERT_NE(map.Find(guard, "a"), nullptr);
    EXPECT_EQ(*map.Find(guard, "a"), 1);
    EXPECT_EQ(*map.Find(guard, "b"), 4);
    EXPECT_EQ(map.Find(guard, "c"), nullptr);
    EXPECT_TRUE(map.Contains(guard, "b"));
  }
  EXPECT_EQ(map.Get("b"), 4);
  EXPECT_TRUE(map.Erase("b"));
  EXPECT_FALSE(map.Erase("b"));
  EXPECT_EQ(map.Get("b"), std::nullopt);  // not from the cache either
  EXPECT_TRUE(map.InsertOrAssign("b", 5));
  EXPECT_EQ(map.Get("b"), 5);
  EXPECT_EQ(map.size(), 2u);
}

TEST_P(HashMapTest, GrowsAndShrinks) {
  HashMap<uint64_t, Pair> map(domain_, Options());
  const size_t initial = map.bucket_count();
  for (uint64_t k = 0; k < 10000; ++k) ASSERT_TRUE(map.Insert(k, Pair(k)));
  EXPECT_GE(map.bucket_count(), 8192u);
  {
    ReadGuard guard(domain_);
    for (uint64_t k = 0; k < 10000; ++k) ASSERT_EQ(map.Find(guard, k)->a, k);
  }
  for (uint64_t k = 0; k < 9990; ++k) ASSERT_TRUE(map.Erase(k));
  EXPECT_LE(map.bucket_count(), 128u);
  EXPECT_GE(map.bucket_count(), initial);
  size_t visited = 0;
  {
    ReadGuard guard(domain_);
    map.ForEach(guard, [&](const uint64_t& k, const Pair& v) {
      EXPECT_GE(k, 9990u);
      EXPECT_TRUE(v.Whole());
      ++visited;
    });
  }
  EXPECT_EQ(visited, 10u);
}

// H3: keys present throughout are always found, while other keys come and go and the table
// grows and shrinks; every value a reader sees is whole and alive.
TEST_P(HashMapTest, LookupsNeverMissStableKeysDuringResizes) {
  HashMap<uint64_t, Pair> map(domain_, Options());
  constexpr uint64_t kStable = 512;
  for (uint64_t k = 0; k < kStable; ++k) map.Insert(k, Pair(k));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> misses{0}, broken{0}, lookups{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      uint64_t k = t;
      while (!stop.load(std::memory_order_relaxed)) {
        ReadGuard guard(domain_);
        for (int i = 0; i < 64; ++i, k = (k * 7 + 1) % kStable) {
          const Pair* v = map.Find(guard, k);
          if (v == nullptr) {
            misses.fetch_add(1);
          } else if (!v->Whole() || v->a % kStable != k) {
            broken.fetch_add(1);
          }
        }
        lookups.fetch_add(64, std::memory_order_relaxed);
      }
    });
  }
  // Churn: grow to ~16k elements and back, several times; reassign stable keys meanwhile.
  for (int round = 0; round < 3; ++round) {
    for (uint64_t k = kStable; k < kStable + 16000; ++k) map.Insert(k, Pair(k));
    for (uint64_t k = 0; k < kStable; k += 7) map.InsertOrAssign(k, Pair(k + kStable * 1000));
    for (uint64_t k = kStable; k < kStable + 16000; ++k) map.Erase(k);
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(misses.load(), 0u);
  EXPECT_EQ(broken.load(), 0u);
  EXPECT_GT(lookups.load(), 0u);
  EXPECT_EQ(map.size(), kStable);
}

// Two updaters on the same keys: stripes serialize them; the final contents are exact.
TEST_P(HashMapTest, ConcurrentUpdatersOnSharedKeys) {
  HashMap<uint64_t, Pair> map(domain_, Options());
  std::vector<std::thread> updaters;
  for (int u = 0; u < 2; ++u) {
    updaters.emplace_back([&, u] {
      for (uint64_t i = 0; i < 20000; ++i) {
        const uint64_t k = i % 1000;
        if ((i + u) % 3 == 0) {
          map.Erase(k);
        } else {
          map.InsertOrAssign(k, Pair(k));
        }
      }
    });
  }
  for (auto& t : updaters) t.join();
  size_t counted = 0;
  ReadGuard guard(domain_);
  map.ForEach(guard, [&](const uint64_t& k, const Pair& v) {
    EXPECT_EQ(v.a, k);
    ++counted;
  });
  EXPECT_EQ(counted, map.size());
}

INSTANTIATE_TEST_SUITE_P(Cache, HashMapTest, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& info) {
                           return info.param ? "On" : "Off";
                         });

}  // namespace
}  // namespace rcu
