// DPDK's rte_lpm (DIR-24-8) for prefix_map_benchmark, in its own translation unit: DPDK's
// headers want its build flags (`-include rte_config.h -march=corei7`), which must not change how
// the rest of the benchmark, our containers included, is compiled. The lookup is one call into
// that unit (rte_lpm_lookup is inline there): a few nanoseconds beside a lookup's cache misses.
//
// Readers are lock-free; updates are serialized by the caller (a mutex), and the tbl8 groups an
// update frees are reclaimed through rte_rcu_qsbr (its defer queue), for which every reader
// thread registers and reports a quiescent state after each lookup, as DPDK's documentation
// asks of a forwarding loop.

#ifndef RCU_BENCHMARKS_DPDK_FLAVORS_H_
#define RCU_BENCHMARKS_DPDK_FLAVORS_H_

#include <cstddef>
#include <cstdint>

struct rte_lpm;
struct rte_rcu_qsbr;

namespace rcu_bench::dpdk {

// Starts DPDK's environment once (no huge pages, no PCI, 512 MB of heap); false if it failed.
bool Init();

class Lpm {
 public:
  // A table of up to `max_rules` prefixes with `tbl8_groups` second-level groups, reclaimed
  // through QSBR for up to `max_readers` reader threads (ids 0 to max_readers - 1).
  Lpm(uint32_t max_rules, uint32_t tbl8_groups, uint32_t max_readers);
  ~Lpm();
  Lpm(const Lpm&) = delete;
  Lpm& operator=(const Lpm&) = delete;

  // `next_hop` holds 24 bits. Return DPDK's status (0 on success).
  int Add(uint32_t address, uint8_t depth, uint32_t next_hop);
  int Delete(uint32_t address, uint8_t depth);
  // The next hop of the longest match of `address`, or UINT32_MAX if none.
  uint32_t Lookup(uint32_t address) const;
  // rte_lpm_lookup_bulk: hops[i] for addresses[i], i < n (DPDK's flags in the top bits).
  void LookupBulk(const uint32_t* addresses, uint32_t* hops, unsigned n) const;

  // A reader thread: Online before its first lookup, Quiescent after each, Offline at the end.
  void Online(unsigned reader);
  void Quiescent(unsigned reader);
  void Offline(unsigned reader);

  // Bytes DPDK's heap holds for the table (its tables, rules and QSBR state).
  size_t bytes() const { return bytes_; }

 private:
  rte_lpm* lpm_ = nullptr;
  rte_rcu_qsbr* qsbr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace rcu_bench::dpdk

#endif  // RCU_BENCHMARKS_DPDK_FLAVORS_H_
