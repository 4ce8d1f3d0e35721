#include "rcu/containers/hash_map.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/callback.h"
#include "rcu/domain.h"
#include "tests/testing/container_lifecycle.h"
#include "tests/testing/threads.h"
#include "tests/testing/values.h"

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

// The same value, trivially copyable: HashMap keeps it in the slots themselves (inline entries)
// instead of behind a pointer.
struct FlatPair {
  FlatPair(uint64_t x) : a(x), b(2 * x) {}
  bool Whole() const { return b == 2 * a; }
  uint64_t a, b;
};
static_assert(container_internal::HashTable<uint64_t, FlatPair, DefaultHash<uint64_t>,
                                            DefaultEq<uint64_t>>::kInline);
static_assert(!container_internal::HashTable<uint64_t, Pair, DefaultHash<uint64_t>,
                                             DefaultEq<uint64_t>>::kInline);

// The parameter is HashMapOptions::initial_capacity: the default (the map grows from a few
// slots), or presized.
class HashMapTest : public testing::TestWithParam<size_t> {
 protected:
  HashMapOptions Options() const { return {.initial_capacity = GetParam()}; }
  Domain domain_;
};

TEST_P(HashMapTest, InsertFindAssignErase) {
  HashMap<std::string, int> map(domain_, Options());
  EXPECT_TRUE(map.Insert("a", 1));
  EXPECT_FALSE(map.Insert("a", 2));
  EXPECT_TRUE(map.InsertOrAssign("b", 3));
  EXPECT_FALSE(map.InsertOrAssign("b", 4));
  EXPECT_EQ(map.size(), 2u);
  {
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
  EXPECT_EQ(map.Get("b"), std::nullopt);
  EXPECT_TRUE(map.InsertOrAssign("b", 5));
  EXPECT_EQ(map.Get("b"), 5);
  EXPECT_EQ(map.size(), 2u);
}

TEST_P(HashMapTest, GrowsAndShrinks) {
  HashMap<uint64_t, Pair> map(domain_, Options());
  const size_t initial = map.slot_count();
  EXPECT_GE(initial, GetParam());
  for (uint64_t k = 0; k < 10000; ++k) ASSERT_TRUE(map.Insert(k, Pair(k)));
  EXPECT_GE(map.slot_count(), 10000u);
  {
    ReadGuard guard(domain_);
    for (uint64_t k = 0; k < 10000; ++k) ASSERT_EQ(map.Find(guard, k)->a, k);
  }
  for (uint64_t k = 0; k < 9990; ++k) ASSERT_TRUE(map.Erase(k));
  EXPECT_LE(map.slot_count(), std::max<size_t>(128, initial));
  EXPECT_GE(map.slot_count(), initial);
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

// Inline entries (FlatPair lives in the slots): a slot a reader found is not reused while the
// reader's section lasts, whatever the churn (replacements, erasures, resizes), so every value
// read twice in one section reads the same, whole; stable keys are never missed (H3).
TEST_P(HashMapTest, InlineEntriesStayPutForTheirReaders) {
  HashMap<uint64_t, FlatPair> map(domain_, Options());
  constexpr uint64_t kStable = 256;
  for (uint64_t k = 0; k < kStable; ++k) map.Insert(k, FlatPair(k));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> misses{0}, changed{0}, lookups{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      uint64_t k = t;
      while (!stop.load(std::memory_order_relaxed)) {
        ReadGuard guard(domain_);
        const FlatPair* seen[16];
        uint64_t first[16];
        for (int i = 0; i < 16; ++i, k = (k * 7 + 1) % kStable) {
          seen[i] = map.Find(guard, k);
          if (seen[i] == nullptr) {
            misses.fetch_add(1);
            first[i] = 0;
          } else {
            first[i] = seen[i]->a;
            if (!seen[i]->Whole() || first[i] % kStable != k) changed.fetch_add(1);
          }
        }
        for (int spin = 0; spin < 200; ++spin) std::atomic_signal_fence(std::memory_order_seq_cst);
        for (int i = 0; i < 16; ++i) {
          if (seen[i] != nullptr && (seen[i]->a != first[i] || !seen[i]->Whole())) {
            changed.fetch_add(1);
          }
        }
        lookups.fetch_add(16, std::memory_order_relaxed);
      }
    });
  }
  for (int round = 0; round < 4; ++round) {
    for (uint64_t k = kStable; k < kStable + 8000; ++k) map.Insert(k, FlatPair(k));
    for (int pass = 0; pass < 20; ++pass) {
      for (uint64_t k = 0; k < kStable; ++k) {
        map.InsertOrAssign(k, FlatPair(k + kStable * (1 + pass + 20 * round)));
      }
    }
    for (uint64_t k = kStable; k < kStable + 8000; ++k) map.Erase(k);
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(misses.load(), 0u);
  EXPECT_EQ(changed.load(), 0u);
  EXPECT_GT(lookups.load(), 0u);
  EXPECT_EQ(map.size(), kStable);
}

// Keys replaced without pause while a reader looks them up, every key in one probe (a lookup reads
// many groups, and a replacement often lands before the entry it replaces): a lookup never misses
// a key present throughout (H3) and reads whole values. (Retiring the old entry at once instead
// of keeping it as a shadow for a grace period: this test sees misses.)
TEST_P(HashMapTest, ReplacementsBeforeTheOldEntryNeverHideTheKey) {
  HashMap<uint64_t, FlatPair, testutil::CollidingHash> map(domain_, Options());
  constexpr uint64_t kKeys = 48;
  for (uint64_t k = 0; k < kKeys; ++k) map.Insert(k, FlatPair(k));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> misses{0}, torn{0}, lookups{0};
  std::thread reader([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      ReadGuard guard(domain_);
      for (uint64_t k = kKeys; k-- > 0;) {
        const FlatPair* p = map.Find(guard, k);
        if (p == nullptr) {
          misses.fetch_add(1, std::memory_order_relaxed);
        } else if (!p->Whole() || p->a % kKeys != k) {
          torn.fetch_add(1, std::memory_order_relaxed);
        }
      }
      lookups.fetch_add(kKeys, std::memory_order_relaxed);
    }
  });
  // Mostly the last keys of the probe, which the reader looks up first.
  for (uint64_t i = 1; i <= 300000; ++i) {
    const uint64_t k = i % 4 == 0 ? i % kKeys : kKeys - 1 - i % 8;
    map.InsertOrAssign(k, FlatPair(k + kKeys * i));
  }
  stop.store(true);
  reader.join();
  EXPECT_EQ(misses.load(), 0u);
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_GT(lookups.load(), 0u);
  EXPECT_EQ(map.size(), kKeys);
}

