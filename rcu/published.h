// -----------------------------------------------------------------------------
// File: published.h
// -----------------------------------------------------------------------------
//
// `rcu::Published<T>` is a pointer that updaters publish and readers load inside a read-side
// section: the kernel's `__rcu` pointer with rcu_assign_pointer(), rcu_dereference(),
// rcu_dereference_protected(), rcu_access_pointer(), RCU_INIT_POINTER() and
// rcu_replace_pointer() as methods. It does not own what it points to: the updater that
// unpublishes an object retires it (Domain::Synchronize() then delete, or the deferred
// reclamation API).
//
// Read side:    `Read(guard)` needs a `const ReadGuard&`, so a read outside a section does not
//               compile (R1); a guard of another domain than the Published's (the default
//               domain unless the constructor names one) aborts with "R1:" in debug builds. The
//               pointer it returns stays valid until the guard's outermost section ends; do not
//               keep it longer (H4). `Dereference(domain)` is the run-time checked escape hatch for
//               code that holds a section without a guard object
//               (`std::scoped_lock<rcu::Domain>`): it aborts with "R1:" outside a section when
//               RCU_DEBUG_CHECKS is on.
// Update side:  `Assign()` publishes with release order: every write that initialized the object
//               happens before any reader that loads the pointer sees it. Updaters serialize
//               among themselves, usually with an `rcu::UpdateMutex`; `Protected(mu)` reads the
//               pointer on the update side without a section and checks (R2) that `mu` is held.
//               `Exchange()` and `Replace()` publish and return the old pointer in one step.
// Memory order: Read() is an acquire load (a plain load on x86 and a load-acquire on Arm).
// Progress:     every operation is wait-free.
// Misuse:       R1 (compile time via the token; run time for Dereference), R2 (Protected),
//               R9 (debug builds track published values, so retiring one still published
//               aborts).
//
// Example:
//   struct Route { std::string next_hop; };
//   rcu::UpdateMutex mu;
//   rcu::Published<const Route> route;
//
//   std::string NextHop() {
//     rcu::ReadGuard guard;
//     const Route* r = route.Read(guard);
//     return r != nullptr ? r->next_hop : "";
//   }
//
//   void SetNextHop(std::string hop) {
//     const Route* old;
//     {
//       rcu::UpdateLock lock(mu);
//       old = route.Replace(new Route{std::move(hop)}, mu);
//     }
//     rcu::Domain::Default().Synchronize();
//     delete old;
//   }

#ifndef RCU_PUBLISHED_H_
#define RCU_PUBLISHED_H_

#include <atomic>
#include <type_traits>

#include "absl/base/thread_annotations.h"
#include "rcu/domain.h"
#include "rcu/internal/checker.h"
#include "rcu/internal/source_location.h"
#include "rcu/update_mutex.h"
#include "rcu/version.h"

namespace rcu {

template <typename T>
class Published {
 public:
  // Published::Published()
  //
  // Starts null, or at `initial`, with no barrier: construction happens before any reader can
  // reach this object, as RCU_INIT_POINTER() at initialization.
  //
  // A Published belongs to one domain (Domain::Default() unless given): readers read it in
  // sections of that domain (R1, checked in debug builds).
  constexpr Published() noexcept = default;
  constexpr explicit Published(T* initial) noexcept : ptr_(initial) {
    if (internal::kDebugChecks && !std::is_constant_evaluated()) Track(nullptr, initial);
  }
  explicit Published(Domain& domain, T* initial = nullptr) noexcept
      : domain_(&domain), ptr_(initial) {
    if (internal::kDebugChecks) Track(nullptr, initial);
  }
  ~Published() {
    if (internal::kDebugChecks) Track(ptr_.load(std::memory_order_relaxed), nullptr);
  }

  Published(const Published&) = delete;
  Published& operator=(const Published&) = delete;

  // Published::Read()
  //
  // Loads the pointer for use inside the read-side section `guard` holds (rcu_dereference()).
  // Invalidates: the result must not be used after the guard's outermost section ends.
  // Requires: `guard` holds a section of this Published's domain (R1, checked in debug builds).
  T* Read(const ReadGuard& guard,
          const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    internal::CheckGuard(guard, domain(), "R1", "Published<T>::Read()", where);
    return ptr_.load(std::memory_order_acquire);
  }

