// Test support: the seed's list with a one-element lookup cache ("Stupid RCU Tricks", bug hunt 2),
// rebuilt on this library's primitives so tests can show that it is caught and that
// rcu::HashMap survives the same treatment. Used by //tests:hash_map_misuse_test and
// //tests/torture:rcutorture.

#ifndef RCU_TESTS_TESTING_SEED_CACHE_H_
#define RCU_TESTS_TESTING_SEED_CACHE_H_

#include <cstdint>
#include <memory>
#include <thread>

#include "rcu/containers/list.h"
#include "rcu/domain.h"
#include "rcu/published.h"

namespace rcu::testing_support {

constexpr uint64_t kAlive = 0xA11FE;

struct Value {
  explicit Value(uint64_t k) : key(k), data(k * 3) {}
  Value(const Value& o) : key(o.key), data(o.data) {}
  ~Value() { canary = 0; }
  bool Valid(uint64_t k) const { return canary == kAlive && key == k && data == k * 3; }
  uint64_t key, data;
  uint64_t canary = kAlive;
};

// The seed's code, in this library's terms.
class SeedCache {
 public:
  enum Mode { kCacheOff, kCache, kCacheReadTwice };
  explicit SeedCache(Mode mode) : mode_(mode) {}
  ~SeedCache() {
    list_.EraseIf([](const Element&) { return true; }, [](Element& e) { delete &e; });
  }

  // Returns whether the key was found and its value was valid; `found` says whether it was found.
  bool Search(uint64_t key, bool& found) {
    ReadGuard guard(domain_);
    if (mode_ == kCacheReadTwice) {
      // H2: `if (cache && cache->key == key) use(cache)`: two loads of the cache.
      if (cache_.Read(guard) != nullptr && cache_.Read(guard)->value.key == key) {
        found = true;
        const Element* p = cache_.Read(guard);
        return p != nullptr && p->value.Valid(key);
      }
    } else if (mode_ == kCache) {
      const Element* p = cache_.Read(guard);
      if (p != nullptr && p->value.key == key) {
        found = true;
        return p->value.Valid(key);
      }
    }
    for (const Element& e : list_.Iterate(guard)) {
      if (e.value.key == key) {
        if (mode_ != kCacheOff) {
          std::this_thread::yield();  // widen the window, as the seed's hunt did with delays
          cache_.Assign(const_cast<Element*>(&e));  // BUG (H1): e may be being deleted
        }
        found = true;
        return e.value.Valid(key);
      }
    }
    found = false;
    return true;
  }

  void Insert(uint64_t key) { list_.PushFront(*new Element(key)); }

  void Erase(uint64_t key) {
    Element* victim = nullptr;
    list_.EraseIf([&](const Element& e) { return e.value.key == key; },
                  [&](Element& e) { victim = &e; });
    if (victim == nullptr) return;
    cache_.Init(nullptr);   // the seed clears the cache...
    domain_.Synchronize();  // ...waits for searches...
    Free(victim);           // ...and frees, while a search may have re-published it
  }

 private:
  struct Element : ListHook<> {
    explicit Element(uint64_t k) : value(k) {}
    Value value;
  };
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizers see the free itself (and ASan quarantines the memory).
  static void Free(Element* e) { delete e; }
#else
  // malloc would hand the same memory to the next Insert, and the stale cache pointer would see
  // a live element again (ABA) and hide the bug: poison it and keep it from reuse for a while.
  void Free(Element* e) {
    e->value.~Value();
    graveyard_[next_grave_ % kGraves].reset(e);
    ++next_grave_;
  }
  static constexpr size_t kGraves = 256;
  struct Bury {
    void operator()(Element* e) const { ::operator delete(e); }
  };
  std::unique_ptr<Element, Bury> graveyard_[kGraves];
  size_t next_grave_ = 0;
#endif

  const Mode mode_;
  Domain domain_;
  IntrusiveList<Element> list_{domain_};
  Published<Element> cache_{domain_};
};

}  // namespace rcu::testing_support

#endif  // RCU_TESTS_TESTING_SEED_CACHE_H_
