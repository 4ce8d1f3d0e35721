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
// this library's extensions); rcu_retire with a stateful deleter allocates a small node (a
// stateless one does not); the misuse checks of README "Rules" apply (for instance R3 when
// rcu_synchronize is called while the thread holds the domain's lock).
//
// Example (the standard's own pattern):
//   struct Data : stdrcu::rcu_obj_base<Data> { int value; };
//   std::atomic<Data*> data;
//
//   int Read() {
//     std::scoped_lock lock(stdrcu::rcu_default_domain());
//     return data.load(std::memory_order_acquire)->value;
//   }
//   void Update(int v) {
//     Data* old = data.exchange(new Data{.value = v}, std::memory_order_acq_rel);
//     old->retire();
//   }

#ifndef RCU_CXX26_H_
#define RCU_CXX26_H_

#include <memory>
#include <type_traits>
#include <utility>

#include "rcu/callback.h"
#include "rcu/domain.h"

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

inline void rcu_barrier(rcu_domain& dom = rcu_default_domain()) noexcept {
  dom.native().Barrier();
}

template <typename T, typename D = std::default_delete<T>>
void rcu_retire(T* p, D d = D(), rcu_domain& dom = rcu_default_domain()) {
  if constexpr (std::is_empty_v<D> && std::is_default_constructible_v<D>) {
    dom.native().Retire<T, D>(p);
  } else {
    struct Node {
      CallbackHead head;  // first: a CallbackHead* is a Node*
      T* p;
      D d;
    };
    auto* node = new Node{{}, p, std::move(d)};
    dom.native().Call(&node->head, [](CallbackHead* head) {
      std::unique_ptr<Node> n(reinterpret_cast<Node*>(head));
      std::move(n->d)(n->p);
    });
  }
}

template <typename T, typename D = std::default_delete<T>>
class rcu_obj_base {
 public:
  // rcu_obj_base::retire()
  //
  // Schedules d(static_cast<T*>(this)) after a grace period of `dom`.
  void retire(D d = D(), rcu_domain& dom = rcu_default_domain()) noexcept {
    link_.owner = this;
    deleter_ = std::move(d);
    dom.native().Call(&link_.head, &Invoke);
  }

 protected:
  rcu_obj_base() = default;
  rcu_obj_base(const rcu_obj_base&) noexcept {}
  rcu_obj_base(rcu_obj_base&&) noexcept {}
  rcu_obj_base& operator=(const rcu_obj_base&) noexcept { return *this; }
  rcu_obj_base& operator=(rcu_obj_base&&) noexcept { return *this; }
  ~rcu_obj_base() = default;

 private:
  struct Link {
    CallbackHead head;  // first: a CallbackHead* is a Link*
    rcu_obj_base* owner = nullptr;
  };

  static void Invoke(CallbackHead* head) {
    rcu_obj_base* self = reinterpret_cast<Link*>(head)->owner;
    D d = std::move(self->deleter_);
    d(static_cast<T*>(self));
  }

  Link link_;
  [[no_unique_address]] D deleter_{};
};

}  // namespace rcu::cxx26

#endif  // RCU_CXX26_H_
