// config_swap: the RCU pattern in one file.
//
// A service keeps its configuration behind an rcu::Published pointer. Reader threads consult it
// on every request without locks and without ever blocking; an updater thread publishes a new
// version every millisecond, waits for a grace period, and frees the old one. Each reader checks
// that the version it holds is internally consistent (a torn or freed config would fail the check)
// and the program prints what happened.
//
//   ./bazelw run //examples:config_swap -- [seconds]

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "rcu/domain.h"
#include "rcu/published.h"
#include "rcu/update_mutex.h"

namespace {

struct Config {
  uint64_t version;
  int rate_limit;
  int rate_limit_check;  // always rate_limit * 2: a reader of a torn or freed config sees a
                         // mismatch
  std::string banner;
};

rcu::UpdateMutex config_mu;
rcu::Published<const Config> config;  // written under config_mu, read under a ReadGuard

std::atomic<uint64_t> configs_freed{0};

// The updater: copy, modify, publish, wait, free.
void PublishNext() {
  const Config* old;
  {
    rcu::UpdateLock lock(config_mu);
    const Config* current = config.Protected(config_mu);
    const uint64_t next = current->version + 1;
    const int limit = static_cast<int>(100 + next % 900);
    old = config.Replace(new Config{next, limit, limit * 2, "config v" + std::to_string(next)},
                         config_mu);
  }
  rcu::Domain::Default().Synchronize();  // every reader that could hold `old` has moved on
  delete old;
  configs_freed.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  const int kReaders = 4;
  config.Init(new Config{1, 100, 200, "config v1"});

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> lookups{0}, torn{0}, newest_seen{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < kReaders; ++i) {
    readers.emplace_back([&] {
      uint64_t local = 0, max_version = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        rcu::ReadGuard guard;
        const Config* c = config.Read(guard);
        if (c->rate_limit * 2 != c->rate_limit_check) torn.fetch_add(1);
        if (c->version > max_version) max_version = c->version;
        ++local;
      }
      lookups.fetch_add(local);
      uint64_t seen = newest_seen.load();
      while (max_version > seen && !newest_seen.compare_exchange_weak(seen, max_version)) {
      }
    });
  }

  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  uint64_t updates = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    PublishNext();
    ++updates;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  {
    rcu::UpdateLock lock(config_mu);
    delete config.Replace(nullptr, config_mu);  // no reader is left
  }
  std::printf("config_swap: %d reader threads, 1 updater, %.1f s\n", kReaders, elapsed);
  std::printf("  lookups:        %llu (%.1f M/s, never blocked)\n",
              static_cast<unsigned long long>(lookups.load()), lookups.load() / elapsed / 1e6);
  std::printf("  configs:        %llu published, %llu freed after a grace period\n",
              static_cast<unsigned long long>(updates),
              static_cast<unsigned long long>(configs_freed.load()));
  std::printf("  grace periods:  %llu\n",
              static_cast<unsigned long long>(rcu::Domain::Default().GracePeriodsCompleted()));
  std::printf("  newest version a reader saw: %llu\n",
              static_cast<unsigned long long>(newest_seen.load()));
  std::printf("  torn or freed configs seen: %llu\n", static_cast<unsigned long long>(torn.load()));
  std::printf("%s\n", torn.load() == 0 ? "OK" : "FAILURE");
  return torn.load() == 0 ? 0 : 1;
}
