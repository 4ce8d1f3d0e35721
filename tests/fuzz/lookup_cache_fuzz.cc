// Fuzzes rcu::LookupCache (rcu/containers/lookup_cache.h) with operation sequences against a
// shadow of what it may hold: the last value inserted or loaded for each key, and no key erased
// since. Eviction decides what is still there, so the shadow says "may be present, with this
// value" or "absent": a hit must agree with it, the cache never holds more than its capacity,
// and every entry that leaves is reported to the listener once.

#include <cstdint>
#include <map>
#include <set>

#include "rcu/containers/lookup_cache.h"
#include "rcu/domain.h"
#include "tests/fuzz/fuzz_kit.h"

namespace {

using rcu::fuzz::FuzzInput;

void Run(FuzzInput& in, rcu::Domain& domain) {
  const size_t capacity = 1 + in.Byte() % 40;
  uint64_t removals = 0;
  rcu::LookupCache<uint64_t, uint64_t> cache(
      domain,
      {.capacity = capacity,
       .on_removal = [&](const uint64_t&, const uint64_t&, rcu::RemovalCause) { ++removals; }});
  std::map<uint64_t, uint64_t> shadow;  // what a hit may return
  uint64_t entered = 0;                 // entries that went in (inserted or loaded)
  const uint64_t keys = 1 + in.Byte() % 100;
  while (!in.empty()) {
    const uint8_t op = in.Byte();
    const uint64_t key = in.Byte() % keys;
    const uint64_t value = in.Byte();
    switch (op % 6) {
      case 0:
      case 1:
        cache.Insert(key, value, 1 + op / 6 % capacity);
        shadow[key] = value;
        ++entered;
        break;
      case 2: {
        bool loaded = false;
        const uint64_t got = cache.GetOrLoad(key, [&](uint64_t) {
          loaded = true;
          return value;
        });
        if (loaded) {
          RCU_FUZZ_CHECK(got == value);
          shadow[key] = value;
          ++entered;
        } else {
          RCU_FUZZ_CHECK(shadow.count(key) == 1 && shadow[key] == got);
        }
        break;
      }
      case 3:
        if (cache.Erase(key)) RCU_FUZZ_CHECK(shadow.count(key) == 1);
        shadow.erase(key);
        break;
      case 4: {
        rcu::ReadGuard guard(domain);
        const uint64_t* hit = op & 0x80 ? cache.Peek(guard, key) : cache.Find(guard, key);
        if (hit != nullptr) RCU_FUZZ_CHECK(shadow.count(key) == 1 && shadow[key] == *hit);
        break;
      }
      case 5:
        if (op & 0x40) {
          cache.EraseIf([&](const uint64_t& k, const uint64_t&) { return k % 3 == value % 3; });
          for (auto it = shadow.begin(); it != shadow.end();) {
            it = it->first % 3 == value % 3 ? shadow.erase(it) : std::next(it);
          }
        } else if (op & 0x20) {
          cache.Clear();
          shadow.clear();
        }
        break;
    }
    const rcu::LookupCacheStats stats = cache.Stats();
    RCU_FUZZ_CHECK(stats.charge <= capacity);
    RCU_FUZZ_CHECK(stats.size <= shadow.size());
    RCU_FUZZ_CHECK(removals + stats.size == entered);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return rcu::fuzz::RunInput(data, size, Run);
}
