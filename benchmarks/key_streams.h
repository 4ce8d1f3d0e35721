// Pre-drawn key ranks for the benchmarks that share a key space (hash_map_benchmark,
// lookup_cache_benchmark): uniform, or Zipf(s) by inverse-CDF sampling (rank 0 the most
// frequent; a benchmark maps ranks to keys). Seeded: every run draws the same streams.

#ifndef RCU_BENCHMARKS_KEY_STREAMS_H_
#define RCU_BENCHMARKS_KEY_STREAMS_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace rcu_bench {

// `count` ranks drawn uniformly from [0, n).
inline std::vector<uint32_t> UniformRanks(size_t count, size_t n, uint64_t seed) {
  std::vector<uint32_t> out(count);
  std::mt19937_64 rng(seed);
  for (auto& x : out) x = static_cast<uint32_t>(rng() % n);
  return out;
}

// `count` ranks of Zipf(s) over [0, n).
inline std::vector<uint32_t> ZipfRanks(size_t count, size_t n, double s, uint64_t seed) {
  std::vector<double> cdf(n);
  double sum = 0;
  for (size_t r = 0; r < n; ++r) cdf[r] = (sum += 1.0 / std::pow(static_cast<double>(r + 1), s));
  std::vector<uint32_t> out(count);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, sum);
  for (auto& x : out) {
    x = static_cast<uint32_t>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
  }
  return out;
}

}  // namespace rcu_bench

#endif  // RCU_BENCHMARKS_KEY_STREAMS_H_
