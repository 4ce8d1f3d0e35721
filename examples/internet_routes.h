// A synthetic IPv4 routing table shaped like the Internet's default-free table, for the router
// example and the prefix-map benchmark.
//
// Lengths: drawn with the shares of the global IPv4 BGP table's prefix-length distribution,
// rounded, as Geoff Huston's "BGP in 2023" (APNIC blog, January 2024) and the potaroo.net
// AS65000 table report publish it: /24 about 60% of all prefixes, /22 12%, /23 10%, /21 5%,
// /20 4.5%, /19 2.5%, /16 1.4%, /18 1.3%, /17 0.8%, /8 to /15 together 0.5%; nothing longer
// than /24 (the global table filters it).
// Nesting: about half of the table's entries are more specifics of other entries (the same
// reports: "specifics as % of FIB entries"), so half of the prefixes longer than /16 extend a
// shorter prefix already drawn; the others start anywhere in unicast space (1.0.0.0 to
// 223.255.255.255, without 10/8 and 127/8).
// The table is deterministic for a seed; prefixes are distinct.

#ifndef RCU_EXAMPLES_INTERNET_ROUTES_H_
#define RCU_EXAMPLES_INTERNET_ROUTES_H_

#include <cstddef>
#include <cstdint>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "rcu/containers/address.h"

namespace rcu::examples {

using Ipv4Prefix = Prefix<Ipv4Address>;

inline std::vector<Ipv4Prefix> InternetShapedTable(size_t count, uint64_t seed = 1) {
  // Per-mille share of each length (sums to 1000).
  static constexpr std::pair<int, int> kShares[] = {
      {8, 1},   {11, 1},  {12, 1},  {13, 1},  {14, 1},   {15, 1},   {16, 14}, {17, 8},
      {18, 13}, {19, 25}, {20, 45}, {21, 50}, {22, 120}, {23, 100}, {24, 619}};
  std::mt19937_64 rng(seed);
  std::vector<double> weights;
  for (const auto& s : kShares) weights.push_back(s.second);
  std::discrete_distribution<int> pick_length(weights.begin(), weights.end());
  std::set<std::pair<uint32_t, int>> seen;
  std::vector<Ipv4Prefix> table;
  table.reserve(count);
  while (table.size() < count) {
    const int length = kShares[pick_length(rng)].first;
    uint32_t bits = static_cast<uint32_t>(rng());
    if (length > 16 && !table.empty() && rng() % 2 == 0) {
      const Ipv4Prefix& parent = table[rng() % table.size()];
      if (parent.length < length) {
        const uint32_t keep = ~0u << (32 - parent.length);
        bits = (parent.address.ToInteger() & keep) | (bits & ~keep);
      }
    }
    const uint32_t first_octet = bits >> 24;
    if (first_octet == 0 || first_octet == 10 || first_octet == 127 || first_octet >= 224) continue;
    const Ipv4Prefix p(Ipv4Address::FromInteger(bits), length);
    if (seen.emplace(static_cast<uint32_t>(p.address.ToInteger()), length).second) {
      table.push_back(p);
    }
  }
  return table;
}

// An address inside `p` (its host bits random).
inline Ipv4Address AddressIn(const Ipv4Prefix& p, uint64_t random) {
  const uint32_t host = p.length == 32 ? 0 : static_cast<uint32_t>(random) & (~0u >> p.length);
  return Ipv4Address::FromInteger(p.address.ToInteger() | host);
}

}  // namespace rcu::examples

#endif  // RCU_EXAMPLES_INTERNET_ROUTES_H_
