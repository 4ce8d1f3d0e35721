#include "rcu/containers/lookup_cache.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/domain.h"
#include "tests/testing/container_lifecycle.h"
#include "tests/testing/threads.h"
#include "tests/testing/values.h"

namespace rcu {
namespace {

using Cache = LookupCache<uint64_t, uint64_t>;

TEST(LookupCacheTest, InsertFindPeekGetEraseClear) {
  Domain domain;
  Cache cache(domain, {.capacity = 100});
  EXPECT_EQ(cache.Get(1), std::nullopt);
  cache.Insert(1, 10);
  cache.Insert(2, 20);
  cache.Insert(1, 11);  // replaces
  {
    ReadGuard guard(domain);
    ASSERT_NE(cache.Find(guard, 1), nullptr);
    EXPECT_EQ(*cache.Find(guard, 1), 11u);
    EXPECT_EQ(*cache.Peek(guard, 2), 20u);
    EXPECT_EQ(cache.Find(guard, 3), nullptr);
  }
  EXPECT_EQ(cache.size(), 2u);
  LookupCacheStats stats = cache.Stats();
  EXPECT_EQ(stats.hits, 2u);  // Peek is not a use
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_TRUE(cache.Erase(1));
  EXPECT_FALSE(cache.Erase(1));
  EXPECT_EQ(cache.Get(1), std::nullopt);
  cache.Clear();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.Get(2), std::nullopt);
}

TEST(LookupCacheTest, BadOptionsAndChargesThrow) {
  Domain domain;
  EXPECT_THROW(Cache(domain, {.capacity = 0}), std::invalid_argument);
  EXPECT_THROW(Cache(domain, {.ttl = std::chrono::seconds(-1)}), std::invalid_argument);
  Cache cache(domain, {.capacity = 4});
  EXPECT_THROW(cache.Insert(1, 1, /*charge=*/5), std::length_error);
  EXPECT_THROW(cache.Insert(1, 1, SIZE_MAX), std::length_error);
  cache.Insert(1, 1, /*charge=*/4);  // the whole capacity
  cache.Insert(2, 2);                // evicts it
  EXPECT_EQ(cache.size(), 1u);
}

// Tiny capacities, every charge: the cache never holds more than its capacity, and every entry
// that leaves is reported once with its cause.
TEST(LookupCacheTest, TinyCapacitiesStayWithinBoundsAndReportEveryRemoval) {
  for (const size_t capacity : {size_t{1}, size_t{2}, size_t{7}, size_t{64}}) {
    Domain domain;
    std::atomic<uint64_t> removed{0}, evicted{0}, replaced{0}, erased{0};
    Cache cache(domain, {.capacity = capacity,
                         .on_removal = [&](const uint64_t&, const uint64_t&, RemovalCause cause) {
                           ++removed;
                           if (cause == RemovalCause::kEvicted) ++evicted;
                           if (cause == RemovalCause::kReplaced) ++replaced;
                           if (cause == RemovalCause::kErased) ++erased;
                         }});
    uint64_t inserted = 0;
    for (uint64_t i = 0; i < 2000; ++i) {
      const uint64_t key = (i * 7919) % 97;
      if (i % 11 == 0) {
        cache.Erase(key);
      } else {
        cache.Insert(key, i, 1 + i % 2 % capacity);
        ++inserted;
      }
      if (i % 3 == 0) cache.Get((key + 1) % 97);
      const LookupCacheStats stats = cache.Stats();
      ASSERT_LE(stats.charge, capacity);
      ASSERT_EQ(stats.size, cache.size());
    }
    EXPECT_EQ(removed.load() + cache.size(), inserted) << capacity;
    EXPECT_EQ(removed.load(), evicted.load() + replaced.load() + erased.load());
    EXPECT_EQ(cache.Stats().evictions, evicted.load());
  }
}

// The listener reads the removed value where readers read it (the index entry the update
// retired), inside a read-side section: the value is whole, also for values that own memory
// (ASan would see a freed one), and the listener may update the cache (a retire inside a section
// is never throttled, so it cannot wait for itself).
TEST(LookupCacheTest, TheListenerSeesWholeValuesAndMayUpdateTheCache) {
  Domain domain;
  std::vector<std::string> seen;
  rcu::LookupCache<uint64_t, std::string>* self = nullptr;
  rcu::LookupCache<uint64_t, std::string> cache(
      domain, {.capacity = 2,
               .on_removal = [&](const uint64_t& key, const std::string& value, RemovalCause) {
                 EXPECT_TRUE(domain.InReadSection());
                 seen.push_back(value);
                 if (key == 1) self->Insert(100, "re-inserted by the listener");
               }});
  self = &cache;
  const std::string long_value(100, 'x');  // not in the small-string buffer
  cache.Insert(1, long_value + "1");
  cache.Insert(2, long_value + "2");
  cache.Erase(1);  // the listener inserts key 100
  EXPECT_EQ(seen, std::vector<std::string>{long_value + "1"});
  EXPECT_EQ(cache.Get(100), "re-inserted by the listener");
  domain.Barrier();
}

// S3-FIFO's point: a hot set that is used survives a scan of keys seen once, which an LRU of the
// same capacity would flush.
TEST(LookupCacheTest, AHotSetSurvivesAScan) {
  Domain domain;
  Cache cache(domain, {.capacity = 1000});
  for (int round = 0; round < 3; ++round) {
    for (uint64_t k = 0; k < 500; ++k) {
      if (!cache.Get(k)) cache.Insert(k, k);
    }
  }
  for (uint64_t k = 1'000'000; k < 1'010'000; ++k) cache.Insert(k, k);  // a scan, 10x the size
  int hot = 0;
  for (uint64_t k = 0; k < 500; ++k) hot += cache.Get(k).has_value();
  EXPECT_GE(hot, 450) << "the scan flushed the hot set";
}

TEST(LookupCacheTest, TimeToLiveExpiresEntries) {
  Domain domain;
  Cache cache(domain, {.capacity = 10, .ttl = std::chrono::milliseconds(20)});
  cache.Insert(1, 1);
  EXPECT_EQ(cache.Get(1), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));  // past the ttl and a coarse tick
  EXPECT_EQ(cache.Get(1), std::nullopt);
  int loads = 0;
  EXPECT_EQ(cache.GetOrLoad(1, [&](uint64_t) { return ++loads, uint64_t{2}; }), 2u);
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(cache.Stats().expirations, 1u);  // the expired entry was replaced
  EXPECT_EQ(cache.Get(1), 2u);
}

