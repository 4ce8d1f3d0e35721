// router: a forwarding table that routes packets while routes change, the job of the kernel's
// RCU-protected fib_trie, with rcu::PrefixMap.
//
// The table is loaded with an Internet-shaped set of IPv4 prefixes (examples/internet_routes.h)
// and a default route. Forwarding threads look up random destinations inside the table's
// prefixes, as a router's traffic goes to routed destinations, each lookup in a read-side
// section that never waits. A "BGP session" thread meanwhile applies a stream of updates:
// next-hop changes (a route replaced whole: a forwarder sees the old next hop or the new one),
// withdrawals and re-announcements (lookups fall back to the covering route and come back).
// Every forwarder checks what it got: the matched prefix contains the destination, the next hop
// is whole, and a destination under a route that is never withdrawn (the default route at
// least) is never unroutable. Then the program prints what it did, and "OK".
//
// Flow cache: traffic comes in flows (--flows destinations, drawn Zipf(0.9) as flow sizes are),
// and, as Open vSwitch puts an exact-match cache in front of its classifier, the forwarders keep
// an rcu::LookupCache of recent destinations and their routes in front of the table
// (--flow_cache entries; 0: none). A hit costs one hash probe instead of a longest-prefix match;
// a miss costs the match and an insert under the cache's lock, so the cache pays while it holds
// the flows in use (the default: more entries than flows) and costs while it churns.
// A cached route must not outlive a change to it, and scanning the cache on every BGP update
// would cost more than it saves, so routes are invalidated by generation: the session bumps
// the generation of every /16 an update touches (or, for a prefix shorter than /8, one global
// generation) after changing the table; a forwarder reads both generations before its lookup
// and caches them with the route; a hit whose generations moved is a miss. A lookup that raced
// with an update cached an older generation than the bump, so it is never served stale.
//
//   ./bazelw run -c opt //examples:router -- --routes=300000 --threads=2 --seconds=3
//   ./bazelw run -c opt //examples:router -- --flow_cache=0      # the table alone

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "examples/internet_routes.h"
#include "rcu/containers/address.h"
#include "rcu/containers/lookup_cache.h"
#include "rcu/containers/prefix_map.h"
#include "rcu/domain.h"

ABSL_FLAG(int, routes, 300000, "prefixes in the table");
ABSL_FLAG(int, threads, 2, "forwarding threads");
ABSL_FLAG(double, seconds, 2, "how long to forward");
ABSL_FLAG(int, updates_per_second, 20000, "route updates the BGP session applies a second");
ABSL_FLAG(int, flows, 100000, "distinct destinations the traffic goes to");
ABSL_FLAG(int, flow_cache, 131072, "entries of the exact-match flow cache; 0: no cache");

namespace {

using rcu::Ipv4Address;
using rcu::examples::Ipv4Prefix;

struct NextHop {
  uint32_t gateway;
  uint32_t interface;  // always gateway % 16: a torn next hop would break it
};

NextHop Hop(uint32_t gateway) { return {gateway, gateway % 16}; }

// Route generations (see the top comment): one per /16, and one for prefixes shorter than /8.
class Generations {
 public:
  struct Snapshot {
    uint32_t global, region;
    bool operator==(const Snapshot&) const = default;
  };
  // Before a lookup of `destination` (acquire: pairs with Bump()'s release).
  Snapshot Of(Ipv4Address destination) const {
    return {global_.load(std::memory_order_acquire),
            regions_[destination.ToInteger() >> 16].load(std::memory_order_acquire)};
  }
  // After the table changed `p`: every cached route under it, or over it, becomes stale.
  void Bump(const Ipv4Prefix& p) {
    if (p.length < 8) {
      global_.fetch_add(1, std::memory_order_release);
      return;
    }
    const uint32_t first = p.address.ToInteger() >> 16;
    const uint32_t count = p.length >= 16 ? 1 : 1u << (16 - p.length);
    for (uint32_t r = first; r < first + count; ++r) {
      regions_[r].fetch_add(1, std::memory_order_release);
    }
  }

 private:
  std::atomic<uint32_t> global_{0};
  std::atomic<uint32_t> regions_[1 << 16] = {};
};

// What the flow cache keeps for a destination: the route as the table gave it (its prefix is the
// destination's first `length` bits). 20 bytes, so the cache keeps it in its index's slots.
struct FlowEntry {
  NextHop hop;
  Generations::Snapshot generation;
  uint8_t length;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::vector<Ipv4Prefix> table =
      rcu::examples::InternetShapedTable(static_cast<size_t>(absl::GetFlag(FLAGS_routes)));
  rcu::PrefixMap<Ipv4Address, NextHop> fib;
  fib.Insert(*rcu::ParseIpv4Prefix("0.0.0.0/0"), Hop(1));
  for (size_t i = 0; i < table.size(); ++i) fib.Insert(table[i], Hop(static_cast<uint32_t>(i)));
  std::printf("loaded %zu routes\n", fib.size());

