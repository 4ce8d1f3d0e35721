// //benchmarks:prefix_map_benchmark: rcu::PrefixMap beside what a user would pick instead.
//
//   ./bazelw run -c opt //benchmarks:prefix_map_benchmark
//
// The table: 300,000 IPv4 prefixes shaped as the Internet's (examples/internet_routes.h: the
// global BGP table's prefix-length distribution, most prefixes /16 to /24, half of them more
// specifics of others) and a default route. Lookup/churn:C: longest-prefix matches of random
// destinations inside the table's prefixes, with C% of all operations route updates (two of
// three a next-hop change, one of three a withdrawal or the re-announcement of the thread's last
// withdrawn route), at 1 and 2 threads. The destinations are 4 Mi addresses drawn once, walked in
// order by each thread (Destination() says why). Flavors:
//   Rcu              rcu::PrefixMap, lookups in a read-side section;
//   TrieRwLock       the same trie under std::shared_mutex (shared for lookups, exclusive for
//                    updates): a rwlock-protected trie;
//   LengthMapsRwLock one std::map per prefix length under std::shared_mutex, a lookup probing
//                    the lengths present from the longest down: the hand-rolled std::map LPM;
//   Unsynchronized   rcu::PrefixMap read with no section and no lock, no updates: the ceiling
//                    (the same structure read without synchronization);
//   RteLpm           DPDK 22.11's rte_lpm (DIR-24-8: a 64 MiB first level, one 4-byte load for
//                    most lookups), the deployed anchor: lock-free readers that report a QSBR
//                    quiescent state after each lookup, updates under a mutex, freed tbl8 groups
//                    reclaimed through rte_rcu_qsbr (benchmarks/dpdk_flavors.h). Its next hop
//                    is a 24-bit index; ours is the value itself.
// LookupBatch/<flavor>: no churn, lookups in batches of 64 destinations: PrefixMap's batch
// Lookup (one section a batch, the walks interleaved) against rte_lpm_lookup_bulk (a quiescent
// state a batch); items are lookups.
// Memory/<flavor>: heap bytes per prefix (mallinfo2; DPDK's heap for RteLpm) after building the
// table.

#include <malloc.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <vector>

#include "benchmark/benchmark.h"
#include "benchmarks/build_context.h"
#include "benchmarks/churn_workload.h"
#include "benchmarks/dpdk_flavors.h"
#include "examples/internet_routes.h"
#include "rcu/containers/address.h"
#include "rcu/containers/prefix_map.h"
#include "rcu/domain.h"