// Negative caching: a loader's "not found" (nullopt) lives 20 ms, a found value forever.
TEST(LookupCacheTest, ExpireAfterGivesEachEntryItsOwnLifetime) {
  Domain domain;
  LookupCache<uint64_t, std::optional<uint64_t>> cache(
      domain,
      {.capacity = 10, .expire_after = [](const uint64_t&, const std::optional<uint64_t>& v) {
         return v ? std::chrono::nanoseconds(0) : std::chrono::milliseconds(20);
       }});
  int loads = 0;
  auto load = [&](uint64_t key) -> std::optional<uint64_t> {
    ++loads;
    if (key % 2 == 0) return std::nullopt;
    return key * 10;
  };
  EXPECT_EQ(cache.GetOrLoad(1, load), 10u);
  EXPECT_EQ(cache.GetOrLoad(2, load), std::nullopt);
  EXPECT_EQ(cache.GetOrLoad(2, load), std::nullopt);  // the negative result is cached
  EXPECT_EQ(loads, 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));  // past 20 ms and a coarse tick
  EXPECT_EQ(cache.GetOrLoad(1, load), 10u);                    // still cached
  EXPECT_EQ(cache.GetOrLoad(2, load), std::nullopt);           // loaded again
  EXPECT_EQ(loads, 3);
  EXPECT_EQ(cache.Stats().expirations, 1u);
}

