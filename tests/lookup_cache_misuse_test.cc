// The lookup cache's rules (README "Rules", K1 to K4), each shown failing on a busted variant or
// in a death test beside the correct use.
//
//   K1  a hit is not used after its section: under ASan, a value kept past its section and read
//       after its erase and a barrier is a heap-use-after-free.
//   K2  a loader does not ask the cache for the key it is loading (it would wait for itself):
//       aborts with "K2:" in every build.
//   K3  GetOrLoad() is not called inside a section of the cache's domain (it may wait for
//       another thread's load): aborts with "K3:" (debug).
//   K4  a load does not publish a key erased while it ran (the seed's bug). The busted variant
//       is the fill users write by hand (Get, miss, load, Insert): erased during its load, the
//       key is cached again after Erase() returned. GetOrLoad() under the same schedule is not.
//   R1  a read with a ReadGuard of another domain aborts (debug).

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "rcu/containers/lookup_cache.h"
#include "rcu/domain.h"

namespace rcu {
namespace {

using Cache = LookupCache<uint64_t, uint64_t>;
using StringCache = LookupCache<int, std::string>;

// The load runs while another thread erases the key; `fill` is how the value gets in.
template <typename Fill>
bool ErasedKeyCachedAfterItsErase(Fill fill) {
  Domain domain;
  Cache cache(domain, {.capacity = 16});
  std::atomic<bool> loading{false}, erased{false};
  const auto slow_load = [&](uint64_t) {
    loading = true;
    while (!erased.load()) std::this_thread::yield();
    return uint64_t{1};  // what the backend said before the erase
  };
  std::thread filler([&] { fill(cache, slow_load); });
  while (!loading.load()) std::this_thread::yield();
  cache.Erase(9);  // the key's data changed: drop what the cache has or is getting
  erased = true;
  filler.join();
  return cache.Get(9).has_value();
}

TEST(LookupCacheMisuseTest, K4AHandWrittenFillCachesAnErasedKey) {
  EXPECT_TRUE(ErasedKeyCachedAfterItsErase([](Cache& cache, auto load) {
    if (!cache.Get(9)) cache.Insert(9, load(9));  // BUG (K4): no single flight, no invalidation
  })) << "the busted fill should have cached the erased key";
  EXPECT_FALSE(
      ErasedKeyCachedAfterItsErase([](Cache& cache, auto load) { cache.GetOrLoad(9, load); }));
}

TEST(LookupCacheMisuseTest, K2ALoaderThatAsksForItsOwnKeyAborts) {
  Domain domain;
  Cache cache(domain, {.capacity = 16});
  // Correct: a loader may use the cache for other keys.
  EXPECT_EQ(cache.GetOrLoad(1,
                            [&](uint64_t) {
                              return cache.GetOrLoad(2, [](uint64_t) { return uint64_t{2}; }) + 1;
                            }),
            3u);
  EXPECT_DEATH(
      cache.GetOrLoad(
          5, [&](uint64_t k) { return cache.GetOrLoad(k, [](uint64_t) { return uint64_t{0}; }); }),
      "K2: a LookupCache loader asked the cache for the key it is loading");
}

TEST(LookupCacheMisuseTest, K3GetOrLoadInsideASectionAborts) {
  Domain domain;
  Cache cache(domain, {.capacity = 16});
  EXPECT_EQ(cache.GetOrLoad(1, [](uint64_t) { return uint64_t{1}; }), 1u);  // correct
  EXPECT_DEATH(
      {
        ReadGuard guard(domain);
        cache.GetOrLoad(2, [](uint64_t) { return uint64_t{2}; });  // BUG (K3)
      },
      "K3: LookupCache::GetOrLoad\\(\\) inside a read-side section");
}

TEST(LookupCacheMisuseTest, R1FindWithAnotherDomainsGuardAborts) {
  Domain mine, other;
  Cache cache(mine, {.capacity = 16});
  EXPECT_DEATH(
      {
        ReadGuard guard(other);
        cache.Find(guard, 1);
      },
      "R1: LookupCache::Find\\(\\) with a ReadGuard of another domain");
}

#if defined(__SANITIZE_ADDRESS__)
TEST(LookupCacheMisuseTest, K1AHitKeptPastItsSectionIsAUseAfterFree) {
  EXPECT_DEATH(
      {
        Domain domain;
        StringCache cache(domain, {.capacity = 4});
        cache.Insert(1, std::string(100, 'x'));
        const std::string* kept;
        {
          ReadGuard guard(domain);
          kept = cache.Find(guard, 1);
        }
        cache.Erase(1);
        domain.Barrier();
        std::printf("%zu\n", kept->size());  // BUG (K1)
      },
      "heap-use-after-free");
}
#endif

}  // namespace
}  // namespace rcu
