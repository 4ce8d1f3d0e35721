// -----------------------------------------------------------------------------
// File: callback.h
// -----------------------------------------------------------------------------
//
// The storage types of deferred reclamation (the queueing calls are `Domain::Call()`,
// `Domain::Retire()` and `Domain::Barrier()` in domain.h):
//
// * `rcu::CallbackHead`: the kernel's `struct rcu_head`, embedded in an object so that queueing a
//   callback for it (`domain.Call(&obj->head, fn)`) never allocates.
// * `rcu::Retirable<T, Deleter>`: an intrusive base class for objects that retire themselves
//   (`obj->Retire()`): after a grace period the deleter runs on the object.
//
// Use Retirable (or `Domain::Retire(p)`, which needs no base class) for "unpublish, then free
// after readers are done"; use CallbackHead when the deferred work is more than a delete.
//
// Misuse:   R7 queueing the same head (or retiring the same object) again before its callback ran
//           aborts with "R7:" when RCU_DEBUG_CHECKS is on; it would otherwise run twice.
//           R9 retiring an object an rcu::Published still holds aborts with "R9:" (debug).
//
// Example:
//   struct Session : rcu::Retirable<Session> { std::string user; };
//   rcu::Published<Session> current;
//   ...
//   Session* old = current.Exchange(new Session{...});
//   old->Retire();  // deleted after a grace period of the default domain

#ifndef RCU_CALLBACK_H_
#define RCU_CALLBACK_H_

#include <memory>
#include <type_traits>

#include "rcu/internal/source_location.h"

namespace rcu {

class Domain;

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

// Type-erased deleter for Domain::Retire(): stateless deleters only, so that a retire never
// allocates.
template <typename T, typename Deleter>
void DeleteErased(void* p) {
  static_assert(std::is_empty_v<Deleter> && std::is_default_constructible_v<Deleter>,
                "rcu: Retire() takes a stateless deleter; for a stateful one, embed an "
                "rcu::CallbackHead and use Domain::Call()");
  Deleter()(static_cast<T*>(p));
}

template <typename T, typename Deleter = std::default_delete<T>>
class Retirable {
 public:
  // Retirable::Retire()
  //
  // Runs `Deleter()(static_cast<T*>(this))` after a grace period of `domain`.
  // Requires: the object is no longer reachable by new readers (unpublished first: R9), and is
  // not queued already (R7).
  void Retire(Domain& domain,
              const internal::SourceLocation& where = internal::SourceLocation::current());
  void Retire(const internal::SourceLocation& where = internal::SourceLocation::current());

 protected:
  Retirable() = default;
  Retirable(const Retirable&) {}  // a copy is a different object: it is not queued
  Retirable& operator=(const Retirable&) { return *this; }
  ~Retirable() = default;

 private:
  static void Invoke(CallbackHead* head) {
    Deleter()(static_cast<T*>(reinterpret_cast<Retirable*>(head)));
  }
  CallbackHead head_;  // the only member: a Retirable* and its head share an address
};

}  // namespace rcu

#endif  // RCU_CALLBACK_H_