// Replacing one key over and over in a tiny map: retired slots are reused after a grace period,
// and when every free slot on the probe is still retiring the map rebuilds itself; it never
// fails or grows without bound.
TEST_P(HashMapTest, ReplacingOneKeyForeverReusesSlots) {
  HashMap<uint64_t, uint64_t> map(domain_, Options());
  const size_t initial = map.slot_count();
  for (uint64_t i = 0; i < 100000; ++i) {
    ASSERT_EQ(map.InsertOrAssign(i % 3, i), i < 3);
    if (i % 1000 == 0) domain_.Synchronize();
  }
  EXPECT_EQ(map.size(), 3u);
  EXPECT_EQ(map.slot_count(), initial);
  ReadGuard guard(domain_);
  EXPECT_EQ(*map.Find(guard, uint64_t{0}), 99999u);
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

// Tiny maps (default options, 1 to 64 keys) under two updaters that own disjoint keys, with
// hashes that put keys of both updaters in one chain. Each updater checks its own keys after
// every step: a lost insert or a resurrected erase is a failure, a corrupted chain a crash.
template <typename Hash>
void TwoUpdatersOwnDisjointKeys(Domain& domain, const HashMapOptions& options, int keys_each) {
  HashMap<uint64_t, uint64_t, Hash> map(domain, options);
  std::atomic<uint64_t> wrong{0};
  std::vector<std::thread> updaters;
  for (uint64_t u = 0; u < 2; ++u) {
    updaters.emplace_back([&, u] {
      for (int round = 0; round < 3000; ++round) {
        for (int i = 0; i < keys_each; ++i) {
          // Keys 1, 33, 65, ... and 17, 49, 81, ...: with the identity hash all of them share
          // their low four hash bits, and with the colliding hash one probe sequence.
          const uint64_t k = 1 + 16 * u + 32 * static_cast<uint64_t>(i);
          if (!map.Insert(k, k * 3)) wrong.fetch_add(1);
          if (map.Get(k) != k * 3) wrong.fetch_add(1);
        }
        for (int i = 0; i < keys_each; ++i) {
          const uint64_t k = 1 + 16 * u + 32 * static_cast<uint64_t>(i);
          if (!map.Erase(k)) wrong.fetch_add(1);
          if (map.Get(k).has_value()) wrong.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : updaters) t.join();
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_EQ(map.size(), 0u);
}

TEST_P(HashMapTest, TinyMapsTwoUpdatersIdentityHash) {
  for (int keys : {1, 2, 3, 8, 32}) {
    TwoUpdatersOwnDisjointKeys<testutil::IdentityHash>(domain_, Options(), keys);
  }
}

TEST_P(HashMapTest, TinyMapsTwoUpdatersAllKeysCollide) {
  for (int keys : {1, 2, 5, 32}) {
    TwoUpdatersOwnDisjointKeys<testutil::CollidingHash>(domain_, Options(), keys);
  }
}

TEST_P(HashMapTest, TinyMapsTwoUpdatersDefaultHash) {
  for (int keys : {1, 2, 4, 16}) {
    TwoUpdatersOwnDisjointKeys<absl::Hash<uint64_t>>(domain_, Options(), keys);
  }
}

// Every size from 1 to 64 with default options: the map holds exactly what was put in.
TEST_P(HashMapTest, EverySizeUpTo64) {
  for (uint64_t n = 1; n <= 64; ++n) {
    HashMap<uint64_t, uint64_t> map(domain_, Options());
    for (uint64_t k = 0; k < n; ++k) ASSERT_TRUE(map.Insert(k, k + 1));
    ASSERT_EQ(map.size(), n);
    ReadGuard guard(domain_);
    for (uint64_t k = 0; k < n + 4; ++k) {
      const uint64_t* v = map.Find(guard, k);
      if (k < n) {
        ASSERT_NE(v, nullptr);
        EXPECT_EQ(*v, k + 1);
      } else {
        EXPECT_EQ(v, nullptr);
      }
    }
  }
}

// Capacities at the limits: every size computation is checked. Over max_size() the constructor
// throws std::length_error; up to it, std::bad_alloc when the memory is not there; near powers
// of two, a working map. (Seen failing before: 2^61 - 1 and SIZE_MAX wrapped the array's byte
// count to its header alone, and ASan reported a heap-buffer-overflow writing the groups; 2^62
// silently built a 14-slot map.)
TEST(HashMapLimitsTest, CapacitiesAtTheLimits) {
  using Map = HashMap<uint64_t, uint64_t>;
  using BigMap = HashMap<uint64_t, std::array<uint64_t, 3>>;  // inline entries of 32 bytes
  Domain domain;
  EXPECT_GT(Map::max_size(), size_t{1} << 40);
  for (const size_t over : {Map::max_size() + 1, (size_t{1} << 61) - 1, size_t{1} << 61,
                            (size_t{1} << 62) + 1, size_t{1} << 62, SIZE_MAX - 1, SIZE_MAX}) {
    EXPECT_THROW(Map(domain, {.initial_capacity = over}), std::length_error) << over;
    EXPECT_THROW(BigMap(domain, {.initial_capacity = over}), std::length_error) << over;
  }
  for (const size_t huge : {Map::max_size(), Map::max_size() / 2 + 1, size_t{1} << 50}) {
    EXPECT_THROW(Map(domain, {.initial_capacity = huge}), std::bad_alloc) << huge;
  }
  for (int k = 0; k <= 16; ++k) {
    for (const size_t capacity : {(size_t{1} << k) - 1, size_t{1} << k, (size_t{1} << k) + 1}) {
      Map map(domain, {.initial_capacity = capacity});
      for (uint64_t i = 0; i < capacity; ++i) ASSERT_TRUE(map.Insert(i, i));
      ASSERT_EQ(map.size(), capacity);
      ReadGuard guard(domain);
      for (uint64_t i = 0; i < capacity; ++i) ASSERT_NE(map.Find(guard, i), nullptr);
    }
  }
}

// Values that cannot be copied: entries live behind pointers, and resizes copy the pointers.
TEST_P(HashMapTest, MoveOnlyValues) {
  testutil::Tracker tracker;
  {
    HashMap<uint64_t, testutil::MoveOnly> map(domain_, Options());
    for (uint64_t k = 0; k < 1000; ++k) {
      ASSERT_TRUE(map.Insert(k, std::make_unique<testutil::Counted>(tracker, k)));
    }
    for (uint64_t k = 0; k < 1000; k += 2) {
      map.InsertOrAssign(k, std::make_unique<testutil::Counted>(tracker, k + 1));
    }
    for (uint64_t k = 0; k < 990; ++k) ASSERT_TRUE(map.Erase(k));
    ReadGuard guard(domain_);
    for (uint64_t k = 990; k < 1000; ++k) {
      EXPECT_EQ((*map.Find(guard, k))->value(), static_cast<int64_t>(k % 2 == 0 ? k + 1 : k));
    }
  }
  domain_.Barrier();
  EXPECT_EQ(tracker.live.load(), 0);
}

// A value whose copy or move throws, at every point of inserts, replacements and resizes: the
// update that threw changed nothing (strong guarantee), the map stays usable, and every value is
// destroyed exactly once in the end.
TEST_P(HashMapTest, ThrowingValuesKeepTheMapUsable) {
  testutil::Watchdog watchdog("HashMap update after a throwing value copy");
  testutil::Tracker tracker;
  {
    HashMap<uint64_t, testutil::Counted> map(domain_, Options());
    std::map<uint64_t, int64_t> expected;
    for (int64_t i = 0; i < 3000; ++i) {
      const uint64_t k = static_cast<uint64_t>(i * 7919) % 700;
      tracker.ThrowOnCopyOrMove(1 + i % 5);
      try {
        testutil::Counted value(tracker, i);  // constructing it throws nothing
        const bool inserted = i % 3 == 0 ? map.Insert(k, value) : map.InsertOrAssign(k, value);
        if (inserted || i % 3 != 0) expected[k] = i;
      } catch (const std::runtime_error&) {
      }
      tracker.Disarm();
      if (i % 11 == 0 && map.Erase(k)) expected.erase(k);
    }
    ASSERT_EQ(map.size(), expected.size());
    ReadGuard guard(domain_);
    for (const auto& [k, v] : expected) {
      const testutil::Counted* found = map.Find(guard, k);
      ASSERT_NE(found, nullptr) << k;
      EXPECT_EQ(found->value(), v);
    }
  }
  domain_.Barrier();
  EXPECT_EQ(tracker.live.load(), 0);
}

// The lifecycle classes (tests/testing/container_lifecycle.h): replaced and erased values,
// with lookups in between.
void UpdateCounted(HashMap<uint64_t, testutil::Counted>& map, uint64_t i,
                   testutil::Tracker& tracker) {
  const uint64_t k = i % 64;
  if (i % 5 == 4) {
    map.Erase(k);
  } else {
    map.InsertOrAssign(k, testutil::Counted(tracker, static_cast<int64_t>(i)));
  }
  ReadGuard guard(map.domain());
  map.Find(guard, (k * 7) % 64);
}

TEST_P(HashMapTest, UpdatesFromCallbacksUnderBackPressure) {
  const HashMapOptions options = Options();
  testutil::UpdatesFromCallbacksUnderBackPressure(
      [&](Domain& d) { return std::make_unique<HashMap<uint64_t, testutil::Counted>>(d, options); },
      UpdateCounted);
}

// Barrier() covers everything the map retired (the order of README's plugin unload: stop,
// Barrier(), dlclose()).
TEST_P(HashMapTest, BarrierAndDomainDestructionDestroyEveryValue) {
  const HashMapOptions options = Options();
  testutil::BarrierAndDomainDestructionDestroyEveryValue(
      [&](Domain& d) { return std::make_unique<HashMap<uint64_t, testutil::Counted>>(d, options); },
      UpdateCounted);
}

TEST_P(HashMapTest, ExitDestroysEveryRetiredValue) {
  const HashMapOptions options = Options();
  testutil::ExitDestroysEveryRetiredValue(
      [&](Domain& d) { return std::make_unique<HashMap<uint64_t, testutil::Counted>>(d, options); },
      UpdateCounted);
}

// Update and Upsert are one read-modify-write per call: threads counting on a few hot keys (all
// in a tiny map that grows meanwhile, so that some calls decide again after a rebuild) lose no
// increment, which a Find followed by InsertOrAssign would. Readers see whole values throughout.
TEST_P(HashMapTest, UpsertCountsEveryIncrementOnHotKeys) {
  HashMap<uint64_t, FlatPair> counts(domain_, Options());
  HashMap<uint64_t, Pair> boxed(domain_, Options());  // the same in node mode
  constexpr int kThreads = 4, kRounds = 3000;
  constexpr uint64_t kHot = 5;
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      ReadGuard guard(domain_);
      for (uint64_t k = 0; k < kHot; ++k) {
        if (const FlatPair* p = counts.Find(guard, k)) {
          ASSERT_TRUE(p->Whole());
        }
        if (const Pair* p = boxed.Find(guard, k)) {
          ASSERT_TRUE(p->Whole());
        }
      }
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const uint64_t key = static_cast<uint64_t>(i) % kHot;
        counts.Upsert(
            key, [](const FlatPair& p) { return FlatPair(p.a + 1); }, FlatPair(1));
        boxed.Upsert(
            key, [](const Pair& p) { return Pair(p.a + 1); }, Pair(1));
        counts.Insert(1000 + static_cast<uint64_t>(t) * kRounds + i, FlatPair(0));  // growth
      }
    });
  }
  for (auto& th : threads) th.join();
  stop = true;
  reader.join();
  ReadGuard guard(domain_);
  for (uint64_t k = 0; k < kHot; ++k) {
    EXPECT_EQ(counts.Find(guard, k)->a, kThreads * kRounds / kHot) << k;
    EXPECT_EQ(boxed.Find(guard, k)->a, kThreads * kRounds / kHot) << k;
  }
}

TEST_P(HashMapTest, UpdateTouchesOnlyPresentKeysAndAThrowChangesNothing) {
  HashMap<uint64_t, std::string> map(domain_, Options());
  EXPECT_FALSE(map.Update(1, [](const std::string& s) { return s + "!"; }));
  EXPECT_FALSE(map.Get(1).has_value());  // Update never inserts
  EXPECT_TRUE(map.Upsert(
      1, [](const std::string& s) { return s + "!"; }, "a"));
  EXPECT_FALSE(map.Upsert(
      1, [](const std::string& s) { return s + "!"; }, "unused"));
  EXPECT_TRUE(map.Update(1, [](const std::string& s) { return s + "?"; }));
  EXPECT_EQ(map.Get(1), "a!?");
  EXPECT_THROW(
      map.Update(
          1, [](const std::string&) -> std::string { throw std::runtime_error("no new value"); }),
      std::runtime_error);
  EXPECT_EQ(map.Get(1), "a!?");
  EXPECT_EQ(map.size(), 1u);
  domain_.Barrier();
}

// Mappings of this process advised for transparent huge pages (VmFlags "hg" in smaps).
int HugePageAdvisedMappings() {
  std::ifstream smaps("/proc/self/smaps");
  int advised = 0;
  for (std::string line; std::getline(smaps, line);) {
    if (line.rfind("VmFlags:", 0) == 0 && line.find(" hg") != std::string::npos) ++advised;
  }
  return advised;
}

// HashMapOptions::huge_pages: a large array is advised for huge pages when asked, never else.
TEST(HashMapOptionsTest, HugePagesAreAdvisedOnlyWhenAsked) {
  Domain domain;
  const int before = HugePageAdvisedMappings();
  {
    HashMap<uint64_t, uint64_t> plain(domain, {.initial_capacity = 1 << 20, .huge_pages = false});
    EXPECT_EQ(HugePageAdvisedMappings(), before);
  }
  HashMap<uint64_t, uint64_t> huge(domain, {.initial_capacity = 1 << 20});
  EXPECT_EQ(HugePageAdvisedMappings(), before + 1);
}

INSTANTIATE_TEST_SUITE_P(Capacity, HashMapTest, testing::Values(size_t{16}, size_t{4096}),
                         [](const testing::TestParamInfo<size_t>& info) {
                           return info.param == 16 ? "Default" : "Presized";
                         });

}  // namespace
}  // namespace rcu
