// xenium's generic_epoch_based reclamation (the reclaimer of its vyukov_hash_map in
// hash_map_benchmark.cc) as a benchmark flavor (read_side_flavors.h): a read-side section is a
// `region_guard`, which with the default policy (region_extension::eager) enters the critical
// region on construction and leaves it on destruction. xenium has no synchronous grace period
// (its reclaimers only defer), so it runs the section rows alone.

// xenium's header uses std::array without including <array> (g++'s headers include it on the
// way; clang's do not).
#include <array>
#include <xenium/reclamation/generic_epoch_based.hpp>

#include "benchmarks/read_side_flavors.h"

namespace {

struct XeniumEpochBased {
  using Reclaimer = xenium::reclamation::generic_epoch_based<>;
  static void ThreadOnline() {}
  static void ThreadOffline() {}
  struct Section {
    Reclaimer::region_guard guard;
  };
  static void Quiescent() {}
};

}  // namespace

RCU_BENCH_SECTIONS(XeniumEpochBased, "xenium_generic_epoch_based");
