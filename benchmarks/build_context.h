// The build, as the report states it: taken from the benchmark binary itself (compiler and
// optimization), not from the report's guess. Call before benchmark::Initialize(), or let
// RunBenchmarks() be main().

#ifndef RCU_BENCHMARKS_BUILD_CONTEXT_H_
#define RCU_BENCHMARKS_BUILD_CONTEXT_H_

#include <string>

#include "benchmark/benchmark.h"

namespace rcu_bench {

inline void AddBuildContext() {
#ifdef __clang__
  benchmark::AddCustomContext("compiler", "clang " __VERSION__);
#else
  benchmark::AddCustomContext("compiler", "g++ " __VERSION__);
#endif
#ifdef __OPTIMIZE__
  benchmark::AddCustomContext("flags", std::string("optimized, C++") + std::to_string(__cplusplus) +
#ifdef NDEBUG
                                           ", NDEBUG"
#else
                                           ", assertions on"
#endif
  );
#else
  benchmark::AddCustomContext("flags", "UNOPTIMIZED (-O0): figures mean nothing");
#endif
}

// A benchmark binary's main(): the build context, then every registered benchmark.
inline int RunBenchmarks(int argc, char** argv) {
  AddBuildContext();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace rcu_bench

#endif  // RCU_BENCHMARKS_BUILD_CONTEXT_H_
