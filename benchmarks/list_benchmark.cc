// //benchmarks:list_benchmark: traversal and lookup in rcu::List beside std::list under
// std::shared_mutex, with and without a concurrent updater (which erases and re-inserts one
// element at a time as fast as it can).
//
//   ./bazelw run -c opt //benchmarks:list_benchmark

#include <algorithm>
#include <atomic>
#include <list>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "benchmark/benchmark.h"
#include "rcu/containers/list.h"
#include "rcu/domain.h"

namespace {

constexpr int kElements = 1000;

struct Rcu {
  static rcu::List<int>& L() {
    static auto* list = [] {
      auto* l = new rcu::List<int>;
      for (int i = 0; i < kElements; ++i) l->PushBack(i);
      return l;
    }();
    return *list;
  }
  static int64_t Sum() {
    rcu::ReadGuard guard;
    int64_t sum = 0;
    for (int x : L().Iterate(guard)) sum += x;
    return sum;
  }
  static bool Contains(int value) {
    rcu::ReadGuard guard;
    for (int x : L().Iterate(guard)) {
      if (x == value) return true;
    }
    return false;
  }
  static void Churn(int value) {
    L().EraseIf([&](int x) { return x == value; });
    L().PushBack(value);
  }
};

struct SharedMutexList {
  static std::shared_mutex mu;
  static std::list<int>& L() {
    static auto* list = [] {
      auto* l = new std::list<int>;
      for (int i = 0; i < kElements; ++i) l->push_back(i);
      return l;
    }();
    return *list;
  }
  static int64_t Sum() {
    std::shared_lock lock(mu);
    int64_t sum = 0;
    for (int x : L()) sum += x;
    return sum;
  }
  static bool Contains(int value) {
    std::shared_lock lock(mu);
    return std::find(L().begin(), L().end(), value) != L().end();
  }
  static void Churn(int value) {
    std::unique_lock lock(mu);
    L().remove(value);
    L().push_back(value);
  }
};
std::shared_mutex SharedMutexList::mu;

// Runs an updater thread for the scope, when asked to.
class Updater {
 public:
  template <typename L>
  Updater(bool run, L*) {
    if (!run) return;
    thread_ = std::thread([this] {
      for (int i = 0; !stop_.load(std::memory_order_relaxed); ++i) L::Churn(i % kElements);
    });
  }
  ~Updater() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

template <typename L>
void BM_Traverse(benchmark::State& state, bool updater) {
  L::Sum();
  Updater churn(updater && state.thread_index() == 0, static_cast<L*>(nullptr));
  for (auto _ : state) benchmark::DoNotOptimize(L::Sum());
  state.SetItemsProcessed(state.iterations() * kElements);
}

template <typename L>
void BM_Lookup(benchmark::State& state, bool updater) {
  L::Sum();
  Updater churn(updater && state.thread_index() == 0, static_cast<L*>(nullptr));
  int i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(L::Contains(i++ % kElements));
  state.SetItemsProcessed(state.iterations());
}

template <typename L>
void Register(const std::string& name) {
  for (bool updater : {false, true}) {
    const std::string suffix = name + (updater ? "/with_updater" : "/read_only");
    benchmark::RegisterBenchmark(("Traverse1000/" + suffix).c_str(),
                                 [=](benchmark::State& s) { BM_Traverse<L>(s, updater); })
        ->Threads(1)
        ->Threads(2)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("Lookup/" + suffix).c_str(),
                                 [=](benchmark::State& s) { BM_Lookup<L>(s, updater); })
        ->Threads(1)
        ->Threads(2)
        ->UseRealTime();
  }
}

}  // namespace

int main(int argc, char** argv) {
  Register<Rcu>("rcu_list");
  Register<SharedMutexList>("std_list_shared_mutex");
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
