// A consumer's program: a feature-flag store read by many threads, flipped by one.
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "rcu/containers/replace_map.h"
#include "rcu/domain.h"

int main() {
  rcu::ReplaceMap<std::string, bool> flags;
  flags.Insert("new_ui", false);
  std::atomic<bool> stop{false};
  std::atomic<long> enabled_reads{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        rcu::ReadGuard guard;
        if (*flags.Find(guard, "new_ui")) enabled_reads.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 1000; ++i) flags.Update("new_ui", [](bool on) { return !on; });
  stop.store(true);
  for (auto& t : readers) t.join();
  std::printf("feature_flags: %ld reads saw the flag on\nOK\n", enabled_reads.load());
  return 0;
}
