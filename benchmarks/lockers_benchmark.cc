// //benchmarks:lockers_benchmark: which locker buys what. The seed "Meet the Lockers" family side
// by side on the same data, in one binary:
//
//   ./bazelw run -c opt //benchmarks:lockers_benchmark
//
// Lockers: std_mutex, spinlock (test-and-test-and-set, yielding after 64 spins), std_shared_mutex
// (rwlock), absl_mutex_reader (absl::Mutex, readers in ReaderLock), seqlock (rcu::SeqLock, fields
// updated in place), shared_ptr_refcount (a reference count taken per read:
// std::atomic<std::shared_ptr>, what C++ offers for it), rcu (rcu::Published / rcu::HashMap).
// Workloads:
//   record  one 64-byte record: readers copy it whole and check it is consistent; updaters
//           rewrite it (in place under the locks and the seqlock, replaced under the refcount
//           and RCU);
//   map     1M uint64 keys: readers look a key up, updaters set its value (in place where the
//           locker allows it, replaced under RCU and the refcount).
// Each thread draws an operation per step: an update with the given probability (0, 1, 10, 50%),
// else a read. Threads: 1, 2 and 8 (oversubscribed on a 2-core machine: a lock holder can be
// preempted). items_per_second counts every operation of every thread; read_ns and update_ns
// are the mean latency of each kind, timed with the TSC over each run of same-kind operations
// (so at 50% updates they include about one TSC read, ~7 ns, per operation).
//
// Names: Lockers/<workload>/<locker>/<mix>%updates/real_time/threads:<T>.

#include <x86intrin.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "rcu/containers/hash_map.h"
#include "rcu/domain.h"
#include "rcu/published.h"
#include "rcu/seqlock.h"

