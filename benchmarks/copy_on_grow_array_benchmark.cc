// //benchmarks:copy_on_grow_array_benchmark: indexed reads of rcu::CopyOnGrowArray while an
// appender runs, beside std::vector under std::shared_mutex (same appender) and an
// unsynchronized std::vector without an appender (the ceiling).
//
//   ./bazelw run -c opt //benchmarks:copy_on_grow_array_benchmark
//
// 1M ints; readers read random indexes below 1M, one read-side section (or shared lock) per read
// ("reads_per_section:1"), or 16 reads in one ("reads_per_section:16", the usual shape of a
// reader that looks at several entries).
// The appender appends 64 elements every 20 microseconds and shrinks back to 1M at 2M, so it
// grows the storage again and again without taking a core from the readers.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "rcu/containers/copy_on_grow_array.h"
#include "rcu/domain.h"

namespace {

constexpr size_t kBase = 1 << 20;

struct Rcu {
  static rcu::CopyOnGrowArray<uint32_t>& A() {
    static auto* array = [] {
      auto* a = new rcu::CopyOnGrowArray<uint32_t>;
      for (size_t i = 0; i < kBase; ++i) a->Append(static_cast<uint32_t>(i));
      return a;
    }();
    return *array;
  }
  template <typename Indexes>
  static uint32_t ReadSome(Indexes next, int n) {
    rcu::ReadGuard guard;
    const auto view = A().Read(guard);
    uint32_t sum = 0;
    for (int k = 0; k < n; ++k) sum += view[next()];
    return sum;
  }
  static void AppendBurst() {
    for (int k = 0; k < 64; ++k) A().Append(7);
    if (A().size() >= 2 * kBase) A().Truncate(kBase);
  }
};

struct SharedMutexVector {
  static std::shared_mutex mu;
  static std::vector<uint32_t>& V() {
    static auto* v = [] {
      auto* v = new std::vector<uint32_t>;
      for (size_t i = 0; i < kBase; ++i) v->push_back(static_cast<uint32_t>(i));
      return v;
    }();
    return *v;
  }
  template <typename Indexes>
  static uint32_t ReadSome(Indexes next, int n) {
    std::shared_lock lock(mu);
    uint32_t sum = 0;
    for (int k = 0; k < n; ++k) sum += V()[next()];
    return sum;
  }
  static void AppendBurst() {
    std::unique_lock lock(mu);
    for (int k = 0; k < 64; ++k) V().push_back(7);
    if (V().size() >= 2 * kBase) {
      V().resize(kBase);
      V().shrink_to_fit();  // so it grows (reallocates) again, as the RCU array does
    }
  }
};
std::shared_mutex SharedMutexVector::mu;

struct UnsynchronizedVector : SharedMutexVector {
  template <typename Indexes>
  static uint32_t ReadSome(Indexes next, int n) {
    uint32_t sum = 0;
    for (int k = 0; k < n; ++k) sum += V()[next()];
    return sum;
  }
};

template <typename A>
void BM_IndexedRead(benchmark::State& state, bool appender, int per_section) {
  A::ReadSome([] { return size_t{0}; }, 1);
  std::atomic<bool> stop{false};
  std::thread append;
  if (appender && state.thread_index() == 0) {
    append = std::thread([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        A::AppendBurst();
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
    });
  }
  uint64_t x = 0x9e3779b97f4a7c15ull * (state.thread_index() + 1), sum = 0;
  const auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x & (kBase - 1);
  };
  for (auto _ : state) sum += A::ReadSome(next, per_section);
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations() * per_section);
  stop.store(true);
  if (append.joinable()) append.join();
}

}  // namespace

int main(int argc, char** argv) {
  for (int per_section : {1, 16}) {
    const std::string suffix = "/reads_per_section:" + std::to_string(per_section);
    for (int threads : {1, 2}) {
      benchmark::RegisterBenchmark(
          ("IndexedRead/rcu_copy_on_grow_array/with_appender" + suffix).c_str(),
          [=](benchmark::State& s) { BM_IndexedRead<Rcu>(s, true, per_section); })
          ->Threads(threads)
          ->UseRealTime();
      benchmark::RegisterBenchmark(
          ("IndexedRead/std_vector_shared_mutex/with_appender" + suffix).c_str(),
          [=](benchmark::State& s) { BM_IndexedRead<SharedMutexVector>(s, true, per_section); })
          ->Threads(threads)
          ->UseRealTime();
      benchmark::RegisterBenchmark(
          ("IndexedRead/std_vector_unsynchronized/no_appender" + suffix).c_str(),
          [=](benchmark::State& s) { BM_IndexedRead<UnsynchronizedVector>(s, false, per_section); })
          ->Threads(threads)
          ->UseRealTime();
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
