// The thread registry alone (rcu/internal/thread_registry.h): registration on first use,
// departure at thread exit (the state leaves the list, its queue is kept on the departed line),
// identity (a registry at a reused id or address is a new registry).

#include "rcu/internal/thread_registry.h"

#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/internal/retire_block.h"
#include "rcu/internal/thread_state.h"

namespace rcu::internal {
namespace {

int Listed(ThreadRegistry& registry) {
  int n = 0;
  registry.ForEachLocked([&](ThreadState&) { ++n; });
  return n;
}

TEST(ThreadRegistryTest, AThreadRegistersOnFirstUseOnly) {
  ThreadRegistry registry(/*fallback_fence=*/false);
  EXPECT_EQ(registry.FindMine(), nullptr);
  EXPECT_EQ(Listed(registry), 0);
  ThreadState* mine = registry.Mine();
  ASSERT_NE(mine, nullptr);
  EXPECT_EQ(registry.Mine(), mine);
  EXPECT_EQ(registry.FindMine(), mine);
  EXPECT_EQ(Listed(registry), 1);
  EXPECT_FALSE(registry.OthersRegistered());
  EXPECT_EQ(mine->reader.exit.load(), 0u);
}

TEST(ThreadRegistryTest, FallbackRegistriesMarkEveryStateToFence) {
  ThreadRegistry registry(/*fallback_fence=*/true);
  EXPECT_EQ(registry.Mine()->reader.exit.load(), kFallbackFence);
}

TEST(ThreadRegistryTest, EachRegistryGivesAThreadItsOwnState) {
  ThreadRegistry a(false), b(false);
  ThreadState* in_a = a.Mine();
  ThreadState* in_b = b.Mine();
  EXPECT_NE(in_a, in_b);
  // Alternating between registries goes through the caches, never to another's state.
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(a.Mine(), in_a);
    EXPECT_EQ(b.Mine(), in_b);
  }
}

TEST(ThreadRegistryTest, ADepartedThreadLeavesTheListAndItsQueueStays) {
  ThreadRegistry registry(false);
  registry.Mine();
  RetireBlock first, second;
  std::thread([&] {
    ThreadState* s = registry.Mine();
    EXPECT_TRUE(registry.OthersRegistered());
    s->queue.Splice(&first, &first);
    s->queue.Splice(&second, &second);
    s->queue.queued.store(3);
    s->queue.queued_bytes.store(24);
  }).join();
  EXPECT_EQ(Listed(registry), 1);
  EXPECT_FALSE(registry.OthersRegistered());
  // The departed line comes first, with the chain in order and the counts.
  std::vector<QueueLine*> lines;
  registry.ForEachQueueLocked([&](QueueLine& line) { lines.push_back(&line); });
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]->head.load(), &first);
  EXPECT_EQ(first.next, &second);
  EXPECT_EQ(lines[0]->queued.load(), 3u);
  EXPECT_EQ(lines[0]->queued_bytes.load(), 24u);
  lines[0]->head.store(nullptr);  // the blocks live on this stack
  registry.Reclaim();             // frees the departed state (ASan checks nothing leaks)
}

TEST(ThreadRegistryTest, AThreadThatExitsInsideASectionHasItEnded) {
  ThreadRegistry registry(false);
  std::thread([&] { registry.Mine()->reader.ctr.store(3); }).join();
  int open = 0;
  registry.ForEachForScan([&](ThreadState& s) { open += s.reader.ctr.load() != 0; });
  EXPECT_EQ(open, 0);
}

TEST(ThreadRegistryTest, ARegistryAtAReusedIdAndAddressIsANewRegistry) {
  alignas(ThreadRegistry) unsigned char storage[sizeof(ThreadRegistry)];
  auto* first = new (storage) ThreadRegistry(false);
  const uint32_t id = first->id();
  first->Mine();
  first->~ThreadRegistry();
  auto* second = new (storage) ThreadRegistry(false);
  EXPECT_EQ(second->id(), id);             // ids are dense and recycled
  EXPECT_EQ(second->FindMine(), nullptr);  // but the thread's old state is not this one's
  EXPECT_NE(second->Mine(), nullptr);
  EXPECT_EQ(Listed(*second), 1);
  second->~ThreadRegistry();
}

TEST(ThreadRegistryTest, ManyThreadsComeAndGoAndOnlyTheLiveOnesStayListed) {
  ThreadRegistry registry(false);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) threads.emplace_back([&] { registry.Mine(); });
    for (auto& t : threads) t.join();
    registry.Reclaim();
  }
  EXPECT_EQ(Listed(registry), 0);
}

}  // namespace
}  // namespace rcu::internal
