// -----------------------------------------------------------------------------
// File: callback.h
// -----------------------------------------------------------------------------
//
// The storage type of deferred callbacks: `rcu::CallbackHead`, the kernel's `struct rcu_head`,
// embedded in an object so that queueing a callback for it (`domain.Call(&obj->head, fn)`, in
// domain.h) never allocates, and `rcu::ContainerOf()` to get from the head back to the object.
// Where an allocation per callback is fine, `domain.Call([captures] { ... })` takes any
// function object instead (folly's call(f)).
// For "unpublish, then delete after readers are done" use `Domain::Retire(p)` (no base class) or
// `rcu::Retirable` (retirable.h); use CallbackHead when the deferred work is more than a delete.
//
// Misuse:   R7 queueing the same head again before its callback ran aborts with "R7:" when
//           RCU_DEBUG_CHECKS is on; it would otherwise run twice.
//
// Example:
//   struct Session { std::string user; rcu::CallbackHead head; };
//   domain.Call(&s->head, [](rcu::CallbackHead* h) {
//     Log("session closed");
//     delete rcu::ContainerOf(h, &Session::head);
//   });

#ifndef RCU_CALLBACK_H_
#define RCU_CALLBACK_H_

#include <memory>
#include <type_traits>

#include "rcu/version.h"

namespace rcu {

// The function of one queued callback; null means "not queued". The queue itself lives in the
// domain's blocks (Call() appends the head's address), so the head is one pointer.
struct CallbackHead {
  void (*func)(CallbackHead*) = nullptr;
};

namespace internal {

// How a queued CallbackHead runs: marked "not queued" first, so the callback may queue it again.
inline void RunCallbackHead(void* p) {
  auto* head = static_cast<CallbackHead*>(p);
  void (*func)(CallbackHead*) = head->func;
  head->func = nullptr;
  func(head);
}

// Type-erased deleter for Domain::Retire(): stateless deleters only, so that a retire never
// allocates.
template <typename T, typename Deleter>
void DeleteErased(void* p) {
  static_assert(std::is_empty_v<Deleter> && std::is_default_constructible_v<Deleter>,
                "rcu: Retire() takes a stateless deleter; for a stateful one, embed an "
                "rcu::CallbackHead and use Domain::Call()");
  Deleter()(static_cast<T*>(p));
}

// What Domain::Call(fn) queues: the function object, run and freed after a grace period.
template <typename Fn>
struct HeldCallback {
  Fn fn;
  static void Run(void* p) noexcept {  // a throwing callback terminates (R8)
    std::unique_ptr<HeldCallback> held(static_cast<HeldCallback*>(p));
    held->fn();
  }
};

}  // namespace internal

// ContainerOf()
//
// The object that embeds `member` as its field `field` (the kernel's container_of()), for
// callbacks that get a CallbackHead* and need their object:
//
//   struct Session { std::string user; rcu::CallbackHead head; };
//   domain.Call(&s->head, [](rcu::CallbackHead* h) {
//     delete rcu::ContainerOf(h, &Session::head);
//   });
//
// Works for any class (offsetof is only defined for standard-layout ones).
template <typename Outer, typename Member>
Outer* ContainerOf(Member* member, Member Outer::*field) {
  alignas(Outer) static const unsigned char probe[sizeof(Outer)] = {};
  const Outer* outer = reinterpret_cast<const Outer*>(probe);
  const auto offset = reinterpret_cast<const unsigned char*>(&(outer->*field)) - probe;
  return reinterpret_cast<Outer*>(reinterpret_cast<unsigned char*>(member) - offset);
}

}  // namespace rcu

#endif  // RCU_CALLBACK_H_
