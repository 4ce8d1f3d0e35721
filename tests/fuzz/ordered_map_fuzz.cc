// Fuzzes rcu::OrderedMap (rcu/containers/ordered_map.h) with operation sequences against
// std::map: inserts, assignments, erases, lookups, and ordered scans (All, Between, LowerBound,
// UpperBound) that must match the model key for key, on key spaces small enough for keys to
// repeat and large enough for the tree to split and merge over several levels.

#include <cstdint>
#include <iterator>
#include <map>
#include <string>

#include "rcu/containers/ordered_map.h"
#include "rcu/domain.h"
#include "tests/fuzz/fuzz_kit.h"

namespace {

using rcu::fuzz::FuzzInput;

template <typename Range, typename It>
void ExpectSame(const Range& range, It first, It last) {
  for (const auto& [key, value] : range) {
    RCU_FUZZ_CHECK(first != last);
    RCU_FUZZ_CHECK(key == first->first && value == first->second);
    ++first;
  }
  RCU_FUZZ_CHECK(first == last);
}

void Run(FuzzInput& in, rcu::Domain& domain) {
  rcu::OrderedMap<uint16_t, std::string> map(domain);
  std::map<uint16_t, std::string> model;
  const uint16_t keys = 1 + in.Take<uint16_t>() % 3000;
  while (!in.empty()) {
    const uint8_t op = in.Byte();
    const uint16_t key = in.Take<uint16_t>() % keys;
    const std::string value(op % 5, 'v');
    switch (op % 8) {
      case 0:
      case 1:
      case 2:
        rcu::fuzz::Update(op % 8, map, key, model, key, value);
        break;
      case 3: {
        // A run of erases from `key` on: leaves under their minimum fill merge.
        const int count = 1 + op % 16;
        for (int i = 0; i < count; ++i) {
          const uint16_t k = static_cast<uint16_t>((key + i) % keys);
          rcu::fuzz::Update(2, map, k, model, k, value);
        }
        break;
      }
      case 4: {
        // A run of inserts: leaves split.
        const int count = 1 + op % 32;
        for (int i = 0; i < count; ++i) {
          const uint16_t k = static_cast<uint16_t>((key + i) % keys);
          rcu::fuzz::Update(0, map, k, model, k, value);
        }
        break;
      }
      case 5: {
        rcu::ReadGuard guard(domain);
        rcu::fuzz::ExpectFound(map.Find(guard, key), model, key);
        break;
      }
      case 6: {
        const uint16_t to = in.Take<uint16_t>() % keys;
        rcu::ReadGuard guard(domain);
        ExpectSame(map.Between(guard, key, to), model.lower_bound(key),
                   key < to ? model.lower_bound(to) : model.lower_bound(key));
        auto lower = map.LowerBound(guard, key);
        auto want = model.lower_bound(key);
        for (int i = 0; i < 3 && want != model.end(); ++i, ++lower, ++want) {
          RCU_FUZZ_CHECK(lower.key() == want->first);
        }
        auto upper = map.UpperBound(guard, key);
        if (const auto w = model.upper_bound(key); w != model.end()) {
          RCU_FUZZ_CHECK(upper.key() == w->first);
        }
        break;
      }
      case 7: {
        rcu::ReadGuard guard(domain);
        ExpectSame(map.All(guard), model.begin(), model.end());
        RCU_FUZZ_CHECK(map.size() == model.size());
        break;
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return rcu::fuzz::RunInput(data, size, Run);
}
