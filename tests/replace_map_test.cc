#include "containers/replace_map.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/domain.h"

namespace rcu {
namespace {

struct Limits {
  int qps = 0;
  int burst = 0;  // always 2 * qps: a torn value would break it
};

TEST(ReplaceMapTest, InsertUpdateEraseEdit) {
  Domain domain;
  ReplaceMap<std::string, Limits> map(domain);
  EXPECT_TRUE(map.Insert("api", {10, 20}));
  EXPECT_FALSE(map.Insert("api", {99, 198}));
  EXPECT_TRUE(map.Update("api", [](const Limits& l) { return Limits{l.qps * 2, l.burst * 2}; }));
  EXPECT_FALSE(map.Update("web", [](const Limits& l) { return l; }));
  EXPECT_FALSE(map.InsertOrAssign("api", {30, 60}));
  EXPECT_TRUE(map.InsertOrAssign("web", {1, 2}));
  {
    ReadGuard guard(domain);
    EXPECT_EQ(map.Find(guard, "api")->qps, 30);
    EXPECT_EQ(map.Snapshot(guard).size(), 2u);
  }
  map.Edit([](ReplaceMap<std::string, Limits>::Editor& e) {
    e.Set("a", {1, 2});
    e.Set("a", {2, 4});  // replaced within the edit: the first value was never visible
    e.Erase("web");
  });
  EXPECT_TRUE(map.Erase("api"));
  EXPECT_FALSE(map.Erase("api"));
  ReadGuard guard(domain);
  const auto& version = map.Snapshot(guard);
  EXPECT_EQ(version.size(), 1u);
  EXPECT_EQ(version.Find("a")->qps, 2);
  int visited = 0;
  version.ForEach([&](const std::string& k, const Limits& v) {
    EXPECT_EQ(k, "a");
    EXPECT_EQ(v.burst, 4);
    ++visited;
  });
  EXPECT_EQ(visited, 1);
}

// Two keys that always sum to 100 in every version: a snapshot always shows that (M3), and
// every value is whole (M2).
TEST(ReplaceMapTest, SnapshotsAreConsistentAcrossKeys) {
  Domain domain;
  ReplaceMap<std::string, Limits> map(domain);
  map.Edit([](auto& e) {
    e.Set("a", {50, 100});
    e.Set("b", {50, 100});
  });
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> inconsistent{0}, torn{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        ReadGuard guard(domain);
        const auto& v = map.Snapshot(guard);
        const Limits* a = v.Find("a");
        const Limits* b = v.Find("b");
        if (a->qps + b->qps != 100) inconsistent.fetch_add(1);
        if (a->burst != 2 * a->qps || b->burst != 2 * b->qps) torn.fetch_add(1);
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (int i = 0; i < 20000; ++i) {
    map.Edit([i](auto& e) {
      e.Set("a", {i % 100, 2 * (i % 100)});
      e.Set("b", {100 - i % 100, 2 * (100 - i % 100)});
    });
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(inconsistent.load(), 0u);
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_GT(reads.load(), 0u);
}

}  // namespace
}  // namespace rcu
