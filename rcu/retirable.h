// -----------------------------------------------------------------------------
// File: retirable.h
// -----------------------------------------------------------------------------
//
// `rcu::Retirable<T, Deleter>`: an intrusive base class for objects that retire themselves
// (`obj->Retire()`): after a grace period of the domain, `Deleter()` runs on the object. It costs
// one pointer in the object (a CallbackHead, callback.h), and a retire never allocates.
// `Domain::Retire(p)` (domain.h) does the same without a base class.
//
// Misuse:   R7 retiring the same object again before its deleter ran aborts with "R7:" when
//           RCU_DEBUG_CHECKS is on; it would otherwise be deleted twice.
//           R9 retiring an object an rcu::Published still holds aborts with "R9:" (debug).
//
// Example:
//   struct Session : rcu::Retirable<Session> { std::string user; };
//   rcu::Published<Session> current;
//   ...
//   Session* old = current.Exchange(new Session{...});
//   old->Retire();  // deleted after a grace period of the default domain

#ifndef RCU_RETIRABLE_H_
#define RCU_RETIRABLE_H_

#include <memory>

#include "rcu/callback.h"
#include "rcu/domain.h"
#include "rcu/internal/checker.h"
#include "rcu/internal/source_location.h"
#include "rcu/version.h"

namespace rcu {

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
    T* object = static_cast<T*>(reinterpret_cast<Retirable*>(head));
    internal::RetireTracking::Forget(object);  // by the object, which need not start at head_
    Deleter()(object);
  }
  CallbackHead head_;  // the only member: a Retirable* and its head share an address
};

template <typename T, typename Deleter>
void Retirable<T, Deleter>::Retire(Domain& domain, const internal::SourceLocation& where) {
  internal::RetireTracking::Note(static_cast<T*>(this), where);
  domain.Call(&head_, &Invoke, where);
}

template <typename T, typename Deleter>
void Retirable<T, Deleter>::Retire(const internal::SourceLocation& where) {
  Retire(Domain::Default(), where);
}

}  // namespace rcu

#endif  // RCU_RETIRABLE_H_