  // The traffic's destinations: one address in a random prefix per flow, flows drawn Zipf(0.9).
  std::mt19937_64 flow_rng(11);
  std::vector<Ipv4Address> flows(static_cast<size_t>(absl::GetFlag(FLAGS_flows)));
  for (Ipv4Address& f : flows) {
    f = rcu::examples::AddressIn(table[flow_rng() % table.size()], flow_rng());
  }
  std::vector<double> cdf(flows.size());
  double total = 0;
  for (size_t r = 0; r < cdf.size(); ++r) cdf[r] = (total += std::pow(double(r + 1), -0.9));
  std::vector<Ipv4Address> traffic(1 << 20);  // drawn once: the forwarders replay it
  std::uniform_real_distribution<double> uniform(0, total);
  for (Ipv4Address& d : traffic) {
    d = flows[std::lower_bound(cdf.begin(), cdf.end(), uniform(flow_rng)) - cdf.begin()];
  }

  Generations generations;
  const int cache_entries = absl::GetFlag(FLAGS_flow_cache);
  std::optional<rcu::LookupCache<uint32_t, FlowEntry>> flow_cache;
  if (cache_entries > 0) {
    flow_cache.emplace(rcu::LookupCacheOptions<uint32_t, FlowEntry>{
        .capacity = static_cast<size_t>(cache_entries)});
  }

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> forwarded{0}, wrong{0}, cached{0};
  std::vector<std::thread> forwarders;
  for (int t = 0; t < absl::GetFlag(FLAGS_threads); ++t) {
    forwarders.emplace_back([&, t] {
      size_t next = static_cast<size_t>(t) * traffic.size() / 2;
      uint64_t n = 0, bad = 0, hits = 0;
      // The default route is never withdrawn: every destination is routable.
      auto check = [&](Ipv4Address destination, const Ipv4Prefix& prefix, const NextHop& hop) {
        if (!prefix.Contains(destination) || hop.interface != hop.gateway % 16) ++bad;
      };
      while (!stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < 256; ++i, ++n) {
          const Ipv4Address destination = traffic[next++ % traffic.size()];
          if (flow_cache) {
            rcu::ReadGuard guard;
            const FlowEntry* f = flow_cache->Find(guard, destination.ToInteger());
            if (f != nullptr && f->generation == generations.Of(destination)) {
              if (f->hop.interface != f->hop.gateway % 16) ++bad;  // whole
              ++hits;
              continue;
            }
          }
          FlowEntry entry;
          {
            rcu::ReadGuard guard;
            entry.generation = generations.Of(destination);  // before the lookup
            const auto* route = fib.Lookup(guard, destination);
            if (route == nullptr) {
              ++bad;
              continue;
            }
            entry.hop = route->value;
            entry.length = route->prefix.length;
            check(destination, route->prefix, entry.hop);
          }
          if (flow_cache) flow_cache->Insert(destination.ToInteger(), entry);  // outside (R4)
        }
      }
      forwarded.fetch_add(n);
      wrong.fetch_add(bad);
      cached.fetch_add(hits);
    });
  }

  // The BGP session: next-hop changes, withdrawals, re-announcements.
  uint64_t changed = 0, withdrawn = 0, announced = 0;
  std::vector<Ipv4Prefix> down;
  std::mt19937_64 rng(7);
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration<double>(absl::GetFlag(FLAGS_seconds));
  const double per_second = absl::GetFlag(FLAGS_updates_per_second);
  for (uint64_t i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
    const auto due = start + std::chrono::duration<double>(i / per_second);
    std::this_thread::sleep_until(due);
    switch (rng() % 4) {
      case 0:
        if (!down.empty()) {
          fib.Insert(down.back(), Hop(static_cast<uint32_t>(rng())));
          generations.Bump(down.back());
          down.pop_back();
          ++announced;
          break;
        }
        [[fallthrough]];
      case 1: {
        const Ipv4Prefix& p = table[rng() % table.size()];
        if (fib.Erase(p)) {
          generations.Bump(p);
          down.push_back(p);
          ++withdrawn;
        }
        break;
      }
      default: {
        const Ipv4Prefix& p = table[rng() % table.size()];
        fib.InsertOrAssign(p, Hop(static_cast<uint32_t>(rng())));
        generations.Bump(p);
        ++changed;
      }
    }
  }
  stop.store(true);
  for (auto& t : forwarders) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("forwarded %llu packets (%.1f M lookups/s on %d threads), %llu wrong\n",
              static_cast<unsigned long long>(forwarded.load()), forwarded.load() / seconds / 1e6,
              absl::GetFlag(FLAGS_threads), static_cast<unsigned long long>(wrong.load()));
  if (flow_cache) {
    std::printf("flow cache: %d entries, %.1f%% of packets forwarded from it\n", cache_entries,
                100.0 * double(cached.load()) / double(std::max<uint64_t>(1, forwarded.load())));
  }
  std::printf(
      "BGP updates: %llu next-hop changes, %llu withdrawals, %llu announcements; %zu "
      "routes now\n",
      static_cast<unsigned long long>(changed), static_cast<unsigned long long>(withdrawn),
      static_cast<unsigned long long>(announced), fib.size());
  if (wrong.load() != 0) return 1;
  std::printf("OK\n");
  return 0;
}