namespace {

using rcu::Ipv4Address;
using rcu::examples::Ipv4Prefix;

constexpr size_t kRoutes = 300000;

const std::vector<Ipv4Prefix>& Table() {
  static const auto* table =
      new std::vector<Ipv4Prefix>(rcu::examples::InternetShapedTable(kRoutes));
  return *table;
}

// 4 Mi destinations inside the table's prefixes, drawn once. Each thread walks them in order
// from where its first lookup lands: the next address is a sequential, prefetched load, so what
// a lookup costs is the structure's own memory accesses (as in DPDK's and Poptrie's harnesses).
Ipv4Address Destination(uint64_t random) {
  constexpr size_t kAddresses = size_t{1} << 22;
  static const std::vector<Ipv4Address>* const addresses = [] {
    auto* out = new std::vector<Ipv4Address>(kAddresses);
    std::mt19937_64 rng(12);
    for (Ipv4Address& a : *out) {
      const uint64_t r = rng();
      a = rcu::examples::AddressIn(Table()[r % Table().size()], r >> 20);
    }
    return out;
  }();
  thread_local size_t next = random;
  return (*addresses)[next++ & (kAddresses - 1)];
}

struct Hop {
  uint32_t gateway, interface;
};

using Pending = rcu_bench::Pending<Ipv4Prefix>;

// One update of the churn: a next-hop change, or a withdrawal / the announcement again of the
// thread's last withdrawn route.
template <typename Set, typename Erase>
void Churn(uint64_t random, Pending& pending, Set set, Erase erase) {
  rcu_bench::Churn(
      random, Table()[random % Table().size()], pending,
      [&](const Ipv4Prefix& p, bool reinsert) {
        set(p, reinsert ? Hop{1, 1} : Hop{static_cast<uint32_t>(random), 1});
      },
      erase);
}

using Trie = rcu::PrefixMap<Ipv4Address, Hop>;

Trie* BuildTrie() {
  auto* trie = new Trie;
  trie->Insert(Ipv4Prefix(Ipv4Address(), 0), Hop{0, 0});
  uint32_t i = 0;
  for (const auto& p : Table()) trie->Insert(p, Hop{i++, 1});
  return trie;
}

struct Rcu {
  using Map = Trie;
  using ThreadState = ::Pending;
  static constexpr bool kUpdates = true;
  static Map& Shared() {
    static Map* map = BuildTrie();
    return *map;
  }
  static uint32_t Read(Map& m, uint64_t random, Pending&) {
    rcu::ReadGuard guard;
    return m.Lookup(guard, Destination(random))->value.gateway;
  }
  static void Update(Map& m, uint64_t random, Pending& pending) {
    Churn(
        random, pending, [&](const Ipv4Prefix& p, Hop h) { m.InsertOrAssign(p, h); },
        [&](const Ipv4Prefix& p) { return m.Erase(p); });
  }
};

struct Unsynchronized {
  using Map = Trie;
  // One section per thread, entered once and held for the run (it ends with RunChurn), so no
  // lookup pays for a section.
  struct ThreadState {
    rcu::ReadGuard guard;
  };
  static constexpr bool kUpdates = false;
  static Map& Shared() { return Rcu::Shared(); }
  static uint32_t Read(Map& m, uint64_t random, ThreadState& state) {
    return m.Lookup(state.guard, Destination(random))->value.gateway;
  }
};

struct TrieRwLock {
  struct Map {
    std::shared_mutex mu;
    std::unique_ptr<Trie> trie{BuildTrie()};
  };
  using ThreadState = ::Pending;
  static constexpr bool kUpdates = true;
  static Map& Shared() {
    static Map* map = new Map;
    return *map;
  }
  static uint32_t Read(Map& m, uint64_t random, Pending&) {
    const Ipv4Address a = Destination(random);
    std::shared_lock lock(m.mu);
    rcu::ReadGuard guard;  // the trie's API asks for one; the lock is what protects it here
    return m.trie->Lookup(guard, a)->value.gateway;
  }
  static void Update(Map& m, uint64_t random, Pending& pending) {
    Churn(
        random, pending,
        [&](const Ipv4Prefix& p, Hop h) {
          std::unique_lock lock(m.mu);
          m.trie->InsertOrAssign(p, h);
        },
        [&](const Ipv4Prefix& p) {
          std::unique_lock lock(m.mu);
          return m.trie->Erase(p);
        });
  }
};

struct LengthMapsRwLock {
  struct Map {
    std::shared_mutex mu;
    std::array<std::map<uint32_t, Hop>, 33> by_length;
    Map() {
      by_length[0][0] = Hop{0, 0};
      uint32_t i = 0;
      for (const auto& p : Table()) {
        by_length[p.length][static_cast<uint32_t>(p.address.ToInteger())] = Hop{i++, 1};
      }
    }
  };
  using ThreadState = ::Pending;
  static constexpr bool kUpdates = true;
  static Map& Shared() {
    static Map* map = new Map;
    return *map;
  }
  static uint32_t Read(Map& m, uint64_t random, Pending&) {
    const uint32_t a = static_cast<uint32_t>(Destination(random).ToInteger());
    std::shared_lock lock(m.mu);
    for (int length = 32; length >= 0; --length) {
      const auto& level = m.by_length[length];
      if (level.empty()) continue;
      const auto it = level.find(length == 0 ? 0 : a & (~0u << (32 - length)));
      if (it != level.end()) return it->second.gateway;
    }
    return 0;
  }
  static void Update(Map& m, uint64_t random, Pending& pending) {
    const auto key = [](const Ipv4Prefix& p) {
      return static_cast<uint32_t>(p.address.ToInteger());
    };
    Churn(
        random, pending,
        [&](const Ipv4Prefix& p, Hop h) {
          std::unique_lock lock(m.mu);
          m.by_length[p.length][key(p)] = h;
        },
        [&](const Ipv4Prefix& p) {
          std::unique_lock lock(m.mu);
          return m.by_length[p.length].erase(key(p)) == 1;
        });
  }
};

// rte_lpm (see the top comment). tbl8 groups: one per /24 with longer prefixes, and room.
constexpr uint32_t kLpmReaders = 64;
rcu_bench::dpdk::Lpm* BuildLpm() {
  auto* lpm = new rcu_bench::dpdk::Lpm(2 * kRoutes, 1 << 14, kLpmReaders);
  lpm->Add(0, 0, 0);
  uint32_t i = 0;
  for (const auto& p : Table()) {
    if (lpm->Add(static_cast<uint32_t>(p.address.ToInteger()), static_cast<uint8_t>(p.length),
                 i++) != 0) {
      std::abort();
    }
  }
  return lpm;
}

struct RteLpm {
  struct Map {
    std::mutex mu;  // updates
    std::unique_ptr<rcu_bench::dpdk::Lpm> lpm{BuildLpm()};
  };
  // A reader's QSBR registration, for the run (ids by benchmark thread: at most kLpmReaders).
  struct ThreadState {
    ThreadState() : reader(next++ % kLpmReaders) { Shared().lpm->Online(reader); }
    ~ThreadState() { Shared().lpm->Offline(reader); }
    static inline std::atomic<unsigned> next{0};
    const unsigned reader;
    ::Pending pending;
  };
  static constexpr bool kUpdates = true;
  static Map& Shared() {
    static Map* map = new Map;
    return *map;
  }
  static uint32_t Read(Map& m, uint64_t random, ThreadState& state) {
    const uint32_t hop = m.lpm->Lookup(static_cast<uint32_t>(Destination(random).ToInteger()));
    m.lpm->Quiescent(state.reader);
    return hop;
  }
  static void Update(Map& m, uint64_t random, ThreadState& state) {
    const auto address = [](const Ipv4Prefix& p) {
      return static_cast<uint32_t>(p.address.ToInteger());
    };
    Churn(
        random, state.pending,
        [&](const Ipv4Prefix& p, Hop h) {
          std::lock_guard lock(m.mu);
          m.lpm->Add(address(p), static_cast<uint8_t>(p.length), h.gateway & 0xFFFFFF);
        },
        [&](const Ipv4Prefix& p) {
          std::lock_guard lock(m.mu);
          return m.lpm->Delete(address(p), static_cast<uint8_t>(p.length)) == 0;
        });
  }
};

constexpr size_t kBurst = 64;

void BM_LookupBatchRcu(benchmark::State& state) {
  const Trie& trie = Rcu::Shared();
  std::array<Ipv4Address, kBurst> addresses;
  std::array<const Trie::Entry*, kBurst> out;
  uint64_t sum = 0, random = static_cast<uint64_t>(state.thread_index()) << 40;
  for (auto _ : state) {
    for (Ipv4Address& a : addresses) a = Destination(random++);
    rcu::ReadGuard guard;
    trie.Lookup(guard, addresses, out);
    for (const Trie::Entry* e : out) sum += e->value.gateway;
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBurst));
}

