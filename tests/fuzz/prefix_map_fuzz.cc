// Fuzzes rcu::PrefixMap (rcu/containers/prefix_map.h) with operation sequences against a
// brute-force model: a std::map of routes, and longest-prefix match by trying every route.
// Prefixes of every length 0 to 32 within 10.0.0.0/8 (so routes nest and overlap, and share trie
// nodes at every stride), lookups of addresses in the same space, exact finds, erases and scans.

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "rcu/containers/address.h"
#include "rcu/containers/prefix_map.h"
#include "rcu/domain.h"
#include "tests/fuzz/fuzz_kit.h"

namespace {

using rcu::fuzz::FuzzInput;
using Prefix = rcu::Prefix<rcu::Ipv4Address>;

uint32_t Mask(int length) { return length == 0 ? 0 : ~uint32_t{0} << (32 - length); }

struct Model {
  std::map<std::pair<uint32_t, int>, int> routes;  // (masked address, length) -> value

  const int* Lookup(uint32_t address) const {
    const int* best = nullptr;
    int best_length = -1;
    for (const auto& [key, value] : routes) {
      if ((address & Mask(key.second)) == key.first && key.second > best_length) {
        best = &value;
        best_length = key.second;
      }
    }
    return best;
  }
};

uint32_t Address(FuzzInput& in) {
  const uint32_t low = in.Take<uint16_t>();
  return 0x0A000000u | (low << 8) | (low >> 8 & 0x0Fu);
}

void Run(FuzzInput& in, rcu::Domain& domain) {
  rcu::PrefixMap<rcu::Ipv4Address, int> map(domain);
  Model model;
  while (!in.empty()) {
    const uint8_t op = in.Byte();
    const uint32_t address = Address(in);
    const int length = in.Byte() % 33;
    const Prefix prefix(rcu::Ipv4Address::FromInteger(address), length);
    const std::pair<uint32_t, int> key(address & Mask(length), length);
    const int value = op;
    switch (op % 6) {
      case 0:
      case 1:
      case 2:
      case 3:
        rcu::fuzz::Update(op % 6 < 2 ? 0 : op % 6 - 1, map, prefix, model.routes, key, value);
        break;
      case 4: {
        rcu::ReadGuard guard(domain);
        const auto* got = map.Lookup(guard, rcu::Ipv4Address::FromInteger(address));
        const int* want = model.Lookup(address);
        RCU_FUZZ_CHECK((got != nullptr) == (want != nullptr));
        if (got != nullptr) RCU_FUZZ_CHECK(got->value == *want);
        const auto* exact = map.Find(guard, prefix);
        const auto it = model.routes.find(key);
        RCU_FUZZ_CHECK((exact != nullptr) == (it != model.routes.end()));
        if (exact != nullptr) RCU_FUZZ_CHECK(exact->value == it->second && exact->prefix == prefix);
        break;
      }
      case 5: {
        std::map<std::pair<uint32_t, int>, int> seen;
        rcu::ReadGuard guard(domain);
        map.ForEach(guard, [&](const auto& entry) {
          const std::pair<uint32_t, int> k(entry.prefix.address.ToInteger(), entry.prefix.length);
          RCU_FUZZ_CHECK(seen.emplace(k, entry.value).second);
        });
        RCU_FUZZ_CHECK(seen == model.routes);
        RCU_FUZZ_CHECK(map.size() == model.routes.size());
        // A batch of up to 33 addresses near this one (across the batch's groups of 16).
        std::vector<rcu::Ipv4Address> batch;
        for (int i = 0; i <= length; ++i) {
          batch.push_back(
              rcu::Ipv4Address::FromInteger(address + static_cast<uint32_t>(i) * 0x101));
        }
        std::vector<const rcu::PrefixMap<rcu::Ipv4Address, int>::Entry*> out(batch.size());
        map.Lookup(guard, batch, out);
        for (size_t i = 0; i < batch.size(); ++i) {
          const int* want = model.Lookup(static_cast<uint32_t>(batch[i].ToInteger()));
          RCU_FUZZ_CHECK((out[i] != nullptr) == (want != nullptr));
          if (out[i] != nullptr) RCU_FUZZ_CHECK(out[i]->value == *want);
        }
        break;
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return rcu::fuzz::RunInput(data, size, Run);
}