TEST(LookupCacheTest, ANegativeLifetimeThrowsAndCachesNothing) {
  Domain domain;
  Cache cache(domain, {.capacity = 10, .expire_after = [](const uint64_t&, const uint64_t& v) {
                         return std::chrono::nanoseconds(v == 7 ? -1 : 0);
                       }});
  EXPECT_THROW(cache.Insert(1, 7), std::invalid_argument);
  EXPECT_THROW(cache.GetOrLoad(2, [](uint64_t) { return uint64_t{7}; }), std::invalid_argument);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.GetOrLoad(2, [](uint64_t) { return uint64_t{8}; }), 8u);  // no flight left
}

// refresh_after: the caller that finds the entry due reloads it; a caller meanwhile gets the old
// value at once instead of waiting for the reload.
TEST(LookupCacheTest, RefreshServesTheOldValueWhileOneCallerReloads) {
  Domain domain;
  Cache cache(domain, {.capacity = 10, .refresh_after = std::chrono::milliseconds(20)});
  cache.Insert(1, 10);
  EXPECT_EQ(cache.GetOrLoad(1, [](uint64_t) -> uint64_t { throw std::logic_error("fresh"); }), 10u);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  std::atomic<bool> loading{false}, release{false};
  std::thread refresher([&] {
    EXPECT_EQ(cache.GetOrLoad(1,
                              [&](uint64_t) {
                                loading = true;
                                while (!release) std::this_thread::yield();
                                return uint64_t{11};
                              }),
              11u);
  });
  while (!loading) std::this_thread::yield();
  EXPECT_EQ(cache.GetOrLoad(1, [](uint64_t) -> uint64_t { throw std::logic_error("waited"); }),
            10u);
  release = true;
  refresher.join();
  EXPECT_EQ(cache.Get(1), 11u);
  EXPECT_EQ(cache.Stats().loads, 1u);
}

TEST(LookupCacheTest, AFailedRefreshKeepsTheOldValue) {
  Domain domain;
  Cache cache(domain, {.capacity = 10, .refresh_after = std::chrono::milliseconds(20)});
  cache.Insert(1, 10);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_EQ(cache.GetOrLoad(1, [](uint64_t) -> uint64_t { throw std::runtime_error("down"); }),
            10u);
  EXPECT_EQ(cache.Get(1), 10u);
  EXPECT_EQ(cache.Stats().load_failures, 1u);
  EXPECT_EQ(cache.GetOrLoad(1, [](uint64_t) { return uint64_t{12}; }), 12u);  // retried
  EXPECT_EQ(cache.Get(1), 12u);
}

TEST(LookupCacheTest, StringKeysAreLookedUpByView) {
  Domain domain;
  LookupCache<std::string, int> cache(domain, {.capacity = 8});
  cache.Insert("frontend-17.eu-west-3.service.example.com", 17);
  ReadGuard guard(domain);
  const std::string_view name = "frontend-17.eu-west-3.service.example.com";
  ASSERT_NE(cache.Find(guard, name), nullptr);
  EXPECT_EQ(*cache.Find(guard, name), 17);
  EXPECT_EQ(cache.Find(guard, "other"), nullptr);
}

TEST(LookupCacheTest, MoveOnlyValues) {
  Domain domain;
  LookupCache<int, std::unique_ptr<int>> cache(domain, {.capacity = 2});
  for (int i = 0; i < 10; ++i) cache.Insert(i, std::make_unique<int>(i));
  ReadGuard guard(domain);
  const std::unique_ptr<int>* v = cache.Find(guard, 9);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(**v, 9);
}