void BM_LookupBatchRteLpm(benchmark::State& state) {
  RteLpm::Map& map = RteLpm::Shared();
  RteLpm::ThreadState reader;
  std::array<uint32_t, kBurst> addresses, hops;
  uint64_t sum = 0, random = static_cast<uint64_t>(state.thread_index()) << 40;
  for (auto _ : state) {
    for (uint32_t& a : addresses) a = static_cast<uint32_t>(Destination(random++).ToInteger());
    map.lpm->LookupBulk(addresses.data(), hops.data(), kBurst);
    map.lpm->Quiescent(reader.reader);
    for (uint32_t h : hops) sum += h;
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBurst));
}

template <typename Flavor>
void BM_Lookup(benchmark::State& state) {
  rcu_bench::RunChurn<Flavor>(state, static_cast<int>(state.range(0)));
}

// A fresh structure per repetition, measured and freed.
template <typename Flavor>
void BM_Memory(benchmark::State& state) {
  for (auto _ : state) {
    const size_t before = mallinfo2().uordblks;
    auto* map = new typename Flavor::Map;
    state.counters["bytes_per_prefix"] =
        static_cast<double>(mallinfo2().uordblks - before) / kRoutes;
    delete map;
  }
}

void Churns(benchmark::internal::Benchmark* b) {
  b->ArgName("churn")->Arg(0)->Arg(1)->Arg(10)->Threads(1)->Threads(2)->UseRealTime();
}

const bool kTableFirst = [] {
  Destination(0);  // the table and the addresses, built before any memory is measured
  return true;
}();

// rcu::PrefixMap, loaded (the Memory benchmark's view of Rcu).
struct RcuLoaded {
  struct Map {
    std::unique_ptr<Trie> trie{BuildTrie()};
  };
};

BENCHMARK(BM_Memory<RcuLoaded>)->Iterations(1);
BENCHMARK(BM_Memory<TrieRwLock>)->Iterations(1);
BENCHMARK(BM_Memory<LengthMapsRwLock>)->Iterations(1);

void BM_MemoryRteLpm(benchmark::State& state) {
  for (auto _ : state) {
    auto* lpm = BuildLpm();
    state.counters["bytes_per_prefix"] = static_cast<double>(lpm->bytes()) / kRoutes;
    delete lpm;
  }
}
BENCHMARK(BM_MemoryRteLpm)->Name("BM_Memory<RteLpm>")->Iterations(1);
BENCHMARK(BM_Lookup<Rcu>)->Apply(Churns);
BENCHMARK(BM_Lookup<TrieRwLock>)->Apply(Churns);
BENCHMARK(BM_Lookup<LengthMapsRwLock>)->Apply(Churns);
BENCHMARK(BM_Lookup<RteLpm>)->Apply(Churns);
BENCHMARK(BM_LookupBatchRcu)->Name("BM_LookupBatch<Rcu>")->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_LookupBatchRteLpm)
    ->Name("BM_LookupBatch<RteLpm>")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(BM_Lookup<Unsynchronized>)
    ->ArgName("churn")
    ->Arg(0)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  if (!rcu_bench::dpdk::Init()) {
    std::fprintf(stderr, "prefix_map_benchmark: DPDK's rte_eal_init failed\n");
    return 1;
  }
  return rcu_bench::RunBenchmarks(argc, argv);
}
