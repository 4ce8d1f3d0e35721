// rcu/refcount.h: references that outlive a read-side section. A handle taken inside a section
// keeps its object after the section ends and after the object is unpublished; a dying object
// hands out no new reference; the last reference retires the object, which is freed once.

#include "rcu/refcount.h"

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/containers/hash_map.h"
#include "rcu/domain.h"
#include "rcu/published.h"

namespace rcu {
namespace {

constexpr uint64_t kAlive = 0xA11FE;

struct Session : RefCounted<Session> {
  Session(Domain& domain, uint64_t id, std::atomic<int>& freed)
      : RefCounted(domain), id(id), freed(freed) {}
  ~Session() {
    canary = 0;
    freed.fetch_add(1);
  }
  uint64_t id;
  std::atomic<int>& freed;
  uint64_t canary = kAlive;
};

TEST(RefCountTest, TheLastReferenceRetiresTheObject) {
  Domain domain;
  std::atomic<int> freed{0};
  Ref<Session> a = MakeRef<Session>(domain, 1, freed);
  EXPECT_EQ(a->use_count(), 1u);
  Ref<Session> b = a;
  EXPECT_EQ(a->use_count(), 2u);
  a.Reset();
  domain.Barrier();
  EXPECT_EQ(freed.load(), 0);
  EXPECT_EQ(b->id, 1u);
  b.Reset();
  domain.Barrier();
  EXPECT_EQ(freed.load(), 1);
}

TEST(RefCountTest, ADyingObjectGivesNoNewReference) {
  Domain domain;
  std::atomic<int> freed{0};
  Published<Session> current(domain, nullptr);
  Ref<Session> owner = MakeRef<Session>(domain, 2, freed);
  current.Assign(owner.get());
  ReadGuard guard(domain);
  const Session* found = current.Read(guard);
  ASSERT_NE(found, nullptr);
  current.Assign(nullptr);  // unpublished...
  owner.Reset();            // ...and its last reference dropped: retired, not freed
  EXPECT_FALSE(Ref<Session>::TryFrom(guard, found));  // the section keeps the memory valid
  EXPECT_EQ(found->canary, kAlive);
}

TEST(RefCountTest, AHandleFromTheMapOutlivesTheSectionAndTheErase) {
  Domain domain;
  std::atomic<int> freed{0};
  HashMap<uint64_t, Ref<Session>> sessions(domain);
  sessions.Insert(7, MakeRef<Session>(domain, 7, freed));
  Ref<Session> kept;
  {
    ReadGuard guard(domain);
    kept = sessions.FindRef(guard, 7);
    EXPECT_FALSE(sessions.FindRef(guard, 8));
  }
  ASSERT_TRUE(kept);
  sessions.Erase(7);
  domain.Barrier();
  domain.Barrier();  // the node's grace period, then the object's
  EXPECT_EQ(freed.load(), 0);
  EXPECT_EQ(kept->canary, kAlive);
  kept.Reset();
  domain.Barrier();
  EXPECT_EQ(freed.load(), 1);
}

// Readers take handles, leave their sections and use the objects while an updater replaces and
// erases them: every object a reader holds is alive, and every object is freed exactly once.
TEST(RefCountTest, HandlesStayValidWhileUpdatersReplaceAndErase) {
  std::atomic<int> freed{0};
  int created = 0;
  {
    Domain domain;
    HashMap<uint64_t, Ref<Session>> sessions(domain);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> dead{0}, held{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 2; ++t) {
      readers.emplace_back([&, t] {
        for (uint64_t i = t; !stop.load(std::memory_order_relaxed); ++i) {
          Ref<Session> s;
          {
            ReadGuard guard(domain);
            s = sessions.FindRef(guard, i % 8);
          }
          if (!s) continue;
          std::this_thread::yield();  // hold it past the section while updates go on
          if (s->canary != kAlive || s->id != i % 8) dead.fetch_add(1);
          held.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    // At least 20,000 rounds, and on until the readers held some handles: an optimized build
    // can finish 20,000 rounds before a reader thread starts.
    for (int round = 0; round < 20000 || (held.load() < 100 && round < 50'000'000); ++round) {
      const uint64_t key = round % 8;
      if (round % 3 == 0) {
        sessions.Erase(key);
      } else {
        sessions.InsertOrAssign(key, MakeRef<Session>(domain, key, freed));
        ++created;
      }
    }
    stop.store(true);
    for (auto& r : readers) r.join();
    EXPECT_EQ(dead.load(), 0u);
    EXPECT_GT(held.load(), 0u);
  }
  EXPECT_EQ(freed.load(), created);
}

}  // namespace
}  // namespace rcu
