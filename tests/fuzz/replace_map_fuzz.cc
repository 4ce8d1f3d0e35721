// Fuzzes rcu::ReplaceMap (rcu/containers/replace_map.h) with operation sequences against
// std::map: single-key inserts, assignments and erases, multi-key edits that set and erase the
// same key several times in one version, lookups through the map and through a snapshot, and
// full scans of a snapshot. Key spaces from 1 to a few thousand keys, so versions grow from one
// shard to several and shrink back.

#include <cstdint>
#include <map>
#include <string>

#include "rcu/containers/replace_map.h"
#include "rcu/domain.h"
#include "tests/fuzz/fuzz_kit.h"

namespace {

using rcu::fuzz::FuzzInput;

void Run(FuzzInput& in, rcu::Domain& domain) {
  rcu::ReplaceMap<uint64_t, std::string> map(domain);
  std::map<uint64_t, std::string> model;
  const uint64_t keys = 1 + in.Take<uint16_t>() % 4000;
  while (!in.empty()) {
    const uint8_t op = in.Byte();
    const uint64_t key = in.Take<uint16_t>() % keys;
    const std::string value(op % 7, 'v');
    switch (op % 6) {
      case 0:
      case 1:
      case 2:
        rcu::fuzz::Update(op % 6, map, key, model, key, value);
        break;
      case 3: {
        // One edit, several changes: later ones see earlier ones.
        const int count = 1 + op % 40;
        map.Edit([&](auto& editor) {
          for (int i = 0; i < count; ++i) {
            const uint64_t k = (key + i * 7) % keys;
            if ((i + op) % 3 == 0) {
              RCU_FUZZ_CHECK(editor.Erase(k) == (model.erase(k) == 1));
            } else {
              editor.Set(k, value + std::to_string(i));
              model.insert_or_assign(k, value + std::to_string(i));
            }
            rcu::fuzz::ExpectFound(editor.Find(k), model, k);
          }
        });
        break;
      }
      case 4: {
        rcu::ReadGuard guard(domain);
        rcu::fuzz::ExpectFound(map.Find(guard, key), model, key);
        break;
      }
      case 5: {
        std::map<uint64_t, std::string> seen;
        rcu::ReadGuard guard(domain);
        map.Snapshot(guard).ForEach([&](const uint64_t& k, const std::string& v) {
          RCU_FUZZ_CHECK(seen.emplace(k, v).second);
        });
        RCU_FUZZ_CHECK(seen == model);
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
