// rcutorture's refcount subject: the kernel's kref_get_unless_zero() pattern. Slots publish
// counted objects; an updater replaces an object and drops the slot's reference at once (the last
// drop retires it). Readers find an object in a section, take a reference only if it is not
// dying, leave the section, hold the object across a random delay and check it is alive. At the
// end every object not in a slot has been freed exactly once. Busted: refcount_no_zero_check,
// readers that take the reference without checking for zero (resurrection: C1 aborts).

#ifndef RCU_TESTS_TORTURE_REFCOUNT_SUBJECT_H_
#define RCU_TESTS_TORTURE_REFCOUNT_SUBJECT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "rcu/domain.h"
#include "rcu/published.h"
#include "rcu/refcount.h"
#include "tests/torture/harness.h"

namespace rcu::torture {

class RefCountSubject : public Subject {
 public:
  RefCountSubject(Domain& domain, int updaters, bool check_zero)
      : domain_(domain), updaters_(updaters), check_zero_(check_zero) {
    for (int i = 0; i < kSlotsPerUpdater * updaters; ++i) {
      slots_.push_back(std::make_unique<Published<Object>>(domain, New(i)));
    }
  }
  ~RefCountSubject() override {
    for (auto& slot : slots_) Ref<Object>::Adopt(slot->Exchange(nullptr));  // the slots' drops
    domain_.Barrier();  // the objects' deleters count into freed_: run them while it exists
  }

  int Updaters() const override { return updaters_; }

  bool Read(std::mt19937_64& rng) override {
    const size_t i = rng() % slots_.size();
    Ref<Object> held;
    {
      ReadGuard guard(domain_);
      const Object* found = slots_[i]->Read(guard);
      ReadDelay(rng);  // the updater may drop the last reference meanwhile
      if (check_zero_) {
        held = Ref<Object>::TryFrom(guard, found);
      } else {
        found->Acquire();  // BUG (busted): an increment that does not check for zero
        held = Ref<Object>::Adopt(const_cast<Object*>(found));
      }
    }
    if (!held) return true;  // it was dying: as if absent
    ReadDelay(rng);          // held past the section
    return held->canary == kAlive && held->slot == i;
  }

  void Update(std::mt19937_64& rng, int updater) override {
    const size_t i = updater * kSlotsPerUpdater + rng() % kSlotsPerUpdater;
    // Unpublish, then drop the slot's reference: the last drop retires the object.
    Ref<Object>::Adopt(slots_[i]->Exchange(New(i)));
  }

  void Finish() override {
    // The harness drained the callbacks: every object out of the slots is freed, once.
    const uint64_t expected = created_.load() - slots_.size();
    if (freed_.load() != expected) Fail("refcount: an object was freed twice, or never");
  }

 private:
  static constexpr int kSlotsPerUpdater = 4;
  static constexpr uint64_t kAlive = 0xA11FE;
  struct Object : RefCounted<Object> {
    Object(Domain& domain, size_t slot, std::atomic<uint64_t>& freed)
        : RefCounted(domain), slot(slot), freed(freed) {}
    ~Object() {
      canary = 0;
      freed.fetch_add(1, std::memory_order_relaxed);
    }
    size_t slot;
    std::atomic<uint64_t>& freed;
    uint64_t canary = kAlive;
  };

  Object* New(size_t slot) {
    created_.fetch_add(1, std::memory_order_relaxed);
    return new Object(domain_, slot, freed_);
  }

  Domain& domain_;
  const int updaters_;
  const bool check_zero_;
  std::atomic<uint64_t> created_{0}, freed_{0};
  std::vector<std::unique_ptr<Published<Object>>> slots_;
};

}  // namespace rcu::torture

#endif  // RCU_TESTS_TORTURE_REFCOUNT_SUBJECT_H_
