// The process's resident set size, for the benchmarks that report memory per key or entry
// (hash_map_benchmark, lookup_cache_benchmark): each builds one structure in a fresh process and
// divides what the resident set grew by its keys; RunMemoryFlag() is their `--memory=<name>`.

#ifndef RCU_BENCHMARKS_RESIDENT_BYTES_H_
#define RCU_BENCHMARKS_RESIDENT_BYTES_H_

#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>

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

// A benchmark binary's `--memory=<name>` mode: when argv holds the flag, runs `memory(name)` of
// the structure so named in `structures` (objects with `name` and `memory`) and returns the exit
// status (2 for an unknown name); without the flag, nullopt.
template <typename Structures>
std::optional<int> RunMemoryFlag(int argc, char** argv, const Structures& structures) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--memory=", 9) != 0) continue;
    const std::string_view name = argv[i] + 9;
    for (const auto& s : structures) {
      if (name == s.name) {
        s.memory(s.name);
        return 0;
      }
    }
    std::fprintf(stderr, "unknown structure %s\n", argv[i] + 9);
    return 2;
  }
  return std::nullopt;
}

}  // namespace rcu_bench

#endif  // RCU_BENCHMARKS_RESIDENT_BYTES_H_
