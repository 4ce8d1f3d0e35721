// rcu::HashMap's table alone (containers/internal/hash_table.h): updates call on_unlink under the
// key's stripe and hand back what they unlinked; a resize relinks nodes without moving them, and
// a lookup that holds a node across resizes still reads it whole.

#include "rcu/containers/internal/hash_table.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/domain.h"

namespace rcu::internal {
namespace {

using Table = HashTable<uint64_t, uint64_t, std::equal_to<uint64_t>>;
using Node = Table::Node;

size_t HashOf(uint64_t key) { return key * 0x9E3779B97F4A7C15ull; }

bool Link(Table& table, uint64_t key, uint64_t value, bool assign, Node** replaced = nullptr) {
  auto fresh = std::make_unique<Node>(HashOf(key), key, uint64_t{value});
  bool inserted;
  Node* old = table.Link(fresh, assign, inserted, [&](Node* n) {
    EXPECT_TRUE(table.StripeFor(n->hash).HeldByCurrentThread());
  });
  if (replaced != nullptr) *replaced = old;
  return inserted;
}

TEST(HashTableTest, LinkFindReplaceUnlink) {
  Domain domain;
  Table table(domain, /*initial_buckets=*/16, {});
  EXPECT_EQ(table.bucket_count(), Table::kStripes);  // at least one bucket per stripe
  EXPECT_TRUE(Link(table, 1, 10, /*assign=*/false));
  EXPECT_FALSE(Link(table, 1, 11, /*assign=*/false));  // present: unchanged
  {
    ReadGuard guard(domain);
    ASSERT_NE(table.Find(HashOf(1), 1), nullptr);
    EXPECT_EQ(table.Find(HashOf(1), 1)->value, 10u);
  }
  Node* replaced = nullptr;
  EXPECT_FALSE(Link(table, 1, 12, /*assign=*/true, &replaced));
  ASSERT_NE(replaced, nullptr);
  EXPECT_EQ(replaced->value, 10u);
  domain.Retire(replaced);
  int unlinked = 0;
  Node* erased = table.Unlink(HashOf(1), 1, [&](Node*) { ++unlinked; });
  ASSERT_NE(erased, nullptr);
  EXPECT_EQ(erased->value, 12u);
  EXPECT_EQ(unlinked, 1);
  EXPECT_EQ(table.Unlink(HashOf(1), 1, [&](Node*) { ++unlinked; }), nullptr);
  EXPECT_EQ(unlinked, 1);
  EXPECT_EQ(table.size(), 0u);
  domain.Retire(erased);
  domain.Barrier();
}

TEST(HashTableTest, ResizesRelinkNodesWithoutMovingThem) {
  Domain domain;
  Table table(domain, 16, {});
  std::vector<const Node*> where;
  constexpr uint64_t kKeys = 1000;
  for (uint64_t k = 0; k < kKeys; ++k) {
    Link(table, k, k, false);
    table.MaybeResize();
    domain.Synchronize();  // lets every resize happen (one per grace period)
    table.MaybeResize();
  }
  EXPECT_GE(table.bucket_count(), kKeys);
  {
    ReadGuard guard(domain);
    for (uint64_t k = 0; k < kKeys; ++k) where.push_back(table.Find(HashOf(k), k));
  }
  for (uint64_t k = 0; k < kKeys; k += 2) {
    domain.Retire(table.Unlink(HashOf(k), k, [](Node*) {}));
  }
  // Shrinking, the odd keys stay where they were.
  for (int i = 0; i < 4; ++i) {
    for (uint64_t k = kKeys; k < kKeys + 600; ++k) {
      Link(table, k, k, false);
      domain.Retire(table.Unlink(HashOf(k), k, [](Node*) {}));
    }
    domain.Synchronize();
    table.MaybeResize();
  }
  ReadGuard guard(domain);
  for (uint64_t k = 1; k < kKeys; k += 2) {
    EXPECT_EQ(table.Find(HashOf(k), k), where[k]);
    EXPECT_EQ(where[k]->value, k);
  }
  EXPECT_EQ(table.size(), kKeys / 2);
}

TEST(HashTableTest, AResizeWithinAGracePeriodOfThePreviousOneWaitsForALaterUpdate) {
  Domain domain;
  Table table(domain, 16, {});
  for (uint64_t k = 0; k < 64; ++k) Link(table, k, k, false);
  {
    ReadGuard guard(domain);  // no grace period can end: the second resize must not happen
    table.MaybeResize();
    const size_t after_first = table.bucket_count();
    EXPECT_EQ(after_first, 64u);
    for (uint64_t k = 64; k < 256; ++k) Link(table, k, k, false);
    table.MaybeResize();
    EXPECT_EQ(table.bucket_count(), after_first);
  }
  domain.Synchronize();
  table.MaybeResize();
  EXPECT_EQ(table.bucket_count(), 256u);
}

}  // namespace
}  // namespace rcu::internal
