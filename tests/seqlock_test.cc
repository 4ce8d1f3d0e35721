// rcu/seqlock.h: readers get consistent copies or retry; writers update in place; the rcu-walk
// pattern (RCU keeps an entry alive, a seqcount validates fields updated in place).

#include "rcu/seqlock.h"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/containers/hash_map.h"
#include "rcu/domain.h"

namespace rcu {
namespace {

// A value that is torn if its halves disagree; larger than one atomic word.
struct Pair {
  uint64_t a = 0;
  uint64_t b = ~uint64_t{0};
  bool Whole() const { return b == ~a; }
};

TEST(SeqLockTest, SeqReadReturnsWhatWasWritten) {
  SeqLock lock;
  SeqField<Pair> field;
  EXPECT_EQ(SeqRead(lock, field).a, 0u);
  {
    SeqLock::WriteGuard write(lock);
    EXPECT_EQ(write.Load(field).a, 0u);  // a writer reads the current value (read-modify-write)
    write.Store(field, Pair{7, ~uint64_t{7}});
    EXPECT_EQ(write.Load(field).a, 7u);
  }
  EXPECT_EQ(SeqRead(lock, field).a, 7u);
}

TEST(SeqLockTest, AWriteThatOverlapsARegionFailsItsValidation) {
  UpdateMutex mu;
  SeqCount count(mu);
  SeqField<int> x(1), y(2);
  SeqReader reader(count);
  SeqCopy<int> cx = reader.Copy(x);
  {
    UpdateLock lock(mu);
    SeqWriteGuard write(count, mu);
    write.Store(x, 10);
    write.Store(y, 20);
  }
  SeqCopy<int> cy = reader.Copy(y);  // x old, y new: not a state that ever existed
  EXPECT_FALSE(reader.Validate());
  cx = reader.Copy(x);
  cy = reader.Copy(y);
  ASSERT_TRUE(reader.Validate());
  EXPECT_EQ(reader.Use(cx), 10);
  EXPECT_EQ(reader.Use(cy), 20);
}

// A helper that writes, called from inside a write of the same count: one write for readers, so
// a reader that starts while the inner write runs waits for the outer one to end and sees both
// fields. (Seen failing before: the inner guard made the count even until its own end, in the
// middle of the outer write, and the reader validated a=1 b=0.)
TEST(SeqLockTest, NestedWritesOnOneCountAreOneWrite) {
  UpdateMutex mu;
  SeqCount count(mu);
  SeqField<int> a(0), b(0);
  std::atomic<bool> started{false};
  int seen_a = -1, seen_b = -1;
  std::thread reader;
  {
    UpdateLock lock(mu);
    SeqWriteGuard outer(count, mu);
    outer.Store(a, 1);
    SeqWriteGuard inner(count, mu);
    reader = std::thread([&] {
      started = true;
      SeqReader r(count);
      SeqCopy<int> ca, cb;
      do {
        ca = r.Copy(a);
        cb = r.Copy(b);
      } while (!r.Validate());
      seen_a = r.Use(ca);
      seen_b = r.Use(cb);
    });
    while (!started) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the reader copies, or waits
    inner.Store(b, 1);
  }
  reader.join();
  EXPECT_EQ(seen_a, 1);
  EXPECT_EQ(seen_b, 1) << "a reader validated a record torn by a nested write";
}

TEST(SeqLockTest, CopiesAfterAValidateFormANewRegion) {
  SeqLock lock;
  SeqField<int> x(1), y(2);
  SeqReader reader(lock);
  SeqCopy<int> cx = reader.Copy(x);
  ASSERT_TRUE(reader.Validate());
  SeqCopy<int> cy = reader.Copy(y);  // the seed's "copy some more bits, check again"
  ASSERT_TRUE(reader.Validate());
  EXPECT_EQ(reader.Use(cx) + reader.Use(cy), 3);
}

TEST(SeqLockTest, AReaderMayGiveUpWithoutValidating) {
  SeqLock lock;
  SeqField<int> x(1);
  SeqReader reader(lock);
  SeqCopy<int> cx = reader.Copy(x);
  reader.Abandon();  // an error path that returns from the middle of the loop
  (void)cx;
}

// Readers never accept a torn value while a writer updates in place as fast as it can; the test
// also shows the writer did overlap readers (some validations failed), so it can fail.
TEST(SeqLockTest, ConcurrentReadersNeverAcceptATornValue) {
  SeqLock lock;
  SeqField<Pair> field;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> torn{0}, retries{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        SeqReader reader(lock);
        SeqCopy<Pair> copy;
        for (copy = reader.Copy(field); !reader.Validate(); copy = reader.Copy(field)) {
          retries.fetch_add(1, std::memory_order_relaxed);
        }
        if (!reader.Use(copy).Whole()) torn.fetch_add(1);
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (uint64_t i = 1; i < 200000 || (retries.load() == 0 && i < 20000000); ++i) {
    SeqLock::WriteGuard write(lock);
    write.Store(field, Pair{i, ~i});
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_GT(reads.load(), 0u);
  EXPECT_GT(retries.load(), 0u) << "no read overlapped a write: the test proved nothing";
}

// rcu-walk: RCU guarantees the entry exists; its counters change in place under the entry's
// seqlock, without replacing the entry (and without a grace period per change).
struct Entry {
  explicit Entry(uint64_t id) : id(id) {}
  Entry(Entry&& other) noexcept : id(other.id) {}
  uint64_t id;
  mutable SeqLock lock;
  mutable SeqField<Pair> hits;  // {count, ~count}
};

TEST(SeqLockTest, RcuKeepsTheEntryAndTheSeqcountValidatesItsFields) {
  Domain domain;
  HashMap<uint64_t, Entry> map(domain);
  for (uint64_t k = 0; k < 16; ++k) map.Insert(k, Entry(k));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> torn{0};
  std::thread reader([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      for (uint64_t k = 0; k < 16; ++k) {
        ReadGuard guard(domain);
        const Entry* e = map.Find(guard, k);
        if (e != nullptr && !SeqRead(e->lock, e->hits).Whole()) torn.fetch_add(1);
      }
    }
  });
  for (uint64_t round = 1; round < 20000; ++round) {
    ReadGuard guard(domain);
    const Entry* e = map.Find(guard, round % 16);
    SeqLock::WriteGuard write(e->lock);
    write.Store(e->hits, Pair{round, ~round});
  }
  stop.store(true);
  reader.join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_EQ(map.size(), 16u);
  EXPECT_EQ(domain.Stats().callbacks_queued, 0u) << "in-place updates retire nothing";
}

}  // namespace
}  // namespace rcu
