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
//   ./bazelw run -c opt //examples:router -- --routes=300000 --threads=2 --seconds=3

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "examples/internet_routes.h"
#include "rcu/containers/address.h"
#include "rcu/containers/prefix_map.h"
#include "rcu/domain.h"

ABSL_FLAG(int, routes, 300000, "prefixes in the table");
ABSL_FLAG(int, threads, 2, "forwarding threads");
ABSL_FLAG(double, seconds, 2, "how long to forward");
ABSL_FLAG(int, updates_per_second, 20000, "route updates the BGP session applies a second");

namespace {

using rcu::Ipv4Address;
using rcu::examples::Ipv4Prefix;

struct NextHop {
  uint32_t gateway;
  uint32_t interface;  // always gateway % 16: a torn next hop would break it
};

NextHop Hop(uint32_t gateway) { return {gateway, gateway % 16}; }

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::vector<Ipv4Prefix> table =
      rcu::examples::InternetShapedTable(static_cast<size_t>(absl::GetFlag(FLAGS_routes)));
  rcu::PrefixMap<Ipv4Address, NextHop> fib;
  fib.Insert(*rcu::ParseIpv4Prefix("0.0.0.0/0"), Hop(1));
  for (size_t i = 0; i < table.size(); ++i) fib.Insert(table[i], Hop(static_cast<uint32_t>(i)));
  std::printf("loaded %zu routes\n", fib.size());

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> forwarded{0}, wrong{0};
  std::vector<std::thread> forwarders;
  for (int t = 0; t < absl::GetFlag(FLAGS_threads); ++t) {
    forwarders.emplace_back([&, t] {
      std::mt19937_64 rng(t + 100);
      uint64_t n = 0, bad = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < 256; ++i, ++n) {
          const Ipv4Address destination =
              rcu::examples::AddressIn(table[rng() % table.size()], rng());
          rcu::ReadGuard guard;
          const auto* route = fib.Lookup(guard, destination);
          // The default route is never withdrawn: every destination is routable.
          if (route == nullptr || !route->prefix.Contains(destination) ||
              route->value.interface != route->value.gateway % 16) {
            ++bad;
          }
        }
      }
      forwarded.fetch_add(n);
      wrong.fetch_add(bad);
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
          down.pop_back();
          ++announced;
          break;
        }
        [[fallthrough]];
      case 1: {
        const Ipv4Prefix& p = table[rng() % table.size()];
        if (fib.Erase(p)) {
          down.push_back(p);
          ++withdrawn;
        }
        break;
      }
      default:
        fib.InsertOrAssign(table[rng() % table.size()], Hop(static_cast<uint32_t>(rng())));
        ++changed;
    }
  }
  stop.store(true);
  for (auto& t : forwarders) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("forwarded %llu packets (%.1f M lookups/s on %d threads), %llu wrong\n",
              static_cast<unsigned long long>(forwarded.load()), forwarded.load() / seconds / 1e6,
              absl::GetFlag(FLAGS_threads), static_cast<unsigned long long>(wrong.load()));
  std::printf(
      "BGP updates: %llu next-hop changes, %llu withdrawals, %llu announcements; %zu "
      "routes now\n",
      static_cast<unsigned long long>(changed), static_cast<unsigned long long>(withdrawn),
      static_cast<unsigned long long>(announced), fib.size());
  if (wrong.load() != 0) return 1;
  std::printf("OK\n");
  return 0;
}