namespace {

constexpr uint64_t kKeys = 1 << 20;
constexpr int kOversubscribed = 8;

// TSC ticks per nanosecond, measured once.
double TicksPerNs() {
  static const double ticks = [] {
    const auto t0 = std::chrono::steady_clock::now();
    const uint64_t c0 = __rdtsc();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const uint64_t c1 = __rdtsc();
    const auto t1 = std::chrono::steady_clock::now();
    return (c1 - c0) / static_cast<double>(std::chrono::nanoseconds(t1 - t0).count());
  }();
  return ticks;
}

// ---- the 64-byte record ---------------------------------------------------------------------

struct alignas(64) Record {
  uint64_t v[8];
  static Record Make(uint64_t n) {
    Record r;
    for (uint64_t i = 0; i < 8; ++i) r.v[i] = n + i;
    return r;
  }
  bool Consistent() const {
    for (uint64_t i = 1; i < 8; ++i) {
      if (v[i] != v[0] + i) return false;
    }
    return true;
  }
};

class SpinLock {
 public:
  void lock() {
    for (int spins = 0;; ++spins) {
      if (!locked_.load(std::memory_order_relaxed) &&
          !locked_.exchange(true, std::memory_order_acquire)) {
        return;
      }
      if (spins >= 64) std::this_thread::yield();
    }
  }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

// absl::Mutex's scoped locks take a pointer; these take a reference, as the std ones do.
struct AbslReaderLock : absl::ReaderMutexLock {
  explicit AbslReaderLock(absl::Mutex& mu) : absl::ReaderMutexLock(&mu) {}
};
struct AbslWriterLock : absl::MutexLock {
  explicit AbslWriterLock(absl::Mutex& mu) : absl::MutexLock(&mu) {}
};

// The record under a lock: readers hold ReadLock, writers WriteLock.
template <typename Mutex, typename ReadLock = std::lock_guard<Mutex>,
          typename WriteLock = std::lock_guard<Mutex>>
struct LockedRecord {
  Record Read() {
    ReadLock lock(mu);
    return record;
  }
  void Write(uint64_t n) {
    WriteLock lock(mu);
    record = Record::Make(n);
  }
  Mutex mu;
  Record record = Record::Make(0);
};
using SharedMutexRecord = LockedRecord<std::shared_mutex, std::shared_lock<std::shared_mutex>>;
using AbslReaderRecord = LockedRecord<absl::Mutex, AbslReaderLock, AbslWriterLock>;

struct SeqLockRecord {
  Record Read() { return rcu::SeqRead(lock, record); }
  void Write(uint64_t n) {
    rcu::SeqLock::WriteGuard write(lock);
    write.Store(record, Record::Make(n));
  }
  rcu::SeqLock lock;
  rcu::SeqField<Record> record{Record::Make(0)};
};

struct RefCountRecord {
  Record Read() {
    const std::shared_ptr<const Record> held = record.load(std::memory_order_acquire);
    return *held;
  }
  void Write(uint64_t n) {
    record.store(std::make_shared<const Record>(Record::Make(n)), std::memory_order_release);
  }
  std::atomic<std::shared_ptr<const Record>> record{
      std::make_shared<const Record>(Record::Make(0))};
};

struct RcuRecord {
  Record Read() {
    rcu::ReadGuard guard;
    return *record.Read(guard);
  }
  void Write(uint64_t n) {
    const Record* old = record.Exchange(new Record(Record::Make(n)));  // racing writers: each
    rcu::Domain::Default().Retire(const_cast<Record*>(old));           // retires its own old one
  }
  rcu::Published<const Record> record{new Record(Record::Make(0))};
};

// ---- the 1M-key map -------------------------------------------------------------------------

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}
uint64_t KeyOf(uint64_t i) { return SplitMix(i + 1); }

// key -> its index in 0..kKeys-1: the locked maps' contents, and the fixed key set's index.
absl::flat_hash_map<uint64_t, uint64_t> KeyIndex() {
  absl::flat_hash_map<uint64_t, uint64_t> index;
  index.reserve(kKeys);
  for (uint64_t i = 0; i < kKeys; ++i) index[KeyOf(i)] = i;
  return index;
}

template <typename Mutex, typename ReadLock = std::lock_guard<Mutex>,
          typename WriteLock = std::lock_guard<Mutex>>
struct LockedMap {
  uint64_t Read(uint64_t key) {
    ReadLock lock(mu);
    return map.find(key)->second;
  }
  void Write(uint64_t key, uint64_t value) {
    WriteLock lock(mu);
    map[key] = value;
  }
  Mutex mu;
  absl::flat_hash_map<uint64_t, uint64_t> map = KeyIndex();
};

// The key set is fixed: an index built once and never changed (read without a lock), and a value
// per slot updated in place, under one of 4096 striped locks.
struct Index {
  absl::flat_hash_map<uint64_t, uint64_t> slot = KeyIndex();
};

struct SeqLockMap {
  static constexpr uint64_t kStripes = 4096;
  uint64_t Read(uint64_t key) {
    const uint64_t s = index.slot.find(key)->second;
    return rcu::SeqRead(locks[s % kStripes], values[s]);
  }
  void Write(uint64_t key, uint64_t value) {
    const uint64_t s = index.slot.find(key)->second;
    rcu::SeqLock::WriteGuard write(locks[s % kStripes]);
    write.Store(values[s], value);
  }
  Index index;
  std::unique_ptr<rcu::SeqLock[]> locks{new rcu::SeqLock[kStripes]};
  std::unique_ptr<rcu::SeqField<uint64_t>[]> values { new rcu::SeqField<uint64_t>[ kKeys ] };
};

struct RefCountMap {
  RefCountMap() {
    for (uint64_t i = 0; i < kKeys; ++i) values[i].store(std::make_shared<const uint64_t>(i));
  }
  uint64_t Read(uint64_t key) {
    const uint64_t s = index.slot.find(key)->second;
    const std::shared_ptr<const uint64_t> held = values[s].load(std::memory_order_acquire);
    return *held;
  }
  void Write(uint64_t key, uint64_t value) {
    const uint64_t s = index.slot.find(key)->second;
    values[s].store(std::make_shared<const uint64_t>(value), std::memory_order_release);
  }
  Index index;
  std::unique_ptr<std::atomic<std::shared_ptr<const uint64_t>>[]> values {
    new std::atomic<std::shared_ptr<const uint64_t>>[ kKeys ]
  };
};

struct RcuMap {
  RcuMap() {
    for (uint64_t i = 0; i < kKeys; ++i) map.Insert(KeyOf(i), i);
  }
  uint64_t Read(uint64_t key) {
    rcu::ReadGuard guard;
    return *map.Find(guard, key);
  }
  void Write(uint64_t key, uint64_t value) { map.InsertOrAssign(key, value); }
  rcu::HashMap<uint64_t, uint64_t> map{rcu::Domain::Default(), {.initial_capacity = kKeys}};
};

// ---- the benchmark --------------------------------------------------------------------------

// Accumulates TSC ticks per operation kind over runs of same-kind operations.
class KindTimer {
 public:
  void Switch(bool update) {
    const uint64_t now = __rdtsc();
    if (running_) ticks_[kind_] += now - start_;
    kind_ = update;
    start_ = now;
    running_ = true;
  }
  void Count(bool update) { ++ops_[update]; }
  void Stop() {
    if (running_) ticks_[kind_] += __rdtsc() - start_;
    running_ = false;
  }
  double MeanNs(bool update) const {
    return ops_[update] == 0 ? 0.0 : ticks_[update] / TicksPerNs() / ops_[update];
  }

