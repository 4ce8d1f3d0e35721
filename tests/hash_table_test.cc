// rcu::HashMap's table alone (containers/internal/hash_table.h): the control-byte tests, inline
// and pointer slots, slot reuse a grace period after a removal (never sooner), and resizes that
// leave readers of the old array reading it whole.

#include "rcu/containers/internal/hash_table.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "rcu/domain.h"

namespace rcu::container_internal {
namespace {

struct MixHash {
  size_t operator()(uint64_t key) const { return key * 0x9E3779B97F4A7C15ull; }
};
// Every key in one probe sequence, with one tag: the worst a user hash can do.
struct SameHash {
  size_t operator()(uint64_t) const { return 42; }
};

using Inline = HashTable<uint64_t, uint64_t, MixHash, std::equal_to<uint64_t>>;
using Pointers = HashTable<uint64_t, std::string, MixHash, std::equal_to<uint64_t>>;
static_assert(Inline::kInline);
static_assert(!Pointers::kInline);

TEST(HashTableControlTest, WordTests) {
  using C = Control;
  uint64_t word = C::kFresh;
  EXPECT_EQ(C::MatchEmpty(word), 0x0080808080808080u);  // byte 7 is busy forever
  EXPECT_EQ(C::MatchFree(word), 0x0080808080808080u);
  EXPECT_EQ(C::MatchFull(word), 0u);
  word ^= C::Flip(0, C::kEmpty, 0x35) | C::Flip(1, C::kEmpty, C::kRetiring) |
          C::Flip(2, C::kEmpty, C::kDeleted) | C::Flip(3, C::kEmpty, C::kBusy) |
          C::Flip(4, C::kEmpty, 0x00);
  EXPECT_EQ(C::Byte(word, 0), 0x35);
  EXPECT_EQ(C::MatchTag(word, 0x35) & 0xFF, 0x80u);
  EXPECT_EQ(C::MatchTag(word, 0x00) & 0xFF00000000u, 0x8000000000u);
  EXPECT_EQ(C::MatchFull(word), 0x0000008000000080u);
  EXPECT_EQ(C::MatchEmpty(word), 0x0080800000000000u);
  EXPECT_EQ(C::MatchFree(word), 0x0080800000800000u);  // empty and deleted, not retiring or busy
}

template <typename Table, typename V>
typename Table::Result Link(Table& table, uint64_t key, V value, bool assign,
                            RetireBatch<>& retired) {
  if constexpr (Table::kInline) {
    typename Table::Owned fresh{key, value};
    return table.Link(MixHash()(key), fresh, assign, retired);
  } else {
    typename Table::Owned fresh(new typename Table::Entry{key, value});
    return table.Link(MixHash()(key), fresh, assign, retired);
  }
}

TEST(HashTableTest, LinkFindReplaceUnlinkInline) {
  Domain domain;
  Inline table(domain, /*initial_slots=*/16, {}, {});
  RetireBatch<> retired(domain, internal::SourceLocation::current());
  EXPECT_TRUE(Link(table, 1, uint64_t{10}, /*assign=*/false, retired).inserted);
  const auto again = Link(table, 1, uint64_t{11}, /*assign=*/false, retired);
  EXPECT_TRUE(again.present);
  EXPECT_FALSE(again.inserted);
  ReadGuard guard(domain);
  const Inline::Entry* first = table.Find(MixHash()(1), uint64_t{1});
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->value, 10u);
  const auto replaced = Link(table, 1, uint64_t{12}, /*assign=*/true, retired);
  EXPECT_TRUE(replaced.present);
  EXPECT_TRUE(retired.empty());  // inline slots are the table's to reuse
  EXPECT_EQ(first->value, 10u);  // the old slot stays as it was for this reader
  EXPECT_EQ(table.Find(MixHash()(1), uint64_t{1})->value, 12u);
  EXPECT_TRUE(table.Unlink(MixHash()(1), uint64_t{1}, retired).present);
  EXPECT_FALSE(table.Unlink(MixHash()(1), uint64_t{1}, retired).present);
  EXPECT_TRUE(retired.empty());
  EXPECT_EQ(table.Find(MixHash()(1), uint64_t{1}), nullptr);
  EXPECT_EQ(table.size(), 0u);
}

TEST(HashTableTest, PointerSlotsRetireWhatTheyUnlink) {
  Domain domain;
  Pointers table(domain, 16, {}, {});
  {
    RetireBatch<> retired(domain, internal::SourceLocation::current());
    EXPECT_TRUE(Link(table, 1, std::string("ten"), false, retired).inserted);
    EXPECT_TRUE(retired.empty());
    ReadGuard guard(domain);
    const Pointers::Entry* ten = table.Find(MixHash()(1), uint64_t{1});
    ASSERT_NE(ten, nullptr);
    Link(table, 1, std::string("twelve"), true, retired);
    EXPECT_EQ(retired.size(), 1u);  // "ten", retired when the batch is submitted
    EXPECT_EQ(ten->value, "ten");   // still whole for this reader
    EXPECT_EQ(table.Find(MixHash()(1), uint64_t{1})->value, "twelve");
    EXPECT_TRUE(table.Unlink(MixHash()(1), uint64_t{1}, retired).present);
    EXPECT_EQ(retired.size(), 2u);
  }
  domain.Barrier();
  EXPECT_EQ(domain.Stats().pending_bytes, 0u);  // both entries freed
}

// A slot removed while a reader may hold its entry is not reused before a grace period: with
// every key in one probe, the replacement goes to a new slot each time until one completes.
TEST(HashTableTest, RemovedSlotsWaitForAGracePeriod) {
  Domain domain;
  HashTable<uint64_t, uint64_t, SameHash, std::equal_to<uint64_t>> table(domain, 16, {}, {});
  using Entry = decltype(table)::Entry;
  const auto link = [&](uint64_t v) {
    decltype(table)::Owned fresh{1, v};
    RetireBatch<> retired(domain, internal::SourceLocation::current());
    return table.Link(42, fresh, true, retired);
  };
  link(0);
  const Entry* held;
  {
    ReadGuard guard(domain);
    held = table.Find(42, uint64_t{1});
    for (uint64_t v = 1; v < 6; ++v) link(v);  // under a reader: five retired slots
    EXPECT_EQ(held->value, 0u);
    EXPECT_EQ(table.Find(42, uint64_t{1})->value, 5u);
  }
  domain.Synchronize();
  link(6);  // recycles the batch that waited for the grace period
  domain.Synchronize();
  for (uint64_t v = 7; v < 200; ++v) {
    link(v);
    if (v % 4 == 0) domain.Synchronize();
  }
  ReadGuard guard(domain);
  EXPECT_EQ(table.Find(42, uint64_t{1})->value, 199u);
  EXPECT_EQ(table.size(), 1u);
}

// A key replaced again and again (a hot key) keeps to the start of its probe: a replacement takes
// the earliest free slot, so the slots its earlier values left are used again and the array does
// not run out of empty slots. (Rebuilds are what the table hashes keys for: counted here.)
struct CountingHash {
  static inline std::atomic<int> calls{0};
  size_t operator()(uint64_t) const {
    calls.fetch_add(1, std::memory_order_relaxed);
    return 42;
  }
};

TEST(HashTableTest, AHotKeyStaysNearItsHome) {
  Domain domain;
  HashTable<uint64_t, uint64_t, CountingHash, std::equal_to<uint64_t>> table(domain, 64, {}, {});
  const auto link = [&](uint64_t key, uint64_t v) {
    decltype(table)::Owned fresh{key, v};
    RetireBatch<> retired(domain, internal::SourceLocation::current());
    return table.Link(42, fresh, true, retired);
  };
  for (uint64_t k = 1; k <= 20; ++k) link(k, 0);
  CountingHash::calls = 0;
  uint64_t v = 0;
  for (int round = 0; round < 30; ++round) {
    {
      ReadGuard reader(domain);  // no slot is recycled meanwhile: the key moves down its probe
      for (int i = 0; i < 10; ++i) link(1, ++v);
    }
    for (int i = 0; i < 3; ++i) {  // recycles every slot retired so far
      domain.Synchronize();
      link(1, ++v);
    }
  }
  EXPECT_EQ(CountingHash::calls.load(), 0)
      << "the array was rebuilt: the key walked down its probe";
  ReadGuard guard(domain);
  EXPECT_EQ(table.Find(42, uint64_t{1})->value, v);
  EXPECT_EQ(table.size(), 20u);
}

// A replacement that finds a free slot before the current entry takes it, and the current entry
// stays full for a grace period (a shadow) for lookups that passed the new slot too early. Every
// key in one probe, so positions are known: X, A, Y, then Z after X's slot was recycled.
class ShadowTest : public testing::Test {
 protected:
  using Table = HashTable<uint64_t, uint64_t, CountingHash, std::equal_to<uint64_t>>;
  static constexpr uint64_t kX = 1, kA = 2, kY = 3, kZ = 4;

