// The C++26 <rcu> facade, exercised with the standard's own usage pattern (P2545).

#include "rcu/cxx26.h"

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/published.h"

namespace {

namespace stdrcu = rcu::cxx26;

std::atomic<int> g_deleted{0};

struct Data : stdrcu::rcu_obj_base<Data> {
  explicit Data(int v) : value(v) {}
  ~Data() { g_deleted.fetch_add(1); }
  int value;
};

TEST(Cxx26Test, ReadersUnderScopedLockWritersRetire) {
  std::atomic<Data*> data{new Data(0)};
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        std::scoped_lock lock(stdrcu::rcu_default_domain());
        if (data.load(std::memory_order_acquire)->value < 0) torn.fetch_add(1);
      }
    });
  }
  const int before = g_deleted.load();
  for (int i = 1; i <= 2000; ++i) {
    Data* old = data.exchange(new Data(i), std::memory_order_acq_rel);
    old->retire();
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  stdrcu::rcu_barrier();
  EXPECT_EQ(g_deleted.load() - before, 2000);
  EXPECT_EQ(torn.load(), 0);
  delete data.load();
}

TEST(Cxx26Test, RcuRetireWithStatelessAndStatefulDeleters) {
  int* plain = new int(1);
  stdrcu::rcu_retire(plain);
  std::atomic<int> calls{0};
  auto counting = [&calls](int* p) {
    calls.fetch_add(1);
    delete p;
  };
  stdrcu::rcu_retire(new int(2), counting);
  stdrcu::rcu_barrier();
  EXPECT_EQ(calls.load(), 1);
}

TEST(Cxx26Test, ObjBaseWithStatefulDeleter) {
  std::atomic<int> count{0};
  struct Obj : stdrcu::rcu_obj_base<Obj, std::function<void(Obj*)>> {};
  auto* obj = new Obj;
  obj->retire([&count](Obj* o) {
    count.fetch_add(1);
    delete o;
  });
  stdrcu::rcu_synchronize();
  stdrcu::rcu_barrier();
  EXPECT_EQ(count.load(), 1);
}

TEST(Cxx26Test, DomainIsLockable) {
  stdrcu::rcu_domain& dom = stdrcu::rcu_default_domain();
  EXPECT_TRUE(dom.try_lock());
  EXPECT_TRUE(dom.native().InReadSection());
  dom.unlock();
  EXPECT_FALSE(dom.native().InReadSection());
}

// The header's own example, verbatim: it must compile and work.
namespace header_example {
struct Data : stdrcu::rcu_obj_base<Data> {
  int value = 0;
};
std::atomic<Data*> data{new Data};

int Read() {
  std::scoped_lock lock(stdrcu::rcu_default_domain());
  return data.load(std::memory_order_acquire)->value;
}
void Update(int v) {
  Data* fresh = new Data;
  fresh->value = v;
  Data* old = data.exchange(fresh, std::memory_order_acq_rel);
  old->retire();
}
}  // namespace header_example

TEST(Cxx26Test, HeaderExampleWorks) {
  header_example::Update(7);
  EXPECT_EQ(header_example::Read(), 7);
  stdrcu::rcu_barrier();
}

// [saferecl.rcu.base]: rcu_obj_base's special members are defaulted, so a class deriving from it
// is trivially copyable when its deleter (and the rest of it) is.
struct Plain : stdrcu::rcu_obj_base<Plain> {
  int value;
};
struct WithFunction : stdrcu::rcu_obj_base<WithFunction, std::function<void(WithFunction*)>> {
  int value;
};
static_assert(std::is_trivially_copyable_v<Plain>);
static_assert(!std::is_trivially_copyable_v<WithFunction>);

// A copy of an object that was retired is a new object: it can be retired on its own.
TEST(Cxx26Test, CopyOfARetiredObjectCanBeRetired) {
  auto* original = new Plain;
  original->value = 5;
  auto* copy = new Plain(*original);
  original->retire();
  copy->retire();
  stdrcu::rcu_barrier();
}

// The deleter passed to retire is the one invoked (moved, never replaced by a new
// default-constructed one), for rcu_retire and for rcu_obj_base::retire.
struct Tagged {
  static std::atomic<int> defaults;
  static std::atomic<int> runs_with_tag;
  Tagged() { defaults.fetch_add(1); }
  explicit Tagged(int t) : tag(t) {}
  template <typename T>
  void operator()(T* p) const {
    if (tag == 42) runs_with_tag.fetch_add(1);
    delete p;
  }
  int tag = 0;
};
std::atomic<int> Tagged::defaults{0};
std::atomic<int> Tagged::runs_with_tag{0};

struct TaggedObj : stdrcu::rcu_obj_base<TaggedObj, Tagged> {};

// An empty deleter whose default constructor has an effect: only the one passed may run.
struct EmptyWithEffect {
  static std::atomic<int> defaults;
  EmptyWithEffect() { defaults.fetch_add(1); }
  void operator()(int* p) const { delete p; }
};
std::atomic<int> EmptyWithEffect::defaults{0};

TEST(Cxx26Test, TheDeleterPassedIsTheOneInvoked) {
  stdrcu::rcu_retire(new int(1), Tagged(42));
  auto* obj = new TaggedObj;
  obj->retire(Tagged(42));
  const int defaults = EmptyWithEffect::defaults.load();
  stdrcu::rcu_retire(new int(2), EmptyWithEffect());
  stdrcu::rcu_barrier();
  EXPECT_EQ(Tagged::runs_with_tag.load(), 2);
  EXPECT_EQ(EmptyWithEffect::defaults.load(), defaults + 1);  // the argument only
}

// Deleters that are not standard-layout (std::function) reach their node without undefined
// behaviour (UBSan runs this test too).
TEST(Cxx26Test, NonStandardLayoutDeleters) {
  std::atomic<int> runs{0};
  std::function<void(int*)> deleter = [&runs](int* p) {
    runs.fetch_add(1);
    delete p;
  };
  stdrcu::rcu_retire(new int(3), deleter);
  auto* obj = new WithFunction;
  obj->retire([&runs](WithFunction* o) {
    runs.fetch_add(1);
    delete o;
  });
  stdrcu::rcu_barrier();
  EXPECT_EQ(runs.load(), 2);
}

// R9 applies to rcu_obj_base::retire() and rcu_retire() as to Domain::Retire(): retiring an
// object a Published still holds aborts (debug builds).
TEST(Cxx26Test, R9RetiringAPublishedObjectAborts) {
  if (!rcu::internal::kDebugChecks) GTEST_SKIP() << "R9 is checked when RCU_DEBUG_CHECKS is on";
  EXPECT_DEATH(
      {
        auto* obj = new Plain;
        rcu::Published<Plain> published(obj);
        obj->retire();
      },
      "R9: retiring");
  EXPECT_DEATH(
      {
        auto* value = new int(1);
        rcu::Published<int> published(value);
        stdrcu::rcu_retire(value, Tagged(1));
      },
      "R9: retiring");
}

}  // namespace
