// The replace-style map's rules (../shared/MISUSE.md M1 to M3).
//
//   M1  modifying a value in place: readers get const values, so it does not compile
//       (//tests:compile_fail_test); the busted map below does it through a const_cast.
//   M2  a torn value: the busted map's in-place update is caught (two fields that must agree, and
//       TSan's race report); rcu::ReplaceMap survives the same stress.
//   M3  two lookups in one section are not one state: demonstrated (the test needs to see it
//       happen), while Snapshot() never shows it.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/containers/replace_map.h"
#include "rcu/domain.h"
#include "tests/testing/busted.h"

namespace rcu {
namespace {

struct Limits {
  uint64_t qps = 0;
  uint64_t burst = 0;  // always 2 * qps
};

using Map = ReplaceMap<int, Limits>;

// Readers check every value they see is whole while the updater changes it. kInPlace writes
// through a const_cast (M1, which the API otherwise refuses) instead of replacing.
template <bool kInPlace>
void TornValueStress(std::chrono::seconds duration) {
  {
    Domain domain;
    Map map(domain);
    map.Insert(1, {1, 2});
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> torn{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 2; ++t) {
      readers.emplace_back([&] {
        while (!stop.load(std::memory_order_relaxed)) {
          ReadGuard guard(domain);
          const Limits* l = map.Find(guard, 1);
          const uint64_t qps = l->qps;
          std::this_thread::yield();
          if (l->burst != 2 * qps) torn.fetch_add(1);
        }
      });
    }
    const auto deadline = std::chrono::steady_clock::now() + duration;
    for (uint64_t i = 2; std::chrono::steady_clock::now() < deadline && torn.load() == 0; ++i) {
      if (kInPlace) {
        ReadGuard guard(domain);
        Limits* l = const_cast<Limits*>(map.Find(guard, 1));  // BUG (M1)
        l->qps = i;
        l->burst = 2 * i;
      } else {
        map.Update(1, [i](const Limits&) { return Limits{i, 2 * i}; });
      }
    }
    stop.store(true);
    for (auto& t : readers) t.join();
    if (torn.load() != 0) {
      std::fprintf(stderr, "FAILURE: a reader saw a torn value\n");
      std::exit(1);
    }
  }
  std::exit(0);
}

TEST(ReplaceMapMisuseTest, M2InPlaceUpdateTearsValues) {
  EXPECT_EXIT(TornValueStress<true>(std::chrono::seconds(10)), testing_support::Failed,
#if defined(__SANITIZE_THREAD__)
              "ThreadSanitizer: data race"
#else
              "FAILURE: a reader saw a torn value"
#endif
  );
}

TEST(ReplaceMapMisuseTest, M2ReplacingNeverTears) {
  EXPECT_EXIT(TornValueStress<false>(std::chrono::seconds(2)), testing::ExitedWithCode(0), "");
}

// Keys 1 and 2 always sum to 100 in every version.
class M3Test : public testing::Test {
 protected:
  void SetUp() override {
    map_.Edit([](Map::Editor& e) {
      e.Set(1, {50, 100});
      e.Set(2, {50, 100});
    });
    updater_ = std::thread([this] {
      for (uint64_t i = 0; !stop_.load(); ++i) {
        map_.Edit([i](Map::Editor& e) {
          e.Set(1, {i % 100, 2 * (i % 100)});
          e.Set(2, {100 - i % 100, 2 * (100 - i % 100)});
        });
      }
    });
  }
  void TearDown() override {
    stop_.store(true);
    updater_.join();
  }
  Domain domain_;
  Map map_{domain_};
  std::atomic<bool> stop_{false};
  std::thread updater_;
};

TEST_F(M3Test, TwoFindsInOneSectionCanSeeTwoVersions) {
  bool seen = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    ReadGuard guard(domain_);
    const Limits* a = map_.Find(guard, 1);
    std::this_thread::yield();
    const Limits* b = map_.Find(guard, 2);  // M3: maybe another version than `a`'s
    seen = a->qps + b->qps != 100;
  }
  EXPECT_TRUE(seen) << "expected to observe two versions in one section";
}

TEST_F(M3Test, SnapshotIsOneVersion) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  uint64_t reads = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    ReadGuard guard(domain_);
    const Map::Version& v = map_.Snapshot(guard);
    const Limits* a = v.Find(1);
    std::this_thread::yield();
    const Limits* b = v.Find(2);
    ASSERT_EQ(a->qps + b->qps, 100u);
    ++reads;
  }
  EXPECT_GT(reads, 0u);
}

TEST(ReplaceMapMisuseTest, R1ReadWithAGuardOfAnotherDomainAborts) {
  Domain a, b;
  Map map(a);
  EXPECT_DEATH(
      {
        ReadGuard guard(b);
        map.Find(guard, 1);
      },
      "R1: ReplaceMap read with a ReadGuard of another domain");
}

// M4: an Edit() function that updates its own map would wait for the lock it runs under.
TEST(ReplaceMapMisuseTest, M4EditThatUpdatesItsOwnMapAborts) {
  Domain domain;
  Map map(domain);
  EXPECT_DEATH(map.Edit([&](auto& e) {
    e.Set(1, Limits{1, 2});
    map.Insert(2, Limits{2, 4});
  }),
               "M4: ReplaceMap updated from inside one of its own Edit\\(\\) functions "
               ".*replace_map_misuse_test.cc");
}

}  // namespace
}  // namespace rcu