  void SetUp() override {
    for (uint64_t k : {kX, kA, kY}) Set(k, 0);
    Unlink(kX);  // X's slot, before A's, turns retiring
    domain_.Synchronize();
    Set(kZ, 0);  // closes the batch with X's slot
    domain_.Synchronize();
  }
  bool Set(uint64_t key, uint64_t value) {
    Table::Owned fresh{key, value};
    RetireBatch<> retired(domain_, internal::SourceLocation::current());
    return table_.Link(42, fresh, /*assign=*/true, retired).inserted;
  }
  bool Unlink(uint64_t key) {
    RetireBatch<> retired(domain_, internal::SourceLocation::current());
    return table_.Unlink(42, key, retired).present;
  }
  const Table::Entry* Find(uint64_t key) { return table_.Find(42, key); }
  // Key -> value as ForEach visits them; a key visited twice fails.
  std::map<uint64_t, uint64_t> Contents() {
    std::map<uint64_t, uint64_t> seen;
    table_.ForEach([&](const Table::Entry& e) {
      EXPECT_TRUE(seen.emplace(e.key, e.value).second) << "key " << e.key << " visited twice";
    });
    return seen;
  }

  Domain domain_;
  Table table_{domain_, 16, {}, {}};
};

TEST_F(ShadowTest, TheOldEntryStaysForItsReadersAndNoOneElse) {
  ReadGuard reader(domain_);
  const Table::Entry* held = Find(kA);
  EXPECT_FALSE(Set(kA, 10));  // into X's recycled slot, before A's: A's old slot is a shadow
  EXPECT_EQ(Find(kA)->value, 10u);
  EXPECT_EQ(held->value, 0u);
  EXPECT_EQ(Contents(), (std::map<uint64_t, uint64_t>{{kA, 10}, {kY, 0}, {kZ, 0}}));
  EXPECT_FALSE(Set(kA, 11));  // nothing free before: after the shadow, which turns retiring
  EXPECT_EQ(Find(kA)->value, 11u);
  EXPECT_EQ(Contents(), (std::map<uint64_t, uint64_t>{{kA, 11}, {kY, 0}, {kZ, 0}}));
  EXPECT_EQ(held->value, 0u);
  EXPECT_EQ(table_.size(), 3u);
}

TEST_F(ShadowTest, EraseTakesTheShadowToo) {
  {
    ReadGuard reader(domain_);
    Set(kA, 10);
    EXPECT_TRUE(Unlink(kA));
    EXPECT_EQ(Find(kA), nullptr) << "the shadow came back";
    EXPECT_EQ(Contents(), (std::map<uint64_t, uint64_t>{{kY, 0}, {kZ, 0}}));
    EXPECT_TRUE(Set(kA, 20));
    EXPECT_EQ(Find(kA)->value, 20u);
  }
  domain_.Synchronize();
  EXPECT_TRUE(Unlink(kA));
  EXPECT_FALSE(Unlink(kA));
  EXPECT_EQ(table_.size(), 2u);
}

TEST_F(ShadowTest, AResizeLeavesTheShadowBehind) {
  {
    ReadGuard reader(domain_);
    Set(kA, 10);
  }
  EXPECT_TRUE(table_.Resize(/*force=*/true));
  CountingHash::calls = 0;
  EXPECT_TRUE(table_.Resize(/*force=*/true));  // hashes what the first one copied
  EXPECT_EQ(CountingHash::calls.load(), 3) << "the first resize copied the shadow as an entry";
  EXPECT_TRUE(Unlink(kA));
  ReadGuard reader(domain_);
  EXPECT_EQ(Find(kA), nullptr);
  EXPECT_EQ(Contents(), (std::map<uint64_t, uint64_t>{{kY, 0}, {kZ, 0}}));
}

// A resize copies entries into a new array; a reader that holds an entry of the old array reads
// it whole until its section ends, and finds every key in the new one.
TEST(HashTableTest, ResizesLeaveTheOldArrayToItsReaders) {
  Domain domain;
  Inline table(domain, 16, {}, {});
  const size_t initial = table.slot_count();
  RetireBatch<> retired(domain, internal::SourceLocation::current());
  Link(table, 0, uint64_t{100}, false, retired);
  ReadGuard guard(domain);
  const Inline::Entry* held = table.Find(MixHash()(0), uint64_t{0});
  for (uint64_t k = 1; k < 5000; ++k) {
    ASSERT_TRUE(Link(table, k, k + 100, false, retired).inserted);
    retired.Submit();  // the arrays resizes replaced: freed only after this reader's section
  }
  EXPECT_GT(table.slot_count(), initial);
  EXPECT_GE(table.slot_count(), 5000u);
  EXPECT_EQ(held->key, 0u);
  EXPECT_EQ(held->value, 100u);
  for (uint64_t k = 0; k < 5000; ++k) {
    const Inline::Entry* e = table.Find(MixHash()(k), k);
    ASSERT_NE(e, nullptr) << k;
    EXPECT_EQ(e->value, k + 100);
  }
}

}  // namespace
}  // namespace rcu::container_internal
