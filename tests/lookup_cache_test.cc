// rcu::HashMap's lookup cache alone (containers/internal/lookup_cache.h): it fills free slots
// only, never with a removed node, never while the node's stripe is held; a scrub stops it
// handing the node out.

#include "rcu/containers/internal/lookup_cache.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>

#include "gtest/gtest.h"
#include "rcu/containers/internal/hash_table.h"
#include "rcu/update_mutex.h"

namespace rcu::internal {
namespace {

using Node = HashNode<uint64_t, uint64_t>;
using Cache = LookupCache<Node>;
const std::equal_to<uint64_t> kEq;

TEST(LookupCacheTest, OffMeansNoSlots) {
  Cache cache(0);
  EXPECT_FALSE(cache.enabled());
  Node n(1, 1, 1);
  cache.Scrub(&n);  // still marks the node removed
  EXPECT_TRUE(n.removed.load());
}

TEST(LookupCacheTest, FillsAFreeSlotAndHandsTheNodeOut) {
  Cache cache(16);
  UpdateMutex stripe;
  Node n(/*hash=*/7, /*key=*/7, 70);
  std::atomic<Node*>& slot = cache.SlotFor(n.hash);
  EXPECT_EQ(cache.Lookup(slot, n.hash, uint64_t{7}, kEq), nullptr);
  cache.MaybeFill(slot, &n, stripe);
  EXPECT_EQ(cache.Lookup(slot, n.hash, uint64_t{7}, kEq), &n);
  EXPECT_EQ(cache.Lookup(slot, n.hash, uint64_t{8}, kEq), nullptr);  // another key, same slot
}

TEST(LookupCacheTest, NeverOverwritesAWarmSlot) {
  Cache cache(2);
  UpdateMutex stripe;
  Node first(5, 5, 0), second(5, 6, 0);  // same hash, same slot
  std::atomic<Node*>& slot = cache.SlotFor(5);
  cache.MaybeFill(slot, &first, stripe);
  cache.MaybeFill(slot, &second, stripe);
  EXPECT_EQ(slot.load(), &first);
}

TEST(LookupCacheTest, AScrubbedNodeIsNeitherHandedOutNorPutBack) {
  Cache cache(16);
  UpdateMutex stripe;
  Node n(9, 9, 90);
  std::atomic<Node*>& slot = cache.SlotFor(n.hash);
  cache.MaybeFill(slot, &n, stripe);
  stripe.lock();
  cache.Scrub(&n);
  stripe.unlock();
  EXPECT_EQ(slot.load(), nullptr);
  EXPECT_EQ(cache.Lookup(slot, n.hash, uint64_t{9}, kEq), nullptr);
  cache.MaybeFill(slot, &n, stripe);  // the seed's bug: a lookup that found it before the scrub
  EXPECT_EQ(slot.load(), nullptr);
}

TEST(LookupCacheTest, AFillNeverWaitsForTheStripe) {
  Cache cache(16);
  UpdateMutex stripe;
  Node n(3, 3, 30);
  std::atomic<Node*>& slot = cache.SlotFor(n.hash);
  stripe.lock();
  cache.MaybeFill(slot, &n, stripe);  // held by this thread (a signal handler's lookup)
  std::thread([&] { cache.MaybeFill(slot, &n, stripe); }).join();  // held by another thread
  stripe.unlock();
  EXPECT_EQ(slot.load(), nullptr);
}

}  // namespace
}  // namespace rcu::internal