// 64 threads miss one key together: one loader call, 64 copies of its value.
TEST(LookupCacheTest, ConcurrentMissesOfOneKeyLoadItOnce) {
  Domain domain;
  Cache cache(domain, {.capacity = 100});
  std::atomic<int> calls{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  std::atomic<int> right{0};
  for (int t = 0; t < 64; ++t) {
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      const uint64_t v = cache.GetOrLoad(42, [&](uint64_t key) {
        ++calls;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // everyone misses meanwhile
        return key * 2;
      });
      if (v == 84) ++right;
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(right.load(), 64);
  EXPECT_EQ(cache.Stats().loads, 1u);
}

// A loader that throws: every waiter gets the exception, nothing is cached, the next miss loads.
TEST(LookupCacheTest, ALoaderThatThrowsFailsEveryWaiterAndCachesNothing) {
  Domain domain;
  Cache cache(domain, {.capacity = 100});
  std::atomic<int> failed{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      try {
        cache.GetOrLoad(7, [](uint64_t) -> uint64_t {
          std::this_thread::sleep_for(std::chrono::milliseconds(30));
          throw std::runtime_error("backend down");
        });
      } catch (const std::runtime_error&) {
        ++failed;
      }
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 8);
  EXPECT_GE(cache.Stats().load_failures, 1u);
  EXPECT_EQ(cache.Get(7), std::nullopt);
  EXPECT_EQ(cache.GetOrLoad(7, [](uint64_t) { return uint64_t{70}; }), 70u);
  EXPECT_EQ(cache.Get(7), 70u);
}

// K4, the seed's bug: a load of a key that is erased while it runs must not publish its value
// after the erase returned. (A fill that did not check would leave the erased key cached.)
TEST(LookupCacheTest, AKeyErasedDuringItsLoadIsNotPublished) {
  Domain domain;
  Cache cache(domain, {.capacity = 100});
  std::atomic<bool> loading{false}, erased{false};
  std::thread loader([&] {
    EXPECT_EQ(cache.GetOrLoad(5,
                              [&](uint64_t) {
                                loading = true;
                                while (!erased.load()) std::this_thread::yield();
                                return uint64_t{50};  // stale: the key was erased meanwhile
                              }),
              50u);
  });
  while (!loading.load()) std::this_thread::yield();
  cache.Erase(5);
  erased = true;
  loader.join();
  EXPECT_EQ(cache.Get(5), std::nullopt);
  // Clear() does the same for every load in flight.
  loading = erased = false;
  std::thread again([&] {
    cache.GetOrLoad(6, [&](uint64_t) {
      loading = true;
      while (!erased.load()) std::this_thread::yield();
      return uint64_t{60};
    });
  });
  while (!loading.load()) std::this_thread::yield();
  cache.Clear();
  erased = true;
  again.join();
  EXPECT_EQ(cache.Get(6), std::nullopt);
}

// Readers hold hits while updaters replace, erase and evict at a tiny capacity: every value a
// reader reaches is alive (the canary, ASan, TSan), and every value is destroyed once.
TEST(LookupCacheTest, HitsStayValidWhileEntriesAreEvictedAndErased) {
  testutil::Tracker tracker;
  {
    Domain domain;
    LookupCache<uint64_t, testutil::Counted> cache(domain, {.capacity = 7});
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> dead{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 2; ++t) {
      readers.emplace_back([&, t] {
        for (uint64_t i = t; !stop.load(std::memory_order_relaxed); ++i) {
          ReadGuard guard(domain);
          if (const testutil::Counted* v = cache.Find(guard, i % 16)) {
            if (v->value() < 0) dead.fetch_add(1);
          }
        }
      });
    }
    for (uint64_t i = 0; i < 20000; ++i) {
      if (i % 7 == 0) {
        cache.Erase(i % 16);
      } else {
        cache.Insert(i % 16, testutil::Counted(tracker, static_cast<int64_t>(i)));
      }
    }
    stop = true;
    for (auto& r : readers) r.join();
    EXPECT_EQ(dead.load(), 0u);
    domain.Barrier();
    EXPECT_EQ(tracker.live.load(), static_cast<int64_t>(cache.size()));
  }
  EXPECT_EQ(tracker.live.load(), 0);
}

// Inline entries (uint64_t values) carry their use count in the index's slot, which hits store
// while the updater's churn rebuilds the index and copies the slots (TSan checks the copy reads
// the count atomically). Every hit returns its key's value.
TEST(LookupCacheTest, HitsOnInlineEntriesCountUsesWhileTheIndexIsRebuilt) {
  Domain domain;
  LookupCache<uint64_t, uint64_t> cache(domain, {.capacity = 64});
  for (uint64_t k = 0; k < 8; ++k) cache.Insert(k, k * 3);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> wrong{0}, hits{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        for (uint64_t k = 0; k < 8; ++k) {
          ReadGuard guard(domain);
          if (const uint64_t* v = cache.Find(guard, k)) {
            hits.fetch_add(1, std::memory_order_relaxed);
            if (*v != k * 3) wrong.fetch_add(1);
          }
        }
      }
    });
  }
  while (hits.load() == 0) std::this_thread::yield();
  for (uint64_t k = 8; k < 50000; ++k) cache.Insert(k, k * 3);  // distinct keys: tombstones
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(wrong.load(), 0u);
}

