// The seed's bug hunts against a lookup structure with a cache (../shared/MISUSE.md H1 to H4).
//
// SeedCache rebuilds the seed's list-with-cache (bug hunt 2): search() walks the list and
// publishes the element it found into a one-element cache; delete() unlinks, clears the cache,
// waits for a grace period and frees. The race: search() finds p, delete() unlinks p and clears
// the cache, search() publishes p into the cache again; the grace period waits for that search,
// but not for the pointer it left behind, so the next search reads freed memory. A second busted
// mode reads the cache twice (check, then dereference: H2).
//
// The same targeted stress (readers hammering one hot key that an updater erases and re-inserts
// without pause, every value checked for an "alive" canary) must catch both busted variants (the
// canary in a plain build, ASan's heap-use-after-free, TSan's race report) and must pass on
// rcu::HashMap (which has no cache: it measured slower than none, see hash_map.h, so H1 and H2 are
// properties of its slots: an entry whose removal began is never handed out to a lookup that
// read its control byte after, and a slot is read once).

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/containers/hash_map.h"
#include "rcu/containers/list.h"
#include "rcu/domain.h"
#include "rcu/published.h"
#include "rcu/update_mutex.h"
#include "tests/testing/busted.h"
#include "tests/testing/seed_cache.h"

namespace rcu {
namespace {

using testing_support::kAlive;
using testing_support::SeedCache;
using testing_support::Value;

// The library's map behind the same interface.
class MapStore {
 public:
  MapStore() : map_(domain_) {}
  bool Search(uint64_t key, bool& found) {
    ReadGuard guard(domain_);
    const Value* v = map_.Find(guard, key);
    found = v != nullptr;
    return v == nullptr || v->Valid(key);
  }
  void Insert(uint64_t key) { map_.InsertOrAssign(key, Value(key)); }
  void Erase(uint64_t key) { map_.Erase(key); }

 private:
  Domain domain_;
  HashMap<uint64_t, Value> map_;
};

// One reader alternates two hot keys (every search misses the one-slot cache and walks: the seed's
// window), one hammers a single key (it reads whatever the cache holds); the updater erases and
// re-inserts both keys (re-inserting an erased key again and again), pausing between rounds so a
// stale cache entry lives long enough to be read. Exits 0 if every value a reader saw was valid.
template <typename Store, typename... Args>
void Stress(std::chrono::seconds duration, Args... args) {
  {
    Store store(args...);
    constexpr uint64_t kHot[] = {7, 8};
    for (uint64_t k : kHot) store.Insert(k);
    for (uint64_t k = 100; k < 164; ++k) store.Insert(k);  // a list to walk
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> invalid{0}, hits{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 2; ++t) {
      readers.emplace_back([&, t] {
        for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
          bool found = false;
          if (!store.Search(kHot[t == 0 ? i % 2 : 0], found)) invalid.fetch_add(1);
          hits.fetch_add(found, std::memory_order_relaxed);
        }
      });
    }
    const auto deadline = std::chrono::steady_clock::now() + duration;
    while (std::chrono::steady_clock::now() < deadline && invalid.load() == 0) {
      for (uint64_t k : kHot) {
        store.Erase(k);
        store.Insert(k);
      }
      const auto pause = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
      while (std::chrono::steady_clock::now() < pause) {
      }
    }
    stop.store(true);
    for (auto& t : readers) t.join();
    if (invalid.load() != 0) {
      std::fprintf(stderr, "FAILURE: a reader saw a freed or wrong element %llu times\n",
                   static_cast<unsigned long long>(invalid.load()));
      std::exit(1);
    }
    if (hits.load() == 0) {
      std::fprintf(stderr, "FAILURE: the stress never found its hot keys\n");
      std::exit(2);
    }
  }
  std::exit(0);
}

// A busted variant gets long to show its bug (it stops at the first catch, usually within a
// second); a correct one runs this long.
constexpr std::chrono::seconds kBustedBudget(10), kSurvivorRun(2);

// The control: the seed's list without its cache survives, so the busted variants below fail
// because of the cache and not because of the harness.
TEST(HashMapMisuseTest, SeedListWithoutTheCacheSurvives) {
  EXPECT_EXIT(Stress<SeedCache>(kSurvivorRun, SeedCache::kCacheOff), testing::ExitedWithCode(0),
              "");
}

TEST(HashMapMisuseTest, H1SeedCacheRepublishingADeletedElementIsCaught) {
  EXPECT_EXIT(Stress<SeedCache>(kBustedBudget, SeedCache::kCache), testing_support::Failed,
              testing_support::Detector("FAILURE: a reader saw a freed or wrong element"));
}

TEST(HashMapMisuseTest, H2SeedCacheReadTwiceIsCaught) {
  // Reading the cache twice races with its clearing: a null or another element on the second
  // load. Either a crash or a wrong element; both are failures.
  EXPECT_EXIT(Stress<SeedCache>(kBustedBudget, SeedCache::kCacheReadTwice), testing_support::Failed,
              "");
}

TEST(HashMapMisuseTest, H1HashMapSurvivesTheSameStress) {
  EXPECT_EXIT(Stress<MapStore>(kSurvivorRun), testing::ExitedWithCode(0), "");
}

using ValueMap = HashMap<uint64_t, Value>;

// H4: a value pointer used after its guard ended is a use-after-free once the element is erased
// and a grace period passes; ASan reports it (here in a child, deliberately).
#if defined(__SANITIZE_ADDRESS__)
TEST(HashMapMisuseTest, H4ValueKeptPastItsGuardIsAUseAfterFree) {
  EXPECT_DEATH(
      {
        Domain domain;
        ValueMap map(domain);
        map.Insert(1, Value(1));
        const Value* kept;
        {
          ReadGuard guard(domain);
          kept = map.Find(guard, 1);
        }
        map.Erase(1);
        domain.Barrier();
        domain.Barrier();  // both grace periods of a removed node
        std::printf("%llu\n", static_cast<unsigned long long>(kept->data));  // BUG
      },
      "heap-use-after-free");
}
#endif

TEST(HashMapMisuseTest, R1FindWithAGuardOfAnotherDomainAborts) {
  Domain a, b;
  HashMap<uint64_t, Value> map(a);
  EXPECT_DEATH(
      {
        ReadGuard guard(b);
        map.Find(guard, 1);
      },
      "R1: HashMap::Find\\(\\) with a ReadGuard of another domain");
}

TEST(HashMapMisuseTest, R1ForEachWithAGuardOfAnotherDomainAborts) {
  Domain a, b;
  HashMap<uint64_t, Value> map(a);
  EXPECT_DEATH(
      {
        ReadGuard guard(b);
        map.ForEach(guard, [](const uint64_t&, const Value&) {});
      },
      "R1: HashMap::ForEach\\(\\) with a ReadGuard of another domain");
}

// An Update() function that updates its own map (it would wait for its own stripe, or for a
// resize that needs it).
void UpdateFromItsOwnFunction() {
  Domain domain;
  HashMap<uint64_t, uint64_t> map(domain);
  map.InsertOrAssign(1, 1);
  map.Update(1, [&](const uint64_t& v) {
    map.InsertOrAssign(2, v);
    return v + 1;
  });
}

TEST(HashMapMisuseTest, H5UpdateFromItsOwnUpdateFunctionAborts) {
  EXPECT_DEATH(UpdateFromItsOwnFunction(),
               "H5: HashMap updated from inside one of its own Update\\(\\)/Upsert\\(\\) "
               "functions .*hash_map_misuse_test.cc");
}

}  // namespace
}  // namespace rcu
