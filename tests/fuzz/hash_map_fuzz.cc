// Fuzzes rcu::HashMap (rcu/containers/hash_map.h) with operation sequences against std::map:
// inserts, assignments, erases, lookups, full scans and grace periods (which let slots be
// reused), on tiny key spaces (many collisions, many resizes), with the default hash and an
// identity hash that puts neighbouring keys in one group, with inline values (uint64_t) and
// values behind pointers (std::string), from a presize the input picks.

#include <cstdint>
#include <map>
#include <string>

#include "rcu/containers/hash_map.h"
#include "rcu/domain.h"
#include "tests/fuzz/fuzz_kit.h"

namespace {

using rcu::fuzz::FuzzInput;

struct IdentityHash {
  size_t operator()(uint64_t k) const { return k; }
};

uint64_t ValueOf(uint64_t v, uint64_t*) { return v; }
std::string ValueOf(uint64_t v, std::string*) {
  return std::string(v % 40, 'v') + std::to_string(v);
}

template <typename V, typename Hash>
void Run(FuzzInput& in, rcu::Domain& domain) {
  rcu::HashMap<uint64_t, V, Hash> map(domain, {.initial_capacity = in.Byte() % 80u});
  std::map<uint64_t, V> model;
  const uint64_t keys = 1 + in.Byte() % 200;  // the key space: small, so keys repeat
  while (!in.empty()) {
    const uint8_t op = in.Byte();
    const uint64_t key = in.Byte() % keys;
    const V value = ValueOf(in.Byte(), static_cast<V*>(nullptr));
    switch (op % 8) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
        rcu::fuzz::Update(op % 8 < 2 ? 0 : op % 8 - 1, map, key, model, key, value);
        break;
      case 5: {
        rcu::ReadGuard guard(domain);
        rcu::fuzz::ExpectFound(map.Find(guard, key), model, key);
        break;
      }
      case 6: {
        std::map<uint64_t, V> seen;
        rcu::ReadGuard guard(domain);
        map.ForEach(guard, [&](const uint64_t& k, const V& v) {
          RCU_FUZZ_CHECK(seen.emplace(k, v).second);  // each key once
        });
        RCU_FUZZ_CHECK(seen == model);
        break;
      }
      case 7:
        if (op & 0x80) domain.Synchronize();  // retired slots become reusable
        RCU_FUZZ_CHECK(map.size() == model.size());
        break;
    }
  }
  RCU_FUZZ_CHECK(map.size() == model.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return rcu::fuzz::RunInput(data, size, [](FuzzInput& in, rcu::Domain& domain) {
    switch (in.Byte() % 4) {
      case 0:
        return Run<uint64_t, rcu::DefaultHash<uint64_t>>(in, domain);
      case 1:
        return Run<uint64_t, IdentityHash>(in, domain);
      case 2:
        return Run<std::string, rcu::DefaultHash<uint64_t>>(in, domain);
      default:
        return Run<std::string, IdentityHash>(in, domain);
    }
  });
}