  // Published::domain()
  //
  // The domain whose sections read this pointer.
  Domain& domain() const { return domain_ != nullptr ? *domain_ : Domain::Default(); }

  // Published::Dereference()
  //
  // Read() for a caller inside a section of `domain` without a guard object at hand.
  // Requires: the calling thread is inside a read-side section of `domain` (R1, checked when
  // RCU_DEBUG_CHECKS is on).
  T* Dereference(const Domain& domain, const internal::SourceLocation& where =
                                           internal::SourceLocation::current()) const {
    if (internal::kDebugChecks && !domain.InReadSection()) {
      internal::Die(where,
                    "R1: suspicious dereference: Published<T>::Dereference() outside a read-side "
                    "section of its domain");
    }
    return ptr_.load(std::memory_order_acquire);
  }

  // Published::Protected()
  //
  // Loads the pointer on the update side, where `mu` keeps it from changing
  // (rcu_dereference_protected()).
  // Requires: the calling thread holds `mu` (R2; the thread-safety analysis checks it at compile
  // time and RCU_DEBUG_CHECKS at run time).
  T* Protected(const UpdateMutex& mu,
               const internal::SourceLocation& where = internal::SourceLocation::current()) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    mu.AssertHeld(where);
    return ptr_.load(std::memory_order_relaxed);
  }

  // Published::Access()
  //
  // The pointer's value for comparison only (against null, or another pointer), never to be
  // dereferenced (rcu_access_pointer()). Needs no section.
  const void* Access() const { return ptr_.load(std::memory_order_relaxed); }

  // Published::Assign()
  //
  // Publishes `p` (rcu_assign_pointer()): readers that load it see `*p` fully initialized.
  // Thread safety: updaters must be serialized.
  void Assign(T* p) {
    if (internal::kDebugChecks) {
      Tracked(p, [&] { return ptr_.exchange(p, std::memory_order_acq_rel); });
    } else {
      ptr_.store(p, std::memory_order_release);
    }
  }

  // Published::Init()
  //
  // Stores `p` with no ordering (RCU_INIT_POINTER()). Use only for nullptr, or when no reader can
  // reach this Published yet, or when `*p` was itself published to readers earlier.
  void Init(T* p) {
    if (internal::kDebugChecks) {
      Tracked(p, [&] { return ptr_.exchange(p, std::memory_order_relaxed); });
    } else {
      ptr_.store(p, std::memory_order_relaxed);
    }
  }

  // Published::Exchange()
  //
  // Publishes `p` and returns the previous pointer, atomically, so racing updaters each get a
  // distinct old pointer to retire. The old pointer stays reachable to readers that loaded it
  // until a grace period ends.
  T* Exchange(T* p) {
    if (internal::kDebugChecks) {
      return Tracked(p, [&] { return ptr_.exchange(p, std::memory_order_acq_rel); });
    }
    return ptr_.exchange(p, std::memory_order_acq_rel);
  }

  // Published::Replace()
  //
  // Publishes `p` and returns the previous pointer, for an updater holding `mu`
  // (rcu_replace_pointer()). Requires: the calling thread holds `mu` (R2).
  T* Replace(T* p, const UpdateMutex& mu,
             const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    mu.AssertHeld(where);
    const auto replace = [&] {
      T* old = ptr_.load(std::memory_order_relaxed);
      ptr_.store(p, std::memory_order_release);
      return old;
    };
    return internal::kDebugChecks ? Tracked(p, replace) : replace();
  }

 private:
  // R9: the debug checker knows which pointers are published, and where, so retiring one that
  // readers can still reach aborts.
  void Track(const T* old_value, const T* new_value) const {
    internal::PublishedUpdate().Note(this, old_value, new_value, sizeof(T));
  }
  // The change `update` makes (returning the old pointer) and its bookkeeping, as one step.
  template <typename Update>
  T* Tracked(T* p, Update update) {
    internal::PublishedUpdate tracking;
    T* old = update();
    tracking.Note(this, old, p, sizeof(T));
    return old;
  }

  Domain* const domain_ = nullptr;  // null: Domain::Default()
  std::atomic<T*> ptr_{nullptr};
};

}  // namespace rcu

#endif  // RCU_PUBLISHED_H_