// fork() while another thread's load is in flight: that thread does not exist in the child, so
// a child that misses the key loads it itself instead of waiting for the parent's load forever.
TEST(LookupCacheTest, AChildOfForkLoadsAKeyTheParentWasLoading) {
  if (testutil::ForkCannotStartThreads()) GTEST_SKIP() << "TSan and fork with threads";
  if (testutil::kAllocatorForkUnsafe) GTEST_SKIP() << "ASan's allocator is not fork-safe";
  Domain domain;
  Cache cache(domain, {.capacity = 10});
  std::atomic<bool> loading{false}, release{false};
  std::thread loader([&] {
    EXPECT_EQ(cache.GetOrLoad(1,
                              [&](uint64_t) {
                                loading = true;
                                while (!release) std::this_thread::yield();
                                return uint64_t{10};
                              }),
              10u);
  });
  while (!loading) std::this_thread::yield();
  EXPECT_EQ(
      testutil::RunChild(
          [&] { return cache.GetOrLoad(1, [](uint64_t) { return uint64_t{42}; }) == 42 ? 0 : 1; },
          std::chrono::seconds(5)),
      testutil::ChildResult::kExitedZero);
  release = true;
  loader.join();
  EXPECT_EQ(cache.Get(1), 10u);
}

// The lifecycle classes (tests/testing/container_lifecycle.h).
void UpdateCounted(LookupCache<uint64_t, testutil::Counted>& cache, uint64_t i,
                   testutil::Tracker& tracker) {
  const uint64_t k = i % 64;
  if (i % 5 == 4) {
    cache.Erase(k);
  } else {
    cache.Insert(k, testutil::Counted(tracker, static_cast<int64_t>(i)));
  }
  cache.Get((k * 7) % 64);
}
std::unique_ptr<LookupCache<uint64_t, testutil::Counted>> MakeCounted(Domain& d) {
  return std::make_unique<LookupCache<uint64_t, testutil::Counted>>(
      d, LookupCacheOptions<uint64_t, testutil::Counted>{.capacity = 16});
}

TEST(LookupCacheTest, UpdatesFromCallbacksUnderBackPressure) {
  testutil::UpdatesFromCallbacksUnderBackPressure(MakeCounted, UpdateCounted);
}
TEST(LookupCacheTest, BarrierAndDomainDestructionDestroyEveryValue) {
  testutil::BarrierAndDomainDestructionDestroyEveryValue(MakeCounted, UpdateCounted);
}
TEST(LookupCacheTest, ExitDestroysEveryRetiredValue) {
  testutil::ExitDestroysEveryRetiredValue(MakeCounted, UpdateCounted);
}

}  // namespace
}  // namespace rcu
