// What one container update unlinked, handed to the domain together once the update's locks are
// released.
//
// Rule R12: a retire may sleep for back-pressure, until the callback threads catch up. A container
// that retired under its own lock would stall every other updater of that container behind a
// grace period, and a callback that updates the container would deadlock. So every container's
// update gathers what it replaced or removed (entries, nodes, old values, old arrays) in a
// RetireBatch while it holds its locks, and the batch retires them after: declare the batch before
// the lock's guard, so that its destructor runs after the guard's, or pass it to an engine whose
// locks are released when the engine call returns.
//
// Each object is retired as `Domain::Retire()` or `Domain::Call()` would retire it (R7/R9
// bookkeeping included, under the update's call-site location), in the order it was added,
// exactly once, also when the update ends with an exception after unlinking it.
//
// Adding does not allocate for the first `kInline` objects (an engine whose updates unlink a
// bounded number of objects sizes its batch for them). An update that may unlink more calls
// Reserve() before it changes anything, so that its strong exception guarantee holds.
//
// Thread-compatible: a batch belongs to the update that declared it.

#ifndef RCU_CONTAINERS_INTERNAL_RETIRE_BATCH_H_
#define RCU_CONTAINERS_INTERNAL_RETIRE_BATCH_H_

#include <cstddef>
#include <memory>

#include "absl/container/inlined_vector.h"
#include "rcu/callback.h"
#include "rcu/domain.h"
#include "rcu/version.h"

namespace rcu::container_internal {

template <size_t kInline = 4>
class RetireBatch {
 public:
  RetireBatch(Domain& domain, const internal::SourceLocation& where)
      : domain_(&domain), where_(where) {}
  RetireBatch(const RetireBatch&) = delete;  // one update's, on its stack
  RetireBatch& operator=(const RetireBatch&) = delete;
  ~RetireBatch() { Submit(); }

  // Deletes `p` with Deleter a grace period after Submit() (Domain::Retire()). Null is ignored.
  template <typename T, typename Deleter = std::default_delete<T>>
  void Retire(T* p) {
    if (p == nullptr) return;
    items_.push_back({const_cast<void*>(static_cast<const void*>(p)), nullptr,
                      [](Domain& domain, void* object, const internal::SourceLocation& where) {
                        domain.Retire<T, Deleter>(static_cast<T*>(object), where);
                      }});
  }

  // Runs func(head) a grace period after Submit() (Domain::Call()).
  void Call(CallbackHead* head, void (*func)(CallbackHead*)) {
    items_.push_back({head, func, nullptr});
  }

  // Room for `n` more objects: Retire() and Call() will not allocate for them.
  void Reserve(size_t n) { items_.reserve(items_.size() + n); }

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }

  // Hands every object added so far to the domain. Requires: none of the container's locks.
  void Submit() noexcept {
    for (const Item& item : items_) {
      if (item.func != nullptr) {
        domain_->Call(static_cast<CallbackHead*>(item.object), item.func, where_);
      } else {
        item.retire(*domain_, item.object, where_);
      }
    }
    items_.clear();
  }

 private:
  struct Item {
    void* object;
    void (*func)(CallbackHead*);  // Call(); null for Retire()
    void (*retire)(Domain&, void*, const internal::SourceLocation&);
  };

  Domain* domain_;
  internal::SourceLocation where_;
  absl::InlinedVector<Item, kInline> items_;
};

}  // namespace rcu::container_internal

#endif  // RCU_CONTAINERS_INTERNAL_RETIRE_BATCH_H_
