#include "rcu/containers/list.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/domain.h"
#include "tests/testing/container_lifecycle.h"
#include "tests/testing/values.h"

namespace rcu {
namespace {

template <typename L>
std::vector<int> Snapshot(const L& list, Domain& domain) {
  ReadGuard guard(domain);
  std::vector<int> out;
  for (const auto& x : list.Iterate(guard)) out.push_back(x);
  return out;
}

TEST(ListTest, PushEraseReplaceKeepOrder) {
  Domain domain;
  List<int> list(domain);
  EXPECT_TRUE(list.empty());
  list.PushBack(2);
  list.PushBack(3);
  list.PushFront(1);
  EXPECT_EQ(Snapshot(list, domain), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(list.EraseIf([](int x) { return x == 2; }), 1u);
  EXPECT_EQ(Snapshot(list, domain), (std::vector<int>{1, 3}));
  EXPECT_EQ(list.ReplaceIf([](int x) { return x == 3; }, [](int x) { return x * 10; }), 1u);
  EXPECT_EQ(Snapshot(list, domain), (std::vector<int>{1, 30}));
  list.PushBack(4);  // the tail is right after a replace of the last element
  EXPECT_EQ(Snapshot(list, domain), (std::vector<int>{1, 30, 4}));
  EXPECT_EQ(list.EraseIf([](int) { return true; }), 3u);
  EXPECT_TRUE(list.empty());
  list.PushBack(5);  // and after erasing everything
  EXPECT_EQ(Snapshot(list, domain), (std::vector<int>{5}));
  EXPECT_EQ(list.size(), 1u);
  domain.Barrier();
}

struct Item : ListHook<> {
  explicit Item(int v) : value(v) {}
  int value;
  operator int() const { return value; }  // for Snapshot()
};

TEST(IntrusiveListTest, LinksCallerOwnedElements) {
  Domain domain;
  IntrusiveList<Item> list(domain);
  Item a(1), b(2), c(3), d(4);
  list.PushBack(a);
  list.PushBack(c);
  list.InsertAfter(a, b);
  EXPECT_EQ(Snapshot(list, domain), (std::vector<int>{1, 2, 3}));
  list.Replace(b, d);
  EXPECT_EQ(Snapshot(list, domain), (std::vector<int>{1, 4, 3}));
  list.Erase(a);
  list.Erase(c);
  EXPECT_EQ(Snapshot(list, domain), (std::vector<int>{4}));
  domain.Synchronize();  // now a, b and c may be linked again (L3)
  list.PushFront(a);
  list.PushBack(c);
  list.InsertAfter(d, b);
  EXPECT_EQ(Snapshot(list, domain), (std::vector<int>{1, 4, 2, 3}));
  list.EraseIf([](const Item&) { return true; }, [](Item&) {});
}

// L2: a reader parked on an element keeps going after the element and its neighbours are erased.
TEST(ListTest, ReaderParkedOnErasedElementMovesOn) {
  Domain domain;
  List<int> list(domain);
  for (int i = 1; i <= 5; ++i) list.PushBack(i);
  std::atomic<bool> parked{false}, resume{false};
  std::vector<int> seen;
  std::thread reader([&] {
    ReadGuard guard(domain);
    auto range = list.Iterate(guard);
    auto it = range.begin();
    ++it;  // on 2
    seen.push_back(*it);
    parked.store(true);
    while (!resume.load()) std::this_thread::yield();
    for (++it; it != range.end(); ++it) seen.push_back(*it);
  });
  while (!parked.load()) std::this_thread::yield();
  list.EraseIf([](int x) { return x == 2 || x == 3; });
  list.PushBack(6);
  resume.store(true);
  reader.join();
  // The reader went from 2 (erased) through 3 (erased) to the rest; 6 may or may not be seen.
  ASSERT_GE(seen.size(), 4u);
  EXPECT_EQ(std::vector<int>(seen.begin(), seen.begin() + 4), (std::vector<int>{2, 3, 4, 5}));
  domain.Barrier();
}

struct Tracked {
  static constexpr uint64_t kAlive = 0xA11FE;
  explicit Tracked(int k) : key(k) {}
  Tracked(const Tracked& other) : key(other.key) {}
  ~Tracked() { canary = 0; }
  int key;
  uint64_t canary = kAlive;
};

// Readers traverse while two updaters insert, erase and replace; every element a reader reaches
// is alive, and the list ends with exactly what the updaters left.
TEST(ListTest, ConcurrentTraversalUnderUpdates) {
  Domain domain;
  List<Tracked> list(domain);
  for (int i = 0; i < 10; ++i) list.PushBack(Tracked(-1 - i));  // something to traverse at once
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> dead{0}, steps{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        ReadGuard guard(domain);
        for (const Tracked& x : list.Iterate(guard)) {
          if (x.canary != Tracked::kAlive) dead.fetch_add(1);
          steps.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  while (steps.load() == 0) std::this_thread::yield();
  list.EraseIf([](const Tracked& x) { return x.key < 0; });
  std::vector<std::thread> updaters;
  for (int u = 0; u < 2; ++u) {
    updaters.emplace_back([&, u] {
      for (int i = 0; i < 3000; ++i) {
        const int key = u * 100000 + i;
        if (i % 2) {
          list.PushBack(Tracked(key));
        } else {
          list.PushFront(Tracked(key));
        }
        if (i % 3 == 0)
          list.ReplaceIf([&](const Tracked& x) { return x.key == key; },
                         [](const Tracked& x) { return Tracked(x.key); });
        if (i >= 10) list.EraseIf([&](const Tracked& x) { return x.key == key - 10; });
      }
    });
  }
  for (auto& t : updaters) t.join();
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(dead.load(), 0u);
  EXPECT_GT(steps.load(), 0u);
  EXPECT_EQ(list.size(), 20u);  // each updater leaves its last 10 keys
  ReadGuard guard(domain);
  size_t n = 0;
  for (const Tracked& x : list.Iterate(guard)) {
    EXPECT_GE(x.key % 100000, 2990);
    ++n;
  }
  EXPECT_EQ(n, 20u);
}

// Default options and tiny lists, two updaters on disjoint values: each finds exactly its own.
TEST(ListTest, TinyListsTwoUpdaters) {
  Domain domain;
  for (uint64_t n : {1, 2, 3, 16, 64}) {
    List<uint64_t> list(domain);
    std::atomic<uint64_t> wrong{0};
    std::vector<std::thread> updaters;
    for (uint64_t u = 0; u < 2; ++u) {
      updaters.emplace_back([&, u] {
        for (int round = 0; round < 50; ++round) {
          for (uint64_t i = 0; i < n; ++i) list.PushBack(2 * i + u);
          uint64_t mine = 0;
          {
            ReadGuard guard(domain);
            for (uint64_t v : list.Iterate(guard)) mine += v % 2 == u;
          }
          if (mine != n) wrong.fetch_add(1);
          if (list.EraseIf([&](uint64_t v) { return v % 2 == u; }) != n) wrong.fetch_add(1);
        }
      });
    }
    for (auto& t : updaters) t.join();
    EXPECT_EQ(wrong.load(), 0u);
    EXPECT_EQ(list.size(), 0u);
  }
}

TEST(ListTest, MoveOnlyValues) {
  testutil::Tracker tracker;
  Domain domain;
  {
    List<testutil::MoveOnly> list(domain);
    for (int64_t i = 0; i < 10; ++i) list.PushBack(std::make_unique<testutil::Counted>(tracker, i));
    list.EmplaceFront(std::make_unique<testutil::Counted>(tracker, -1));
    EXPECT_EQ(list.EraseIf([](const testutil::MoveOnly& v) { return v->value() % 2 == 0; }), 5u);
    EXPECT_EQ(list.ReplaceIf([](const testutil::MoveOnly& v) { return v->value() == 3; },
                             [&](const testutil::MoveOnly&) {
                               return std::make_unique<testutil::Counted>(tracker, 30);
                             }),
              1u);
    ReadGuard guard(domain);
    std::vector<int64_t> seen;
    for (const testutil::MoveOnly& v : list.Iterate(guard)) seen.push_back(v->value());
    EXPECT_EQ(seen, (std::vector<int64_t>{-1, 1, 30, 5, 7, 9}));
  }
  domain.Barrier();
  EXPECT_EQ(tracker.live.load(), 0);
}

// A push whose value throws changes nothing; a ReplaceIf whose `make` throws keeps what it
// replaced so far (basic guarantee, as the header says) and retires the elements it replaced.
TEST(ListTest, ThrowingValuesLeakNothing) {
  testutil::Tracker tracker;
  Domain domain;
  {
    List<testutil::Counted> list(domain);
    for (int64_t i = 0; i < 6; ++i) list.PushBack(testutil::Counted(tracker, i));
    tracker.ThrowOnCopyOrMove(1);
    EXPECT_THROW(list.PushBack(testutil::Counted(tracker, 99)), std::runtime_error);
    tracker.Disarm();
    EXPECT_EQ(list.size(), 6u);
    int made = 0;
    EXPECT_THROW(list.ReplaceIf([](const testutil::Counted&) { return true; },
                                [&](const testutil::Counted& v) {
                                  if (++made == 3) throw std::runtime_error("make fails");
                                  return testutil::Counted(tracker, v.value() + 10);
                                }),
                 std::runtime_error);
    EXPECT_THROW(list.EraseIf([](const testutil::Counted& v) -> bool {
      if (v.value() == 4) throw std::runtime_error("pred fails");
      return v.value() < 20;
    }),
                 std::runtime_error);
    ReadGuard guard(domain);
    std::vector<int64_t> seen;
    for (const testutil::Counted& v : list.Iterate(guard)) seen.push_back(v.value());
    EXPECT_EQ(seen, (std::vector<int64_t>{4, 5}));  // erased before `pred` threw: 10, 11, 2, 3
  }
  domain.Barrier();
  EXPECT_EQ(tracker.live.load(), 0);
}

void UpdateCounted(List<testutil::Counted>& list, uint64_t i, testutil::Tracker& tracker) {
  // Bursts of retirements under the list's lock: every 64th update erases about half of the
  // list, every 16th replaces about half of it.
  const int64_t parity = static_cast<int64_t>(i / 64 % 2);
  if (i % 64 == 63) {
    list.EraseIf([&](const testutil::Counted& v) { return v.value() % 2 == parity; });
  } else if (i % 16 == 15) {
    list.ReplaceIf(
        [&](const testutil::Counted& v) { return v.value() % 2 != parity; },
        [&](const testutil::Counted& v) { return testutil::Counted(tracker, v.value()); });
  } else {
    list.PushBack(testutil::Counted(tracker, static_cast<int64_t>(i)));
  }
}

std::unique_ptr<List<testutil::Counted>> MakeCountedList(Domain& domain) {
  return std::make_unique<List<testutil::Counted>>(domain);
}

TEST(ListTest, UpdatesFromCallbacksUnderBackPressure) {
  testutil::UpdatesFromCallbacksUnderBackPressure(MakeCountedList, UpdateCounted);
}

TEST(ListTest, BarrierAndDomainDestructionDestroyEveryValue) {
  testutil::BarrierAndDomainDestructionDestroyEveryValue(MakeCountedList, UpdateCounted);
}

TEST(ListTest, ExitDestroysEveryRetiredValue) {
  testutil::ExitDestroysEveryRetiredValue(MakeCountedList, UpdateCounted);
}

}  // namespace
}  // namespace rcu
