#include "rcu/containers/replace_map.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/domain.h"
#include "tests/testing/allocations.h"
#include "tests/testing/container_lifecycle.h"
#include "tests/testing/values.h"

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

// String-keyed maps look up by std::string_view: a literal or a view builds no std::string, in
// the map, in a snapshot and in an edit.
TEST(ReplaceMapTest, LookupsByStringViewAllocateNothing) {
  Domain domain;
  ReplaceMap<std::string, int> hosts(domain);
  // Longer than any small-string buffer: building a std::string from it would allocate.
  constexpr std::string_view kHost = "frontend-17.eu-west-3.service.example.com";
  hosts.Insert(std::string(kHost), 17);
  hosts.Insert("db-1.eu-west-3.service.example.com", 1);
  {
    ReadGuard guard(domain);
    const uint64_t before = testutil::Allocations();
    const int* found = hosts.Find(guard, kHost);
    const int* by_literal = hosts.Snapshot(guard).Find("db-1.eu-west-3.service.example.com");
    const int* absent = hosts.Find(guard, kHost.substr(0, 20));
    const uint64_t after = testutil::Allocations();
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(*found, 17);
    ASSERT_NE(by_literal, nullptr);
    EXPECT_EQ(*by_literal, 1);
    EXPECT_EQ(absent, nullptr);
    EXPECT_EQ(after, before) << "a lookup by string_view built a std::string";
  }
  hosts.Edit([&](auto& e) {
    e.Set("cache-2.eu-west-3.service.example.com", 2);
    const uint64_t before = testutil::Allocations();
    const int* set = e.Find("cache-2.eu-west-3.service.example.com");
    const int* published = e.Find(kHost);
    EXPECT_EQ(testutil::Allocations(), before);
    ASSERT_NE(set, nullptr);
    EXPECT_EQ(*set, 2);
    ASSERT_NE(published, nullptr);
    EXPECT_EQ(*published, 17);
  });
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

// Larger maps are split into shards that versions share (an update copies one): through
// growth and shrinkage (the shard count changes with the size) and edits of many keys, every
// version matches a reference map, and values behind pointers are all freed once.
TEST(ReplaceMapTest, ShardedMapsMatchAReferenceThroughGrowthAndShrinkage) {
  testutil::Tracker tracker;
  Domain domain;
  {
    ReplaceMap<uint64_t, testutil::Counted> map(domain);
    std::unordered_map<uint64_t, int64_t> reference;
    std::mt19937_64 rng(17);
    const auto check = [&] {
      ReadGuard guard(domain);
      const auto& version = map.Snapshot(guard);
      ASSERT_EQ(version.size(), reference.size());
      size_t visited = 0;
      version.ForEach([&](uint64_t key, const testutil::Counted& value) {
        ++visited;
        ASSERT_EQ(reference.at(key), value.value());
      });
      ASSERT_EQ(visited, reference.size());
      for (uint64_t k = 0; k < 40; ++k) {  // absent keys too
        const uint64_t key = rng() % 30000;
        const testutil::Counted* found = version.Find(key);
        const auto it = reference.find(key);
        ASSERT_EQ(found != nullptr, it != reference.end()) << key;
        if (found != nullptr) {
          ASSERT_EQ(found->value(), it->second);
        }
      }
    };
    int64_t next = 0;
    for (const uint64_t target : {20000, 300, 9000, 0}) {  // grow, shrink, grow, empty
      while (reference.size() != target) {
        const bool grow = reference.size() < target;
        map.Edit([&](auto& e) {  // up to 100 keys in one version, in many shards
          for (int i = 0; i < 100 && reference.size() != target; ++i) {
            const uint64_t key = rng() % 30000;
            if (grow || rng() % 4 == 0) {
              e.Set(key, testutil::Counted(tracker, ++next));
              reference[key] = next;
            } else {
              EXPECT_EQ(e.Erase(key), reference.erase(key) == 1);  // mostly absent keys
              if (reference.empty()) continue;
              const uint64_t present = reference.begin()->first;
              EXPECT_TRUE(e.Erase(present));
              reference.erase(present);
            }
          }
        });
        if (rng() % 8 == 0) {
          const uint64_t key = rng() % 30000;
          map.InsertOrAssign(key, testutil::Counted(tracker, ++next));
          reference[key] = next;
        }
        if (rng() % 16 == 0) check();
      }
      check();
    }
  }
  domain.Barrier();
  EXPECT_EQ(tracker.live.load(), 0);
}

// A snapshot of a sharded map is one version across all its shards: readers check that every
// key of a 4096-key map holds the same generation while edits rewrite all of them, and while
// other edits grow and shrink the map across shard counts.
TEST(ReplaceMapTest, ShardedSnapshotsAreOneVersion) {
  Domain domain;
  ReplaceMap<uint64_t, uint64_t> map(domain);
  constexpr uint64_t kKeys = 4096;
  map.Edit([](auto& e) {
    for (uint64_t k = 0; k < kKeys; ++k) e.Set(k, 0);
  });
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> mixed{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        ReadGuard guard(domain);
        const auto& v = map.Snapshot(guard);
        const uint64_t generation = *v.Find(0);
        for (uint64_t k = 1; k < kKeys; k += 7) {
          if (*v.Find(k) != generation) mixed.fetch_add(1);
        }
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (uint64_t generation = 1; generation <= 300; ++generation) {
    map.Edit([&](auto& e) {
      for (uint64_t k = 0; k < kKeys; ++k) e.Set(k, generation);
      // Extra keys come and go: the shard count changes under the readers.
      for (uint64_t k = kKeys; k < kKeys * (1 + generation % 3); ++k) {
        if (generation % 2 == 0) {
          e.Set(k, 0);
        } else {
          e.Erase(k);
        }
      }
    });
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(mixed.load(), 0u);
  EXPECT_GT(reads.load(), 0u);
}

// Small trivially copyable values live in the version's table: a value a reader found stays
// whole and readable until its section ends, however many versions replace it meanwhile (the
// table it lives in is retired, not freed; ASan would report the read otherwise).
TEST(ReplaceMapTest, InlineValuesOutliveTheirVersionUntilTheSectionEnds) {
  Domain domain;
  ReplaceMap<int, Limits> map(domain);
  map.Insert(1, Limits{1, 2});
  {
    ReadGuard guard(domain);
    const Limits* found = map.Find(guard, 1);
    for (int i = 2; i < 200; ++i) {
      map.InsertOrAssign(1, Limits{i, 2 * i});
      map.Insert(1000 + i, Limits{i, 2 * i});  // tables grow and move
    }
    EXPECT_EQ(found->qps, 1);
    EXPECT_EQ(found->burst, 2);
    EXPECT_EQ(map.Find(guard, 1)->qps, 199);
  }
  domain.Barrier();
}

// Every size from 1 to 64, default options, two updaters on disjoint keys: each sees its own
// inserts and erases, and the map ends empty.
TEST(ReplaceMapTest, TinyMapsTwoUpdaters) {
  Domain domain;
  for (uint64_t n : {1, 2, 3, 16, 64}) {
    ReplaceMap<uint64_t, uint64_t> map(domain);
    std::atomic<uint64_t> wrong{0};
    std::vector<std::thread> updaters;
    for (uint64_t u = 0; u < 2; ++u) {
      updaters.emplace_back([&, u] {
        for (int round = 0; round < 50; ++round) {
          for (uint64_t k = u; k < 2 * n; k += 2) {
            if (!map.Insert(k, k + 1)) wrong.fetch_add(1);
          }
          ReadGuard guard(domain);
          for (uint64_t k = u; k < 2 * n; k += 2) {
            const uint64_t* v = map.Find(guard, k);
            if (v == nullptr || *v != k + 1) wrong.fetch_add(1);
          }
          for (uint64_t k = u; k < 2 * n; k += 2) {
            if (!map.Erase(k)) wrong.fetch_add(1);
          }
        }
      });
    }
    for (auto& t : updaters) t.join();
    EXPECT_EQ(wrong.load(), 0u);
    EXPECT_EQ(map.size(), 0u);
  }
}

TEST(ReplaceMapTest, MoveOnlyValues) {
  testutil::Tracker tracker;
  Domain domain;
  {
    ReplaceMap<uint64_t, testutil::MoveOnly> map(domain);
    for (uint64_t k = 0; k < 64; ++k) {
      map.Insert(k, std::make_unique<testutil::Counted>(tracker, k));
    }
    map.Update(3, [&](const testutil::MoveOnly& old) {
      return std::make_unique<testutil::Counted>(tracker, old->value() + 100);
    });
    map.InsertOrAssign(4, std::make_unique<testutil::Counted>(tracker, 40));
    map.Erase(5);
    ReadGuard guard(domain);
    EXPECT_EQ((*map.Find(guard, 3))->value(), 103);
    EXPECT_EQ((*map.Find(guard, 4))->value(), 40);
    EXPECT_EQ(map.Find(guard, 5), nullptr);
  }
  domain.Barrier();
  EXPECT_EQ(tracker.live.load(), 0);
}

// An edit whose function throws publishes nothing and leaks nothing: values it created are
// destroyed, values of the published version stay. The same for values whose copy throws.
TEST(ReplaceMapTest, ThrowingEditsChangeNothingAndLeakNothing) {
  testutil::Tracker tracker;
  Domain domain;
  {
    ReplaceMap<uint64_t, testutil::Counted> map(domain);
    map.InsertOrAssign(1, testutil::Counted(tracker, 1));
    EXPECT_THROW(map.Edit([&](auto& e) {
      e.Set(2, testutil::Counted(tracker, 2));
      e.Set(1, testutil::Counted(tracker, 3));
      e.Set(2, testutil::Counted(tracker, 4));
      e.Erase(1);
      e.Set(5, testutil::Counted(tracker, 5));
      throw std::runtime_error("edit fails");
    }),
                 std::runtime_error);
    for (int64_t nth = 1; nth <= 3; ++nth) {
      const testutil::Counted value(tracker, 10 + nth);
      tracker.ThrowOnCopyOrMove(nth);
      try {
        map.InsertOrAssign(7, value);
      } catch (const std::runtime_error&) {
      }
      tracker.Disarm();
    }
    EXPECT_THROW(map.Update(1,
                            [&](const testutil::Counted&) -> testutil::Counted {
                              throw std::runtime_error("update fails");
                            }),
                 std::runtime_error);
    ReadGuard guard(domain);
    EXPECT_EQ(map.Find(guard, 1)->value(), 1);
    EXPECT_EQ(map.Find(guard, 2), nullptr);
    EXPECT_EQ(map.Find(guard, 5), nullptr);
  }
  domain.Barrier();
  EXPECT_EQ(tracker.live.load(), 0);
}

void UpdateCounted(ReplaceMap<uint64_t, testutil::Counted>& map, uint64_t i,
                   testutil::Tracker& tracker) {
  const uint64_t k = i % 64;
  if (i % 5 == 4) {
    map.Erase(k);
  } else if (i % 5 == 3) {
    map.Edit([&](auto& e) {
      e.Set(k, testutil::Counted(tracker, static_cast<int64_t>(i)));
      e.Set((k + 1) % 64, testutil::Counted(tracker, static_cast<int64_t>(i)));
    });
  } else {
    map.InsertOrAssign(k, testutil::Counted(tracker, static_cast<int64_t>(i)));
  }
}

std::unique_ptr<ReplaceMap<uint64_t, testutil::Counted>> MakeCountedMap(Domain& domain) {
  return std::make_unique<ReplaceMap<uint64_t, testutil::Counted>>(domain);
}

// The same over 2048 keys: a sharded map, whose edits drop shards as well as values.
void UpdateCountedSharded(ReplaceMap<uint64_t, testutil::Counted>& map, uint64_t i,
                          testutil::Tracker& tracker) {
  UpdateCounted(map, i, tracker);
  map.InsertOrAssign(64 + (i * 7919) % 2048, testutil::Counted(tracker, static_cast<int64_t>(i)));
}

TEST(ReplaceMapTest, UpdatesFromCallbacksUnderBackPressure) {
  testutil::UpdatesFromCallbacksUnderBackPressure(MakeCountedMap, UpdateCounted);
}

TEST(ReplaceMapTest, BarrierAndDomainDestructionDestroyEveryValue) {
  testutil::BarrierAndDomainDestructionDestroyEveryValue(MakeCountedMap, UpdateCounted);
}

TEST(ReplaceMapTest, ExitDestroysEveryRetiredValue) {
  testutil::ExitDestroysEveryRetiredValue(MakeCountedMap, UpdateCounted);
}

TEST(ReplaceMapTest, ShardedBarrierAndDomainDestructionDestroyEveryValue) {
  testutil::BarrierAndDomainDestructionDestroyEveryValue(MakeCountedMap, UpdateCountedSharded);
}

TEST(ReplaceMapTest, ShardedExitDestroysEveryRetiredValue) {
  testutil::ExitDestroysEveryRetiredValue(MakeCountedMap, UpdateCountedSharded, 6000);
}

}  // namespace
}  // namespace rcu
