// -----------------------------------------------------------------------------
// File: cxx26.h
// -----------------------------------------------------------------------------
//
// The C++26 <rcu> interface (P2545R4, [saferecl.rcu]) on top of this library, in namespace
// `rcu::cxx26`, so code written against the standard compiles today and moves to `std::` by
// changing one namespace alias:
//
//   namespace stdrcu = rcu::cxx26;   // later: namespace stdrcu = std;
//
// What it provides, with the standard's semantics:
//   rcu_obj_base<T, D>   base class; `obj->retire(d, dom)` runs d(obj) after a grace period
//   rcu_domain           Cpp17Lockable (lock / try_lock / unlock): a read-side section
//   rcu_default_domain() the process-wide domain (rcu::Domain::Default())
//   rcu_synchronize(dom) waits for a grace period
//   rcu_barrier(dom)     waits for every retire scheduled before it
//   rcu_retire(p, d, dom) runs d(p) after a grace period
//
// Differences from a standard library's, all allowed by P2545: only the default domain exists
// (the standard has no way to create others; `rcu_domain::native()` reaches the rcu::Domain for
// this library's extensions); rcu_retire allocates a small node for its deleter unless
// default-constructing the deleter is unobservable (empty, trivially default-constructible and
// trivially copyable, as std::default_delete); retire() and rcu_retire() take a trailing
// source location for reports; the misuse checks of README "Rules" apply (R7 and R9 to both
// retires, R3 when rcu_synchronize is called while the thread holds the domain's lock).
//
// Example (the standard's own pattern; tests/cxx26_test.cc compiles and runs it):
//   struct Data : stdrcu::rcu_obj_base<Data> {
//     int value = 0;
//   };
//   std::atomic<Data*> data{new Data};
//
//   int Read() {
//     std::scoped_lock lock(stdrcu::rcu_default_domain());
//     return data.load(std::memory_order_acquire)->value;
//   }
//   void Update(int v) {
//     Data* fresh = new Data;
//     fresh->value = v;
//     Data* old = data.exchange(fresh, std::memory_order_acq_rel);
//     old->retire();
//   }

#ifndef RCU_CXX26_H_
#define RCU_CXX26_H_

#include <memory>
#include <type_traits>
#include <utility>

#include "rcu/callback.h"
#include "rcu/domain.h"
#include "rcu/internal/checker.h"
#include "rcu/internal/source_location.h"
#include "rcu/version.h"

namespace rcu::cxx26 {

class rcu_domain {
 public:
  rcu_domain(const rcu_domain&) = delete;
  rcu_domain& operator=(const rcu_domain&) = delete;

  void lock() noexcept { domain_.lock(); }
  bool try_lock() noexcept {  // a read-side section never has to wait
    domain_.lock();
    return true;
  }
  void unlock() noexcept { domain_.unlock(); }

  // This library's domain behind it (an extension).
  Domain& native() noexcept { return domain_; }

 private:
  friend rcu_domain& rcu_default_domain() noexcept;
  explicit rcu_domain(Domain& domain) : domain_(domain) {}
  Domain& domain_;
};

inline rcu_domain& rcu_default_domain() noexcept {
  static rcu_domain* const domain = new rcu_domain(Domain::Default());
  return *domain;
}

inline void rcu_synchronize(rcu_domain& dom = rcu_default_domain()) noexcept {
  dom.native().Synchronize();
}

inline void rcu_barrier(rcu_domain& dom = rcu_default_domain()) noexcept { dom.native().Barrier(); }

namespace internal_cxx26 {

// How rcu_retire() can skip storing its deleter: when default-constructing one is not
// observable (empty, trivially default-constructible and trivially copyable), Domain::Retire()
// queues the pointer alone; any other deleter is moved into a node and is the one invoked.
template <typename D>
inline constexpr bool kDeleterIsInterchangeable = std::is_empty_v<D>&&
    std::is_trivially_default_constructible_v<D>&& std::is_trivially_copyable_v<D>;

// What a retired rcu_obj_base queues: standard-layout with the head first, so that the
// CallbackHead* the callback gets converts back to it (the two are pointer-interconvertible),
// whatever the deleter's layout.
struct ObjBaseHook {
  CallbackHead rcu_obj_base_head;
};

}  // namespace internal_cxx26

template <typename T, typename D = std::default_delete<T>>
void rcu_retire(T* p, D d = D(), rcu_domain& dom = rcu_default_domain(),
                const internal::SourceLocation& where = internal::SourceLocation::current()) {
  if constexpr (internal_cxx26::kDeleterIsInterchangeable<D>) {
    dom.native().Retire<T, D>(p, where);
  } else {
    // A CallbackHead base: the callback's static_cast back to Node is always defined.
    struct Node : CallbackHead {
      Node(T* pointer, D&& deleter) : p(pointer), d(std::move(deleter)) {}
      T* p;
      D d;
    };
    internal::RetireTracking::Note(p, where);
    auto* node = new Node(p, std::move(d));
    dom.native().Call(
        node,
        [](CallbackHead* head) {
          std::unique_ptr<Node> n(static_cast<Node*>(head));
          internal::RetireTracking::Forget(n->p);
          std::move(n->d)(n->p);
        },
        where);
  }
}

// [saferecl.rcu.base]. The special members are defaulted, so a T deriving from it is trivially
// copyable when D (and the rest of T) is. A copy carries the bits of the original's queue
// hook; retire() rewrites them, and the checker (R7, R9) tracks retired objects by address.
template <typename T, typename D = std::default_delete<T>>
class rcu_obj_base : private internal_cxx26::ObjBaseHook {
 public:
  // rcu_obj_base::retire()
  //
  // Schedules d(static_cast<T*>(this)) after a grace period of `dom`: the deleter passed, moved.
  // Requires: the object is unpublished (R9) and not retired already (R7), debug-checked.
  void retire(
      D d = D(), rcu_domain& dom = rcu_default_domain(),
      const internal::SourceLocation& where = internal::SourceLocation::current()) noexcept {
    internal::RetireTracking::Note(static_cast<T*>(this), where);
    deleter_ = std::move(d);
    rcu_obj_base_head.func = nullptr;  // a copy may carry a queued original's bits
    dom.native().Call(&rcu_obj_base_head, &Invoke, where);
  }

 protected:
  rcu_obj_base() = default;
  rcu_obj_base(const rcu_obj_base&) = default;
  rcu_obj_base(rcu_obj_base&&) = default;
  rcu_obj_base& operator=(const rcu_obj_base&) = default;
  rcu_obj_base& operator=(rcu_obj_base&&) = default;
  ~rcu_obj_base() = default;

 private:
  static void Invoke(CallbackHead* head) {
    auto* self = static_cast<rcu_obj_base*>(reinterpret_cast<internal_cxx26::ObjBaseHook*>(head));
    T* object = static_cast<T*>(self);
    internal::RetireTracking::Forget(object);
    D d = std::move(self->deleter_);
    d(object);
  }

  [[no_unique_address]] D deleter_{};
};

}  // namespace rcu::cxx26

#endif  // RCU_CXX26_H_
