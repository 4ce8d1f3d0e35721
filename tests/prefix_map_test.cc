#include "rcu/containers/prefix_map.h"

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
#include "rcu/containers/address.h"
#include "rcu/domain.h"
#include "tests/testing/container_lifecycle.h"
#include "tests/testing/values.h"

namespace rcu {
namespace {

using V4 = Prefix<Ipv4Address>;

V4 P4(const char* text) { return *ParseIpv4Prefix(text); }
Ipv4Address A4(const char* text) { return ParseIpv4Prefix(text)->address; }

TEST(PrefixMapTest, LongestMatchDefaultRouteAndErase) {
  Domain domain;
  PrefixMap<Ipv4Address, std::string> fib(domain);
  EXPECT_TRUE(fib.Insert(P4("10.0.0.0/8"), "a"));
  EXPECT_TRUE(fib.Insert(P4("10.1.0.0/16"), "b"));
  EXPECT_TRUE(fib.Insert(P4("10.1.2.0/23"), "c"));
  EXPECT_TRUE(fib.Insert(P4("10.1.2.3/32"), "d"));
  EXPECT_FALSE(fib.Insert(P4("10.1.0.0/16"), "x"));
  const auto match = [&](const char* address) -> std::string {
    ReadGuard guard(domain);
    const auto* e = fib.Lookup(guard, A4(address));
    return e == nullptr ? "-" : e->value + "@" + ToString(e->prefix);
  };
  EXPECT_EQ(match("10.1.2.3"), "d@10.1.2.3/32");
  EXPECT_EQ(match("10.1.3.3"), "c@10.1.2.0/23");
  EXPECT_EQ(match("10.1.4.3"), "b@10.1.0.0/16");
  EXPECT_EQ(match("10.200.4.3"), "a@10.0.0.0/8");
  EXPECT_EQ(match("11.0.0.1"), "-");
  EXPECT_TRUE(fib.Insert(P4("0.0.0.0/0"), "default"));
  EXPECT_EQ(match("11.0.0.1"), "default@0.0.0.0/0");
  EXPECT_FALSE(fib.InsertOrAssign(P4("10.1.0.0/16"), "b2"));
  EXPECT_EQ(match("10.1.4.3"), "b2@10.1.0.0/16");
  EXPECT_TRUE(fib.Erase(P4("10.1.2.0/23")));
  EXPECT_FALSE(fib.Erase(P4("10.1.2.0/23")));
  EXPECT_EQ(match("10.1.3.3"), "b2@10.1.0.0/16");
  EXPECT_EQ(match("10.1.2.3"), "d@10.1.2.3/32");
  EXPECT_TRUE(fib.Erase(P4("10.1.2.3/32")));
  EXPECT_EQ(match("10.1.2.3"), "b2@10.1.0.0/16");
  EXPECT_TRUE(fib.Erase(P4("0.0.0.0/0")));
  EXPECT_EQ(match("11.0.0.1"), "-");
  EXPECT_EQ(fib.size(), 2u);
  ReadGuard guard(domain);
  EXPECT_EQ(fib.Find(guard, P4("10.1.0.0/16"))->value, "b2");
  EXPECT_EQ(fib.Find(guard, P4("10.1.0.0/17")), nullptr);
  int visited = 0;
  fib.ForEach(guard, [&](const auto&) { ++visited; });
  EXPECT_EQ(visited, 2);
}

// Random inserts, assignments and erases, against a brute-force longest match, for IPv4, IPv6
// and a 16-bit string; lookups at random addresses and inside the stored prefixes, one by one
// and in batches (which must agree: 10 copies of each step's probes, across batch boundaries).
template <typename Address>
void CheckAgainstBruteForce(int max_length_bias, uint64_t seed) {
  Domain domain;
  PrefixMap<Address, uint64_t> map(domain);
  std::map<std::pair<std::array<uint8_t, Address::kBits / 8>, int>, uint64_t> reference;
  std::mt19937_64 rng(seed);
  const auto random_address = [&] {
    std::array<uint8_t, Address::kBits / 8> bytes;
    for (auto& b : bytes)
      b = static_cast<uint8_t>(rng() % 4 == 0 ? rng() : rng() % 4);  // clustered
    return Address(bytes);
  };
  std::vector<Prefix<Address>> stored;
  for (int step = 0; step < 3000; ++step) {
    const int op = static_cast<int>(rng() % 10);
    if (op < 6 || stored.empty()) {
      const int length = static_cast<int>(rng() % (Address::kBits + 1)) % max_length_bias;
      const Prefix<Address> p(random_address(), length);
      const bool fresh = reference.emplace(std::pair(p.address.bytes(), p.length), step).second;
      if (!fresh) reference[{p.address.bytes(), p.length}] = step;
      EXPECT_EQ(map.InsertOrAssign(p, static_cast<uint64_t>(step)), fresh);
      stored.push_back(p);
    } else {
      const Prefix<Address> p = stored[rng() % stored.size()];
      EXPECT_EQ(map.Erase(p), reference.erase({p.address.bytes(), p.length}) == 1);
    }
    std::vector<Address> probes;
    std::vector<const typename PrefixMap<Address, uint64_t>::Entry*> singles;
    for (int probe = 0; probe < 4; ++probe) {
      Address a = random_address();
      if (probe % 2 == 0 && !stored.empty()) {  // inside a stored prefix
        const Prefix<Address> p = stored[rng() % stored.size()];
        std::array<uint8_t, Address::kBits / 8> bytes = a.bytes();
        for (int bit = 0; bit < p.length; ++bit) {
          const uint8_t mask = static_cast<uint8_t>(0x80 >> (bit & 7));
          bytes[bit >> 3] = static_cast<uint8_t>((bytes[bit >> 3] & ~mask) |
                                                 (p.address.bytes()[bit >> 3] & mask));
        }
        a = Address(bytes);
      }
      const uint64_t* expected = nullptr;
      int best = -1;
      for (const auto& [key, value] : reference) {
        const Prefix<Address> p(Address(key.first), key.second);
        if (p.Contains(a) && p.length > best) {
          best = p.length;
          expected = &value;
        }
      }
      ReadGuard guard(domain);
      const auto* e = map.Lookup(guard, a);
      probes.push_back(a);
      singles.push_back(e);
      ASSERT_EQ(e == nullptr, expected == nullptr) << "step " << step;
      if (e != nullptr) {
        EXPECT_EQ(e->value, *expected) << "step " << step;
        EXPECT_EQ(e->prefix.length, best);
        EXPECT_TRUE(e->prefix.Contains(a));
      }
    }
    std::vector<Address> batch;
    for (int copy = 0; copy < 10; ++copy) batch.insert(batch.end(), probes.begin(), probes.end());
    std::vector<const typename PrefixMap<Address, uint64_t>::Entry*> out(batch.size() + 1);
    ReadGuard guard(domain);
    map.Lookup(guard, batch, out);
    for (size_t i = 0; i < batch.size(); ++i) {
      ASSERT_EQ(out[i], singles[i % singles.size()]) << "step " << step << " address " << i;
    }
  }
  EXPECT_EQ(map.size(), reference.size());
  // Erasing everything unlinks every node (ASan reports a leak otherwise).
  for (const auto& [key, value] : reference) {
    EXPECT_TRUE(map.Erase(Prefix<Address>(Address(key.first), key.second)));
  }
  EXPECT_TRUE(map.empty());
}

TEST(PrefixMapTest, Ipv4AgainstBruteForce) { CheckAgainstBruteForce<Ipv4Address>(33, 1); }
TEST(PrefixMapTest, Ipv4ShortPrefixesAgainstBruteForce) {
  CheckAgainstBruteForce<Ipv4Address>(9, 2);  // many prefixes in the first two nodes
}
TEST(PrefixMapTest, Ipv6AgainstBruteForce) { CheckAgainstBruteForce<Ipv6Address>(129, 3); }
TEST(PrefixMapTest, BitStringAgainstBruteForce) { CheckAgainstBruteForce<BitString<2>>(17, 4); }

// Tiny tables with default options: 1 to 64 prefixes (nested /8 to /32), two updaters on
// disjoint prefixes and two readers, then the contents.
TEST(PrefixMapTest, TinyTablesTwoUpdaters) {
  for (int n : {1, 2, 3, 7, 16, 64}) {
    Domain domain;
    PrefixMap<Ipv4Address, uint64_t> map(domain);
    // Disjoint between updaters; an updater's /16 (i = 0) covers its others.
    const auto prefix = [](int updater, int i) {
      return V4(Ipv4Address::FromInteger(0x0A000000u | (updater << 16) | (i << 8)),
                i == 0 ? 16 : 24 + i % 9);
    };
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> wrong{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 2; ++r) {
      readers.emplace_back([&, r] {
        std::mt19937_64 rng(r);
        while (!stop.load(std::memory_order_relaxed)) {
          const Ipv4Address a = Ipv4Address::FromInteger(0x0A000000u | (rng() & 0x1FFFF));
          ReadGuard guard(domain);
          const auto* e = map.Lookup(guard, a);
          if (e != nullptr && !e->prefix.Contains(a)) wrong.fetch_add(1);
        }
      });
    }
    std::vector<std::thread> updaters;
    for (int u = 0; u < 2; ++u) {
      updaters.emplace_back([&, u] {
        for (int round = 0; round < 20; ++round) {
          for (int i = 0; i < n; ++i) map.InsertOrAssign(prefix(u, i), round);
          for (int i = 0; i < n; i += 2) map.Erase(prefix(u, i));
        }
      });
    }
    for (auto& t : updaters) t.join();
    stop.store(true);
    for (auto& t : readers) t.join();
    EXPECT_EQ(wrong.load(), 0u);
    EXPECT_EQ(map.size(), static_cast<size_t>(2 * (n / 2)));
    ReadGuard guard(domain);
    for (int u = 0; u < 2; ++u) {
      for (int i = 1; i < n; i += 2) {
        ASSERT_NE(map.Find(guard, prefix(u, i)), nullptr) << n << " " << i;
        EXPECT_EQ(map.Find(guard, prefix(u, i))->value, 19u);
      }
    }
  }
}

// P1 under a live updater, on the real map: a covering /8 and /16 stay; more specifics
// beneath them (a /20, /24 and /28 in the same and deeper nodes, a /17 in the /16's own node)
// are inserted, replaced and erased without pause. A reader inside a stable /24 must always get
// that /24 or a more specific one being changed; inside the /16 it must never get less than the
// /16; a replaced value is always whole.
TEST(PrefixMapTest, CoveringRoutesNeverVanishWhileMoreSpecificsChange) {
  struct Hop {
    uint64_t a, b;  // b == 3 * a
  };
  Domain domain;
  PrefixMap<Ipv4Address, Hop> map(domain);
  map.Insert(P4("10.0.0.0/8"), {1, 3});
  map.Insert(P4("10.1.0.0/16"), {2, 6});
  map.Insert(P4("10.1.7.0/24"), {3, 9});  // stable
  const V4 churn[] = {P4("10.1.0.0/17"),   P4("10.1.0.0/20"), P4("10.1.7.0/25"),
                      P4("10.1.7.128/28"), P4("10.1.5.0/24"), P4("10.1.64.0/18")};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> short_matches{0}, torn{0}, lookups{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937_64 rng(r);
      while (!stop.load(std::memory_order_relaxed)) {
        const bool in_stable = rng() % 2 == 0;
        const Ipv4Address a = Ipv4Address::FromInteger(in_stable ? 0x0A010700u | (rng() & 0xFF)
                                                                 : 0x0A010000u | (rng() & 0xFFFF));
        const int at_least = in_stable ? 24 : 16;
        ReadGuard guard(domain);
        const auto* e = map.Lookup(guard, a);
        if (e == nullptr || e->prefix.length < at_least || !e->prefix.Contains(a)) {
          short_matches.fetch_add(1);
        } else if (e->value.b != 3 * e->value.a) {
          torn.fetch_add(1);
        }
        lookups.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::mt19937_64 rng(7);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (uint64_t i = 10; std::chrono::steady_clock::now() < deadline; ++i) {
    const V4& p = churn[rng() % std::size(churn)];
    switch (rng() % 3) {
      case 0:
        map.Erase(p);
        break;
      case 1:
        map.InsertOrAssign(p, {i, 3 * i});
        break;
      default:
        map.InsertOrAssign(P4("10.1.0.0/16"), {i, 3 * i});
        break;  // the cover replaced
    }
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_GT(lookups.load(), 1000u);
  EXPECT_EQ(short_matches.load(), 0u);
  EXPECT_EQ(torn.load(), 0u);
}

// A looked-up entry stays valid until the section ends although it was erased meanwhile.
TEST(PrefixMapTest, ErasedEntryOutlivesItsSection) {
  testutil::Tracker tracker;
  {
    Domain domain;
    PrefixMap<Ipv4Address, testutil::Counted> map(domain);
    map.Insert(P4("10.0.0.0/8"), testutil::Counted(tracker, 8));
    map.Insert(P4("10.1.0.0/16"), testutil::Counted(tracker, 16));
    std::atomic<bool> found{false}, erased{false};
    std::thread reader([&] {
      ReadGuard guard(domain);
      const auto* e = map.Lookup(guard, A4("10.1.1.1"));
      found.store(true);
      while (!erased.load()) std::this_thread::yield();
      EXPECT_EQ(e->value.value(), 16);  // the canary (and ASan) check it is alive
    });
    while (!found.load()) std::this_thread::yield();
    map.Erase(P4("10.1.0.0/16"));
    erased.store(true);
    reader.join();
    domain.Barrier();
    EXPECT_EQ(tracker.live.load(), 1);
  }
  EXPECT_EQ(tracker.live.load(), 0);
}

TEST(PrefixMapTest, MoveOnlyValuesAndStrongGuarantee) {
  testutil::Tracker tracker;
  {
    Domain domain;
    PrefixMap<Ipv6Address, testutil::Counted> map(domain);
    const auto p = *ParseIpv6Prefix("2001:db8::/32");
    map.Insert(p, testutil::Counted(tracker, 1));
    const testutil::Counted value(tracker, 2);
    tracker.ThrowOnCopyOrMove(2);  // the copy into the argument passes; the map's move throws
    EXPECT_THROW(map.InsertOrAssign(p, value), std::runtime_error);
    tracker.ThrowOnCopyOrMove(2);
    EXPECT_THROW(map.Insert(*ParseIpv6Prefix("2001:db8:1::/48"), value), std::runtime_error);
    tracker.Disarm();
    EXPECT_EQ(map.size(), 1u);
    ReadGuard guard(domain);
    EXPECT_EQ(map.Lookup(guard, ParseIpv6Prefix("2001:db8:1::1")->address)->value.value(), 1);
  }
  {
    Domain domain;
    PrefixMap<Ipv4Address, testutil::MoveOnly> map(domain);
    map.Insert(P4("10.0.0.0/8"), std::make_unique<testutil::Counted>(tracker, 3));
    map.InsertOrAssign(P4("10.0.0.0/8"), std::make_unique<testutil::Counted>(tracker, 4));
    ReadGuard guard(domain);
    EXPECT_EQ(map.Lookup(guard, A4("10.9.9.9"))->value->value(), 4);
  }
  EXPECT_EQ(tracker.live.load(), 0);
}

// The shared lifecycle classes (container_lifecycle.h): prefixes nested under 10/8, 16 to 32
// bits long, inserted, replaced and erased.
V4 LifecyclePrefix(uint64_t i) {
  const int length = 16 + static_cast<int>(i % 17);
  return V4(
      Ipv4Address::FromInteger(0x0A000000u | static_cast<uint32_t>((i * 2654435761u) & 0xFFFFFF)),
      length);
}
void UpdateCounted(PrefixMap<Ipv4Address, testutil::Counted>& map, uint64_t i,
                   testutil::Tracker& tracker) {
  const V4 p = LifecyclePrefix(i % 97);
  if (i % 3 == 2) {
    map.Erase(p);
  } else {
    map.InsertOrAssign(p, testutil::Counted(tracker, static_cast<int64_t>(i)));
  }
}
std::unique_ptr<PrefixMap<Ipv4Address, testutil::Counted>> MakeCountedMap(Domain& domain) {
  return std::make_unique<PrefixMap<Ipv4Address, testutil::Counted>>(domain);
}

TEST(PrefixMapTest, UpdatesFromCallbacksUnderBackPressure) {
  testutil::UpdatesFromCallbacksUnderBackPressure(MakeCountedMap, UpdateCounted);
}
TEST(PrefixMapTest, BarrierAndDomainDestructionDestroyEveryValue) {
  testutil::BarrierAndDomainDestructionDestroyEveryValue(MakeCountedMap, UpdateCounted);
}
TEST(PrefixMapTest, ExitDestroysEveryRetiredValue) {
  testutil::ExitDestroysEveryRetiredValue(MakeCountedMap, UpdateCounted);
}

}  // namespace
}  // namespace rcu
