// The C++26 <rcu> facade, exercised with the standard's own usage pattern (P2545).

#include "rcu/cxx26.h"

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

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

}  // namespace
