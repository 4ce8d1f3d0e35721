// The ordered map's rules (README "Rules", O1 to O3), each shown failing on a busted sorted array
// or in a child process.
//
//   O1  iteration stays inside its section: an iterator stepped after its guard ended, or in a
//       later section, aborts with "O1:" (debug builds).
//   O2  values and nodes are freed only after a grace period, and a result is not kept past its
//       section. BustedArray<Bug::kFreeAtOnce> deletes the replaced array at once: the canary in
//       a plain build, ASan's heap-use-after-free, TSan's race. Under ASan, a value kept past
//       its section and read after its erase and a barrier is a heap-use-after-free.
//   O3  a published node is never modified: BustedArray<Bug::kInPlace> inserts and erases by
//       shifting the published array's keys in place, as a sorted vector would, and a scan sees
//       a key twice or misses one. The same stress passes on the copy-on-write control
//       (Bug::kNone) and on rcu::OrderedMap.
//   R1  a read with a ReadGuard of another domain aborts (debug builds).

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/containers/ordered_map.h"
#include "rcu/domain.h"
#include "tests/testing/busted.h"

namespace rcu {
namespace {

constexpr uint64_t kAlive = 0xA11FE;
constexpr uint64_t kKeys = 96;  // stable even keys, odd keys that come and go

enum class Bug { kNone, kInPlace, kFreeAtOnce };
using IntMap = OrderedMap<int, int>;
using StringMap = OrderedMap<int, std::string>;

// A sorted array of keys published through one pointer: a one-leaf ordered map.
template <Bug kBug>
class BustedArray {
 public:
  explicit BustedArray(Domain& domain) : domain_(domain), current_(new Array(0)) {}
  ~BustedArray() { delete current_.load(); }

  void Insert(uint64_t key) { Change(key, /*insert=*/true); }
  void Erase(uint64_t key) { Change(key, /*insert=*/false); }

  // Calls visit(key) for every key of one read; false if a freed array was read.
  template <typename Visit>
  bool Scan(Visit visit) {
    ReadGuard guard(domain_);
    const Array* a = current_.load(std::memory_order_acquire);
    const uint64_t generation = a->generation;
    const int count = a->count.load(std::memory_order_acquire);
    for (int i = 0; i < count; ++i) {
      if (i == count / 2) std::this_thread::yield();  // a busted update lands meanwhile
      visit(a->keys[i].load(std::memory_order_relaxed));
    }
    // Dead, or freed and reused for a newer array.
    return a->canary == kAlive && a->generation == generation;
  }

 private:
  struct Array {
    explicit Array(uint64_t g) : generation(g) {}
    ~Array() { canary = 0; }
    const uint64_t generation;
    std::atomic<int> count{0};
    std::atomic<uint64_t> keys[kKeys];
    uint64_t canary = kAlive;
  };

  void Change(uint64_t key, bool insert) {
    Array* a = current_.load(std::memory_order_relaxed);
    const int n = a->count.load(std::memory_order_relaxed);
    int pos = 0;
    while (pos < n && a->keys[pos].load(std::memory_order_relaxed) < key) ++pos;
    const bool present = pos < n && a->keys[pos].load(std::memory_order_relaxed) == key;
    if (present == insert) return;
    if (kBug == Bug::kInPlace) {  // BUG (O3): the published array shifted under its readers
      if (insert) {
        a->count.store(n + 1, std::memory_order_release);
        for (int i = n; i > pos; --i) {
          if (i == (n + pos) / 2) std::this_thread::yield();  // let readers see the shift
          a->keys[i].store(a->keys[i - 1].load(std::memory_order_relaxed),
                           std::memory_order_relaxed);
        }
        a->keys[pos].store(key, std::memory_order_relaxed);
      } else {
        for (int i = pos; i + 1 < n; ++i) {
          a->keys[i].store(a->keys[i + 1].load(std::memory_order_relaxed),
                           std::memory_order_relaxed);
        }
        a->count.store(n - 1, std::memory_order_release);
      }
      return;
    }
    Array* copy = new Array(++generations_);
    int j = 0;
    for (int i = 0; i <= n; ++i) {
      if (i == pos && insert) copy->keys[j++].store(key, std::memory_order_relaxed);
      if (i < n && !(i == pos && !insert)) {
        copy->keys[j++].store(a->keys[i].load(std::memory_order_relaxed),
                              std::memory_order_relaxed);
      }
    }
    copy->count.store(j, std::memory_order_relaxed);
    current_.store(copy, std::memory_order_release);
    if (kBug == Bug::kFreeAtOnce) {
      delete a;  // BUG (O2)
    } else {
      domain_.Retire(a);
    }
  }

  Domain& domain_;
  std::atomic<Array*> current_;
  uint64_t generations_ = 0;
};

// rcu::OrderedMap behind the same interface; the values carry the canary.
class MapTable {
 public:
  explicit MapTable(Domain& domain) : map_(domain) {}
  void Insert(uint64_t key) { map_.InsertOrAssign(key, Value{}); }
  void Erase(uint64_t key) { map_.Erase(key); }
  template <typename Visit>
  bool Scan(Visit visit) {
    ReadGuard guard(map_.domain());
    bool alive = true;
    int i = 0;
    for (const auto& [k, v] : map_.All(guard)) {
      if (++i == static_cast<int>(kKeys / 4)) std::this_thread::yield();
      alive = alive && v.canary == kAlive;
      visit(k);
    }
    return alive;
  }

