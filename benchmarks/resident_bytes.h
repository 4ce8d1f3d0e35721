// The process's resident set size, for the benchmarks that report memory per key or entry
// (hash_map_benchmark, lookup_cache_benchmark): each builds one structure in a fresh process and
// divides what the resident set grew by its keys.

#ifndef RCU_BENCHMARKS_RESIDENT_BYTES_H_
#define RCU_BENCHMARKS_RESIDENT_BYTES_H_

#include <unistd.h>

#include <cstddef>
#include <cstdio>

namespace rcu_bench {

// Bytes of this process now resident (/proc/self/statm), or 0 if it cannot be read.
inline size_t ResidentBytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<size_t>(resident) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace rcu_bench

#endif  // RCU_BENCHMARKS_RESIDENT_BYTES_H_
