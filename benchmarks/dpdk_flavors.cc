#include "benchmarks/dpdk_flavors.h"

#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_lpm.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <sched.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace rcu_bench::dpdk {
namespace {

size_t HeapBytes() {
  rte_malloc_socket_stats stats{};
  size_t total = 0;
  for (unsigned socket = 0; socket < rte_socket_count(); ++socket) {
    if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(socket), &stats) == 0) {
      total += stats.heap_allocsz_bytes;
    }
  }
  return total;
}

}  // namespace

bool Init() {
  static const bool ok = [] {
    const char* args[] = {"prefix_map_benchmark", "--no-huge",   "--no-pci",          "-m", "512",
                          "--no-telemetry",       "--no-shconf", "--log-level=error", "-l", "0"};
    // rte_eal_init pins the calling thread to lcore 0's CPU, and every thread it starts later
    // would inherit that: the benchmark's threads must run on every CPU, as without DPDK.
    cpu_set_t cpus;
    sched_getaffinity(0, sizeof(cpus), &cpus);
    const bool started =
        rte_eal_init(static_cast<int>(std::size(args)), const_cast<char**>(args)) >= 0;
    sched_setaffinity(0, sizeof(cpus), &cpus);
    return started;
  }();
  return ok;
}

Lpm::Lpm(uint32_t max_rules, uint32_t tbl8_groups, uint32_t max_readers) {
  static std::atomic<int> serial{0};
  const std::string name = "lpm" + std::to_string(serial++);
  const size_t before = HeapBytes();
  rte_lpm_config config{};
  config.max_rules = max_rules;
  config.number_tbl8s = tbl8_groups;
  lpm_ = rte_lpm_create(name.c_str(), SOCKET_ID_ANY, &config);
  const size_t qsbr_size = rte_rcu_qsbr_get_memsize(max_readers);
  qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc(nullptr, qsbr_size, RTE_CACHE_LINE_SIZE));
  if (lpm_ == nullptr || qsbr_ == nullptr || rte_rcu_qsbr_init(qsbr_, max_readers) != 0) {
    std::fprintf(stderr, "rte_lpm_create / rte_rcu_qsbr_init failed\n");
    std::abort();
  }
  rte_lpm_rcu_config rcu{};
  rcu.v = qsbr_;
  rcu.mode = RTE_LPM_QSBR_MODE_DQ;
  if (rte_lpm_rcu_qsbr_add(lpm_, &rcu) != 0) {
    std::fprintf(stderr, "rte_lpm_rcu_qsbr_add failed\n");
    std::abort();
  }
  bytes_ = HeapBytes() - before;
}

Lpm::~Lpm() {
  rte_lpm_free(lpm_);
  rte_free(qsbr_);
}

int Lpm::Add(uint32_t address, uint8_t depth, uint32_t next_hop) {
  return rte_lpm_add(lpm_, address, depth, next_hop);
}

int Lpm::Delete(uint32_t address, uint8_t depth) { return rte_lpm_delete(lpm_, address, depth); }

uint32_t Lpm::Lookup(uint32_t address) const {
  uint32_t next_hop;
  return rte_lpm_lookup(lpm_, address, &next_hop) == 0 ? next_hop : UINT32_MAX;
}

void Lpm::LookupBulk(const uint32_t* addresses, uint32_t* hops, unsigned n) const {
  rte_lpm_lookup_bulk(lpm_, addresses, hops, n);
}

void Lpm::Online(unsigned reader) {
  rte_rcu_qsbr_thread_register(qsbr_, reader);
  rte_rcu_qsbr_thread_online(qsbr_, reader);
}

void Lpm::Quiescent(unsigned reader) { rte_rcu_qsbr_quiescent(qsbr_, reader); }

void Lpm::Offline(unsigned reader) {
  rte_rcu_qsbr_thread_offline(qsbr_, reader);
  rte_rcu_qsbr_thread_unregister(qsbr_, reader);
}

}  // namespace rcu_bench::dpdk
