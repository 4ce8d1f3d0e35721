// Misuse that must not compile. tests/compile_fail_test.sh compiles this file once per case
// (-DCASE_<NAME>) and expects an error matching the case's pattern; CASE_CONTROL is the correct
// use of the same API and must compile, so a broken harness cannot pass.

#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "rcu/containers/copy_on_grow_array.h"
#include "rcu/containers/list.h"
#include "rcu/containers/replace_map.h"
#include "rcu/domain.h"
#include "rcu/published.h"
#include "rcu/seqlock.h"
#include "rcu/update_mutex.h"

struct Config {
  int limit = 0;
};

rcu::UpdateMutex mu;
rcu::Published<const Config> config;

int Use(rcu::Domain& domain) {
  rcu::ReadGuard guard(domain);
#if defined(CASE_CONTROL)
  return config.Read(guard)->limit;
#elif defined(CASE_READ_WITHOUT_GUARD)          // R1: a read needs the read-side token
  return config.Read()->limit;
#elif defined(CASE_COPY_GUARD)                  // R5: a section belongs to one scope
  rcu::ReadGuard copy = guard;
  return 0;
#elif defined(CASE_MOVE_GUARD)                  // R5: ... and to one thread
  rcu::ReadGuard moved(std::move(guard));
  return 0;
#elif defined(CASE_WRITE_THROUGH_CONST)         // M1: readers get const values; update by replacing
  config.Read(guard)->limit = 1;
  return 0;
#elif defined(CASE_COPY_PUBLISHED)              // a published pointer is a location, not a value
  rcu::Published<const Config> copy = config;
  return 0;
#elif defined(CASE_LIST_ITERATE_WITHOUT_GUARD)  // L4: traversal needs the read-side token
  static rcu::List<int> list;
  for (int x : list.Iterate()) return x;
  return 0;
#elif defined(CASE_REPLACE_MAP_WRITE_VALUE)     // M1: values are const to readers
  static rcu::ReplaceMap<int, Config> map;
  map.Find(guard, 1)->limit = 2;
  return 0;
#elif defined(CASE_SEQ_FIELD_READ_OUTSIDE_A_REGION)  // S2: fields are read through a SeqReader
  static rcu::SeqField<int> field;
  return field.Load();
#elif defined(CASE_COPY_ON_GROW_ARRAY_MOVE_ONLY)     // growth copies: elements must be copyable
  static rcu::CopyOnGrowArray<std::unique_ptr<int> > array;
  return array.Read(guard).empty() ? 0 : 1;
#else
  return 0;
#endif
}

// R2 at compile time (clang -Wthread-safety): update-side access needs the update lock.
const Config* Peek() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return config.Protected(mu); }

int Update() {
#if defined(CASE_PROTECTED_WITHOUT_LOCK)
  return Peek()->limit;
#else
  rcu::UpdateLock lock(mu);
  return Peek()->limit;
#endif
}

// S3 at compile time (clang -Wthread-safety): a seqcount write needs its writers' mutex.
rcu::UpdateMutex seq_mu;
rcu::SeqCount seq(seq_mu);
rcu::SeqField<int> seq_field;
rcu::SeqLock seq_lock;

void SeqWrite() {
#if defined(CASE_SEQ_WRITE_WITHOUT_LOCK)
  rcu::SeqWriteGuard write(seq, seq_mu);
  write.Store(seq_field, 1);
#else
  {
    rcu::UpdateLock lock(seq_mu);
    rcu::SeqWriteGuard write(seq, seq_mu);
    write.Store(seq_field, 1);
  }
  rcu::SeqLock::WriteGuard write(seq_lock);
  write.Store(seq_field, 2);
#endif
}
