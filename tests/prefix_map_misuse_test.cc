// The prefix map's rules (README "Rules", P1 to P3), each shown failing on a busted table.
//
//   P1  a covering route never vanishes while a more specific one changes. BustedNode is one
//       16-slot node of the map's own layout (prefixes of 1 to 4 bits, expanded into slots).
//       With Bug::kClearFirst it erases as a "recompute the node" implementation would: it
//       clears the erased route's slots, then writes the covering route into the empty ones, and
//       a lookup in between finds no route at all. The same stress passes on the control
//       (Bug::kNone) and on rcu::PrefixMap.
//   P2  a route is freed only after a grace period, and a lookup result is not kept past its
//       section. Bug::kFreeAtOnce deletes an erased route at once: the canary in a plain build,
//       ASan's heap-use-after-free, TSan's race. Under ASan, an entry kept past its section and
//       read after the route's erase and a barrier is a heap-use-after-free.
//   P3  a prefix longer than its address aborts, always.
//   R1  a lookup with a ReadGuard of another domain aborts (debug builds).

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/containers/address.h"
#include "rcu/containers/prefix_map.h"
#include "rcu/domain.h"
#include "tests/testing/busted.h"

namespace rcu {
namespace {

using V4 = Prefix<Ipv4Address>;
constexpr uint64_t kAlive = 0xA11FE;

struct Route {
  explicit Route(int l) : length(l) {}
  ~Route() { canary = 0; }
  int length;
  uint64_t canary = kAlive;
};

enum class Bug { kNone, kClearFirst, kFreeAtOnce };
using RouteMap = PrefixMap<Ipv4Address, Route>;

// One node of rcu::PrefixMap's layout for prefixes of 1 to 4 bits, with one bug at a time.
template <Bug kBug>
class BustedNode {
 public:
  explicit BustedNode(Domain& domain) : domain_(domain) {}
  ~BustedNode() {
    for (auto& [key, route] : routes_) delete route;
  }

  void Set(const V4& p) {
    Route* fresh = new Route(p.length);
    Route*& owner = routes_[Key(p)];
    Route* old = std::exchange(owner, fresh);
    for (int s = First(p); s < First(p) + Count(p); ++s) {
      const Route* current = slots_[s].load(std::memory_order_relaxed);
      if (current == nullptr || current->length <= p.length) {
        slots_[s].store(fresh, std::memory_order_release);
      }
    }
    Free(old);
  }

  void Erase(const V4& p) {
    const auto it = routes_.find(Key(p));
    if (it == routes_.end()) return;
    Route* old = it->second;
    routes_.erase(it);
    Route* cover = nullptr;
    for (int length = p.length - 1; length > 0 && cover == nullptr; --length) {
      const auto c = routes_.find(Key(V4(p.address, length)));
      if (c != routes_.end()) cover = c->second;
    }
    for (int s = First(p); s < First(p) + Count(p); ++s) {
      if (slots_[s].load(std::memory_order_relaxed) == old) {
        slots_[s].store(kBug == Bug::kClearFirst ? nullptr : cover,  // BUG (kClearFirst)
                        std::memory_order_release);
      }
    }
    if (kBug == Bug::kClearFirst) {
      for (int s = First(p); s < First(p) + Count(p); ++s) {
        if (slots_[s].load(std::memory_order_relaxed) == nullptr) {
          slots_[s].store(cover, std::memory_order_release);
        }
      }
    }
    Free(old);
  }

  // The matched length; -1 for no route, -2 for a freed one.
  int Lookup(const Ipv4Address& a) {
    ReadGuard guard(domain_);
    const Route* r = slots_[a.Nibble(0)].load(std::memory_order_acquire);
    if (r == nullptr) return -1;
    std::this_thread::yield();  // hold the route a while: a busted free lands meanwhile
    return r->canary == kAlive ? r->length : -2;
  }

 private:
  static std::pair<uint64_t, int> Key(const V4& p) { return {p.address.ToInteger(), p.length}; }
  static int First(const V4& p) { return p.address.Nibble(0); }
  static int Count(const V4& p) { return 1 << (4 - p.length); }
  void Free(Route* r) {
    if (r == nullptr) return;
    if (kBug == Bug::kFreeAtOnce) {
      delete r;  // BUG (kFreeAtOnce)
    } else {
      domain_.Retire(r);
    }
  }

  Domain& domain_;
  std::atomic<const Route*> slots_[16] = {};
  std::map<std::pair<uint64_t, int>, Route*> routes_;
};

// rcu::PrefixMap behind the same interface.
class MapTable {
 public:
  explicit MapTable(Domain& domain) : map_(domain) {}
  void Set(const V4& p) { map_.InsertOrAssign(p, Route(p.length)); }
  void Erase(const V4& p) { map_.Erase(p); }
  int Lookup(const Ipv4Address& a) {
    ReadGuard guard(map_.domain());
    const auto* e = map_.Lookup(guard, a);
    if (e == nullptr) return -1;
    std::this_thread::yield();
    return e->value.canary == kAlive ? e->value.length : -2;
  }

