// neighbor_table: RCU's family working together, as in the kernel's rcu-walk.
//
// A router's neighbor table (IPv4 address -> link-layer address, as ARP keeps it). Three kinds of
// access, three lockers:
//   - forwarding threads look a neighbor up on every packet: RCU (a wait-free HashMap lookup in a
//     read-side section); a neighbor whose link-layer address changes is replaced whole, never
//     modified in place;
//   - confirmations ("this neighbor answered") arrive far more often than addresses change: they
//     update the entry's small state in place under its SeqLock, with no allocation and no grace
//     period; forwarders copy the state and validate it;
//   - a packet that must wait for resolution keeps its neighbor past the section: a reference
//     (Ref<Neighbor>), taken only if the neighbor is not already being removed.
// Each reader checks what it saw (a whole address, a consistent state, a live neighbor after its
// section ended) and the program prints what happened, then "OK".
//
//   ./bazelw run //examples:neighbor_table -- [seconds]

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "rcu/containers/hash_map.h"
#include "rcu/domain.h"
#include "rcu/refcount.h"
#include "rcu/seqlock.h"

namespace {

constexpr uint32_t kNeighbors = 256;
constexpr uint64_t kAlive = 0xA11FE;

// What confirmations update in place: when the neighbor last answered, and how often.
struct Reachability {
  uint64_t last_confirmed_ns = 0;
  uint64_t confirmations = 0;
  uint64_t check = 0;  // last_confirmed_ns ^ confirmations: a torn copy would not match
  bool Consistent() const { return check == (last_confirmed_ns ^ confirmations); }
};

struct Neighbor : rcu::RefCounted<Neighbor> {
  Neighbor(uint32_t ip, uint64_t mac) : ip(ip), mac(mac), mac_check(~mac) {}
  ~Neighbor() { canary = 0; }
  const uint32_t ip;
  const uint64_t mac;  // replaced with the whole Neighbor when it changes
  const uint64_t mac_check;
  mutable rcu::SeqLock lock;  // guards `reachability`, updated in place
  mutable rcu::SeqField<Reachability> reachability;
  uint64_t canary = kAlive;
};

using Table = rcu::HashMap<uint32_t, rcu::Ref<Neighbor>>;

uint64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Stats {
  std::atomic<uint64_t> forwarded{0}, unresolved{0}, queued{0}, errors{0};
  std::atomic<uint64_t> confirmations{0}, address_changes{0};
};

// Forwarding: look up, copy the reachability, use both inside the section; now and then keep
// the neighbor past the section for a queued packet.
void Forward(const Table& table, Stats& stats, const std::atomic<bool>& stop, uint32_t seed) {
  for (uint32_t i = seed; !stop.load(std::memory_order_relaxed); ++i) {
    const uint32_t ip = i % kNeighbors;
    rcu::Ref<Neighbor> waiting;
    {
      rcu::ReadGuard guard;
      const rcu::Ref<Neighbor>* found = table.Find(guard, ip);
      if (found == nullptr) {
        stats.unresolved.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      const Neighbor& n = **found;
      const Reachability r = rcu::SeqRead(n.lock, n.reachability);
      if (n.mac != ~n.mac_check || !r.Consistent()) stats.errors.fetch_add(1);
      stats.forwarded.fetch_add(1, std::memory_order_relaxed);
      if (i % 64 == 0) waiting = table.FindRef(guard, ip);  // a packet waits for this neighbor
    }
    if (waiting) {
      std::this_thread::yield();  // the packet waits; the neighbor may be replaced meanwhile
      if (waiting->canary != kAlive || waiting->ip != ip) stats.errors.fetch_add(1);
      stats.queued.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

// Confirmations: in place, under the neighbor's seqlock.
void Confirm(const Table& table, Stats& stats, const std::atomic<bool>& stop) {
  for (uint32_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
    rcu::ReadGuard guard;  // RCU keeps the neighbor while we write into it
    const rcu::Ref<Neighbor>* found = table.Find(guard, i % kNeighbors);
    if (found == nullptr) continue;
    const Neighbor& n = **found;
    rcu::SeqLock::WriteGuard write(n.lock);
    Reachability r = write.Load(n.reachability);
    r.last_confirmed_ns = NowNs();
    ++r.confirmations;
    r.check = r.last_confirmed_ns ^ r.confirmations;
    write.Store(n.reachability, r);
    stats.confirmations.fetch_add(1, std::memory_order_relaxed);
  }
}

// Address changes and removals: replace the whole neighbor, or erase it.
void Resolve(Table& table, Stats& stats, const std::atomic<bool>& stop) {
  for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
    const uint32_t ip = (i * 7) % kNeighbors;
    if (i % 5 == 0) {
      table.Erase(ip);
    } else {
      table.InsertOrAssign(ip, rcu::MakeRef<Neighbor>(ip, i));
      stats.address_changes.fetch_add(1, std::memory_order_relaxed);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  Table table;
  for (uint32_t ip = 0; ip < kNeighbors; ++ip) table.Insert(ip, rcu::MakeRef<Neighbor>(ip, ip));
  Stats stats;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] { Forward(table, stats, stop, t * 1000); });
  }
  threads.emplace_back([&] { Confirm(table, stats, stop); });
  threads.emplace_back([&] { Resolve(table, stats, stop); });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop.store(true);
  for (auto& t : threads) t.join();
  std::printf(
      "forwarded %llu packets (%llu unresolved, %llu held past their section), %llu "
      "confirmations in place, %llu address changes, %llu errors\n",
      static_cast<unsigned long long>(stats.forwarded.load()),
      static_cast<unsigned long long>(stats.unresolved.load()),
      static_cast<unsigned long long>(stats.queued.load()),
      static_cast<unsigned long long>(stats.confirmations.load()),
      static_cast<unsigned long long>(stats.address_changes.load()),
      static_cast<unsigned long long>(stats.errors.load()));
  const bool ok = stats.errors.load() == 0 && stats.forwarded.load() > 0 &&
                  stats.confirmations.load() > 0 && stats.queued.load() > 0;
  std::printf("%s\n", ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}
