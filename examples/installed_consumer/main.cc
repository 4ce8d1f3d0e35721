// A program built against an installed rcu, the way a team that does not use Bazel builds it:
// with CMake's find_package(rcu) (CMakeLists.txt) or with pkg-config (Makefile).
// tools/cmake_check.sh builds it both ways against a temporary install prefix and runs it.

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "rcu/containers/hash_map.h"
#include "rcu/domain.h"
#include "rcu/version.h"

int main() {
  rcu::HashMap<uint64_t, std::string> names;
  for (uint64_t k = 0; k < 1000; ++k) names.InsertOrAssign(k, "host-" + std::to_string(k));
  std::vector<std::thread> readers;
  std::atomic<uint64_t> found{0};
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      for (uint64_t k = 0; k < 1000; ++k) {
        rcu::ReadGuard guard;
        if (const std::string* name = names.Find(guard, k); name != nullptr) found.fetch_add(1);
      }
    });
  }
  for (uint64_t k = 0; k < 1000; k += 2) names.Erase(k);
  for (auto& t : readers) t.join();
  rcu::Domain::Default().Barrier();
  std::printf("rcu %s: %zu names left, %llu found by readers\n", RCU_VERSION_STRING, names.size(),
              static_cast<unsigned long long>(found.load()));
  return names.size() == 500 ? 0 : 1;
}
