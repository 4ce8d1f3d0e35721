// rcu/seqlock.h misuse: S1 (a region's copies never validated: the seed's read_seqbegin() with no
// read_seqretry()), S2 (a copy used without a successful validation of its region: the seed's
// d_inode, read after the region that validated it, or a copy used through another reader), S3
// (a write without the writers' mutex), S4 (a field used under two counts), S5 (a read inside the
// thread's own write).
// Each rule's test runs the correct use (it must pass) and the broken one (it must die).

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "gtest/gtest.h"
#include "rcu/seqlock.h"

namespace rcu {
namespace {

struct Dentry {
  SeqLock seq;
  SeqField<uint64_t> name_hash{42};
  SeqField<uint64_t> inode{7};
};

// The lookup the seed describes: copy the fields, validate, use them. `busted` picks the broken
// variant of each rule.
enum class Variant { kCorrect, kNeverValidated, kUsedAfterItsRegion, kUsedAfterFailure };

uint64_t Lookup(Dentry& d, Variant variant) {
  SeqReader reader(d.seq);
  SeqCopy<uint64_t> hash = reader.Copy(d.name_hash);
  switch (variant) {
    case Variant::kNeverValidated:
      return 0;  // BUG (S1): copied, never validated
    case Variant::kUsedAfterItsRegion: {
      if (!reader.Validate()) return 0;
      const uint64_t h = reader.Use(hash);             // validated: fine
      SeqCopy<uint64_t> inode = reader.Copy(d.inode);  // a new region, never validated
      return h + reader.Use(inode);                    // BUG (S2): the seed's d_inode
    }
    case Variant::kUsedAfterFailure: {
      {
        SeqLock::WriteGuard write(d.seq);  // a writer overlaps the region
        write.Store(d.inode, uint64_t{8});
      }
      const bool valid = reader.Validate();
      EXPECT_FALSE(valid);
      return reader.Use(hash);  // BUG (S2): validation failed
    }
    case Variant::kCorrect:
      break;
  }
  SeqCopy<uint64_t> inode = reader.Copy(d.inode);
  while (!reader.Validate()) {
    hash = reader.Copy(d.name_hash);
    inode = reader.Copy(d.inode);
  }
  return reader.Use(hash) + reader.Use(inode);
}

TEST(SeqLockMisuseTest, CorrectLookupPasses) {
  Dentry d;
  EXPECT_EQ(Lookup(d, Variant::kCorrect), 49u);
}

TEST(SeqLockMisuseTest, S1ARegionNeverValidatedAborts) {
  Dentry d;
  EXPECT_DEATH(Lookup(d, Variant::kNeverValidated), "S1: a seqcount read region copied fields");
}

TEST(SeqLockMisuseTest, S2ACopyUsedAfterTheRegionThatValidatedItAborts) {
  Dentry d;
  EXPECT_DEATH(Lookup(d, Variant::kUsedAfterItsRegion), "S2: a seqcount copy used without");
}

TEST(SeqLockMisuseTest, S2ACopyUsedAfterAFailedValidationAborts) {
  Dentry d;
  EXPECT_DEATH(Lookup(d, Variant::kUsedAfterFailure), "S2: a seqcount copy used without");
}

// S3's compile-time half is tests/compile_fail (clang); this is the run-time half, with the
// analysis off as it is under g++.
void WriteWithoutTheMutex(SeqCount& count, UpdateMutex& mu,
                          SeqField<int>& field) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  SeqWriteGuard write(count, mu);
  write.Store(field, 1);
}

TEST(SeqLockMisuseTest, S3AWriteWithoutTheWritersMutexAborts) {
  UpdateMutex mu, other;
  SeqCount count(mu);
  SeqField<int> field;
  {
    UpdateLock lock(mu);
    WriteWithoutTheMutex(count, mu, field);  // correct: held, and the count's own
  }
  EXPECT_DEATH(WriteWithoutTheMutex(count, mu, field), "S3: a seqcount write without holding");
  UpdateLock lock(other);
  EXPECT_DEATH(WriteWithoutTheMutex(count, other, field), "S3: a seqcount write without holding");
}

// Nested and cross-object misuse. A write nested in a write of the same count is allowed and is
// one write for readers (seqlock_test.cc); the rest dies naming its rule. (Seen before: a read
// inside the thread's own write hung forever; a field of another lock and a copy taken by
// another reader were accepted silently.)
TEST(SeqLockMisuseTest, S5AReadInsideTheThreadsOwnWriteAborts) {
  Dentry d;
  EXPECT_EQ(SeqRead(d.seq, d.inode), 7u);  // correct: outside the write
  EXPECT_DEATH(
      {
        SeqLock::WriteGuard write(d.seq);
        SeqRead(d.seq, d.inode);  // BUG (S5): waits for its own write
      },
      "S5: a seqcount read region begun inside the thread's own write");
}

TEST(SeqLockMisuseTest, S4AFieldOfAnotherLockAborts) {
  Dentry d, other;
  EXPECT_EQ(SeqRead(d.seq, d.inode), 7u);  // correct: the field's own lock
  EXPECT_DEATH(SeqRead(other.seq, d.inode), "S4: a SeqField read or written under another");
  EXPECT_DEATH(
      {
        SeqLock::WriteGuard write(other.seq);
        write.Store(d.inode, uint64_t{9});  // BUG (S4): another lock's writers
      },
      "S4: a SeqField read or written under another");
}

TEST(SeqLockMisuseTest, S2ACopyUsedThroughAnotherReaderAborts) {
  Dentry d;
  SeqReader mine(d.seq);
  SeqCopy<uint64_t> copy = mine.Copy(d.inode);
  ASSERT_TRUE(mine.Validate());
  EXPECT_EQ(mine.Use(copy), 7u);  // correct: the reader that copied it
  EXPECT_DEATH(
      {
        SeqReader theirs(d.seq);
        SeqCopy<uint64_t> own = theirs.Copy(d.inode);
        if (theirs.Validate()) theirs.Use(copy);  // BUG (S2): mine's copy
        (void)own;
      },
      "S2: a seqcount copy used through another SeqReader");
}

}  // namespace
}  // namespace rcu