 private:
  RouteMap map_;
};

// The covering 0.0.0.0/1 stays; 0.0.0.0/3 and 0.0.0.0/4 beneath it are inserted, replaced and
// erased without pause. Readers look up addresses under 0.0.0.0/3 (first nibble 0 or 1): every
// lookup must find a live route of 1 bit or more. Exits 0 if none failed.
template <typename Table>
void CoveringRouteStress(std::chrono::seconds duration) {
  {
    Domain domain;
    Table table(domain);
    const V4 cover(Ipv4Address::FromInteger(0), 1);
    const V4 churn[] = {V4(Ipv4Address::FromInteger(0), 3), V4(Ipv4Address::FromInteger(0), 4)};
    table.Set(cover);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> lost{0}, freed{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 2; ++r) {
      readers.emplace_back([&, r] {
        for (uint32_t i = r; !stop.load(std::memory_order_relaxed); ++i) {
          const int length = table.Lookup(Ipv4Address::FromInteger((i % 2) << 28));
          if (length == -1) lost.fetch_add(1);
          if (length == -2) freed.fetch_add(1);
        }
      });
    }
    const auto deadline = std::chrono::steady_clock::now() + duration;
    for (uint64_t i = 0;
         std::chrono::steady_clock::now() < deadline && lost.load() == 0 && freed.load() == 0;
         ++i) {
      const V4& p = churn[i % 2];
      if (i % 3 == 2) {
        table.Erase(p);
      } else {
        table.Set(p);
      }
    }
    stop.store(true);
    for (auto& t : readers) t.join();
    if (lost.load() != 0) {
      std::fprintf(stderr, "FAILURE: a lookup found no route while its cover was present\n");
      std::exit(1);
    }
    if (freed.load() != 0) {
      std::fprintf(stderr, "FAILURE: a lookup read a freed route\n");
      std::exit(1);
    }
  }
  std::exit(0);
}

constexpr std::chrono::seconds kBustedBudget(10), kSurvivorRun(2);

TEST(PrefixMapMisuseTest, ControlNodeSurvives) {
  EXPECT_EXIT(CoveringRouteStress<BustedNode<Bug::kNone>>(kSurvivorRun), testing::ExitedWithCode(0),
              "");
}

TEST(PrefixMapMisuseTest, P1PrefixMapKeepsCoveringRoutes) {
  EXPECT_EXIT(CoveringRouteStress<MapTable>(kSurvivorRun), testing::ExitedWithCode(0), "");
}

TEST(PrefixMapMisuseTest, P1ClearingSlotsFirstLosesTheCover) {
  EXPECT_EXIT(CoveringRouteStress<BustedNode<Bug::kClearFirst>>(kBustedBudget),
              testing_support::Failed, "FAILURE: a lookup found no route while its cover");
}

TEST(PrefixMapMisuseTest, P2FreeingAnErasedRouteAtOnceIsCaught) {
  EXPECT_EXIT(CoveringRouteStress<BustedNode<Bug::kFreeAtOnce>>(kBustedBudget),
              testing_support::Failed,
              testing_support::Detector("FAILURE: a lookup read a freed route"));
}

#if defined(__SANITIZE_ADDRESS__)
TEST(PrefixMapMisuseTest, P2EntryKeptPastItsSectionIsAUseAfterFree) {
  EXPECT_DEATH(
      {
        Domain domain;
        RouteMap map(domain);
        map.Insert(V4(Ipv4Address::FromInteger(0x0A000000), 8), Route(8));
        const RouteMap::Entry* kept;
        {
          ReadGuard guard(domain);
          kept = map.Lookup(guard, Ipv4Address::FromInteger(0x0A010101));
        }
        map.Erase(V4(Ipv4Address::FromInteger(0x0A000000), 8));
        domain.Barrier();
        std::printf("%d\n", kept->value.length);  // BUG (P2)
      },
      "heap-use-after-free");
}
#endif

TEST(PrefixMapMisuseTest, P3PrefixLongerThanItsAddressAborts) {
  PrefixMap<Ipv4Address, int> map;
  EXPECT_DEATH(map.Insert(V4(Ipv4Address::FromInteger(0), 33), 1),
               "P3: a prefix of length 33 for an address of 32 bits");
  EXPECT_DEATH(map.Erase(V4(Ipv4Address::FromInteger(0), -1)), "P3: a prefix of length -1");
}

void BatchIntoTooFewResults() {
  PrefixMap<Ipv4Address, int> map;
  std::vector<Ipv4Address> addresses(17);
  std::vector<const PrefixMap<Ipv4Address, int>::Entry*> out(16);
  ReadGuard guard;
  map.Lookup(guard, addresses, out);
}

TEST(PrefixMapMisuseTest, P4BatchLookupIntoTooFewResultsAborts) {
  EXPECT_DEATH(BatchIntoTooFewResults(),
               "P4: a batch Lookup\\(\\) of 17 addresses into 16 results");
}

TEST(PrefixMapMisuseTest, R1LookupWithAnotherDomainsGuardAborts) {
  Domain mine, other;
  PrefixMap<Ipv4Address, int> map(mine);
  EXPECT_DEATH(
      {
        ReadGuard guard(other);
        map.Lookup(guard, Ipv4Address::FromInteger(1));
      },
      "R1: PrefixMap::Lookup\\(\\) with a ReadGuard of another domain");
}

}  // namespace
}  // namespace rcu