 private:
  uint64_t ticks_[2] = {0, 0};
  uint64_t ops_[2] = {0, 0};
  uint64_t start_ = 0;
  bool kind_ = false;
  bool running_ = false;
};

template <typename Subject>
Subject& Shared() {
  static Subject* const subject = new Subject;  // built once, shared by every run
  return *subject;
}

template <typename Subject, bool kMap>
void BM_Lockers(benchmark::State& state, int update_percent) {
  Subject& subject = Shared<Subject>();
  const uint64_t update_per_mille = update_percent * 10;
  std::mt19937_64 rng(state.thread_index() * 7919 + 1);
  std::vector<uint32_t> keys(1 << 16);
  std::vector<uint8_t> updates(1 << 16);
  for (size_t i = 0; i < keys.size(); ++i) {
    keys[i] = static_cast<uint32_t>(rng() % kKeys);
    updates[i] = rng() % 1000 < update_per_mille;
  }
  KindTimer timer;
  uint64_t step = 0, inconsistent = 0;
  for (auto _ : state) {
    const size_t i = step++ & (keys.size() - 1);
    const bool update = updates[i] != 0;
    if (step == 1 || update != static_cast<bool>(updates[(i - 1) & (keys.size() - 1)])) {
      timer.Switch(update);
    }
    timer.Count(update);
    if constexpr (kMap) {
      if (update) {
        subject.Write(KeyOf(keys[i]), step);
      } else {
        benchmark::DoNotOptimize(subject.Read(KeyOf(keys[i])));
      }
    } else {
      if (update) {
        subject.Write(step);
      } else {
        const Record r = subject.Read();
        inconsistent += !r.Consistent();
      }
    }
  }
  timer.Stop();
  if (inconsistent != 0) state.SkipWithError("a reader saw an inconsistent record");
  state.SetItemsProcessed(state.iterations());
  state.counters["read_ns"] =
      benchmark::Counter(timer.MeanNs(false), benchmark::Counter::kAvgThreads);
  state.counters["update_ns"] =
      benchmark::Counter(timer.MeanNs(true), benchmark::Counter::kAvgThreads);
}

template <typename Subject, bool kMap>
void Register(const std::string& workload, const std::string& locker) {
  for (int mix : {0, 1, 10, 50}) {
    const std::string name =
        "Lockers/" + workload + "/" + locker + "/" + std::to_string(mix) + "%updates";
    benchmark::RegisterBenchmark(name.c_str(), BM_Lockers<Subject, kMap>, mix)
        ->UseRealTime()
        ->Threads(1)
        ->Threads(2)
        ->Threads(kOversubscribed);
  }
}

const bool registered = [] {
  Register<LockedRecord<std::mutex>, false>("record", "std_mutex");
  Register<LockedRecord<SpinLock>, false>("record", "spinlock");
  Register<SharedMutexRecord, false>("record", "std_shared_mutex");
  Register<AbslReaderRecord, false>("record", "absl_mutex_reader");
  Register<SeqLockRecord, false>("record", "seqlock");
  Register<RefCountRecord, false>("record", "shared_ptr_refcount");
  Register<RcuRecord, false>("record", "rcu");
  Register<LockedMap<std::mutex>, true>("map", "std_mutex");
  Register<LockedMap<SpinLock>, true>("map", "spinlock");
  Register<LockedMap<std::shared_mutex, std::shared_lock<std::shared_mutex>>, true>(
      "map", "std_shared_mutex");
  Register<LockedMap<absl::Mutex, AbslReaderLock, AbslWriterLock>, true>("map",
                                                                         "absl_mutex_reader");
  Register<SeqLockMap, true>("map", "seqlock");
  Register<RefCountMap, true>("map", "shared_ptr_refcount");
  Register<RcuMap, true>("map", "rcu");
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
