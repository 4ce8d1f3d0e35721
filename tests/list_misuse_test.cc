// The seed's bug hunt 1 against lists (../shared/MISUSE.md L1 to L4): each misuse is rebuilt as a
// busted list that a test catches, and rcu::List survives the same test; what the library
// refuses at run time dies with its rule id. L4's compile-time half is in
// //tests:compile_fail_test.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/containers/list.h"
#include "rcu/domain.h"
#include "tests/testing/busted.h"

namespace rcu {
namespace {

constexpr uint64_t kAlive = 0xA11FE;

struct Element {
  explicit Element(int k) : key(k) {}
  Element(const Element& o) : key(o.key) {}
  ~Element() { canary = 0; }
  int key;
  uint64_t canary = kAlive;
};

struct ListNode : ListHook<> {
  explicit ListNode(int k) : element(k) {}
  Element element;
};

// L1: two updaters push without mutual exclusion (bug hunt 1's missing spinlock). The naive push
// loses elements; rcu::List serializes its updaters and loses none.
struct NaiveList {
  struct Node {
    int key;
    Node* next;
  };
  std::atomic<Node*> head{nullptr};
  // Every node, lost or not, is owned here (one vector per pushing thread), so the test does
  // not leak what the bug loses.
  void Push(int key, std::vector<std::unique_ptr<Node>>& owned) {
    owned.push_back(std::make_unique<Node>(Node{key, head.load(std::memory_order_acquire)}));
    Node* n = owned.back().get();
    if (key % 64 == 0) std::this_thread::yield();  // the window between read and write
    head.store(n, std::memory_order_release);      // BUG: not serialized with other pushers
  }
  size_t Count() const {
    size_t n = 0;
    for (Node* p = head.load(); p != nullptr; p = p->next) ++n;
    return n;
  }
};

TEST(ListMisuseTest, L1UnserializedUpdatersLoseElements) {
  size_t lost = 0;
  for (int attempt = 0; attempt < 20 && lost == 0; ++attempt) {
    NaiveList list;
    std::vector<std::unique_ptr<NaiveList::Node>> owned_a, owned_b;
    std::thread a([&] {
      for (int i = 0; i < 20000; ++i) list.Push(i, owned_a);
    });
    std::thread b([&] {
      for (int i = 0; i < 20000; ++i) list.Push(i, owned_b);
    });
    a.join();
    b.join();
    lost = 40000 - list.Count();
  }
  EXPECT_GT(lost, 0u) << "the busted list should have lost pushes";
}

TEST(ListMisuseTest, L1ListSerializesItsUpdaters) {
  Domain domain;
  List<int> list(domain);
  std::thread a([&] {
    for (int i = 0; i < 20000; ++i) list.PushFront(i);
  });
  std::thread b([&] {
    for (int i = 0; i < 20000; ++i) list.PushBack(i);
  });
  a.join();
  b.join();
  ReadGuard guard(domain);
  size_t n = 0;
  for (int x : list.Iterate(guard)) n += x >= 0;
  EXPECT_EQ(n, 40000u);
  EXPECT_EQ(list.size(), 40000u);
}

// L2: erase frees at once (bug hunt 1's delete() without synchronize_rcu()). Readers traversing
// the list check each element's canary.
// The busted list's free, right after the unlink. The canary dies at once. A sanitizer frees at
// once too (its own quarantine keeps the memory from being handed out again, and it reports the
// use); a plain build keeps the storage off malloc's free lists for the next 4,096 frees, so a
// reader that reaches a freed element finds it dead rather than reallocated to the next insert.
void FreeNow(ListNode* node) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  delete node;
#else
  static std::deque<void*> quarantine;
  node->~ListNode();
  quarantine.push_back(node);
  if (quarantine.size() > 4096) {
    ::operator delete(quarantine.front());
    quarantine.pop_front();
  }
#endif
}

template <bool kBusted>
void TraverseWhileErasing() {
  {
    Domain domain;
    IntrusiveList<ListNode> list(domain);
    std::deque<ListNode*> nodes;  // the list's elements, in order (updater-owned)
    for (int i = 0; i < 64; ++i) {
      nodes.push_back(new ListNode(i));
      list.PushBack(*nodes.back());
    }
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> dead{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 2; ++t) {
      readers.emplace_back([&] {
        while (!stop.load(std::memory_order_relaxed)) {
          ReadGuard guard(domain);
          for (const ListNode& n : list.Iterate(guard)) {
            if (n.element.canary != kAlive) dead.fetch_add(1);
          }
        }
      });
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (int key = 64; std::chrono::steady_clock::now() < deadline && dead.load() == 0; ++key) {
      ListNode* oldest = nodes.front();
      nodes.pop_front();
      list.Erase(*oldest);
      if (kBusted) {
        FreeNow(oldest);  // BUG: readers may still be on it
      } else {
        domain.Retire(oldest);
      }
      nodes.push_back(new ListNode(key));
      list.PushBack(*nodes.back());
    }
    stop.store(true);
    for (auto& t : readers) t.join();
    list.EraseIf([](const ListNode&) { return true; }, [](ListNode& n) { delete &n; });
    if (dead.load() != 0) {
      std::fprintf(stderr, "FAILURE: a reader reached a freed element\n");
      std::exit(1);
    }
  }
  std::exit(0);
}

// A plain build catches the busted list as a dead canary or, when a freed node's link is
// garbage, as a crash: any failure counts.
TEST(ListMisuseTest, L2FreeBeforeGracePeriodIsCaught) {
  EXPECT_EXIT(TraverseWhileErasing<true>(), testing_support::Failed, testing_support::Detector(""));
}

TEST(ListMisuseTest, L2RetireAfterEraseSurvives) {
  EXPECT_EXIT(TraverseWhileErasing<false>(), testing::ExitedWithCode(0), "");
}

// L3: re-inserting an erased element before a grace period.
TEST(ListMisuseTest, L3ReinsertBeforeGracePeriodAborts) {
  Domain domain;
  IntrusiveList<ListNode> list(domain);
  ListNode node(1);
  EXPECT_DEATH(
      {
        list.PushBack(node);
        list.Erase(node);
        list.PushBack(node);  // BUG: readers may still traverse it in its old position
      },
      "L3: element re-inserted before a grace period.*list_misuse_test.cc");
}

TEST(ListMisuseTest, L3LinkingALinkedElementAborts) {
  Domain domain;
  IntrusiveList<ListNode> list(domain);
  ListNode node(1);
  EXPECT_DEATH(
      {
        list.PushBack(node);
        list.PushFront(node);
      },
      "L3: element linked twice.*list_misuse_test.cc");
}

TEST(ListMisuseTest, L3ReinsertAfterGracePeriodIsQuiet) {
  Domain domain;
  IntrusiveList<ListNode> list(domain);
  ListNode node(1);
  list.PushBack(node);
  list.Erase(node);
  domain.Synchronize();
  list.PushBack(node);
  list.Erase(node);
}

// L5: an update that names an element not linked in this list: never linked, erased already, or
// in another list. Reports name the caller's line, not the library's. (Seen before: the report
// pointed at list.h's CheckLinkable, and erasing an unlinked element said "L2:"; an element of
// another list was erased from this one silently, corrupting both.)
TEST(ListMisuseTest, L5EraseOfAnElementNotInThisListAborts) {
  Domain domain;
  IntrusiveList<ListNode> list(domain), other(domain);
  ListNode node(1), position(2);
  list.PushBack(node);  // correct: erase what is linked here
  list.Erase(node);
  EXPECT_DEATH(list.Erase(node),
               "L5: list update names an element that is not linked in this "
               "list.*list_misuse_test.cc");
  other.PushBack(position);
  domain.Synchronize();
  EXPECT_DEATH(list.Erase(position), "L5: .*list_misuse_test.cc");
  EXPECT_DEATH(list.InsertAfter(position, node), "L5: .*list_misuse_test.cc");
  EXPECT_DEATH(list.Replace(position, node), "L5: .*list_misuse_test.cc");
  other.Erase(position);
}

// L4: traversal needs a section of the list's own domain.
TEST(ListMisuseTest, L4IterateWithAnotherDomainsGuardAborts) {
  Domain a, b;
  List<int> list(a);
  EXPECT_DEATH(
      {
        ReadGuard guard(b);
        for (int x : list.Iterate(guard)) (void)x;
      },
      "L4: list traversed with a ReadGuard of another domain");
}

// L4 for iterators: one stepped after its section ended, or in a later section, aborts (the list
// may have freed the element it stands on meanwhile). Stepping inside its own section, nested
// guards included, is quiet.
TEST(ListMisuseTest, L4IteratorSteppedOutsideItsSectionAborts) {
  Domain domain;
  List<int> list(domain);
  for (int i = 0; i < 4; ++i) list.PushBack(i);
  {
    ReadGuard guard(domain);
    auto range = list.Iterate(guard);
    auto it = range.begin();
    ReadGuard nested(domain);
    ++it;
    EXPECT_EQ(*it, 1);
  }
  EXPECT_DEATH(
      {
        List<int>::Range::iterator it;
        {
          ReadGuard guard(domain);
          it = list.Iterate(guard).begin();
        }
        ReadGuard later(domain);
        ++it;  // BUG (L4)
      },
      "L4: a list iterator stepped outside the read-side section that created it");
}

}  // namespace
}  // namespace rcu
