// rcu/update_mutex.h misuse: R16 (the mutex locked again by the thread that holds it, directly,
// through a nested UpdateLock, or through a nested SeqLock::WriteGuard: each would wait for
// itself). Each test runs the correct use (it must pass) and the broken one (it must die).

#include <mutex>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "gtest/gtest.h"
#include "rcu/seqlock.h"
#include "rcu/update_mutex.h"

namespace rcu {
namespace {

// The nested lock the analysis would reject at compile time under clang, as the misuse it is.
void LockTwice(UpdateMutex& mu) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  UpdateLock outer(mu);
  UpdateLock inner(mu);  // BUG (R16)
}

TEST(UpdateMutexMisuseTest, R16NestedUpdateLockAborts) {
  UpdateMutex mu;
  {
    UpdateLock lock(mu);  // correct: another thread waits, then takes it
    std::thread([&] { EXPECT_FALSE(mu.try_lock()); }).join();
  }
  { std::scoped_lock lock(mu); }  // correct: the standard lock() spelling
  EXPECT_DEATH(LockTwice(mu), "R16: rcu::UpdateMutex 0x[0-9a-f]+ locked again by the thread");
}

void WriteTwice(SeqLock& seq) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  SeqLock::WriteGuard write(seq);
  SeqLock::WriteGuard again(seq);  // BUG (R16): a SeqLock takes its own mutex
}

TEST(UpdateMutexMisuseTest, R16NestedSeqLockWriteGuardAborts) {
  SeqLock seq;
  SeqField<int> field;
  {
    SeqLock::WriteGuard write(seq);
    write.Store(field, 1);
  }
  EXPECT_DEATH(WriteTwice(seq), "R16: rcu::UpdateMutex 0x[0-9a-f]+ locked again");
}

}  // namespace
}  // namespace rcu