 private:
  struct Value {
    ~Value() { canary = 0; }
    uint64_t canary = kAlive;
  };
  OrderedMap<uint64_t, Value> map_;
};

// Even keys stay throughout; the updater inserts and erases odd ones without pause. Every scan
// must see each even key exactly once and every key in strictly increasing order.
template <typename Table>
void ScanStress(std::chrono::seconds duration) {
  {
    Domain domain;
    Table table(domain);
    for (uint64_t k = 0; k < kKeys / 2; k += 2) table.Insert(k);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> disorder{0}, freed{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 2; ++r) {
      readers.emplace_back([&] {
        while (!stop.load(std::memory_order_relaxed)) {
          uint64_t next_even = 0, previous = 0;
          bool first = true, ordered = true;
          const bool alive = table.Scan([&](uint64_t k) {
            if (!first && k <= previous) ordered = false;
            if (k % 2 == 0) {
              if (k != next_even) ordered = false;
              next_even = k + 2;
            }
            previous = k;
            first = false;
          });
          if (!ordered || next_even != kKeys / 2) disorder.fetch_add(1);
          if (!alive) freed.fetch_add(1);
        }
      });
    }
    const auto deadline = std::chrono::steady_clock::now() + duration;
    for (uint64_t i = 0;
         std::chrono::steady_clock::now() < deadline && disorder.load() == 0 && freed.load() == 0;
         ++i) {
      const uint64_t odd = 2 * ((i / 2 * 7) % (kKeys / 4)) + 1;  // inserted, then erased
      if (i % 2 == 0) {
        table.Insert(odd);
      } else {
        table.Erase(odd);
      }
    }
    stop.store(true);
    for (auto& t : readers) t.join();
    if (disorder.load() != 0) {
      std::fprintf(stderr, "FAILURE: a scan saw keys out of order, twice or not at all\n");
      std::exit(1);
    }
    if (freed.load() != 0) {
      std::fprintf(stderr, "FAILURE: a scan read a freed node\n");
      std::exit(1);
    }
  }
  std::exit(0);
}

constexpr std::chrono::seconds kBustedBudget(10), kSurvivorRun(2);

TEST(OrderedMapMisuseTest, ControlArraySurvives) {
  EXPECT_EXIT(ScanStress<BustedArray<Bug::kNone>>(kSurvivorRun), testing::ExitedWithCode(0), "");
}

TEST(OrderedMapMisuseTest, O3OrderedMapSurvives) {
  EXPECT_EXIT(ScanStress<MapTable>(kSurvivorRun), testing::ExitedWithCode(0), "");
}

TEST(OrderedMapMisuseTest, O3ChangingAPublishedArrayInPlaceIsCaught) {
  EXPECT_EXIT(ScanStress<BustedArray<Bug::kInPlace>>(kBustedBudget), testing_support::Failed,
              "FAILURE: a scan saw keys out of order");
}

TEST(OrderedMapMisuseTest, O2FreeingAReplacedArrayAtOnceIsCaught) {
  EXPECT_EXIT(ScanStress<BustedArray<Bug::kFreeAtOnce>>(kBustedBudget), testing_support::Failed,
              // A freed array reads as dead (the canary), as garbage keys, or as an address
              // that crashes the scan (seen about once in 30 runs): any failure counts.
              testing_support::Detector(""));
}

#if defined(__SANITIZE_ADDRESS__)
TEST(OrderedMapMisuseTest, O2ValueKeptPastItsSectionIsAUseAfterFree) {
  EXPECT_DEATH(
      {
        Domain domain;
        StringMap map(domain);
        map.Insert(1, std::string(100, 'x'));
        const std::string* kept;
        {
          ReadGuard guard(domain);
          kept = map.Find(guard, 1);
        }
        map.Erase(1);
        domain.Barrier();
        std::printf("%zu\n", kept->size());  // BUG (O2)
      },
      "heap-use-after-free");
}
#endif

TEST(OrderedMapMisuseTest, O1IteratorSteppedAfterItsSectionAborts) {
  Domain domain;
  IntMap map(domain);
  for (int k = 0; k < 10; ++k) map.Insert(k, k);
  EXPECT_DEATH(
      {
        IntMap::Iterator it;
        {
          ReadGuard guard(domain);
          it = map.LowerBound(guard, 3);
        }
        ++it;  // BUG (O1)
      },
      "O1: an OrderedMap iterator stepped outside the read-side section that created it");
}

// The same iterator stepped in a later, unrelated section of the same domain: its nodes may have
// been freed in between, so it is reported too. (Seen before: the check was "inside some
// section", and this step went unreported, reading a freed leaf.)
TEST(OrderedMapMisuseTest, O1IteratorSteppedInALaterSectionAborts) {
  Domain domain;
  IntMap map(domain);
  for (int k = 0; k < 10; ++k) map.Insert(k, k);
  {
    ReadGuard guard(domain);  // correct: stepped in its own section, nested guards included
    IntMap::Iterator it = map.LowerBound(guard, 3);
    ReadGuard nested(domain);
    ++it;
    EXPECT_EQ(it.key(), 4);
  }
  EXPECT_DEATH(
      {
        IntMap::Iterator it;
        {
          ReadGuard guard(domain);
          it = map.LowerBound(guard, 3);
        }
        map.Erase(4);
        domain.Synchronize();  // the leaf it stands on is freed
        ReadGuard later(domain);
        ++it;  // BUG (O1)
      },
      "O1: an OrderedMap iterator stepped outside the read-side section that created it");
}

TEST(OrderedMapMisuseTest, R1ReadWithAnotherDomainsGuardAborts) {
  Domain mine, other;
  IntMap map(mine);
  EXPECT_DEATH(
      {
        ReadGuard guard(other);
        map.Find(guard, 1);
      },
      "R1: OrderedMap::Find\\(\\) with a ReadGuard of another domain");
}

}  // namespace
}  // namespace rcu
