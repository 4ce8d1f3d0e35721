// Reader-writer and plain locks as benchmark flavors (read_side_flavors.h): the baselines RCU is
// measured against. "Synchronize" for a lock is an exclusive lock and unlock: what a writer pays
// to exclude the readers.

#include <mutex>
#include <shared_mutex>

#include "absl/synchronization/mutex.h"
#include "benchmarks/read_side_flavors.h"

namespace {

struct SharedMutex {
  static std::shared_mutex& M() {
    static std::shared_mutex m;
    return m;
  }
  static void ThreadOnline() {}
  static void ThreadOffline() {}
  struct Section {
    Section() { M().lock_shared(); }
    ~Section() { M().unlock_shared(); }
  };
  static void Quiescent() {}
  static void Synchronize() {
    M().lock();
    M().unlock();
  }
};

struct StdMutex {
  static std::mutex& M() {
    static std::mutex m;
    return m;
  }
  static void ThreadOnline() {}
  static void ThreadOffline() {}
  struct Section {
    Section() { M().lock(); }
    ~Section() { M().unlock(); }
  };
  static void Quiescent() {}
  static void Synchronize() {
    M().lock();
    M().unlock();
  }
};

struct AbslMutexReader {
  static absl::Mutex& M() {
    static absl::Mutex m;
    return m;
  }
  static void ThreadOnline() {}
  static void ThreadOffline() {}
  struct Section {
    Section() { M().ReaderLock(); }
    ~Section() { M().ReaderUnlock(); }
  };
  static void Quiescent() {}
  static void Synchronize() {
    M().Lock();
    M().Unlock();
  }
};

}  // namespace

RCU_BENCH_READ_SIDE(SharedMutex, "std_shared_mutex");
RCU_BENCH_READ_SIDE(StdMutex, "std_mutex");
RCU_BENCH_READ_SIDE(AbslMutexReader, "absl_mutex_reader");
